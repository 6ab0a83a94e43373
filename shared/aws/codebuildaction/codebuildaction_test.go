package codebuildaction

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/codebuild"
	"github.com/google/go-cmp/cmp"

	"github.com/relais-ci/relais/shared/action"
	"github.com/relais-ci/relais/shared/core"
	"github.com/relais-ci/relais/shared/pipeline"
)

// fakeCodeBuild records the JSON requests the SDK sends and answers StartBuild with a
// build of the requested project, StopBuild with an error for unknown builds.
type fakeCodeBuild struct {
	mu       sync.Mutex
	requests []request
}

type request struct {
	Target string
	Body   map[string]any
}

func (f *fakeCodeBuild) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	raw, _ := io.ReadAll(r.Body)
	var body map[string]any
	if err := json.Unmarshal(raw, &body); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	target := r.Header.Get("X-Amz-Target")
	f.mu.Lock()
	f.requests = append(f.requests, request{Target: target, Body: body})
	f.mu.Unlock()
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	switch target {
	case "CodeBuild_20161006.StartBuild":
		id := body["projectName"].(string) + ":0b6c1d5e-1111-2222-3333-444455556666"
		json.NewEncoder(w).Encode(map[string]any{"build": map[string]any{
			"id": id, "arn": "arn:aws:codebuild:eu-west-1:123456789012:build/" + id,
		}})
	case "CodeBuild_20161006.StopBuild":
		if body["id"] == "gone:1" {
			w.WriteHeader(http.StatusBadRequest)
			io.WriteString(w, `{"__type":"ResourceNotFoundException","message":"Build not found"}`)
			return
		}
		json.NewEncoder(w).Encode(map[string]any{"build": map[string]any{"id": body["id"], "buildStatus": "STOPPED"}})
	default:
		http.Error(w, "unexpected target "+target, http.StatusBadRequest)
	}
}

func newClient(t *testing.T) (*codebuild.Client, *fakeCodeBuild) {
	t.Helper()
	fake := &fakeCodeBuild{}
	srv := httptest.NewServer(fake)
	t.Cleanup(srv.Close)
	client := codebuild.New(codebuild.Options{
		Region:       "eu-west-1",
		BaseEndpoint: aws.String(srv.URL),
		Credentials:  aws.AnonymousCredentials{},
		HTTPClient:   srv.Client(),
	})
	return client, fake
}

func job(cfg map[string]string, ins []string, outs []string) action.Job {
	j := action.Job{
		Execution: core.Execution{ID: "exec-1", PipelineName: "web",
			SourceRevisions: []core.SourceRevision{{ActionName: "Source", RevisionID: "abc123"}}},
		Stage: "Build",
		Declared: pipeline.Action{Name: "Build",
			ActionTypeID: pipeline.ActionTypeID{Category: "Build", Owner: "AWS", Provider: "CodeBuild", Version: "1"}},
		Record: core.ActionExecution{ID: "act-1", PipelineName: "web", ExecutionID: "exec-1", StageName: "Build",
			ActionName: "Build", Configuration: cfg},
	}
	for _, n := range ins {
		j.Declared.InputArtifacts = append(j.Declared.InputArtifacts, pipeline.Artifact{Name: n})
		j.Record.InputArtifacts = append(j.Record.InputArtifacts, core.Artifact{Name: n,
			Location: core.ArtifactLocation{Store: "relais-artifacts", Key: "artifacts/web/exec-1/" + n + ".zip", Version: "v-" + n}})
	}
	for _, n := range outs {
		j.Declared.OutputArtifacts = append(j.Declared.OutputArtifacts, pipeline.Artifact{Name: n})
	}
	return j
}

func TestRunStartsBuild(t *testing.T) {
	client, fake := newClient(t)
	b := New(client, "relais-artifacts", "artifacts")
	cfg := map[string]string{
		"ProjectName": "relais-hello",
		"EnvironmentVariables": `[{"name":"STAGE","value":"prod"},{"name":"DB","value":"/db/pass","type":"PARAMETER_STORE"},` +
			`{"name":"TOKEN","value":"tok:token","type":"SECRETS_MANAGER"}]`,
	}
	res, err := b.Run(context.Background(), job(cfg, []string{"SourceOutput", "Extra"}, []string{"BuildOutput", "Reports"}))
	if err != nil {
		t.Fatal(err)
	}
	want := action.Result{
		Status:      core.ActionInProgress,
		ExternalID:  "relais-hello:0b6c1d5e-1111-2222-3333-444455556666",
		ExternalURL: "https://eu-west-1.console.aws.amazon.com/codesuite/codebuild/123456789012/projects/relais-hello/build/relais-hello:0b6c1d5e-1111-2222-3333-444455556666/?region=eu-west-1",
		Summary:     "Build relais-hello:0b6c1d5e-1111-2222-3333-444455556666 started (commit abc123)",
	}
	if diff := cmp.Diff(want, res); diff != "" {
		t.Errorf("result (-want +got):\n%s", diff)
	}
	if len(fake.requests) != 1 {
		t.Fatalf("got %d requests, want 1", len(fake.requests))
	}
	var wantBody map[string]any
	json.Unmarshal([]byte(`{
		"projectName": "relais-hello",
		"idempotencyToken": "act-1",
		"sourceTypeOverride": "S3",
		"sourceLocationOverride": "relais-artifacts/artifacts/web/exec-1/SourceOutput.zip",
		"sourceVersion": "v-SourceOutput",
		"secondarySourcesOverride": [{"type": "S3", "location": "relais-artifacts/artifacts/web/exec-1/Extra.zip", "sourceIdentifier": "Extra"}],
		"secondarySourcesVersionOverride": [{"sourceIdentifier": "Extra", "sourceVersion": "v-Extra"}],
		"artifactsOverride": {"type": "S3", "location": "relais-artifacts", "path": "artifacts/web/exec-1",
			"name": "BuildOutput.zip", "namespaceType": "NONE", "packaging": "ZIP"},
		"secondaryArtifactsOverride": [{"type": "S3", "location": "relais-artifacts", "path": "artifacts/web/exec-1",
			"name": "Reports.zip", "namespaceType": "NONE", "packaging": "ZIP", "artifactIdentifier": "Reports"}],
		"environmentVariablesOverride": [
			{"name": "STAGE", "value": "prod", "type": "PLAINTEXT"},
			{"name": "DB", "value": "/db/pass", "type": "PARAMETER_STORE"},
			{"name": "TOKEN", "value": "tok:token", "type": "SECRETS_MANAGER"}]
	}`), &wantBody)
	got := fake.requests[0]
	if got.Target != "CodeBuild_20161006.StartBuild" {
		t.Errorf("got target %q, want StartBuild", got.Target)
	}
	if diff := cmp.Diff(wantBody, got.Body); diff != "" {
		t.Errorf("StartBuild request (-want +got):\n%s", diff)
	}
}

func TestRunPrimarySourceAndNoOutputs(t *testing.T) {
	client, fake := newClient(t)
	b := New(client, "relais-artifacts", "")
	_, err := b.Run(context.Background(), job(map[string]string{"ProjectName": "p", "PrimarySource": "Second"}, []string{"First", "Second"}, nil))
	if err != nil {
		t.Fatal(err)
	}
	body := fake.requests[0].Body
	if got, want := body["sourceLocationOverride"], "relais-artifacts/artifacts/web/exec-1/Second.zip"; got != want {
		t.Errorf("got source location %v, want %s", got, want)
	}
	if diff := cmp.Diff(map[string]any{"type": "NO_ARTIFACTS"}, body["artifactsOverride"]); diff != "" {
		t.Errorf("artifactsOverride (-want +got):\n%s", diff)
	}
	sec := body["secondarySourcesOverride"].([]any)[0].(map[string]any)
	if sec["sourceIdentifier"] != "First" {
		t.Errorf("got secondary source %v, want First", sec["sourceIdentifier"])
	}
}

func TestRunRefuses(t *testing.T) {
	tests := []struct {
		name string
		cfg  map[string]string
		ins  []string
		outs []string
		want string
	}{
		{"no project", map[string]string{}, []string{"S"}, nil, "ProjectName is required"},
		{"batch", map[string]string{"ProjectName": "p", "BatchEnabled": "true"}, []string{"S"}, nil, "BatchEnabled"},
		{"no input", map[string]string{"ProjectName": "p"}, nil, nil, "at least one input artifact"},
		{"bad env json", map[string]string{"ProjectName": "p", "EnvironmentVariables": `{"a":1}`}, []string{"S"}, nil, "not a JSON array"},
		{"bad env type", map[string]string{"ProjectName": "p", "EnvironmentVariables": `[{"name":"A","value":"1","type":"SSM"}]`}, []string{"S"}, nil, `type "SSM"`},
		{"bad primary", map[string]string{"ProjectName": "p", "PrimarySource": "X"}, []string{"S"}, nil, "PrimarySource X"},
		{"bad secondary name", map[string]string{"ProjectName": "p"}, []string{"S", "my-extra"}, nil, "cannot be a secondary source"},
		{"bad secondary output", map[string]string{"ProjectName": "p"}, []string{"S"}, []string{"Out", "my-reports"}, "cannot be a secondary artifact"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			client, fake := newClient(t)
			res, err := New(client, "b", "").Run(context.Background(), job(tt.cfg, tt.ins, tt.outs))
			if err != nil {
				t.Fatal(err)
			}
			if res.Status != core.ActionFailed || res.Error == nil || !strings.Contains(res.Error.Message, tt.want) {
				t.Errorf("got %+v (error %+v), want Failed with %q", res, res.Error, tt.want)
			}
			if len(fake.requests) != 0 {
				t.Errorf("got %d requests, want none", len(fake.requests))
			}
		})
	}
}

func TestCancelAction(t *testing.T) {
	client, fake := newClient(t)
	b := New(client, "b", "")
	typ := core.ActionType{Category: "Build", Owner: "AWS", Provider: "CodeBuild"}
	if err := b.CancelAction(context.Background(), core.ActionExecution{ActionName: "Build", Type: typ, ExternalExecutionID: "p:1"}); err != nil {
		t.Fatal(err)
	}
	if err := b.CancelAction(context.Background(), core.ActionExecution{ActionName: "Build", Type: typ, ExternalExecutionID: "gone:1"}); err != nil {
		t.Errorf("stopping a build CodeBuild does not know: got %v, want nil", err)
	}
	// Not a build: nothing to stop.
	other := core.ActionExecution{ActionName: "Approve", Type: core.ActionType{Category: "Approval", Owner: "AWS", Provider: "Manual"}, ExternalExecutionID: "x"}
	if err := b.CancelAction(context.Background(), other); err != nil {
		t.Fatal(err)
	}
	var ids []any
	for _, r := range fake.requests {
		if r.Target != "CodeBuild_20161006.StopBuild" {
			t.Errorf("got target %s, want StopBuild", r.Target)
		}
		ids = append(ids, r.Body["id"])
	}
	if diff := cmp.Diff([]any{"p:1", "gone:1"}, ids); diff != "" {
		t.Errorf("stopped builds (-want +got):\n%s", diff)
	}
}

func TestStartBuildError(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusBadRequest)
		io.WriteString(w, `{"__type":"ResourceNotFoundException","message":"Project cannot be found: arn:aws:codebuild:eu-west-1:1:project/nope"}`)
	}))
	defer srv.Close()
	client := codebuild.New(codebuild.Options{Region: "eu-west-1", BaseEndpoint: aws.String(srv.URL), Credentials: aws.AnonymousCredentials{}})
	res, err := New(client, "b", "").Run(context.Background(), job(map[string]string{"ProjectName": "nope"}, []string{"S"}, nil))
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != core.ActionFailed || !strings.Contains(res.Error.Message, "Project cannot be found") {
		t.Errorf("got %+v, want Failed naming the missing project", res.Error)
	}
}
