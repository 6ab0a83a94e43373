package webhook_test

import (
	"context"
	"encoding/json"
	"github.com/relais-ci/relais/shared/webhook"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/relais-ci/relais/shared/api/apitest"
	"github.com/relais-ci/relais/shared/core"
	"github.com/relais-ci/relais/test/realdata"
)

// testSecret signs every delivery of these tests.
const testSecret = "relais webhook test secret"

var quiet = slog.New(slog.DiscardHandler)

// realDir returns a folder of real inputs.
func realDir(t testing.TB, sub string) string { return realdata.Dir(t, sub) }

func readReal(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(realDir(t, "webhooks"), name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// source describes the source action of a test pipeline.
type source struct {
	repo, branch string
	config       map[string]string // extra configuration
	triggers     string            // JSON of the gitConfiguration push/pullRequest, "" for none
	v1           bool              // a GitHub (version 1) action: Owner, Repo and Branch
}

// decl writes a runnable local pipeline: Source (CodeStarSourceConnection) → Build.
func decl(name string, src source) string {
	cfg := map[string]string{
		"ConnectionArn":    "arn:aws:codeconnections:us-east-1:123456789012:connection/00000000-0000-0000-0000-000000000000",
		"FullRepositoryId": src.repo, "BranchName": src.branch,
	}
	typ := map[string]string{"category": "Source", "owner": "AWS", "provider": "CodeStarSourceConnection", "version": "1"}
	if src.v1 {
		owner, repo, _ := strings.Cut(src.repo, "/")
		cfg = map[string]string{"Owner": owner, "Repo": repo, "Branch": src.branch, "OAuthToken": "****"}
		typ = map[string]string{"category": "Source", "owner": "ThirdParty", "provider": "GitHub", "version": "1"}
	}
	for k, v := range src.config {
		cfg[k] = v
	}
	d := map[string]any{
		"name": name, "roleArn": "arn:aws:iam::123456789012:role/relais",
		"artifactStore": map[string]string{"type": "S3", "location": "relais-artifacts"},
		"pipelineType":  "V2", "executionMode": "PARALLEL",
		"stages": []any{
			map[string]any{"name": "Source", "actions": []any{map[string]any{
				"name":            "Checkout",
				"actionTypeId":    typ,
				"configuration":   cfg,
				"outputArtifacts": []any{map[string]string{"name": "Src"}},
				"namespace":       "SourceVariables",
			}}},
			map[string]any{"name": "Build", "actions": []any{map[string]any{
				"name":           "Compile",
				"actionTypeId":   map[string]string{"category": "Build", "owner": "AWS", "provider": "CodeBuild", "version": "1"},
				"configuration":  map[string]string{"ProjectName": "p"},
				"inputArtifacts": []any{map[string]string{"name": "Src"}},
			}}},
		},
	}
	if src.triggers != "" {
		var g map[string]any
		if err := json.Unmarshal([]byte(src.triggers), &g); err != nil {
			panic(err)
		}
		g["sourceActionName"] = "Checkout"
		d["triggers"] = []any{map[string]any{"providerType": "CodeStarSourceConnection", "gitConfiguration": g}}
	}
	b, _ := json.Marshal(map[string]any{"pipeline": d})
	return string(b)
}

// testPipelines name the repositories of the real deliveries.
var testPipelines = map[string]source{
	"hello-master": {repo: "Codertocat/Hello-World", branch: "master"},
	// A filtered trigger fires even though DetectChanges is false: the console sets it
	// so when a trigger has filters (CodePipeline's "Automate starting pipelines using
	// triggers and filtering"); only the default (a push to BranchName) is turned off.
	"hello-v2": {repo: "Codertocat/Hello-World", branch: "master", config: map[string]string{"DetectChanges": "false"}, triggers: `{
		"push": [{"tags": {"includes": ["simple-*"]}}],
		"pullRequest": [{"branches": {"includes": ["master"]}}]}`},
	"hello-quiet": {repo: "Codertocat/Hello-World", branch: "master", config: map[string]string{"DetectChanges": "false"}},
	"drone": {repo: "bradrydzewski/drone-test-go", branch: "master", triggers: `{
		"push": [{"branches": {"includes": ["**"]}}, {"tags": {"includes": ["v*"]}}],
		"pullRequest": [{"events": ["OPEN", "UPDATED", "CLOSED"], "branches": {"includes": ["**"], "excludes": ["release/**"]}}]}`},
	"argo":        {repo: "jessesuen/test-repo", branch: "master"},
	"argo-legacy": {repo: "jessesuen/test-repo", branch: "master", v1: true},
	"gcb": {repo: "ailisp/gcbapp-buildconfig-example", branch: "master", triggers: `{
		"push": [{"branches": {"includes": ["master"]}, "filePaths": {"includes": ["*.md"]}}],
		"pullRequest": [{"events": ["CLOSED"], "branches": {"includes": ["master"]}}]}`},
	"gcb-src": {repo: "ailisp/gcbapp-buildconfig-example", branch: "master", triggers: `{
		"push": [{"branches": {"includes": ["master"]}, "filePaths": {"includes": ["src/**"]}}]}`},
}

// env is a webhook service over the real execution service and a SQLite store, with
// an engine fake: executions are recorded and "started", nothing runs them.
type env struct {
	*apitest.Env
	svc     *webhook.Service
	secrets webhook.Secrets
}

func newEnv(t testing.TB, configure ...func(*webhook.Deps)) *env {
	t.Helper()
	a := apitest.New(t)
	e := &env{Env: a, secrets: webhook.NewSecrets(testSecret)}
	d := webhook.Deps{
		Pipelines: a.Store, Executions: a.Store, Deliveries: a.Store, Starter: a.Execution,
		Secrets: e.secrets, Clock: a.Clock, Logger: quiet,
	}
	for _, c := range configure {
		c(&d)
	}
	e.svc = webhook.New(d)
	return e
}

func (e *env) installAll(t testing.TB) {
	t.Helper()
	for name, src := range testPipelines {
		e.Install(t, decl(name, src))
	}
}

// signed is a delivery of body as GitHub sends it, signed with the test secret.
func (e *env) signed(event, delivery string, body []byte) webhook.Request {
	return webhook.Request{Event: event, Delivery: delivery, Signature: e.secrets.Sign(body), ContentType: "application/json", Body: body}
}

// executions returns every execution of the installed test pipelines.
func (e *env) executions(t testing.TB) []core.Execution {
	t.Helper()
	ps, err := e.Store.ListPipelines(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var all []core.Execution
	for _, p := range ps {
		page := core.Page{Limit: 100}
		for {
			xs, next, err := e.Store.ListExecutions(context.Background(), p.Name, page)
			if err != nil {
				t.Fatal(err)
			}
			all = append(all, xs...)
			if next == "" {
				break
			}
			page.Token = next
		}
	}
	return all
}
