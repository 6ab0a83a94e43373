// Package console names the AWS Management Console's host for a partition and region,
// for the links Relais records (build logs, state machine runs).
package console

// Host is the console's host name in partition (as an ARN names it: aws, aws-cn,
// aws-us-gov) and region.
func Host(partition, region string) string {
	switch partition {
	case "aws-cn":
		return region + ".console.amazonaws.cn"
	case "aws-us-gov":
		return "console.amazonaws-us-gov.com"
	}
	return region + ".console.aws.amazon.com"
}
