package cfnaction

import (
	"encoding/json"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseTemplateConfig(t *testing.T) {
	c, err := parseTemplateConfig([]byte(`{
		"Parameters": {"KeyName": "TestEC2Key", "Count": 3, "Debug": false},
		"Tags": {"Department": "Marketing"},
		"StackPolicy": {"Statement": [{"Effect": "Allow", "NotAction": "Update:Delete", "Principal": "*", "Resource": "*"}]}
	}`))
	if err != nil {
		t.Fatal(err)
	}
	want := templateConfig{
		Parameters:  map[string]string{"KeyName": "TestEC2Key", "Count": "3", "Debug": "false"},
		Tags:        map[string]string{"Department": "Marketing"},
		StackPolicy: json.RawMessage(`{"Statement":[{"Effect":"Allow","NotAction":"Update:Delete","Principal":"*","Resource":"*"}]}`),
	}
	if diff := cmp.Diff(want, c); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if c, err := parseTemplateConfig([]byte(`{}`)); err != nil || c.Parameters != nil {
		t.Errorf("empty file: got %+v, %v", c, err)
	}
	for in, want := range map[string]string{
		``:                            "the file is not a JSON object: EOF",
		`null`:                        "the file is null, want a JSON object",
		`{} {}`:                       "the file has more after its JSON object",
		`{} x`:                        "the file has more after its JSON object",
		"{}\n":                        "",
		`{"Tags": []}`:                "Tags is an array, want a JSON object",
		`{"Tags": {"a": {"b": 1}}}`:   "Tags.a: value is an object, want a string",
		`{"Parameters": {"a": null}}`: "Parameters.a: value is null, want a string",
	} {
		_, err := parseTemplateConfig([]byte(in))
		if want == "" && err == nil {
			continue
		}
		if err == nil || err.Error() != want {
			t.Errorf("%q: got %v, want %q", in, err, want)
		}
	}
}

func TestParseOverrides(t *testing.T) {
	got, err := parseOverrides(`{
		"InstanceType": "t2.small", "Port": 8080,
		"WebSiteURL": {"Fn::GetParam": ["WebStackOutput", "stack-output.json", "URL"]},
		"BucketName": {"Fn::GetArtifactAtt": ["LambdaFunctionSource", "BucketName"]}
	}`)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]override{
		"InstanceType": {Value: "t2.small"},
		"Port":         {Value: "8080"},
		"WebSiteURL":   {Fn: fnGetParam, Args: []string{"WebStackOutput", "stack-output.json", "URL"}},
		"BucketName":   {Fn: fnGetArtifactAtt, Args: []string{"LambdaFunctionSource", "BucketName"}},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	for in, want := range map[string]string{
		`{"a": {}}`: `a: an object value must be one function, {"Fn::GetParam": […]} or {"Fn::GetArtifactAtt": […]}`,
		`{"a": {"Fn::GetParam": ["x", "y", "z"], "Fn::GetArtifactAtt": ["x", "URL"]}}`: `a: an object value must be one function, {"Fn::GetParam": […]} or {"Fn::GetArtifactAtt": […]}`,
		`{"a": {"Fn::GetParam": "x"}}`:               "a: Fn::GetParam takes an array of strings",
		`{"a": {"Fn::GetParam": ["x", 1, "z"]}}`:     "a: Fn::GetParam takes an array of strings",
		`{"a": {"Fn::GetParam": ["x", "", "z"]}}`:    `a: Fn::GetParam takes ["ArtifactName", "file.json", "key"]`,
		`{"a": {"Fn::GetArtifactAtt": ["", "URL"]}}`: `a: Fn::GetArtifactAtt takes ["ArtifactName", "BucketName"|"ObjectKey"|"URL"]`,
		`{"a": ["x"]}`: "a: value is an array, want a string",
		`"x"`:          "ParameterOverrides is a string, want a JSON object",
	} {
		if _, err := parseOverrides(in); err == nil || err.Error() != want {
			t.Errorf("%s: got %v,\nwant %q", in, err, want)
		}
	}
}

func TestJSONParam(t *testing.T) {
	file := []byte(`{"URL": "https://x", "Port": 443, "List": [1]}`)
	if v, err := jsonParam(file, "URL"); err != nil || v != "https://x" {
		t.Errorf("URL: got %q, %v", v, err)
	}
	if v, err := jsonParam(file, "Port"); err != nil || v != "443" {
		t.Errorf("Port: got %q, %v", v, err)
	}
	if _, err := jsonParam(file, "List"); err == nil || err.Error() != "key List: value is an array, want a string" {
		t.Errorf("List: got %v", err)
	}
	if _, err := jsonParam([]byte(`[1]`), "x"); err == nil || err.Error() != "the file is an array, want a JSON object" {
		t.Errorf("array file: got %v", err)
	}
}
