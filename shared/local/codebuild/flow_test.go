package codebuild_test

import (
	"archive/zip"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing/object"

	"github.com/relais-ci/relais/shared/action"
	"github.com/relais-ci/relais/shared/core"
	"github.com/relais-ci/relais/shared/core/coretest"
	"github.com/relais-ci/relais/shared/local/codebuild"
	"github.com/relais-ci/relais/shared/local/fileartifact"
	"github.com/relais-ci/relais/shared/local/gitsource"
	"github.com/relais-ci/relais/shared/local/lambdainvoke"
	"github.com/relais-ci/relais/shared/local/s3deploy"
	"github.com/relais-ci/relais/shared/local/sqlitestore"
)

const buildspec = `version: 0.2
env:
  exported-variables: [GREETING]
phases:
  build:
    commands:
      - mkdir -p site
      - echo "<p>$CODEBUILD_RESOLVED_SOURCE_VERSION</p>" > site/index.html
      - cp app.txt site/
      - export GREETING="built $RUN"
artifacts:
  base-directory: site
  files: ['**/*']
`

const declaration = `{"pipeline": {"name": "app", "roleArn": "arn:aws:iam::123456789012:role/relais", "version": 1,
 "artifactStore": {"type": "S3", "location": "artifacts"},
 "stages": [
  {"name": "Source", "actions": [{"name": "Source", "namespace": "SourceVariables",
    "actionTypeId": {"category": "Source", "owner": "AWS", "provider": "CodeStarSourceConnection", "version": "1"},
    "configuration": {"ConnectionArn": "arn:aws:codestar-connections:us-east-1:123456789012:connection/x", "FullRepositoryId": "acme/app", "BranchName": "main"},
    "outputArtifacts": [{"name": "SourceOutput"}]}]},
  {"name": "Build", "actions": [{"name": "Build", "namespace": "BuildVariables",
    "actionTypeId": {"category": "Build", "owner": "AWS", "provider": "CodeBuild", "version": "1"},
    "configuration": {"ProjectName": "app-build", "EnvironmentVariables": "[{\"name\":\"RUN\",\"value\":\"#{SourceVariables.CommitId}\",\"type\":\"PLAINTEXT\"}]"},
    "inputArtifacts": [{"name": "SourceOutput"}], "outputArtifacts": [{"name": "Site"}]}]},
  {"name": "Deploy", "actions": [
   {"name": "Publish", "runOrder": 1,
    "actionTypeId": {"category": "Deploy", "owner": "AWS", "provider": "S3", "version": "1"},
    "configuration": {"BucketName": "www", "Extract": "true", "ObjectKey": "#{codepipeline.PipelineExecutionId}"},
    "inputArtifacts": [{"name": "Site"}]},
   {"name": "Notify", "runOrder": 2, "namespace": "NotifyVariables",
    "actionTypeId": {"category": "Invoke", "owner": "AWS", "provider": "Lambda", "version": "1"},
    "configuration": {"FunctionName": "notify", "UserParameters": "#{BuildVariables.GREETING}"}}]}
 ]}}`

// TestFlow runs a pipeline's actions through the action service over real stores: a git
// source, a CodeBuild build that ends later, an S3 deploy and a Lambda invoke, with
// artifacts, revisions and variables going from one to the next.
func TestFlow(t *testing.T) {
	ctx := t.Context()
	base := t.TempDir()

	// The repository.
	repoDir := filepath.Join(base, "repo")
	repo, err := git.PlainInitWithOptions(repoDir, &git.PlainInitOptions{InitOptions: git.InitOptions{DefaultBranch: "refs/heads/main"}})
	must(t, err)
	wt, err := repo.Worktree()
	must(t, err)
	must(t, os.WriteFile(filepath.Join(repoDir, "buildspec.yml"), []byte(buildspec), 0o644))
	must(t, os.WriteFile(filepath.Join(repoDir, "app.txt"), []byte("app\n"), 0o644))
	_, err = wt.Add(".")
	must(t, err)
	sig := &object.Signature{Name: "Ada", Email: "ada@example.com", When: time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)}
	commit, err := wt.Commit("Initial site\n", &git.CommitOptions{Author: sig, Committer: sig})
	must(t, err)

	// The function.
	fn := filepath.Join(base, "notify.sh")
	must(t, os.WriteFile(fn, []byte("#!/bin/sh\ncat > \""+base+"/event.json\"\necho '{\"outputVariables\": {\"sent\": \"yes\"}}'\n"), 0o755))

	store, err := sqlitestore.Open(ctx, filepath.Join(base, "relais.db"))
	must(t, err)
	t.Cleanup(func() { store.Close() })
	arts, err := fileartifact.New(filepath.Join(base, "artifacts"))
	must(t, err)
	t.Cleanup(func() { arts.Close() })
	builder := codebuild.New(codebuild.Deps{Artifacts: arts, DataDir: filepath.Join(base, "data")})
	t.Cleanup(func() { builder.Shutdown(context.WithoutCancel(ctx)) })
	gsrc := gitsource.New(arts, map[string]string{"acme/app": repoDir}, nil)
	providers := map[string]action.Provider{
		s3deploy.Provider:     s3deploy.New(arts, filepath.Join(base, "buckets"), nil),
		lambdainvoke.Provider: lambdainvoke.New(lambdainvoke.Deps{Artifacts: arts, Functions: map[string]string{"notify": fn}, DataDir: filepath.Join(base, "data")}),
	}
	for _, k := range gitsource.Providers {
		providers[k] = gsrc
	}
	for _, k := range codebuild.Providers {
		providers[k] = builder
	}
	engine := make(coretest.Answers, 1)
	svc := action.New(action.Deps{Pipelines: store, Executions: store, Stages: store, Actions: store, Engine: engine, Providers: providers})

	_, err = store.PutPipeline(ctx, core.Pipeline{Name: "app", Declaration: json.RawMessage(declaration)})
	must(t, err)
	now := time.Now().UTC()
	_, err = store.CreateExecution(ctx, core.Execution{PipelineName: "app", ID: "e1", Status: core.ExecutionInProgress,
		Mode: core.ModeSuperseded, StartTime: now, LastUpdateTime: now})
	must(t, err)

	run := func(stage, act string) core.ActionExecution {
		t.Helper()
		must(t, store.PutStage(ctx, core.StageExecution{PipelineName: "app", ExecutionID: "e1", StageName: stage,
			Status: core.StageInProgress, Attempt: 1, StartTime: now, LastUpdateTime: now}))
		token := "token-" + act
		must(t, svc.Handle(ctx, core.ActionTask{Pipeline: "app", ExecutionID: "e1", Stage: stage, Action: act, Token: token}))
		if got := <-engine; got != token+" success" {
			recs, _ := core.AllActions(ctx, store, core.ActionFilter{PipelineName: "app", ActionName: act})
			t.Fatalf("%s/%s: got answer %q, want success; records: %+v", stage, act, got, recs)
		}
		recs, err := core.AllActions(ctx, store, core.ActionFilter{PipelineName: "app", ExecutionID: "e1", ActionName: act})
		must(t, err)
		return recs[0]
	}

	src := run("Source", "Source")
	if src.OutputVariables["CommitId"] != commit.String() {
		t.Errorf("source CommitId %q, want %s", src.OutputVariables["CommitId"], commit)
	}
	build := run("Build", "Build")
	if !strings.HasPrefix(build.ExternalExecutionID, "app-build:") || !strings.HasPrefix(build.ExternalExecutionURL, "file://") {
		t.Errorf("build recorded external id %q and url %q, want the build id and its log", build.ExternalExecutionID, build.ExternalExecutionURL)
	}
	if got, want := build.OutputVariables["GREETING"], "built "+commit.String(); got != want {
		t.Errorf("build variable GREETING %q, want %q", got, want)
	}
	run("Deploy", "Publish")
	page, err := os.ReadFile(filepath.Join(base, "buckets", "www", "e1", "index.html"))
	must(t, err)
	if want := "<p>" + commit.String() + "</p>\n"; string(page) != want {
		t.Errorf("deployed index.html %q, want %q (the commit as CODEBUILD_RESOLVED_SOURCE_VERSION)", page, want)
	}
	notify := run("Deploy", "Notify")
	if notify.OutputVariables["sent"] != "yes" {
		t.Errorf("lambda variables %v, want sent=yes", notify.OutputVariables)
	}
	ev, err := os.ReadFile(filepath.Join(base, "event.json"))
	must(t, err)
	if !strings.Contains(string(ev), `"UserParameters":"built `+commit.String()+`"`) {
		t.Errorf("lambda event lacks the build's variable in UserParameters: %s", ev)
	}
	e, err := store.GetExecution(ctx, "app", "e1")
	must(t, err)
	if len(e.SourceRevisions) != 1 || e.SourceRevisions[0].RevisionID != commit.String() || e.SourceRevisions[0].RevisionSummary != "Initial site" {
		t.Errorf("execution source revisions %+v, want the commit", e.SourceRevisions)
	}
	// The stored log is a zip holding the build's log.
	zr, err := zip.OpenReader(strings.TrimPrefix(build.ExternalExecutionURL, "file://"))
	must(t, err)
	defer zr.Close()
	if len(zr.File) != 1 || zr.File[0].Name != codebuild.LogFile {
		t.Errorf("log artifact holds %d files, want %s", len(zr.File), codebuild.LogFile)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
