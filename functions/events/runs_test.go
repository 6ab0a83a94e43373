package main

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/relais-ci/relais/shared/core"
	"github.com/relais-ci/relais/shared/gate"
	"github.com/relais-ci/relais/shared/local/sqlitestore"
)

// engine records the callbacks the gate answers.
type engine struct {
	mu        sync.Mutex
	successes []string
}

func (e *engine) Deploy(context.Context, string, []byte) error                 { return nil }
func (e *engine) StartExecution(context.Context, string, string, []byte) error { return nil }
func (e *engine) StopExecution(context.Context, string, string, string) error  { return nil }
func (e *engine) SendTaskSuccess(_ context.Context, token string, _ []byte) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.successes = append(e.successes, token)
	return nil
}
func (e *engine) SendTaskFailure(context.Context, string, string, string) error { return nil }
func (e *engine) SendTaskHeartbeat(context.Context, string) error               { return nil }

type world struct {
	store  *sqlitestore.Store
	engine *engine
	runs   *Runs
	now    time.Time
}

// newWorld installs pipelines/hello.json and starts two SUPERSEDED-mode executions: "a"
// running the Build stage (holding it) with its build action in progress, "b" waiting
// at the Build gate.
func newWorld(t *testing.T) *world {
	t.Helper()
	ctx := context.Background()
	now := time.Date(2026, 11, 25, 18, 0, 0, 0, time.UTC)
	clock := core.ClockFunc(func() time.Time { return now })
	st, err := sqlitestore.Open(ctx, filepath.Join(t.TempDir(), "relais.db"), sqlitestore.WithClock(clock))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	decl, err := os.ReadFile(filepath.Join("..", "..", "pipelines", "hello.json"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.PutPipeline(ctx, core.Pipeline{Name: "hello", Declaration: decl, CreatedAt: now, UpdatedAt: now}); err != nil {
		t.Fatal(err)
	}
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	eng := &engine{}
	g := gate.New(gate.Deps{Executions: st, Stages: st, Actions: st, Locks: st, Queue: st, Transitions: st, Engine: eng, Clock: clock, Logger: logger})
	for i, id := range []string{"a", "b"} {
		e := core.Execution{PipelineName: "hello", ID: id, Status: core.ExecutionInProgress, Mode: core.ModeSuperseded,
			EngineRun: id, StartTime: now.Add(time.Duration(i) * time.Minute), LastUpdateTime: now}
		if _, err := st.CreateExecution(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(st.AcquireStage(ctx, "hello", "Build", "a"))
	must(st.PutStage(ctx, core.StageExecution{PipelineName: "hello", ExecutionID: "a", StageName: "Source", Status: core.StageSucceeded, Attempt: 1, StartTime: now, LastUpdateTime: now}))
	must(st.PutStage(ctx, core.StageExecution{PipelineName: "hello", ExecutionID: "a", StageName: "Build", Status: core.StageInProgress, Attempt: 1, StartTime: now, LastUpdateTime: now}))
	must(st.PutAction(ctx, core.ActionExecution{ID: "act-a", PipelineName: "hello", ExecutionID: "a", StageName: "Build", ActionName: "BuildAndTest",
		Attempt: 1, Status: core.ActionInProgress, Type: core.ActionType{Category: "Build", Owner: "AWS", Provider: "CodeBuild", Version: "1"},
		StartTime: now, LastUpdateTime: now}))
	_, err = st.Enqueue(ctx, core.Waiter{PipelineName: "hello", StageName: "Build", ExecutionID: "b", TaskToken: "token-b", ArrivedAt: now})
	must(err)
	return &world{store: st, engine: eng, now: now, runs: &Runs{
		Pipelines: st, Executions: st, Stages: st, Locks: st, Queue: st, Gate: g, Clock: clock, Logger: logger,
	}}
}

func (w *world) state(t *testing.T, id string) (core.ExecutionStatus, core.StageStatus, core.ActionStatus, string) {
	t.Helper()
	ctx := context.Background()
	e, err := w.store.GetExecution(ctx, "hello", id)
	if err != nil {
		t.Fatal(err)
	}
	var stage core.StageStatus
	if st, err := core.FindStage(ctx, w.store, "hello", id, "Build"); err == nil {
		stage = st.Status
	}
	var act core.ActionStatus
	if a, err := w.store.GetAction(ctx, "hello", "act-"+id); err == nil {
		act = a.Status
	}
	holder, _ := w.store.StageHolder(ctx, "hello", "Build")
	return e.Status, stage, act, holder
}

func TestEndRun(t *testing.T) {
	type state struct {
		Execution core.ExecutionStatus
		Stage     core.StageStatus
		Action    core.ActionStatus
		Holder    string
		LetIn     []string
	}
	tests := []struct {
		name string
		run  EndedRun
		want state
	}{
		{
			name: "timed out: failed, stage freed for the waiter",
			run:  EndedRun{Pipeline: "hello", ExecutionID: "a", Run: "a", Status: "TIMED_OUT", Error: "States.Timeout"},
			want: state{core.ExecutionFailed, core.StageFailed, core.ActionFailed, "b", []string{"token-b"}},
		},
		{
			name: "aborted outside Relais: stopped, action abandoned",
			run:  EndedRun{Pipeline: "hello", ExecutionID: "a", Run: "a", Status: "ABORTED"},
			want: state{core.ExecutionStopped, core.StageStopped, core.ActionAbandoned, "b", []string{"token-b"}},
		},
		{
			name: "an older run of the execution: nothing",
			run:  EndedRun{Pipeline: "hello", ExecutionID: "a", Run: "a-retry-0", Status: "FAILED"},
			want: state{core.ExecutionInProgress, core.StageInProgress, core.ActionInProgress, "a", nil},
		},
		{
			name: "unknown execution: nothing",
			run:  EndedRun{Pipeline: "hello", ExecutionID: "zz", Run: "zz", Status: "FAILED"},
			want: state{core.ExecutionInProgress, core.StageInProgress, core.ActionInProgress, "a", nil},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newWorld(t)
			if err := w.runs.EndRun(context.Background(), tt.run); err != nil {
				t.Fatalf("end run: %v", err)
			}
			var got state
			got.Execution, got.Stage, got.Action, got.Holder = w.state(t, "a")
			got.LetIn = w.engine.successes
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("after EndRun (-want +got):\n%s", diff)
			}
			// Idempotent: a redelivered event changes nothing more.
			if err := w.runs.EndRun(context.Background(), tt.run); err != nil {
				t.Fatalf("end run again: %v", err)
			}
			var again state
			again.Execution, again.Stage, again.Action, again.Holder = w.state(t, "a")
			again.LetIn = w.engine.successes
			if diff := cmp.Diff(got, again); diff != "" {
				t.Errorf("second EndRun changed (-first +second):\n%s", diff)
			}
		})
	}
}

// TestEndRunWaiting ends a run that was waiting at a gate: it leaves the queue and ends
// Failed without holding anything.
func TestEndRunWaiting(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	if err := w.runs.EndRun(ctx, EndedRun{Pipeline: "hello", ExecutionID: "b", Run: "b", Status: "FAILED", Cause: "boom"}); err != nil {
		t.Fatal(err)
	}
	e, _ := w.store.GetExecution(ctx, "hello", "b")
	if e.Status != core.ExecutionFailed {
		t.Errorf("got execution %s, want %s", e.Status, core.ExecutionFailed)
	}
	if ws, _ := w.store.Waiters(ctx, "hello", "Build"); len(ws) != 0 {
		t.Errorf("got waiters %+v, want none", ws)
	}
	if holder, _ := w.store.StageHolder(ctx, "hello", "Build"); holder != "a" {
		t.Errorf("got holder %q, want a (untouched)", holder)
	}
}
