package execution_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/relais-ci/relais/shared/core"
	"github.com/relais-ci/relais/shared/execution"
	"github.com/relais-ci/relais/shared/local/sqlitestore"
	"github.com/relais-ci/relais/shared/pipeline"
)

// engine is a core.Engine that records the runs it is asked to start.
type engine struct {
	mu      sync.Mutex
	started map[string]string // pipeline/execution → input
	starts  int
}

func (e *engine) Deploy(context.Context, string, []byte) error { return nil }

func (e *engine) StartExecution(_ context.Context, p, id string, input []byte) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	key := p + "/" + id
	if in, ok := e.started[key]; ok {
		if in != string(input) {
			return core.ErrConflict
		}
		return nil
	}
	e.started[key] = string(input)
	e.starts++
	return nil
}

func (e *engine) StopExecution(context.Context, string, string, string) error   { return nil }
func (e *engine) SendTaskSuccess(context.Context, string, []byte) error         { return nil }
func (e *engine) SendTaskFailure(context.Context, string, string, string) error { return nil }
func (e *engine) SendTaskHeartbeat(context.Context, string) error               { return nil }

func newService(t testing.TB) (*execution.Service, *sqlitestore.Store, *engine) {
	t.Helper()
	store, err := sqlitestore.Open(context.Background(), filepath.Join(t.TempDir(), "relais.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	eng := &engine{started: map[string]string{}}
	svc := execution.New(execution.Deps{
		Pipelines: store, Executions: store, Stages: store, Actions: store, Transitions: store,
		Engine: eng, Target: pipeline.TargetLocal, Logger: slog.New(slog.DiscardHandler),
	})
	return svc, store, eng
}

// declaration is Source → Build in mode, with a variable Env whose default is env.
func declaration(name, mode, env string) []byte {
	return []byte(fmt.Sprintf(`{"pipeline": {
  "name": %q, "roleArn": "arn:aws:iam::123456789012:role/relais",
  "artifactStore": {"type": "S3", "location": "relais-artifacts"},
  "pipelineType": "V2", "executionMode": %q,
  "variables": [{"name": "Env", "defaultValue": %q}],
  "stages": [
    {"name": "Source", "actions": [{"name": "Checkout",
      "actionTypeId": {"category": "Source", "owner": "AWS", "provider": "CodeStarSourceConnection", "version": "1"},
      "configuration": {"ConnectionArn": "arn:aws:codeconnections:us-east-1:123456789012:connection/x",
        "FullRepositoryId": "org/app", "BranchName": "main"},
      "outputArtifacts": [{"name": "Src"}]}]},
    {"name": "Build", "actions": [{"name": "Compile",
      "actionTypeId": {"category": "Build", "owner": "AWS", "provider": "CodeBuild", "version": "1"},
      "configuration": {"ProjectName": "p"}, "inputArtifacts": [{"name": "Src"}]}]}
  ]}}`, name, mode, env))
}

// TestStartUsesTheInstalledDeclaration: every start sees the declaration installed
// last — a new version, and a pipeline deleted and installed anew (whose version
// starts again at 1) — though the service parses a declaration once.
func TestStartUsesTheInstalledDeclaration(t *testing.T) {
	ctx := context.Background()
	svc, store, _ := newService(t)
	type got struct {
		Version int
		Mode    core.ExecutionMode
		Env     string
	}
	start := func(id string) got {
		t.Helper()
		e, err := svc.Start(ctx, execution.StartRequest{Pipeline: "app", ID: id})
		if err != nil {
			t.Fatalf("start %s: %v", id, err)
		}
		g := got{Version: e.PipelineVersion, Mode: e.Mode}
		for _, v := range e.Variables {
			if v.Name == "Env" {
				g.Env = v.Value
			}
		}
		return g
	}
	steps := []struct {
		name    string
		install func()
		want    got
	}{
		{"first version", func() {}, got{1, core.ModeQueued, "one"}},
		{"started again", func() {}, got{1, core.ModeQueued, "one"}},
		{"new version", func() {
			if _, err := svc.Install(ctx, declaration("app", "PARALLEL", "two")); err != nil {
				t.Fatal(err)
			}
		}, got{2, core.ModeParallel, "two"}},
		{"deleted and installed anew", func() {
			if err := store.DeletePipeline(ctx, "app"); err != nil {
				t.Fatal(err)
			}
			if _, err := svc.Install(ctx, declaration("app", "SUPERSEDED", "three")); err != nil {
				t.Fatal(err)
			}
		}, got{1, core.ModeSuperseded, "three"}},
	}
	if _, err := svc.Install(ctx, declaration("app", "QUEUED", "one")); err != nil {
		t.Fatal(err)
	}
	for i, step := range steps {
		step.install()
		if diff := cmp.Diff(step.want, start(fmt.Sprintf("x%d", i))); diff != "" {
			t.Errorf("%s (-want +got):\n%s", step.name, diff)
		}
	}
	if err := store.DeletePipeline(ctx, "app"); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Start(ctx, execution.StartRequest{Pipeline: "app"}); !errors.Is(err, core.ErrNotFound) {
		t.Errorf("start of a deleted pipeline: got %v, want ErrNotFound", err)
	}
}

// TestStartOneIDOnce: concurrent starts of one execution id record one execution and
// start one run.
func TestStartOneIDOnce(t *testing.T) {
	ctx := context.Background()
	svc, store, eng := newService(t)
	if _, err := svc.Install(ctx, declaration("app", "PARALLEL", "one")); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if e, err := svc.Start(ctx, execution.StartRequest{Pipeline: "app", ID: "once"}); err != nil || e.ID != "once" {
				t.Errorf("start: got %s, %v", e.ID, err)
			}
		}()
	}
	wg.Wait()
	es, _, err := store.ListExecutions(ctx, "app", core.Page{})
	if err != nil || len(es) != 1 {
		t.Errorf("got %d executions (%v), want 1", len(es), err)
	}
	if eng.starts != 1 {
		t.Errorf("the engine started %d runs, want 1", eng.starts)
	}
}

// BenchmarkStart records and starts executions of an installed pipeline (the engine
// only takes note).
func BenchmarkStart(b *testing.B) {
	ctx := context.Background()
	svc, _, _ := newService(b)
	if _, err := svc.Install(ctx, declaration("app", "PARALLEL", "one")); err != nil {
		b.Fatal(err)
	}
	i := 0
	for b.Loop() {
		i++
		if _, err := svc.Start(ctx, execution.StartRequest{Pipeline: "app", ID: fmt.Sprintf("x%d", i)}); err != nil {
			b.Fatal(err)
		}
	}
}
