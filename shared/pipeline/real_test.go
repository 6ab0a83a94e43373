package pipeline

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// realVerdicts is what SOURCES.md says of each real declaration: nil for a valid one,
// else the rule ids (with multiplicity, sorted) it breaks.
var realVerdicts = map[string][]string{
	// No artifactStore; GitHub source with no output, CodeBuild and CodeDeploy with no input.
	"FOUND-INVALID-ramanjulreddykotlo-aws-devops-project.json": {"artifact-count", "artifact-count", "artifact-count", "artifact-store"},
	// Trailing comma before the final brace: not JSON.
	"FOUND-MALFORMED-innovation18-kubernets-project.json.txt": {"syntax"},
	"awscli-create-pipeline-MySecondPipeline.json":            nil,
	"awsdocs-cross-region-artifactStores.json":                nil,
	"awsdocs-pipelines-create-MyFirstPipeline.json":           nil,
	"codelabsab-timereport-react.json":                        nil,
	"dopc02devops-flask-memcached-approval.json":              nil,
	"feathertuche-aws_git_test-CodeDeployToECS.json":          nil,
	"jeevanantham2205-brain-tasks-app.json":                   nil,
	"logguardian-create-pipeline-response-V2-SUPERSEDED.json": nil,
	"longnnt-hugo-ws1-codepipeline-conf-V2-trigger.json":      nil,
	"ngtrhieu-api-express-lambda-invoke.json":                 nil,
	"nithish-95-tic-tac-toe-ECS.json":                         nil,
	"quaquazzzzzz-world_app-S3deploy.json":                    nil,
	"rajeesh-iinerds-sf-stage.json":                           nil,
}

// check parses and validates data the way `relais validate` does.
func check(data []byte, target Target) []Violation {
	d, err := Parse(data)
	if err != nil {
		var pe *ParseError
		if !errors.As(err, &pe) {
			return []Violation{{Rule: "not-a-parse-error", Message: err.Error()}}
		}
		return pe.Violations
	}
	return Validate(d, target)
}

func TestRealDeclarations(t *testing.T) {
	dir := realPipelines(t)
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	seen := 0
	for _, e := range entries {
		name := e.Name()
		if name == "SOURCES.md" {
			continue
		}
		want, known := realVerdicts[name]
		if !known {
			t.Errorf("%s: no verdict for this file; add it to realVerdicts", name)
			continue
		}
		seen++
		t.Run(name, func(t *testing.T) {
			data, err := os.ReadFile(filepath.Join(dir, name))
			if err != nil {
				t.Fatal(err)
			}
			got := check(data, TargetRules)
			var ids []string
			for _, v := range got {
				ids = append(ids, v.Rule)
			}
			slices.Sort(ids)
			if diff := cmp.Diff(want, ids); diff != "" {
				t.Errorf("rule ids (-want +got):\n%s\nviolations:\n%s", diff, list(got))
			}
		})
	}
	if seen != len(realVerdicts) {
		t.Errorf("got %d real declarations, want %d", seen, len(realVerdicts))
	}
}

// TestRealDeclarationsDetails pins the specifics SOURCES.md states.
func TestRealDeclarationsDetails(t *testing.T) {
	dir := realPipelines(t)
	read := func(name string) []byte {
		data, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		return data
	}

	t.Run("malformed: error near line 68", func(t *testing.T) {
		got := check(read("FOUND-MALFORMED-innovation18-kubernets-project.json.txt"), TargetRules)
		if len(got) != 1 || got[0].Line != 68 {
			t.Errorf("got %v, want one syntax error on line 68", got)
		}
	})
	t.Run("invalid: which actions lack artifacts", func(t *testing.T) {
		var paths []string
		for _, v := range check(read("FOUND-INVALID-ramanjulreddykotlo-aws-devops-project.json"), TargetRules) {
			paths = append(paths, v.Path)
		}
		want := []string{
			"pipeline.artifactStore",
			"pipeline.stages[0].actions[0].outputArtifacts",
			"pipeline.stages[1].actions[0].inputArtifacts",
			"pipeline.stages[2].actions[0].inputArtifacts",
		}
		if diff := cmp.Diff(want, paths); diff != "" {
			t.Errorf("paths (-want +got):\n%s", diff)
		}
	})
	t.Run("targets refuse what Relais cannot run", func(t *testing.T) {
		for _, tc := range []struct {
			file   string
			target Target
			want   []string // paths of provider-target violations
		}{
			{"rajeesh-iinerds-sf-stage.json", TargetAWS, nil}, // CloudFormation runs on AWS
			{"rajeesh-iinerds-sf-stage.json", TargetLocal, []string{"pipeline.stages[2].actions[0].actionTypeId", "pipeline.stages[2].actions[1].actionTypeId", "pipeline.stages[2].actions[2].actionTypeId"}},
			{"codelabsab-timereport-react.json", TargetAWS, []string{"pipeline.stages[0].actions[0].actionTypeId"}}, // CodeCommit: no provider yet
			{"codelabsab-timereport-react.json", TargetLocal, []string{"pipeline.stages[0].actions[0].actionTypeId"}},
			{"nithish-95-tic-tac-toe-ECS.json", TargetAWS, []string{"pipeline.stages[2].actions[0].actionTypeId"}},
			{"feathertuche-aws_git_test-CodeDeployToECS.json", TargetAWS, []string{"pipeline.stages[0].actions[0].actionTypeId", "pipeline.stages[1].actions[0].actionTypeId"}},
			{"quaquazzzzzz-world_app-S3deploy.json", TargetLocal, nil},
			{"ngtrhieu-api-express-lambda-invoke.json", TargetAWS, []string{"pipeline.stages[0].actions[0].actionTypeId"}}, // CodeCommit source
			{"quaquazzzzzz-world_app-S3deploy.json", TargetAWS, nil},
		} {
			var paths []string
			for _, v := range check(read(tc.file), tc.target) {
				if v.Rule != "provider-target" {
					t.Errorf("%s (%s): unexpected %v", tc.file, tc.target, v)
				}
				paths = append(paths, v.Path)
			}
			if diff := cmp.Diff(tc.want, paths); diff != "" {
				t.Errorf("%s (%s): provider-target paths (-want +got):\n%s", tc.file, tc.target, diff)
			}
		}
	})
	t.Run("V2 trigger file fires on develop only", func(t *testing.T) {
		d, err := Parse(read("longnnt-hugo-ws1-codepipeline-conf-V2-trigger.json"))
		if err != nil {
			t.Fatal(err)
		}
		if got := d.Match(GitEvent{Kind: Push, Branch: "develop"}); len(got) != 1 || got[0].SourceActionName != "get-code-from-git" {
			t.Errorf("push to develop: got %v, want a fire from get-code-from-git", got)
		}
		if got := d.Match(GitEvent{Kind: Push, Branch: "main"}); len(got) != 0 {
			t.Errorf("push to main: got %v, want none", got)
		}
	})
}
