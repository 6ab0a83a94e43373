package asl

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestStartIdempotency(t *testing.T) {
	ctx := context.Background()
	h := newHarness(t)
	x := h.start(`{"StartAt":"W","States":{"W":{"Type":"Wait","Seconds":10,"End":true}}}`, `{"a":1}`)
	again, err := h.eng.StartExecution(ctx, StartInput{StateMachine: "m", Name: "x", Input: `{"a":1}`})
	if err != nil || again.ARN != x.ARN {
		t.Fatalf("same name, same input while running: got %v %v, want the same execution", again.ARN, err)
	}
	if _, err := h.eng.StartExecution(ctx, StartInput{StateMachine: "m", Name: "x", Input: `{"a":2}`}); !errors.Is(err, ErrExecutionAlreadyExists) {
		t.Fatalf("same name, other input: got %v, want ErrExecutionAlreadyExists", err)
	}
	h.wait(x.ARN)
	if again, err := h.eng.StartExecution(ctx, StartInput{StateMachine: "m", Name: "x", Input: `{"a":1}`}); err != nil || again.Status != StatusSucceeded {
		t.Fatalf("same name, same input after the end: got %+v %v, want the ended execution", again, err)
	}
	if _, err := h.eng.StartExecution(ctx, StartInput{StateMachine: "m", Name: "bad name", Input: `{}`}); !errors.Is(err, ErrInvalidName) {
		t.Errorf("got %v, want ErrInvalidName", err)
	}
	if _, err := h.eng.StartExecution(ctx, StartInput{StateMachine: "nope"}); !errors.Is(err, ErrNotFound) {
		t.Errorf("got %v, want ErrNotFound", err)
	}
}

func TestConcurrentStartsSameName(t *testing.T) {
	ctx := context.Background()
	h := newHarness(t)
	h.eng.CreateStateMachine(ctx, "m", []byte(`{"StartAt":"A","States":{"A":{"Type":"Pass","End":true}}}`), "")
	var wg sync.WaitGroup
	arns := make([]string, 8)
	for i := range arns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			x, err := h.eng.StartExecution(ctx, StartInput{StateMachine: "m", Name: "same", Input: `{}`})
			if err != nil {
				t.Error(err)
			}
			arns[i] = x.ARN
		}()
	}
	wg.Wait()
	list, _, _ := h.eng.ListExecutions(ctx, ListExecutionsInput{StateMachine: "m"})
	if len(list) != 1 {
		t.Errorf("got %d executions, want 1", len(list))
	}
}

func TestStopAndList(t *testing.T) {
	ctx := context.Background()
	h := newHarness(t)
	def := `{"StartAt":"W","States":{"W":{"Type":"Wait","Seconds":100,"End":true}}}`
	h.eng.CreateStateMachine(ctx, "m", []byte(def), "")
	var arns []string
	for _, n := range []string{"a", "b", "c"} {
		x, err := h.eng.StartExecution(ctx, StartInput{StateMachine: "m", Name: n})
		if err != nil {
			t.Fatal(err)
		}
		arns = append(arns, x.ARN)
		h.clock.Advance(time.Second) // distinct start dates
	}
	h.clock.BlockUntil(3, make(chan struct{})) // all three are waiting
	d, err := h.eng.StopExecution(ctx, arns[1], "Stopped", "by test")
	if err != nil {
		t.Fatal(err)
	}
	if d.Status != StatusAborted || d.Error != "Stopped" || d.Cause != "by test" {
		t.Errorf("got %+v, want ABORTED Stopped", d)
	}
	if _, err := h.eng.StopExecution(ctx, arns[1], "", ""); !errors.Is(err, ErrExecutionNotRunning) {
		t.Errorf("second stop: got %v, want ErrExecutionNotRunning", err)
	}
	evs := h.history(arns[1])
	if got := evs[len(evs)-1]; got.Type != EventExecutionAborted || got.ExecutionAbortedEventDetails.Error != "Stopped" {
		t.Errorf("got last event %+v, want ExecutionAborted", got)
	}
	if got := evs[len(evs)-2].Type; got != "WaitStateAborted" {
		t.Errorf("got %s before ExecutionAborted, want WaitStateAborted", got)
	}
	page, next, err := h.eng.ListExecutions(ctx, ListExecutionsInput{StateMachine: "m", MaxResults: 2})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, x := range page {
		names = append(names, x.Name)
	}
	page2, next2, _ := h.eng.ListExecutions(ctx, ListExecutionsInput{StateMachine: "m", MaxResults: 2, NextToken: next})
	for _, x := range page2 {
		names = append(names, x.Name)
	}
	if diff := cmp.Diff([]string{"c", "b", "a"}, names); diff != "" || next2 != "" {
		t.Errorf("list newest first (-want +got):\n%s next=%q", diff, next2)
	}
	running, _, _ := h.eng.ListExecutions(ctx, ListExecutionsInput{StateMachine: "m", Status: StatusRunning})
	if len(running) != 2 {
		t.Errorf("got %d running, want 2", len(running))
	}
}

func TestMachines(t *testing.T) {
	ctx := context.Background()
	h := newHarness(t)
	def := []byte(`{"StartAt":"A","States":{"A":{"Type":"Pass","End":true}}}`)
	sm, err := h.eng.CreateStateMachine(ctx, "m", def, "role")
	if err != nil {
		t.Fatal(err)
	}
	if sm.ARN != "arn:aws:states:us-east-1:123456789012:stateMachine:m" {
		t.Errorf("got ARN %s", sm.ARN)
	}
	if _, err := h.eng.CreateStateMachine(ctx, "m", def, "role"); err != nil {
		t.Errorf("create again with the same definition: %v", err)
	}
	other := []byte(`{"StartAt":"B","States":{"B":{"Type":"Pass","End":true}}}`)
	if _, err := h.eng.CreateStateMachine(ctx, "m", other, "role"); !errors.Is(err, ErrStateMachineAlreadyExists) {
		t.Errorf("got %v, want ErrStateMachineAlreadyExists", err)
	}
	if _, err := h.eng.UpdateStateMachine(ctx, sm.ARN, other, ""); err != nil {
		t.Fatal(err)
	}
	d, _ := h.eng.DescribeStateMachine(ctx, "m")
	if d.Definition != string(other) {
		t.Errorf("got definition %s after update", d.Definition)
	}
	var ve *ValidationError
	if _, err := h.eng.CreateStateMachine(ctx, "bad", []byte(`{}`), ""); !errors.As(err, &ve) {
		t.Errorf("got %v, want *ValidationError", err)
	}
	if err := h.eng.DeleteStateMachine(ctx, "m"); err != nil {
		t.Fatal(err)
	}
	if _, err := h.eng.DescribeStateMachine(ctx, "m"); !errors.Is(err, ErrNotFound) {
		t.Errorf("after delete: got %v, want ErrNotFound", err)
	}
}

func TestHistoryLimit(t *testing.T) {
	h := newHarness(t)
	h.eng = New(Options{Store: h.store, Clock: h.clock, HistoryLimit: 50})
	defer h.eng.Close()
	x := h.run(`{"StartAt":"A","States":{"A":{"Type":"Pass","Next":"B"},"B":{"Type":"Choice","Choices":[{"Variable":"$.stop","IsPresent":true,"Next":"E"}],"Default":"A"},"E":{"Type":"Succeed"}}}`, `{}`)
	if x.Status != StatusFailed || x.Error != ErrNameRuntime {
		t.Fatalf("got %s %q, want FAILED States.Runtime", x.Status, x.Error)
	}
	evs := h.history(x.ARN)
	if len(evs) != 50 || evs[49].Type != EventExecutionFailed {
		t.Errorf("got %d events ending in %s, want 50 ending in ExecutionFailed", len(evs), evs[len(evs)-1].Type)
	}
	if _, err := h.eng.RedriveExecution(context.Background(), x.ARN); !errors.Is(err, ErrExecutionNotRedrivable) {
		t.Errorf("redrive after the history limit: got %v, want ErrExecutionNotRedrivable", err)
	}
}

func TestRedrive(t *testing.T) {
	ctx := context.Background()
	def := `{"StartAt":"P","States":{
	 "P":{"Type":"Parallel","Branches":[
	   {"StartAt":"A","States":{"A":{"Type":"Task","Resource":"arn:aws:states:::count","Parameters":{"who":"a"},"End":true}}},
	   {"StartAt":"B0","States":{"B0":{"Type":"Task","Resource":"arn:aws:states:::count","Parameters":{"who":"b0"},"ResultPath":null,"Next":"Pause"},
	                             "Pause":{"Type":"Wait","Seconds":1,"Next":"B"},
	                             "B":{"Type":"Task","Resource":"arn:aws:states:::fragile","Parameters":{"who":"b"},"End":true}}}],"Next":"M"},
	 "M":{"Type":"Map","MaxConcurrency":1,"ItemsPath":"$[0].items","ItemProcessor":{"StartAt":"I","States":{
	   "I":{"Type":"Task","Resource":"arn:aws:states:::fragile","End":true}}},"End":true}}}`
	h := newHarness(t)
	var mu sync.Mutex
	calls := map[string]int{}
	broken := map[string]bool{"b": true, "item2": true}
	h.eng.Tasks().HandleFunc("arn:aws:states:::count", func(ctx context.Context, req *TaskRequest) (any, error) {
		who := req.Parameters.(map[string]any)["who"].(string)
		mu.Lock()
		calls[who]++
		mu.Unlock()
		return map[string]any{"items": []any{"item1", "item2", "item3"}}, nil
	})
	h.eng.Tasks().HandleFunc("arn:aws:states:::fragile", func(ctx context.Context, req *TaskRequest) (any, error) {
		who, _ := req.Parameters.(string)
		if m, ok := req.Parameters.(map[string]any); ok {
			who = m["who"].(string)
		}
		mu.Lock()
		defer mu.Unlock()
		calls[who]++
		if broken[who] {
			return nil, &Error{Name: "Broken", Cause: who}
		}
		return who, nil
	})
	x := h.start(def, `{}`)
	// Let branch A finish before B fails, so that A is not aborted (aborted branches are
	// redriven too).
	for h.clock.Waiters() == 0 {
		time.Sleep(time.Millisecond)
	}
	// A has finished once its state has exited (its handler returning is not enough).
	for aDone := false; !aDone; time.Sleep(time.Millisecond) {
		for _, e := range h.history(x.ARN) {
			if e.Type == "TaskStateExited" && e.EventDetails != nil && e.StateExitedEventDetails != nil && e.StateExitedEventDetails.Name == "A" {
				aDone = true
			}
		}
	}
	x = h.wait(x.ARN)
	if x.Status != StatusFailed || x.Cause != "b" {
		t.Fatalf("first run: got %s %s %s", x.Status, x.Error, x.Cause)
	}
	if x.RedriveStatus != "REDRIVABLE" {
		t.Errorf("got redriveStatus %s", x.RedriveStatus)
	}
	mu.Lock()
	broken["b"] = false
	mu.Unlock()
	if _, err := h.eng.RedriveExecution(ctx, x.ARN); err != nil {
		t.Fatal(err)
	}
	x = h.wait(x.ARN)
	if x.Status != StatusFailed || x.Cause != "item2" || x.RedriveCount != 1 {
		t.Fatalf("second run: got %s %s %s redrives=%d", x.Status, x.Error, x.Cause, x.RedriveCount)
	}
	mu.Lock()
	broken["item2"] = false
	mu.Unlock()
	if _, err := h.eng.RedriveExecution(ctx, x.ARN); err != nil {
		t.Fatal(err)
	}
	x = h.wait(x.ARN)
	if x.Status != StatusSucceeded || x.RedriveCount != 2 {
		t.Fatalf("third run: got %s %s %s", x.Status, x.Error, x.Cause)
	}
	want := map[string]int{"a": 1, "b0": 1, "b": 2, "item1": 1, "item2": 2, "item3": 1}
	if diff := cmp.Diff(want, calls); diff != "" {
		t.Errorf("calls per task (-want +got): only failed branches and iterations run again\n%s", diff)
	}
	if got, want := canon(t, x.Output), `["item1","item2","item3"]`; got != want {
		t.Errorf("got output %s, want %s", got, want)
	}
	var redriven int
	for _, e := range h.history(x.ARN) {
		if e.Type == EventExecutionRedriven {
			redriven++
		}
	}
	if redriven != 2 {
		t.Errorf("got %d ExecutionRedriven events, want 2", redriven)
	}
	if _, err := h.eng.RedriveExecution(ctx, x.ARN); !errors.Is(err, ErrExecutionNotRedrivable) {
		t.Errorf("redrive SUCCEEDED: got %v, want ErrExecutionNotRedrivable", err)
	}
}

func TestRedriveWindow(t *testing.T) {
	h := newHarness(t)
	x := h.run(`{"StartAt":"F","States":{"F":{"Type":"Fail","Error":"E"}}}`, `{}`)
	h.clock.Advance(15 * 24 * time.Hour)
	if _, err := h.eng.RedriveExecution(context.Background(), x.ARN); !errors.Is(err, ErrExecutionNotRedrivable) {
		t.Errorf("got %v, want ErrExecutionNotRedrivable after 14 days", err)
	}
}

func TestStopNotResumed(t *testing.T) {
	ctx := context.Background()
	h := newHarness(t)
	x := h.start(`{"StartAt":"W","States":{"W":{"Type":"Wait","Seconds":100,"End":true}}}`, `{}`)
	h.history(x.ARN) // checkpoint
	h.eng.Close()
	eng := New(Options{Store: h.store, Clock: h.clock})
	defer eng.Close()
	d, err := eng.StopExecution(ctx, x.ARN, "E", "c")
	if err != nil || d.Status != StatusAborted {
		t.Fatalf("got %+v %v, want ABORTED", d, err)
	}
	evs, _, _ := eng.History(ctx, x.ARN, HistoryInput{})
	checkHistoryIDs(t, evs)
	if last := evs[len(evs)-1]; last.Type != EventExecutionAborted {
		t.Errorf("got last event %s", last.Type)
	}
	sm, err := eng.DescribeStateMachineForExecution(ctx, x.ARN)
	if err != nil || sm.Name != "m" || !strings.Contains(sm.Definition, `"Seconds":100`) {
		t.Errorf("DescribeStateMachineForExecution: got %+v %v", sm, err)
	}
}

func checkHistoryIDs(t *testing.T, evs []Event) {
	t.Helper()
	for i, e := range evs {
		if e.ID != int64(i+1) {
			t.Fatalf("event %d has id %d", i+1, e.ID)
		}
	}
}
