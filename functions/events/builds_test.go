package main

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/codebuild"
	"github.com/google/go-cmp/cmp"

	"github.com/relais-ci/relais/shared/core"
	"github.com/relais-ci/relais/shared/pipeline"
)

// codeBuildBatchGet answers BatchGetBuilds as CodeBuild documents it (JSON 1.1): the
// builds it knows among those asked for, the others in buildsNotFound.
func codeBuildBatchGet(t *testing.T, known map[string]any) (*codebuild.Client, *[]map[string]any) {
	t.Helper()
	var requests []map[string]any
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		raw, _ := io.ReadAll(r.Body)
		var body map[string]any
		if err := json.Unmarshal(raw, &body); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		if got := r.Header.Get("X-Amz-Target"); got != "CodeBuild_20161006.BatchGetBuilds" {
			http.Error(w, "unexpected target "+got, http.StatusBadRequest)
			return
		}
		requests = append(requests, body)
		builds, missing := []any{}, []any{}
		for _, id := range body["ids"].([]any) {
			if b, ok := known[id.(string)]; ok {
				builds = append(builds, b)
			} else {
				missing = append(missing, id)
			}
		}
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		json.NewEncoder(w).Encode(map[string]any{"builds": builds, "buildsNotFound": missing})
	}))
	t.Cleanup(srv.Close)
	return codebuild.New(codebuild.Options{
		Region: "eu-west-1", BaseEndpoint: aws.String(srv.URL), Credentials: aws.AnonymousCredentials{}, HTTPClient: srv.Client(),
	}), &requests
}

func TestBuildsReadBuild(t *testing.T) {
	const dir = "relaisstack-artifactbucket/hello/6f1c1b8e-2f0a-4c55-9a51-0c4f0f4b2b11/"
	client, requests := codeBuildBatchGet(t, map[string]any{buildID: map[string]any{
		"id": buildID, "buildStatus": "SUCCEEDED",
		"artifacts": map[string]any{"location": "arn:aws:s3:::" + dir + "BuildOutput.zip"},
		"secondaryArtifacts": []any{
			map[string]any{"location": "arn:aws:s3:::" + dir + "Reports.zip", "artifactIdentifier": "Reports"},
			map[string]any{"location": "arn:aws:s3:::" + dir + "Docs.zip", "artifactIdentifier": "Docs"},
		},
		"exportedEnvironmentVariables": []any{map[string]any{"name": "VERSION", "value": "1.0.3f78685"}},
	}})
	got, err := Builds{Client: client}.ReadBuild(context.Background(), buildID)
	if err != nil {
		t.Fatal(err)
	}
	loc := func(name string) core.ArtifactLocation {
		return core.ArtifactLocation{Store: "relaisstack-artifactbucket", Key: "hello/6f1c1b8e-2f0a-4c55-9a51-0c4f0f4b2b11/" + name + ".zip"}
	}
	want := BuildOutputs{
		Artifacts: []core.Artifact{{Name: "BuildOutput", Location: loc("BuildOutput")}, {Name: "Reports", Location: loc("Reports")}, {Name: "Docs", Location: loc("Docs")}},
		Variables: map[string]string{"VERSION": "1.0.3f78685"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("build outputs (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]map[string]any{{"ids": []any{buildID}}}, *requests); diff != "" {
		t.Errorf("requests (-want +got):\n%s", diff)
	}

	got, err = Builds{Client: client}.ReadBuild(context.Background(), "relais-hello:gone")
	if err != nil || got.Artifacts != nil || got.Variables != nil {
		t.Errorf("a build CodeBuild no longer knows: got %+v, %v; want nothing and no error", got, err)
	}
}

func TestArtifactLocation(t *testing.T) {
	tests := []struct {
		loc, name string
		want      core.Artifact
		ok        bool
	}{
		{"arn:aws:s3:::b/p/e/Out.zip", "", core.Artifact{Name: "Out", Location: core.ArtifactLocation{Store: "b", Key: "p/e/Out.zip"}}, true},
		{"arn:aws:s3:::b/p/e/Out.zip", "Reports", core.Artifact{Name: "Reports", Location: core.ArtifactLocation{Store: "b", Key: "p/e/Out.zip"}}, true},
		{"arn:aws-cn:s3:::b/p/e/Out.zip", "", core.Artifact{Name: "Out", Location: core.ArtifactLocation{Store: "b", Key: "p/e/Out.zip"}}, true},
		{"", "", core.Artifact{}, false},
		{"b/p/e/Out.zip", "", core.Artifact{}, false},
		{"arn:aws:s3:::b", "", core.Artifact{}, false},
		{"arn:aws:s3:::/key.zip", "", core.Artifact{}, false},
		{"arn:aws:codebuild:eu-west-1:1:build/p:1", "", core.Artifact{}, false},
	}
	for _, tt := range tests {
		got, ok := artifact(tt.loc, tt.name)
		if ok != tt.ok || got != tt.want {
			t.Errorf("artifact(%q, %q) = %+v, %v; want %+v, %v", tt.loc, tt.name, got, ok, tt.want, tt.ok)
		}
	}
}

// TestInvokeRecordsSecondaryArtifacts completes a build action with several outputs:
// the event names the primary artifact, the build the secondary ones, and the action
// gets them all. The event's own variables win over the build's.
func TestInvokeRecordsSecondaryArtifacts(t *testing.T) {
	const dir = "hello/6f1c1b8e-2f0a-4c55-9a51-0c4f0f4b2b11/"
	store := "relaisstack-artifactbucket"
	reader := fakeReader{buildID: {
		Artifacts: []core.Artifact{
			{Name: "BuildOutput", Location: core.ArtifactLocation{Store: store, Key: dir + "BuildOutput.zip"}},
			{Name: "Reports", Location: core.ArtifactLocation{Store: store, Key: dir + "Reports.zip"}},
		},
		Variables: map[string]string{"VERSION": "from the build"},
	}}
	builds := &fakeCompleter{}
	h := New(Deps{Builds: builds, Runs: &fakeRuns{}, Reader: reader, Logger: discard})
	out, err := h.Invoke(context.Background(), sample(t, "codebuild-succeeded.json"))
	if err != nil || out.Outcome != outcomeCompleted {
		t.Fatalf("got %+v, %v; want completed", out, err)
	}
	res := builds.got[buildID]
	want := []core.Artifact{
		{Name: "BuildOutput", Location: core.ArtifactLocation{Store: store, Key: dir + "BuildOutput.zip"}},
		{Name: "Reports", Location: core.ArtifactLocation{Store: store, Key: dir + "Reports.zip"}},
	}
	if diff := cmp.Diff(want, res.OutputArtifacts); diff != "" {
		t.Errorf("output artifacts (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(map[string]string{"VERSION": "1.0.3f78685"}, res.OutputVariables); diff != "" {
		t.Errorf("output variables (-want +got):\n%s", diff)
	}

	// A failed build is not read: it has no outputs.
	builds = &fakeCompleter{}
	h = New(Deps{Builds: builds, Runs: &fakeRuns{}, Reader: failingReader{}, Logger: discard})
	if _, err := h.Invoke(context.Background(), sample(t, "codebuild-failed.json")); err != nil {
		t.Errorf("failed build: got %v, want no read of the build", err)
	}
}

type failingReader struct{}

var errThrottled = errors.New("throttled")

func (failingReader) ReadBuild(context.Context, string) (BuildOutputs, error) {
	return BuildOutputs{}, errThrottled
}

// TestInvokeFailsWhenTheBuildCannotBeRead: completing a succeeded build without its
// secondary artifacts would fail the actions that take them; the event is retried.
func TestInvokeFailsWhenTheBuildCannotBeRead(t *testing.T) {
	builds := &fakeCompleter{}
	h := New(Deps{Builds: builds, Runs: &fakeRuns{}, Reader: failingReader{}, Logger: discard})
	if _, err := h.Invoke(context.Background(), sample(t, "codebuild-succeeded.json")); !errors.Is(err, errThrottled) {
		t.Errorf("got error %v, want one wrapping %v", err, errThrottled)
	}
	if len(builds.got) != 0 {
		t.Errorf("got completions %v, want none", builds.got)
	}
}

// outputLister declares outputs by external id; an id it does not know has no action.
type outputLister map[string][]string

func (o outputLister) DeclaredOutputs(_ context.Context, id string) ([]string, error) {
	names, ok := o[id]
	if !ok {
		return nil, core.ErrNotFound
	}
	return names, nil
}

// TestInvokeReadsTheBuildOnlyWhenNeeded: with the action's declared outputs known, the
// build is read only when the event leaves one of them out (or carries no variables),
// and a build no action waits for is not read at all.
func TestInvokeReadsTheBuildOnlyWhenNeeded(t *testing.T) {
	noVars := func() []byte {
		var e map[string]any
		json.Unmarshal(sample(t, "codebuild-succeeded.json"), &e)
		delete(e["detail"].(map[string]any)["additional-information"].(map[string]any), "exported-environment-variables")
		b, _ := json.Marshal(e)
		return b
	}()
	tests := []struct {
		name     string
		declared outputLister
		payload  []byte
		want     Output
		wantRead bool
	}{
		{"one output named by the event", outputLister{buildID: {"BuildOutput"}}, sample(t, "codebuild-succeeded.json"), Output{Outcome: outcomeCompleted}, false},
		{"a secondary output", outputLister{buildID: {"BuildOutput", "Reports"}}, sample(t, "codebuild-succeeded.json"), Output{Outcome: outcomeCompleted}, true},
		{"no variables in the event", outputLister{buildID: {"BuildOutput"}}, noVars, Output{Outcome: outcomeCompleted}, true},
		{"no action waits", outputLister{}, sample(t, "codebuild-succeeded.json"), Output{Outcome: outcomeUnknown}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			builds := &fakeCompleter{}
			h := New(Deps{Builds: builds, Runs: &fakeRuns{}, Reader: failingReader{}, Outputs: tt.declared, Logger: discard})
			out, err := h.Invoke(context.Background(), tt.payload)
			if read := errors.Is(err, errThrottled); read != tt.wantRead {
				t.Errorf("got error %v: read the build %v, want %v", err, read, tt.wantRead)
			}
			if err == nil && out != tt.want {
				t.Errorf("got %+v, want %+v", out, tt.want)
			}
			if tt.want.Outcome == outcomeUnknown && len(builds.got) != 0 {
				t.Errorf("got completions %v for a build no action waits for", builds.got)
			}
		})
	}
}

// actionsByExternalID is the part of an action store Outputs reads.
type actionsByExternalID struct {
	core.ActionStore
	recs map[string]core.ActionExecution
}

func (a actionsByExternalID) FindActionByExternalID(_ context.Context, id string) (core.ActionExecution, error) {
	if r, ok := a.recs[id]; ok {
		return r, nil
	}
	return core.ActionExecution{}, core.ErrNotFound
}

type declarations map[string]*pipeline.Declaration

func (d declarations) Declaration(_ context.Context, name string) (*pipeline.Declaration, error) {
	if x, ok := d[name]; ok {
		return x, nil
	}
	return nil, core.ErrNotFound
}

func TestOutputsDeclaredOutputs(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("..", "..", "pipelines", "hello.json"))
	if err != nil {
		t.Fatal(err)
	}
	hello, err := pipeline.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	// A second output on the build action.
	hello.Stages[1].Actions[0].OutputArtifacts = append(hello.Stages[1].Actions[0].OutputArtifacts, pipeline.Artifact{Name: "Reports"})
	o := Outputs{
		Actions: actionsByExternalID{recs: map[string]core.ActionExecution{
			buildID:     {PipelineName: "hello", StageName: "Build", ActionName: "BuildAndTest"},
			"renamed:1": {PipelineName: "hello", StageName: "Build", ActionName: "Gone"},
		}},
		Declarations: declarations{"hello": hello},
	}
	got, err := o.DeclaredOutputs(context.Background(), buildID)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"BuildOutput", "Reports"}, got); diff != "" {
		t.Errorf("declared outputs (-want +got):\n%s", diff)
	}
	if got, err := o.DeclaredOutputs(context.Background(), "renamed:1"); err != nil || got != nil {
		t.Errorf("action no longer declared: got %v, %v; want none and no error", got, err)
	}
	if _, err := o.DeclaredOutputs(context.Background(), "other:1"); !errors.Is(err, core.ErrNotFound) {
		t.Errorf("unknown build: got %v, want ErrNotFound", err)
	}
}
