package aslstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/relais-ci/relais/shared/asl"
)

const callbackMachine = `{
  "StartAt": "Prepare",
  "States": {
    "Prepare": {"Type": "Pass", "Result": {"n": 1}, "ResultPath": "$.prep", "Next": "Wait for it"},
    "Wait for it": {
      "Type": "Task",
      "Resource": "arn:aws:states:::lambda:invoke.waitForTaskToken",
      "Parameters": {"FunctionName": "notify", "Payload": {"token.$": "$$.Task.Token"}},
      "ResultPath": "$.answer",
      "Next": "Done"
    },
    "Done": {"Type": "Succeed"}
  }
}`

func open(t *testing.T, path string) *Store {
	t.Helper()
	s, err := Open(context.Background(), path)
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// TestResumeAfterCrash: an engine dies while a callback task waits; a new engine over the
// same file resumes the execution, and the token handed out before the crash still works.
func TestResumeAfterCrash(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "engine.db")

	tokens := make(chan string, 4)
	var invocations atomic.Int32
	notify := func(ctx context.Context, payload any) (any, error) {
		invocations.Add(1)
		tokens <- payload.(map[string]any)["token"].(string)
		return map[string]any{}, nil
	}

	first := asl.New(asl.Options{Store: open(t, path)})
	first.Tasks().HandleLambda("notify", notify)
	if _, err := first.CreateStateMachine(ctx, "m", []byte(callbackMachine), ""); err != nil {
		t.Fatalf("create machine: %v", err)
	}
	x, err := first.StartExecution(ctx, asl.StartInput{StateMachine: "m", Name: "run-1", Input: `{"who":"me"}`})
	if err != nil {
		t.Fatalf("start: %v", err)
	}
	token := <-tokens
	first.Close() // the crash: nothing more runs in this engine

	second := asl.New(asl.Options{Store: open(t, path)})
	t.Cleanup(second.Close) // before its store closes (cleanups run last-in first-out)
	second.Tasks().HandleLambda("notify", notify)
	if err := second.Resume(ctx); err != nil {
		t.Fatalf("resume: %v", err)
	}
	// At-least-once: when the crash came before the checkpoint that records the token,
	// the resumed engine invokes the task again (asynchronously, after Resume returns)
	// with a new token; otherwise the token from before the crash must be accepted.
	if err := second.SendTaskSuccess(ctx, token, `{"ok":true}`); err != nil {
		if !errors.Is(err, asl.ErrTaskTimedOut) {
			t.Fatalf("send task success with the token from before the crash: %v", err)
		}
		select {
		case again := <-tokens:
			if err := second.SendTaskSuccess(ctx, again, `{"ok":true}`); err != nil {
				t.Fatalf("send task success with the re-issued token: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Fatalf("the token from before the crash was refused (%v) and the task was not invoked again", err)
		}
	}
	done, err := second.WaitExecution(ctx, x.ARN)
	if err != nil {
		t.Fatalf("wait: %v", err)
	}
	if done.Status != asl.StatusSucceeded {
		t.Fatalf("got status %s (%s: %s), want SUCCEEDED", done.Status, done.Error, done.Cause)
	}
	want := `{"answer":{"ok":true},"prep":{"n":1},"who":"me"}`
	if done.Output != want {
		t.Errorf("got output %s, want %s", done.Output, want)
	}
	events, _, err := second.History(ctx, x.ARN, asl.HistoryInput{})
	if err != nil {
		t.Fatalf("history: %v", err)
	}
	if len(events) == 0 || events[0].Type != "ExecutionStarted" || events[len(events)-1].Type != "ExecutionSucceeded" {
		t.Errorf("history from the store: got %d events, want ExecutionStarted … ExecutionSucceeded", len(events))
	}
	for i, ev := range events {
		if ev.ID != int64(i+1) {
			t.Fatalf("event %d has id %d: history has gaps or repeats across the crash", i, ev.ID)
		}
	}
}

func TestCheckpointCreateTwice(t *testing.T) {
	ctx := context.Background()
	s := open(t, filepath.Join(t.TempDir(), "engine.db"))
	rec := asl.ExecutionRecord{ARN: "arn:x", Name: "x", StateMachineARN: "arn:m", Status: asl.StatusRunning, EventCount: 1}
	ev := asl.Event{ID: 1, Type: "ExecutionStarted"}
	if err := s.Checkpoint(ctx, asl.Checkpoint{Execution: rec, Events: []asl.Event{ev}, Create: true}); err != nil {
		t.Fatalf("first create: %v", err)
	}
	err := s.Checkpoint(ctx, asl.Checkpoint{Execution: rec, Events: []asl.Event{ev}, Create: true})
	if !errors.Is(err, asl.ErrExecutionAlreadyExists) {
		t.Fatalf("second create: got %v, want ErrExecutionAlreadyExists", err)
	}
	evs, err := s.Events(ctx, "arn:x", 0, 0)
	if err != nil || len(evs) != 1 {
		t.Fatalf("events after a refused create: got %d (%v), want 1: the refused checkpoint must write nothing", len(evs), err)
	}
	if _, err := s.Execution(ctx, "arn:missing"); !errors.Is(err, asl.ErrNotFound) {
		t.Errorf("missing execution: got %v, want ErrNotFound", err)
	}
	err = s.Checkpoint(ctx, asl.Checkpoint{Execution: asl.ExecutionRecord{ARN: "arn:missing"}})
	if !errors.Is(err, asl.ErrNotFound) {
		t.Errorf("update of a missing execution: got %v, want ErrNotFound", err)
	}
}

func TestReopenKeepsMachinesAndSchema(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "engine.db")
	s := open(t, path)
	if err := s.PutMachine(ctx, asl.MachineRecord{Name: "m", Definition: []byte(`{}`)}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s2 := open(t, path)
	ms, err := s2.Machines(ctx)
	if err != nil || len(ms) != 1 || ms[0].Name != "m" {
		t.Fatalf("machines after reopening: got %v (%v), want [m]", ms, err)
	}
	if m, err := s2.Machine(ctx, "m"); err != nil || m.Name != "m" || string(m.Definition) != `{}` {
		t.Errorf("machine m: got %+v (%v)", m, err)
	}
	if err := s2.PutMachine(ctx, asl.MachineRecord{Name: "m"}); err != nil {
		t.Fatal(err)
	}
	if ms, _ := s2.Machines(ctx); len(ms) != 0 {
		t.Errorf("after delete: got %d machines, want 0", len(ms))
	}
	if _, err := s2.Machine(ctx, "m"); !errors.Is(err, asl.ErrNotFound) {
		t.Errorf("deleted machine: got %v, want ErrNotFound", err)
	}
}

// BenchmarkDurablePassChain runs a 100-state Pass chain on an engine checkpointed in
// SQLite and reports state transitions per second.
func BenchmarkDurablePassChain(b *testing.B) {
	ctx := context.Background()
	var def strings.Builder
	def.WriteString(`{"StartAt":"S0","States":{`)
	for i := range 100 {
		if i > 0 {
			def.WriteString(",")
		}
		next := fmt.Sprintf(`"Next":"S%d"`, i+1)
		if i == 99 {
			next = `"End":true`
		}
		fmt.Fprintf(&def, `"S%d":{"Type":"Pass","Result":{"i":%d},"ResultPath":"$.last",%s}`, i, i, next)
	}
	def.WriteString(`}}`)
	s, err := Open(ctx, filepath.Join(b.TempDir(), "engine.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	eng := asl.New(asl.Options{Store: s})
	defer eng.Close()
	if _, err := eng.CreateStateMachine(ctx, "chain", []byte(def.String()), ""); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	start := time.Now()
	for i := range b.N {
		x, err := eng.StartExecution(ctx, asl.StartInput{StateMachine: "chain", Name: fmt.Sprintf("run-%d", i), Input: `{}`})
		if err != nil {
			b.Fatal(err)
		}
		if done, err := eng.WaitExecution(ctx, x.ARN); err != nil || done.Status != asl.StatusSucceeded {
			b.Fatalf("execution: %v %+v", err, done)
		}
	}
	b.ReportMetric(float64(b.N*100)/time.Since(start).Seconds(), "transitions/s")
}

// BenchmarkCheckpoints is the store's share of many executions of one compiled pipeline
// machine running at once: 16 goroutines each create an execution (with the machine's
// 8 KB definition) and checkpoint it three more times with two events each.
func BenchmarkCheckpoints(b *testing.B) {
	ctx := context.Background()
	def := []byte(`{"StartAt":"A","States":{"A":{"Type":"Pass","End":true}},"Comment":"` + strings.Repeat("x", 8<<10) + `"}`)
	s, err := Open(ctx, filepath.Join(b.TempDir(), "engine.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	snap := []byte(`{"root":{"id":"r","state":"1 Source/Checkout","status":"running","input":{"pipeline":"p000","executionId":"x"}}}`)
	ev := func(id int64) asl.Event {
		return asl.Event{ID: id, PreviousEventID: id - 1, Timestamp: time.Now(), Type: "TaskScheduled",
			EventDetails: &asl.EventDetails{TaskScheduledEventDetails: &asl.TaskScheduledEventDetails{
				Resource: "invoke.waitForTaskToken", ResourceType: "lambda", Region: "us-east-1",
				Parameters: `{"FunctionName":"relais-action","Payload":{"pipeline":"p000","stage":"Source","action":"Checkout"}}`}}}
	}
	var n atomic.Int64
	b.SetParallelism(8) // 16 goroutines on 2 cores
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			arn := fmt.Sprintf("arn:aws:states:us-east-1:123456789012:execution:p000:%08d", n.Add(1))
			rec := asl.ExecutionRecord{ARN: arn, Name: arn[len(arn)-8:], StateMachineARN: "arn:aws:states:us-east-1:123456789012:stateMachine:p000",
				Status: asl.StatusRunning, Input: `{"pipeline":"p000","executionId":"x"}`, StartDate: time.Now(), Definition: def,
				EventCount: 1, Snapshot: snap}
			if err := s.Checkpoint(ctx, asl.Checkpoint{Execution: rec, Events: []asl.Event{ev(1)}, Create: true}); err != nil {
				b.Error(err)
				return
			}
			for i := range 3 {
				rec.EventCount += 2
				if err := s.Checkpoint(ctx, asl.Checkpoint{Execution: rec, Events: []asl.Event{ev(int64(2 + 2*i)), ev(int64(3 + 2*i))}}); err != nil {
					b.Error(err)
					return
				}
			}
		}
	})
}

// TestRecordsRoundTrip: what a checkpoint writes is what Execution and Executions
// return — definition and snapshot included, whether executions share a definition or
// have none.
func TestRecordsRoundTrip(t *testing.T) {
	ctx := context.Background()
	s := open(t, filepath.Join(t.TempDir(), "engine.db"))
	def := []byte(callbackMachine)
	start := time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC)
	recs := []asl.ExecutionRecord{
		{ARN: "arn:a", Name: "a", StateMachineARN: "arn:m", Status: asl.StatusRunning, Input: `{}`, StartDate: start,
			Definition: def, RoleArn: "role", EventCount: 1, Snapshot: []byte(`{"root":{"id":"r"}}`)},
		{ARN: "arn:b", Name: "b", StateMachineARN: "arn:m", Status: asl.StatusRunning, Input: `{"x":1}`, StartDate: start.Add(time.Second),
			Definition: def, EventCount: 1, Snapshot: []byte(`{"root":{"id":"r","state":"Prepare"}}`)},
		{ARN: "arn:c", Name: "c", StateMachineARN: "arn:other", Status: asl.StatusRunning, Input: `{}`, StartDate: start.Add(2 * time.Second), EventCount: 1},
	}
	for _, r := range recs {
		if err := s.Checkpoint(ctx, asl.Checkpoint{Execution: r, Events: []asl.Event{{ID: 1, Type: "ExecutionStarted"}}, Create: true}); err != nil {
			t.Fatal(err)
		}
	}
	// An update changes the snapshot and the status, never the definition.
	recs[0].Status, recs[0].Output, recs[0].EventCount = asl.StatusSucceeded, `{"ok":true}`, 2
	recs[0].Snapshot = []byte(`{"root":{"id":"r","status":"succeeded"}}`)
	if err := s.Checkpoint(ctx, asl.Checkpoint{Execution: recs[0], Events: []asl.Event{{ID: 2, Type: "ExecutionSucceeded"}}}); err != nil {
		t.Fatal(err)
	}
	for _, want := range recs {
		got, err := s.Execution(ctx, want.ARN)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("execution %s (-want +got):\n%s", want.ARN, diff)
		}
	}
	got, err := s.Executions(ctx, asl.ExecutionFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]asl.ExecutionRecord{recs[2], recs[1], recs[0]}, got); diff != "" {
		t.Errorf("executions, newest first (-want +got):\n%s", diff)
	}
}

// TestMigrateRecordsWithDefinitions: a file written before definitions had a table of
// their own opens with every execution whole, and goes on being checkpointed.
func TestMigrateRecordsWithDefinitions(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "engine.db")
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC)
	old := asl.ExecutionRecord{ARN: "arn:old", Name: "old", StateMachineARN: "arn:m", Status: asl.StatusRunning, Input: `{}`,
		StartDate: start, Definition: []byte(callbackMachine), EventCount: 1, Snapshot: []byte(`{"root":{"id":"r"}}`)}
	b, _ := json.Marshal(old) // version 1 kept the whole record as JSON
	for _, q := range []string{
		`CREATE TABLE schema_version (version INTEGER NOT NULL)`, `INSERT INTO schema_version (version) VALUES (1)`, schema[0].sql,
	} {
		if _, err := db.ExecContext(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := db.ExecContext(ctx, `INSERT INTO executions (arn, machine_arn, status, start_date, event_count, record) VALUES (?, ?, ?, ?, ?, ?)`,
		old.ARN, old.StateMachineARN, old.Status, old.StartDate.UnixNano(), old.EventCount, b); err != nil {
		t.Fatal(err)
	}
	db.Close()

	s := open(t, path)
	got, err := s.Execution(ctx, old.ARN)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(old, got); diff != "" {
		t.Errorf("migrated execution (-want +got):\n%s", diff)
	}
	old.EventCount, old.Snapshot = 2, []byte(`{"root":{"id":"r","state":"Wait for it"}}`)
	if err := s.Checkpoint(ctx, asl.Checkpoint{Execution: old, Events: []asl.Event{{ID: 2, Type: "TaskStateEntered"}}}); err != nil {
		t.Fatal(err)
	}
	list, err := s.Executions(ctx, asl.ExecutionFilter{Status: asl.StatusRunning})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]asl.ExecutionRecord{old}, list); diff != "" {
		t.Errorf("migrated execution after a checkpoint (-want +got):\n%s", diff)
	}
}

// TestConcurrentCreatesOneWins: checkpoints that create one execution at once, in
// shared transactions, create it once; the others write nothing.
func TestConcurrentCreatesOneWins(t *testing.T) {
	ctx := context.Background()
	s := open(t, filepath.Join(t.TempDir(), "engine.db"))
	errs := make(chan error, 16)
	for i := range 16 {
		go func() {
			rec := asl.ExecutionRecord{ARN: "arn:x", Name: "x", StateMachineARN: "arn:m", Status: asl.StatusRunning,
				Input: fmt.Sprintf(`{"i":%d}`, i), Definition: []byte(callbackMachine), EventCount: 1}
			errs <- s.Checkpoint(ctx, asl.Checkpoint{Execution: rec, Events: []asl.Event{{ID: 1, Type: "ExecutionStarted"}}, Create: true})
		}()
	}
	won := 0
	for range 16 {
		switch err := <-errs; {
		case err == nil:
			won++
		case !errors.Is(err, asl.ErrExecutionAlreadyExists):
			t.Errorf("got %v, want nil or ErrExecutionAlreadyExists", err)
		}
	}
	if won != 1 {
		t.Errorf("%d creates succeeded, want 1", won)
	}
	if evs, err := s.Events(ctx, "arn:x", 0, 0); err != nil || len(evs) != 1 {
		t.Errorf("got %d events (%v), want the winner's one", len(evs), err)
	}
}

// BenchmarkStartExecution starts executions of a machine whose first task waits for a
// callback that never comes: the cost of a start, checkpoint included, on 16
// goroutines.
func BenchmarkStartExecution(b *testing.B) {
	ctx := context.Background()
	s, err := Open(ctx, filepath.Join(b.TempDir(), "engine.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	eng := asl.New(asl.Options{Store: s})
	defer eng.Close()
	eng.Tasks().HandleLambda("notify", func(context.Context, any) (any, error) { return map[string]any{}, nil })
	if _, err := eng.CreateStateMachine(ctx, "m", []byte(callbackMachine), ""); err != nil {
		b.Fatal(err)
	}
	var n atomic.Int64
	b.SetParallelism(8)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := eng.StartExecution(ctx, asl.StartInput{StateMachine: "m", Name: fmt.Sprintf("run-%d", n.Add(1)), Input: `{}`}); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkResume resumes 500 executions of one machine of 40 states (about the size
// of a compiled pipeline), each waiting for a callback, as `relais serve` does at
// start-up after a restart.
func BenchmarkResume(b *testing.B) {
	ctx := context.Background()
	var def strings.Builder
	def.WriteString(`{"StartAt":"Wait for it","States":{"Wait for it":{"Type":"Task",
		"Resource":"arn:aws:states:::lambda:invoke.waitForTaskToken",
		"Parameters":{"FunctionName":"notify","Payload":{"token.$":"$$.Task.Token","pipeline.$":"$.pipeline"}},
		"Catch":[{"ErrorEquals":["States.ALL"],"ResultPath":"$.failure","Next":"Failed"}],
		"ResultPath":null,"Next":"S0"},"Failed":{"Type":"Fail","Error":"Failed"}`)
	for i := range 38 {
		next := fmt.Sprintf(`"Next":"S%d"`, i+1)
		if i == 37 {
			next = `"End":true`
		}
		fmt.Fprintf(&def, `,"S%d":{"Type":"Pass","Parameters":{"stage":"S%d","pipeline.$":"$.pipeline","n":%d},"ResultPath":"$.last",%s}`, i, i, i, next)
	}
	def.WriteString(`}}`)
	s, err := Open(ctx, filepath.Join(b.TempDir(), "engine.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	notify := func(context.Context, any) (any, error) { return map[string]any{}, nil }
	first := asl.New(asl.Options{Store: s, CheckpointInterval: -1})
	first.Tasks().HandleLambda("notify", notify)
	if _, err := first.CreateStateMachine(ctx, "m", []byte(def.String()), ""); err != nil {
		b.Fatal(err)
	}
	const n = 500
	for i := range n {
		if _, err := first.StartExecution(ctx, asl.StartInput{StateMachine: "m", Name: fmt.Sprintf("run-%d", i), Input: `{"pipeline":"p"}`}); err != nil {
			b.Fatal(err)
		}
	}
	// Let each reach its callback wait before the engine stops.
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(10 * time.Millisecond) {
		evs, err := s.Events(ctx, fmt.Sprintf("arn:aws:states:us-east-1:123456789012:execution:m:run-%d", n-1), 0, 0)
		if err == nil && len(evs) >= 4 {
			break
		}
		if time.Now().After(deadline) {
			b.Fatal("executions did not reach their callback")
		}
	}
	first.Close()
	for b.Loop() {
		eng := asl.New(asl.Options{Store: s})
		eng.Tasks().HandleLambda("notify", notify)
		if err := eng.Resume(ctx); err != nil {
			b.Fatal(err)
		}
		eng.Close()
	}
}
