package pipeline

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

type parseCase struct {
	name      string
	input     string
	want      string // rule id of the first violation; "" when the input parses
	wantPath  string
	wantLine  int
	wantCol   int
	wantInMsg string
}

var parseCases = []parseCase{
	{name: "bare declaration", input: `{"name": "p", "stages": []}`},
	{name: "get-pipeline form", input: `{"pipeline": {"name": "p"}, "metadata": {"pipelineArn": "arn:aws:codepipeline:us-east-2:1:p", "created": 1501626591.112, "updated": "2020-09-10T06:34:07.447000+00:00"}}`},
	{name: "create-pipeline form", input: `{"pipeline": {"name": "p"}, "tags": [{"key": "Project", "value": "A"}]}`},
	{name: "__type in actionTypeId", input: `{"stages": [{"actions": [{"actionTypeId": {"__type": "ActionTypeId", "category": "Source"}}]}]}`},
	{name: "syntax: trailing comma", input: "{\n  \"pipeline\": {\n    \"name\": \"p\",\n  }\n}", want: "syntax", wantLine: 4, wantCol: 3, wantInMsg: "invalid character '}'"},
	{name: "syntax: truncated", input: "{\"pipeline\": {", want: "syntax", wantLine: 1, wantCol: 15, wantInMsg: "unexpected end"},
	{name: "syntax: empty", input: "", want: "syntax", wantLine: 1, wantCol: 1},
	{name: "syntax: trailing data", input: "{}\n{}", want: "syntax", wantLine: 2, wantCol: 1},
	{name: "unknown field with its path", input: `{"pipeline": {"stages": [{"name": "a"}, {"actions": [{"configration": {}}]}]}}`,
		want: "unknown-field", wantPath: "pipeline.stages[1].actions[0].configration", wantInMsg: `"configration", must be one of: name, actionTypeId`},
	{name: "unknown top-level field", input: `{"pipeline": {}, "metdata": {}}`, want: "unknown-field", wantPath: "metdata"},
	{name: "unknown field in a bare declaration", input: `{"nmae": "p"}`, want: "unknown-field", wantPath: "nmae"},
	{name: "runOrder as a string", input: `{"stages": [{"actions": [{"runOrder": "1"}]}]}`, want: "type", wantPath: "stages[0].actions[0].runOrder", wantInMsg: "got string, want integer"},
	{name: "fractional runOrder", input: `{"stages": [{"actions": [{"runOrder": 1.5}]}]}`, want: "type", wantPath: "stages[0].actions[0].runOrder"},
	{name: "boolean configuration value", input: `{"stages": [{"actions": [{"configuration": {"PollForSourceChanges": false}}]}]}`, want: "type", wantPath: "stages[0].actions[0].configuration.PollForSourceChanges"},
	{name: "not an object", input: `[1, 2]`, want: "type", wantInMsg: "must be a JSON object"},
	{name: "null pipeline", input: `{"pipeline": null}`, want: "type", wantPath: "pipeline"},
	{name: "stages not an array", input: `{"stages": {}}`, want: "type", wantPath: "stages"},
}

func TestParseErrors(t *testing.T) {
	for _, tc := range parseCases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.input))
			if tc.want == "" {
				if err != nil {
					t.Fatalf("got error %v, want none", err)
				}
				return
			}
			var pe *ParseError
			if !errors.As(err, &pe) || len(pe.Violations) == 0 {
				t.Fatalf("got error %v, want a *ParseError", err)
			}
			v := pe.Violations[0]
			if v.Rule != tc.want {
				t.Errorf("got rule %q, want %q (%v)", v.Rule, tc.want, v)
			}
			if tc.wantPath != "" && v.Path != tc.wantPath {
				t.Errorf("got path %q, want %q", v.Path, tc.wantPath)
			}
			if tc.wantLine != 0 && (v.Line != tc.wantLine || v.Column != tc.wantCol) {
				t.Errorf("got %d:%d, want %d:%d (%v)", v.Line, v.Column, tc.wantLine, tc.wantCol, v)
			}
			if !strings.Contains(v.Message, tc.wantInMsg) {
				t.Errorf("got message %q, want it to contain %q", v.Message, tc.wantInMsg)
			}
		})
	}
}

func TestParseReportsEveryUnknownField(t *testing.T) {
	_, err := Parse([]byte(`{"pipeline": {"nme": "p", "stages": [{"actions": [{"runOrdr": 2, "configration": {}}]}]}}`))
	var pe *ParseError
	if !errors.As(err, &pe) {
		t.Fatalf("got %v, want a *ParseError", err)
	}
	var paths []string
	for _, v := range pe.Violations {
		paths = append(paths, v.Path)
	}
	want := []string{"pipeline.nme", "pipeline.stages[0].actions[0].configration", "pipeline.stages[0].actions[0].runOrdr"}
	if diff := cmp.Diff(want, paths); diff != "" {
		t.Errorf("paths (-want +got):\n%s", diff)
	}
}

func TestParseDefaults(t *testing.T) {
	d := mustParse(t, `{"pipeline": {"stages": [{"actions": [
		{"name": "a"},
		{"name": "b", "runOrder": 3},
		{"name": "c", "runOrder": 0}
	]}]}}`)
	var got []int
	for _, a := range d.Stages[0].Actions {
		got = append(got, a.RunOrder)
	}
	if diff := cmp.Diff([]int{1, 3, 0}, got); diff != "" {
		t.Errorf("runOrders (-want +got):\n%s", diff)
	}
	if d.Root != "pipeline" {
		t.Errorf("got root %q, want %q", d.Root, "pipeline")
	}
	if got, want := d.Type(), TypeV1; got != want {
		t.Errorf("got type %q, want %q", got, want)
	}
	if got, want := d.Mode(), ModeSuperseded; got != want {
		t.Errorf("got mode %q, want %q", got, want)
	}
}

func TestParseDocumentKeepsMetadataAndTags(t *testing.T) {
	doc, err := ParseDocument([]byte(`{"pipeline": {"name": "p"}, "metadata": {"pipelineArn": "arn", "created": 1501626591.112}, "tags": [{"key": "k", "value": "v"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	want := &Document{
		Pipeline: &Declaration{Name: "p", Root: "pipeline"},
		Metadata: &Metadata{PipelineArn: "arn", Created: "1501626591.112"},
		Tags:     []Tag{{Key: "k", Value: "v"}},
	}
	if diff := cmp.Diff(want, doc); diff != "" {
		t.Errorf("document (-want +got):\n%s", diff)
	}
}
