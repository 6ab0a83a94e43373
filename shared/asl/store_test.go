package asl

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
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
	m, err := s.Machine(ctx, "m")
	if err != nil || string(m.Definition) != "{}" {
		t.Errorf("machine m: got %+v (%v)", m, err)
	}
	m.Definition[0] = 'X' // the store must have copied it out
	if m, _ := s.Machine(ctx, "m"); string(m.Definition) != "{}" {
		t.Errorf("machine m after the caller changed its copy: got %q", m.Definition)
	}
	s.PutMachine(ctx, MachineRecord{Name: "m"})
	if ms, _ := s.Machines(ctx); len(ms) != 0 {
		t.Errorf("after delete: got %d machines", len(ms))
	}
	if _, err := s.Machine(ctx, "m"); !errors.Is(err, ErrNotFound) {
		t.Errorf("deleted machine: got %v, want ErrNotFound", err)
	}
}

// scanCounter is a MemStore that counts reads of every machine at once.
type scanCounter struct {
	*MemStore
	scans int
}

func (s *scanCounter) Machines(ctx context.Context) ([]MachineRecord, error) {
	s.scans++
	return s.MemStore.Machines(ctx)
}

// TestMachinesFromStore checks that an engine finds the machines another engine stored,
// reading one machine per lookup rather than all of them (installing n machines would
// otherwise cost n² parses), and ignores a stored definition that does not parse.
func TestMachinesFromStore(t *testing.T) {
	ctx := context.Background()
	store := &scanCounter{MemStore: NewMemStore()}
	first := New(Options{Store: store, Logger: slog.New(slog.DiscardHandler)})
	defer first.Close()
	for i := range 20 {
		def := fmt.Sprintf(`{"StartAt":"A","States":{"A":{"Type":"Pass","Result":%d,"End":true}}}`, i)
		if _, err := first.UpdateStateMachine(ctx, fmt.Sprintf("m%d", i), []byte(def), ""); !errors.Is(err, ErrNotFound) {
			t.Fatalf("update of a machine not created: got %v, want ErrNotFound", err)
		}
		if _, err := first.CreateStateMachine(ctx, fmt.Sprintf("m%d", i), []byte(def), ""); err != nil {
			t.Fatal(err)
		}
	}
	if store.scans != 0 {
		t.Errorf("creating 20 machines read all machines %d times, want 0", store.scans)
	}
	if err := store.PutMachine(ctx, MachineRecord{Name: "broken", Definition: []byte(`{"StartAt":"A"}`)}); err != nil {
		t.Fatal(err)
	}

	second := New(Options{Store: store, Logger: slog.New(slog.DiscardHandler)})
	defer second.Close()
	sm, err := second.DescribeStateMachine(ctx, "m7")
	if err != nil || !strings.Contains(sm.Definition, `"Result":7`) {
		t.Fatalf("machine m7 from the store: got %+v (%v)", sm, err)
	}
	x, err := second.StartExecution(ctx, StartInput{StateMachine: "m7", Name: "x"})
	if err != nil {
		t.Fatal(err)
	}
	if x, err = second.WaitExecution(ctx, x.ARN); err != nil || x.Output != "7" {
		t.Errorf("execution of m7: got output %q (%v), want 7", x.Output, err)
	}
	if _, err := second.DescribeStateMachine(ctx, "broken"); !errors.Is(err, ErrNotFound) {
		t.Errorf("a stored machine that does not parse: got %v, want ErrNotFound", err)
	}
	list, err := second.ListStateMachines(ctx)
	if err != nil || len(list) != 20 {
		t.Errorf("list: got %d machines (%v), want the 20 that parse", len(list), err)
	}
}
