package serve_test

import (
	"context"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing/object"

	"github.com/relais-ci/relais/shared/approval"
	"github.com/relais-ci/relais/shared/core"
	"github.com/relais-ci/relais/shared/execution"
	"github.com/relais-ci/relais/shared/local/serve"
	"github.com/relais-ci/relais/shared/local/serve/servetest"
)

// demoRepo makes a git repository holding examples/hello, one commit on main.
func demoRepo(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	src := filepath.Join("..", "..", "..", "examples", "hello")
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dir, rel), b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	repo, err := git.PlainInitWithOptions(dir, &git.PlainInitOptions{InitOptions: git.InitOptions{DefaultBranch: "refs/heads/main"}})
	if err != nil {
		t.Fatal(err)
	}
	wt, err := repo.Worktree()
	if err != nil {
		t.Fatal(err)
	}
	if err := wt.AddGlob("."); err != nil {
		t.Fatal(err)
	}
	sig := &object.Signature{Name: "Demo", Email: "demo@example.com", When: time.Now()}
	if _, err := wt.Commit("Say hello", &git.CommitOptions{Author: sig}); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestHelloEndToEnd runs pipelines/hello.json with the real local providers: the demo
// repository is exported, built and tested by its buildspec, approved, and deployed to a
// bucket folder.
func TestHelloEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a Go program")
	}
	ctx := context.Background()
	data := t.TempDir()
	rt, err := serve.Open(ctx, serve.Config{
		DataDir: data,
		Sources: serve.Sources{Repos: map[string]string{"relais-ci/hello": demoRepo(t)}},
		Logger:  slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close()
	decl, err := os.ReadFile("../../../pipelines/hello.json")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := rt.Executions.Install(ctx, decl); err != nil {
		t.Fatal(err)
	}
	x, err := rt.Executions.Start(ctx, execution.StartRequest{Pipeline: "hello"})
	if err != nil {
		t.Fatal(err)
	}
	e := &servetest.Env{RT: rt}
	deadline := time.Now().Add(3 * time.Minute)
	for {
		cur, err := rt.Store.GetExecution(ctx, "hello", x.ID)
		if err != nil {
			t.Fatal(err)
		}
		if cur.Status.Terminal() {
			acts := e.Actions(t, "hello", x.ID)
			t.Fatalf("execution ended %s before its approval (%s); build: %s %+v", cur.Status, cur.StatusSummary, acts["Build/BuildAndTest"].Summary, acts["Build/BuildAndTest"].Error)
		}
		pending, _ := rt.Store.PendingApprovals(ctx, "hello", x.ID)
		if len(pending) == 1 {
			if !strings.Contains(pending[0].CustomData, "Release ") || strings.Contains(pending[0].CustomData, "#{") {
				t.Errorf("approval CustomData not resolved: %q", pending[0].CustomData)
			}
			if _, err := rt.Approvals.Decide(ctx, approval.Decision{ID: pending[0].ID, Status: core.Approved, By: "test"}); err != nil {
				t.Fatal(err)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no approval requested in time")
		}
		time.Sleep(20 * time.Millisecond)
	}
	done := e.Expect(t, "hello", x.ID, core.ExecutionSucceeded)
	if len(done.SourceRevisions) != 1 || len(done.SourceRevisions[0].RevisionID) != 40 {
		t.Errorf("source revision: got %+v, want the demo commit", done.SourceRevisions)
	}
	site := filepath.Join(data, "buckets", "relais-hello-site")
	index, err := os.ReadFile(filepath.Join(site, "index.txt"))
	if err != nil {
		t.Fatalf("deployed site: %v", err)
	}
	commit := done.SourceRevisions[0].RevisionID[:7]
	if want := "hello, world!\nversion " + commit + "\n"; string(index) != want {
		t.Errorf("deployed index.txt: got %q, want %q", index, want)
	}
	build := e.Actions(t, "hello", x.ID)["Build/BuildAndTest"]
	if build.OutputVariables["VERSION"] != commit || build.ExternalExecutionURL == "" {
		t.Errorf("build action: got variables %v and log link %q, want VERSION=%s and a link", build.OutputVariables, build.ExternalExecutionURL, commit)
	}
}
