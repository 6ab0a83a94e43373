package console

import "testing"

func TestHost(t *testing.T) {
	for _, tc := range []struct{ partition, region, want string }{
		{"aws", "eu-west-1", "eu-west-1.console.aws.amazon.com"},
		{"aws-cn", "cn-north-1", "cn-north-1.console.amazonaws.cn"},
		{"aws-us-gov", "us-gov-west-1", "console.amazonaws-us-gov.com"},
	} {
		if got := Host(tc.partition, tc.region); got != tc.want {
			t.Errorf("Host(%q, %q) = %q, want %q", tc.partition, tc.region, got, tc.want)
		}
	}
}
