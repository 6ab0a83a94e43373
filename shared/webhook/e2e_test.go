package webhook_test

import (
	"bytes"
	"context"
	"encoding/json"
	"github.com/relais-ci/relais/shared/webhook"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing/object"

	"github.com/relais-ci/relais/shared/action"
	"github.com/relais-ci/relais/shared/core"
	"github.com/relais-ci/relais/shared/local/gitsource"
	"github.com/relais-ci/relais/shared/local/serve"
)

// A signed push to the handler, mounted as relais serve will mount it, runs the
// pipeline on the local runtime: the git source exports the pushed commit, the build
// sees its variables, the execution succeeds, and GitHub hears pending then success.
func TestEndToEndPushRunsPipeline(t *testing.T) {
	ctx := context.Background()
	repoDir := t.TempDir()
	repo, err := git.PlainInit(repoDir, false)
	if err != nil {
		t.Fatal(err)
	}
	wt, _ := repo.Worktree()
	if err := os.WriteFile(filepath.Join(repoDir, "README.md"), []byte("hello\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	wt.Add("README.md")
	sig := &object.Signature{Name: "Ada", Email: "ada@example.com", When: time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)}
	first, err := wt.Commit("first commit", &git.CommitOptions{Author: sig, Committer: sig})
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(repoDir, "README.md"), []byte("hello again\n"), 0o644)
	wt.Add("README.md")
	head, err := wt.Commit("second commit\n\nwith a body", &git.CommitOptions{Author: sig, Committer: sig})
	if err != nil {
		t.Fatal(err)
	}

	var src *gitsource.Source // set once the runtime (its artifact store) exists
	built := make(chan map[string]string, 1)
	release := make(chan struct{}) // the build waits until GitHub heard "pending"
	providers := map[string]action.Provider{
		"Source/AWS/CodeStarSourceConnection": action.ProviderFunc(func(ctx context.Context, job action.Job) (action.Result, error) {
			return src.Run(ctx, job)
		}),
		"Build/AWS/CodeBuild": action.ProviderFunc(func(ctx context.Context, job action.Job) (action.Result, error) {
			built <- job.Record.Configuration
			<-release
			return action.Result{Status: core.ActionSucceeded, Summary: "built"}, nil
		}),
	}
	rt, err := serve.Open(ctx, serve.Config{DataDir: t.TempDir(), Providers: providers, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rt.Close() })
	src = gitsource.New(rt.Artifacts, map[string]string{"relais-ci/hello": repoDir}, quiet)
	d := decl("hello", source{repo: "relais-ci/hello", branch: "master"})
	d = string(bytes.Replace([]byte(d), []byte(`"ProjectName":"p"`), []byte(`"ProjectName":"p","EnvironmentVariables":"#{SourceVariables.CommitId}"`), 1))
	if _, err := rt.Executions.Install(ctx, []byte(d)); err != nil {
		t.Fatal(err)
	}

	fake, gh := newFakeGitHub(t)
	reporter := webhook.NewReporter(webhook.ReporterDeps{GitHub: gh, Executions: rt.Store, BaseURL: "http://localhost:8080", Backoff: time.Millisecond, Logger: quiet})
	secrets := webhook.NewSecrets(testSecret)
	svc := webhook.New(webhook.Deps{
		Pipelines: rt.Store, Executions: rt.Store, Deliveries: rt.Store, Starter: rt.Executions,
		Secrets: secrets, OnStart: reporter.Track, Logger: quiet,
	})
	mux := http.NewServeMux()
	mux.Handle("POST "+webhook.Path, webhook.HTTPHandler(svc))
	srv := httptest.NewServer(mux)
	defer srv.Close()

	body, _ := json.Marshal(map[string]any{
		"ref": "refs/heads/master", "before": first.String(), "after": head.String(),
		"commits": []map[string]any{{"id": head.String(), "message": "second commit\n\nwith a body", "modified": []string{"README.md"},
			"author": map[string]string{"name": "Ada", "username": "ada"}}},
		"head_commit": map[string]any{"id": head.String(), "message": "second commit\n\nwith a body",
			"url": "https://github.com/relais-ci/hello/commit/" + head.String(), "author": map[string]string{"name": "Ada"}},
		"repository": map[string]string{"full_name": "relais-ci/hello"},
		"pusher":     map[string]string{"name": "ada"},
	})
	req, _ := http.NewRequest(http.MethodPost, srv.URL+webhook.Path, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(webhook.HeaderEvent, "push")
	req.Header.Set(webhook.HeaderDelivery, "e2e-1")
	req.Header.Set(webhook.HeaderSignature, secrets.Sign(body))
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var dec webhook.Decision
	json.NewDecoder(resp.Body).Decode(&dec)
	resp.Body.Close()
	if resp.StatusCode != 200 || len(dec.Executions) != 1 {
		t.Fatalf("delivery: got %d %+v", resp.StatusCode, dec)
	}
	reporter.Poll(ctx) // pending: the build is held
	close(release)

	id := dec.Executions[0].ExecutionID
	var x core.Execution
	for deadline := time.Now().Add(2 * time.Minute); ; time.Sleep(10 * time.Millisecond) {
		if x, err = rt.Store.GetExecution(ctx, "hello", id); err != nil {
			t.Fatal(err)
		}
		if x.Status.Terminal() || time.Now().After(deadline) {
			break
		}
	}
	if x.Status != core.ExecutionSucceeded {
		t.Fatalf("execution: got %s (%s), want Succeeded", x.Status, x.StatusSummary)
	}
	if len(x.SourceRevisions) != 1 || x.SourceRevisions[0].RevisionID != head.String() || x.SourceRevisions[0].RevisionSummary != "second commit" {
		t.Errorf("source revisions: got %+v, want the pushed commit %s", x.SourceRevisions, head)
	}
	if cfg := <-built; cfg["EnvironmentVariables"] != head.String() {
		t.Errorf("build saw CommitId %q, want the pushed commit %s (not the branch head before it)", cfg["EnvironmentVariables"], head)
	}
	reporter.Poll(ctx)
	got := fake.posted()
	if len(got) != 2 || got[0].Status.State != "pending" || got[1].Status.State != "success" ||
		got[1].SHA != head.String() || got[1].Repo != "relais-ci/hello" || got[1].Status.Context != "relais/hello" ||
		got[1].Status.TargetURL != "http://localhost:8080/pipelines/hello/executions/"+id {
		t.Errorf("statuses: got %+v, want pending then success on %s", got, head)
	}
}

// The same with the local providers relais serve runs: the git source exports the
// pushed commit, and a real buildspec builds it.
func TestEndToEndWithLocalProviders(t *testing.T) {
	ctx := context.Background()
	repoDir := t.TempDir()
	repo, err := git.PlainInit(repoDir, false)
	if err != nil {
		t.Fatal(err)
	}
	wt, _ := repo.Worktree()
	sig := &object.Signature{Name: "Ada", Email: "ada@example.com", When: time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)}
	commit := func(readme, msg string) string {
		t.Helper()
		os.WriteFile(filepath.Join(repoDir, "README.md"), []byte(readme), 0o644)
		os.WriteFile(filepath.Join(repoDir, "buildspec.yml"), []byte(
			"version: 0.2\nphases:\n  build:\n    commands:\n      - test -n \"$COMMIT\"\n      - grep -q 'hello again' README.md\n"), 0o644)
		wt.Add("README.md")
		wt.Add("buildspec.yml")
		h, err := wt.Commit(msg, &git.CommitOptions{Author: sig, Committer: sig})
		if err != nil {
			t.Fatal(err)
		}
		return h.String()
	}
	pushed := commit("hello again\n", "the commit pushed")
	commit("hello\n", "a later commit on the branch head") // the build must not see this one

	rt, err := serve.Open(ctx, serve.Config{DataDir: t.TempDir(), Sources: serve.Sources{Repos: map[string]string{"relais-ci/hello": repoDir}}, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rt.Close() })
	d := decl("hello", source{repo: "relais-ci/hello", branch: "master"})
	d = strings.Replace(d, `"ProjectName":"p"`, `"ProjectName":"p","EnvironmentVariables":"[{\"name\":\"COMMIT\",\"value\":\"#{SourceVariables.CommitId}\",\"type\":\"PLAINTEXT\"}]"`, 1)
	if _, err := rt.Executions.Install(ctx, []byte(d)); err != nil {
		t.Fatal(err)
	}
	secrets := webhook.NewSecrets(testSecret)
	svc := webhook.New(webhook.Deps{Pipelines: rt.Store, Executions: rt.Store, Deliveries: rt.Store, Starter: rt.Executions, Secrets: secrets, Logger: quiet})
	srv := httptest.NewServer(webhook.HTTPHandler(svc))
	defer srv.Close()

	body, _ := json.Marshal(map[string]any{
		"ref": "refs/heads/master", "before": strings.Repeat("0", 40), "after": pushed, "created": true,
		"commits":     []map[string]any{{"id": pushed, "message": "the commit pushed", "added": []string{"README.md", "buildspec.yml"}}},
		"head_commit": map[string]any{"id": pushed, "message": "the commit pushed", "author": map[string]string{"name": "Ada"}},
		"repository":  map[string]string{"full_name": "relais-ci/hello"},
		"pusher":      map[string]string{"name": "ada"},
	})
	req, _ := http.NewRequest(http.MethodPost, srv.URL, bytes.NewReader(body))
	req.Header.Set(webhook.HeaderEvent, "push")
	req.Header.Set(webhook.HeaderDelivery, "e2e-local")
	req.Header.Set(webhook.HeaderSignature, secrets.Sign(body))
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var dec webhook.Decision
	json.NewDecoder(resp.Body).Decode(&dec)
	resp.Body.Close()
	if len(dec.Executions) != 1 {
		t.Fatalf("delivery: got %d %+v", resp.StatusCode, dec)
	}
	id := dec.Executions[0].ExecutionID
	var x core.Execution
	for deadline := time.Now().Add(3 * time.Minute); ; time.Sleep(20 * time.Millisecond) {
		if x, err = rt.Store.GetExecution(ctx, "hello", id); err != nil {
			t.Fatal(err)
		}
		if x.Status.Terminal() || time.Now().After(deadline) {
			break
		}
	}
	acts, _ := core.AllActions(ctx, rt.Store, core.ActionFilter{PipelineName: "hello", ExecutionID: id})
	if x.Status != core.ExecutionSucceeded {
		for _, a := range acts {
			t.Logf("%s/%s: %s %s %+v", a.StageName, a.ActionName, a.Status, a.Summary, a.Error)
		}
		t.Fatalf("execution: got %s (%s), want Succeeded", x.Status, x.StatusSummary)
	}
	for _, a := range acts {
		if a.ActionName == "Checkout" && a.OutputVariables["CommitId"] != pushed {
			t.Errorf("source CommitId: got %q, want the pushed %s", a.OutputVariables["CommitId"], pushed)
		}
	}
}
