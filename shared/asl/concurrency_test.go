package asl

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"
)

// TestThousandsOfExecutions runs 2,000 executions at once, all parked in a Wait, then
// releases them with one clock move.
func TestThousandsOfExecutions(t *testing.T) {
	const n = 2000
	ctx := context.Background()
	h := newHarness(t)
	def := `{"StartAt":"W","States":{"W":{"Type":"Wait","Seconds":60,"Next":"P"},"P":{"Type":"Pass","Parameters":{"n.$":"$$.Execution.Name"},"End":true}}}`
	if _, err := h.eng.CreateStateMachine(ctx, "m", []byte(def), ""); err != nil {
		t.Fatal(err)
	}
	arns := make([]string, n)
	var wg sync.WaitGroup
	for i := range arns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			x, err := h.eng.StartExecution(ctx, StartInput{StateMachine: "m", Name: fmt.Sprintf("x%d", i)})
			if err != nil {
				t.Error(err)
				return
			}
			arns[i] = x.ARN
		}()
	}
	wg.Wait()
	never := make(chan struct{})
	h.clock.BlockUntil(n, never)
	h.clock.Advance(time.Minute)
	for i, arn := range arns {
		d, err := h.eng.WaitExecution(ctx, arn)
		if err != nil {
			t.Fatal(err)
		}
		if want := fmt.Sprintf(`{"n":"x%d"}`, i); d.Status != StatusSucceeded || d.Output != want {
			t.Fatalf("execution %d: got %s %s, want SUCCEEDED %s", i, d.Status, d.Output, want)
		}
	}
}

// TestStopCancelsHandler: stopping an execution cancels the ctx of its running task.
func TestStopCancelsHandler(t *testing.T) {
	ctx := context.Background()
	h := newHarness(t)
	started := make(chan struct{})
	cancelled := make(chan error, 1)
	h.eng.Tasks().HandleFunc("arn:aws:states:::block", func(ctx context.Context, req *TaskRequest) (any, error) {
		close(started)
		<-ctx.Done()
		cancelled <- ctx.Err()
		return nil, ctx.Err()
	})
	x := h.start(`{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"arn:aws:states:::block","End":true}}}`, `{}`)
	<-started
	d, err := h.eng.StopExecution(ctx, x.ARN, "Why", "because")
	if err != nil {
		t.Fatal(err)
	}
	if d.Status != StatusAborted {
		t.Errorf("got %s, want ABORTED", d.Status)
	}
	if err := <-cancelled; err == nil {
		t.Error("handler ctx not cancelled")
	}
}
