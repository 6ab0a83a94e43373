package asl

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// TestMemStore checks the Store contract on MemStore; a SQLite Store can run the same
// cases.
func TestMemStore(t *testing.T) {
	ctx := context.Background()
	s := NewMemStore()
	rec := func(arn, sm, status string, start int) ExecutionRecord {
		return ExecutionRecord{ARN: arn, StateMachineARN: sm, Status: status, StartDate: epoch.Add(time.Duration(start) * time.Second), Snapshot: []byte(`{}`)}
	}
	ev := func(id int64) Event { return Event{ID: id, Type: "PassStateEntered"} }

	if err := s.Checkpoint(ctx, Checkpoint{Execution: rec("a", "m1", StatusRunning, 1), Events: []Event{ev(1)}, Create: true}); err != nil {
		t.Fatal(err)
	}
	if err := s.Checkpoint(ctx, Checkpoint{Execution: rec("a", "m1", StatusRunning, 1), Create: true}); !errors.Is(err, ErrExecutionAlreadyExists) {
		t.Errorf("second create: got %v, want ErrExecutionAlreadyExists", err)
	}
	if err := s.Checkpoint(ctx, Checkpoint{Execution: rec("nope", "m1", StatusRunning, 1)}); !errors.Is(err, ErrNotFound) {
		t.Errorf("update of a missing row: got %v, want ErrNotFound", err)
	}
	events := []Event{ev(2), ev(3)}
	snap := []byte(`{"v":1}`)
	r := rec("a", "m1", StatusSucceeded, 1)
	r.Snapshot = snap
	if err := s.Checkpoint(ctx, Checkpoint{Execution: r, Events: events}); err != nil {
		t.Fatal(err)
	}
	events[0].Type, snap[0] = "mutated", 'X' // the store must have copied them
	got, err := s.Execution(ctx, "a")
	if err != nil || got.Status != StatusSucceeded || string(got.Snapshot) != `{"v":1}` {
		t.Errorf("got %+v %v", got, err)
	}
	evs, _ := s.Events(ctx, "a", 0, 0)
	if len(evs) != 3 || evs[1].Type != "PassStateEntered" {
		t.Errorf("got events %+v", evs)
	}
	page, _ := s.Events(ctx, "a", 1, 1)
	if len(page) != 1 || page[0].ID != 2 {
		t.Errorf("page after 1, limit 1: got %+v", page)
	}
	if _, err := s.Events(ctx, "nope", 0, 0); !errors.Is(err, ErrNotFound) {
		t.Errorf("events of a missing execution: got %v", err)
	}
	s.Checkpoint(ctx, Checkpoint{Execution: rec("b", "m1", StatusRunning, 3), Create: true})
	s.Checkpoint(ctx, Checkpoint{Execution: rec("c", "m2", StatusRunning, 2), Create: true})
	list := func(f ExecutionFilter) []string {
		recs, err := s.Executions(ctx, f)
		if err != nil {
			t.Fatal(err)
		}
		var arns []string
		for _, r := range recs {
			arns = append(arns, r.ARN)
		}
		return arns
	}
	if diff := cmp.Diff([]string{"b", "c", "a"}, list(ExecutionFilter{})); diff != "" {
		t.Errorf("newest first (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"b", "c"}, list(ExecutionFilter{Status: StatusRunning})); diff != "" {
		t.Errorf("by status (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"b", "a"}, list(ExecutionFilter{StateMachineARN: "m1"})); diff != "" {
		t.Errorf("by machine (-want +got):\n%s", diff)
	}

	if err := s.PutMachine(ctx, MachineRecord{Name: "m", Definition: []byte("{}")}); err != nil {
		t.Fatal(err)
	}
	ms, _ := s.Machines(ctx)
	if len(ms) != 1 {
		t.Errorf("got %d machines, want 1", len(ms))
	}
	s.PutMachine(ctx, MachineRecord{Name: "m"})
	if ms, _ := s.Machines(ctx); len(ms) != 0 {
		t.Errorf("after delete: got %d machines", len(ms))
	}
}
