package cfnaction

import (
	"encoding/json"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// FuzzTemplateConfig checks that the template configuration parser never panics, and
// that what it accepts reads back the same once written out again.
func FuzzTemplateConfig(f *testing.F) {
	for _, s := range []string{
		`{"Parameters": {"KeyName": "TestEC2Key"}, "Tags": {"Department": "Marketing"}, "StackPolicy": {"Statement": []}}`,
		`{"Parameters": {"n": 1.5e3, "b": true}}`, `{}`, `{"Tags": {"a": "\u00e9"}}`, `[]`, `null`, `{"Parameters": {"a": null}}`, `{"X": 1}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := parseTemplateConfig(data)
		if err != nil {
			if err.Error() == "" {
				t.Fatal("an error without a message")
			}
			return
		}
		out, err := json.Marshal(c)
		if err != nil {
			t.Fatalf("marshal %+v: %v", c, err)
		}
		again, err := parseTemplateConfig(out)
		if err != nil {
			t.Fatalf("%s: accepted, but not written out again (%s): %v", data, out, err)
		}
		if diff := cmp.Diff(c, again, cmpopts.EquateEmpty()); diff != "" {
			t.Errorf("%s: read back differs (-first +again):\n%s", data, diff)
		}
	})
}

// FuzzParameterOverrides checks that the ParameterOverrides parser never panics, that
// every function it accepts has its arguments, and that what it accepts reads back the
// same once written out again.
func FuzzParameterOverrides(f *testing.F) {
	for _, s := range []string{
		`{"InstanceType": "t2.small", "KeyName": "my-keypair"}`,
		`{"WebSiteURL": {"Fn::GetParam": ["WebStackOutput", "stack-output.json", "URL"]}}`,
		`{"BucketName": {"Fn::GetArtifactAtt": ["LambdaFunctionSource", "BucketName"]}, "N": 3}`,
		`{"a": {"Fn::GetParam": ["x"]}}`, `{"a": {}}`, `[]`, `{"a": [1]}`, `{"a": {"Fn::Sub": "x"}}`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ovs, err := parseOverrides(s)
		if err != nil {
			if err.Error() == "" {
				t.Fatal("an error without a message")
			}
			return
		}
		back := map[string]any{}
		for k, ov := range ovs {
			switch ov.Fn {
			case "":
				back[k] = ov.Value
				continue
			case fnGetParam:
				if len(ov.Args) != 3 {
					t.Fatalf("%s: %s with %d arguments", s, ov.Fn, len(ov.Args))
				}
			case fnGetArtifactAtt:
				if len(ov.Args) != 2 {
					t.Fatalf("%s: %s with %d arguments", s, ov.Fn, len(ov.Args))
				}
			default:
				t.Fatalf("%s: function %q accepted", s, ov.Fn)
			}
			back[k] = map[string][]string{ov.Fn: ov.Args}
		}
		out, err := json.Marshal(back)
		if err != nil {
			t.Fatal(err)
		}
		again, err := parseOverrides(string(out))
		if err != nil {
			t.Fatalf("%s: accepted, but not written out again (%s): %v", s, out, err)
		}
		if diff := cmp.Diff(ovs, again); diff != "" {
			t.Errorf("%s: read back differs (-first +again):\n%s", s, diff)
		}
	})
}
