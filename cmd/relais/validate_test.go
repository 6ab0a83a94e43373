package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/relais-ci/relais/test/realdata"
)

// realPipelines returns the real CodePipeline declarations.
func realPipelines(t *testing.T) string { return realdata.Dir(t, "pipelines") }

func runCLI(stdin string, args ...string) (code int, stdout, stderr string) {
	var out, errOut bytes.Buffer
	code = run(context.Background(), append([]string{"validate"}, args...), stdio{strings.NewReader(stdin), &out, &errOut})
	return code, out.String(), errOut.String()
}

func TestValidateCommand(t *testing.T) {
	dir := realPipelines(t)
	file := func(name string) string { return filepath.Join(dir, name) }
	valid := file("codelabsab-timereport-react.json")
	invalid := file("FOUND-INVALID-ramanjulreddykotlo-aws-devops-project.json")
	malformed := file("FOUND-MALFORMED-innovation18-kubernets-project.json.txt")
	stdinDecl, err := os.ReadFile(file("quaquazzzzzz-world_app-S3deploy.json"))
	if err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name     string
		stdin    string
		args     []string
		wantCode int
		wantOut  []string // lines of stdout
		wantErr  string   // substring of stderr
	}{
		{name: "valid", args: []string{valid}, wantCode: 0, wantOut: []string{valid + ": valid"}},
		{name: "invalid", args: []string{invalid}, wantCode: 1, wantOut: []string{
			invalid + ": pipeline.artifactStore: Pipeline must have either artifactStore or artifactStores [artifact-store]",
			invalid + ": pipeline.stages[0].actions[0].outputArtifacts: Action 'Source' declares 0 output artifacts which is less than the minimum count (1) [artifact-count]",
			invalid + ": pipeline.stages[1].actions[0].inputArtifacts: Action 'Build' declares 0 input artifacts which is less than the minimum count (1) [artifact-count]",
			invalid + ": pipeline.stages[2].actions[0].inputArtifacts: Action 'Deploy' declares 0 input artifacts which is less than the minimum count (1) [artifact-count]",
		}},
		{name: "malformed JSON is invalid, not an I/O error", args: []string{malformed}, wantCode: 1, wantOut: []string{
			malformed + ": 68:1: invalid character '}' looking for beginning of object key string [syntax]",
		}},
		{name: "valid and invalid together", args: []string{valid, invalid}, wantCode: 1},
		{name: "stdin", stdin: string(stdinDecl), args: []string{"-"}, wantCode: 0, wantOut: []string{"<stdin>: valid"}},
		{name: "target local refuses CodeCommit", args: []string{"--target", "local", valid}, wantCode: 1, wantOut: []string{
			valid + ": pipeline.stages[0].actions[0].actionTypeId: Relais cannot run Source/CodeCommit actions locally (action 'Source') [provider-target]",
		}},
		{name: "target aws refuses CodeCommit (no AWS provider yet)", args: []string{"--target=aws", valid}, wantCode: 1,
			wantOut: []string{valid + ": pipeline.stages[0].actions[0].actionTypeId: Relais cannot run Source/CodeCommit actions on AWS (action 'Source') [provider-target]"}},
		{name: "missing file", args: []string{file("nope.json")}, wantCode: 2, wantErr: "no such file"},
		{name: "missing file wins over invalid", args: []string{invalid, file("nope.json")}, wantCode: 2},
		{name: "no files", args: nil, wantCode: 2, wantErr: "usage: relais validate"},
		{name: "unknown target", args: []string{"--target", "mars", valid}, wantCode: 2, wantErr: `unknown target "mars"`},
		{name: "unknown format", args: []string{"--format", "xml", valid}, wantCode: 2, wantErr: `unknown format "xml"`},
		{name: "unknown flag", args: []string{"--strict", valid}, wantCode: 2, wantErr: "flag provided but not defined"},
		{name: "help", args: []string{"-h"}, wantCode: 0, wantErr: "usage: relais validate"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errOut := runCLI(tc.stdin, tc.args...)
			if code != tc.wantCode {
				t.Errorf("got exit %d, want %d (stdout %q, stderr %q)", code, tc.wantCode, out, errOut)
			}
			if tc.wantOut != nil {
				got := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
				if diff := cmp.Diff(tc.wantOut, got); diff != "" {
					t.Errorf("stdout (-want +got):\n%s", diff)
				}
			}
			if !strings.Contains(errOut, tc.wantErr) {
				t.Errorf("got stderr %q, want it to contain %q", errOut, tc.wantErr)
			}
		})
	}
}

func TestValidateCommandJSON(t *testing.T) {
	dir := realPipelines(t)
	valid := filepath.Join(dir, "logguardian-create-pipeline-response-V2-SUPERSEDED.json")
	malformed := filepath.Join(dir, "FOUND-MALFORMED-innovation18-kubernets-project.json.txt")
	code, out, errOut := runCLI("", "--format", "json", valid, malformed)
	if code != 1 {
		t.Fatalf("got exit %d, want 1 (stderr %q)", code, errOut)
	}
	var got []struct {
		File       string `json:"file"`
		Valid      bool   `json:"valid"`
		Violations []struct {
			Rule   string `json:"rule"`
			Line   int    `json:"line"`
			Column int    `json:"column"`
		} `json:"violations"`
	}
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("stdout is not JSON: %v\n%s", err, out)
	}
	if len(got) != 2 || !got[0].Valid || got[0].File != valid || len(got[0].Violations) != 0 {
		t.Errorf("first result: got %+v, want %s valid with no violations", got, valid)
	}
	if len(got) == 2 && (got[1].Valid || len(got[1].Violations) != 1 || got[1].Violations[0].Rule != "syntax" || got[1].Violations[0].Line != 68) {
		t.Errorf("second result: got %+v, want one syntax violation on line 68", got[1])
	}
}
