package asl

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"
)

// crashStore passes through a number of checkpoints, then fails every write, as a
// process that died at that moment would.
type crashStore struct {
	Store
	mu      sync.Mutex
	left    int
	crashed chan struct{}
}

var errCrashed = errors.New("crashed")

func newCrashStore(inner Store, after int) *crashStore {
	return &crashStore{Store: inner, left: after, crashed: make(chan struct{})}
}

func (s *crashStore) Checkpoint(ctx context.Context, cp Checkpoint) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.left <= 0 {
		select {
		case <-s.crashed:
		default:
			close(s.crashed)
		}
		return errCrashed
	}
	s.left--
	return s.Store.Checkpoint(ctx, cp)
}

// durableDef exercises every kind of progress a checkpoint must capture.
const durableDef = `{"StartAt":"P0","States":{
 "P0":{"Type":"Pass","Result":{"n":1},"ResultPath":"$.p0","Next":"CB"},
 "CB":{"Type":"Task","Resource":"arn:aws:states:::sqs:sendMessage.waitForTaskToken","Parameters":{"t.$":"$$.Task.Token"},"ResultPath":"$.cb","Next":"W"},
 "W":{"Type":"Wait","Seconds":30,"Next":"L"},
 "L":{"Type":"Task","Resource":"arn:aws:lambda:us-east-1:123456789012:function:add","Parameters":{"n.$":"$.p0.n"},"ResultPath":"$.l",
      "Retry":[{"ErrorEquals":["Flaky"],"IntervalSeconds":5}],"Next":"Par"},
 "Par":{"Type":"Parallel","ResultPath":"$.par","Branches":[
   {"StartAt":"B1","States":{"B1":{"Type":"Task","Resource":"arn:aws:lambda:us-east-1:123456789012:function:add","Parameters":{"n":10},"End":true}}},
   {"StartAt":"B2","States":{"B2":{"Type":"Wait","Seconds":5,"Next":"B3"},"B3":{"Type":"Pass","Result":"b","End":true}}}],"Next":"M"},
 "M":{"Type":"Map","ItemsPath":"$.xs","MaxConcurrency":2,"ResultPath":"$.m","ItemProcessor":{"StartAt":"I","States":{
   "I":{"Type":"Task","Resource":"arn:aws:lambda:us-east-1:123456789012:function:add","Parameters":{"n.$":"$"},"End":true}}},"Next":"Done"},
 "Done":{"Type":"Succeed"}}}`

const durableOutput = `{"xs":[1,2,3],"p0":{"n":1},"cb":{"ok":1},"l":{"n":2},"par":[{"n":11},"b"],"m":[{"n":2},{"n":3},{"n":4}]}`

// durableEngine builds an engine whose handlers report tokens to tokens.
func durableEngine(store Store, clock *FakeClock, tokens chan<- string, flaky *sync.Once) *Engine {
	reg := NewRegistry()
	reg.HandleFunc("arn:aws:states:::sqs:sendMessage", func(ctx context.Context, req *TaskRequest) (any, error) {
		select {
		case tokens <- req.Token:
		default:
		}
		return map[string]any{}, nil
	})
	reg.HandleLambda("add", func(ctx context.Context, p any) (any, error) {
		failed := false
		flaky.Do(func() { failed = true })
		if failed {
			return nil, &Error{Name: "Flaky", Cause: "first call fails"}
		}
		n, _ := intValue(p.(map[string]any)["n"])
		return map[string]any{"n": jsonInt(n + 1)}, nil
	})
	return New(Options{Store: store, Clock: clock, Tasks: reg, Logger: slog.New(slog.DiscardHandler), CheckpointInterval: -1})
}

// drive runs an engine's execution to its end: it answers every callback token it sees and
// advances the fake clock while the engine sleeps.
func drive(t *testing.T, eng *Engine, clock *FakeClock, arn string, tokens chan string, seen *[]string, stop <-chan struct{}) {
	t.Helper()
	done := eng.liveDone(arn)
	deadline := time.After(time.Minute)
	for {
		for _, tok := range *seen {
			_ = eng.SendTaskSuccess(context.Background(), tok, `{"ok":1}`)
		}
		select {
		case <-done:
			return
		case <-stop:
			return
		case tok := <-tokens:
			*seen = append(*seen, tok)
		case <-deadline:
			t.Fatal("execution did not finish")
		case <-time.After(time.Millisecond):
			clock.AdvanceToNextWithin(24 * time.Hour)
		}
	}
}

func checkHistory(t *testing.T, evs []Event) {
	t.Helper()
	started, ended := 0, 0
	for i, e := range evs {
		if e.ID != int64(i+1) {
			t.Fatalf("event %d has id %d: history has gaps or duplicates", i+1, e.ID)
		}
		if e.PreviousEventID >= e.ID {
			t.Errorf("event %d: previousEventId %d", e.ID, e.PreviousEventID)
		}
		switch e.Type {
		case EventExecutionStarted:
			started++
		case EventExecutionSucceeded, EventExecutionFailed:
			ended++
		}
	}
	if started != 1 || ended != 1 {
		t.Errorf("got %d ExecutionStarted and %d ends, want 1 and 1", started, ended)
	}
}

func TestDurableRunWithoutCrash(t *testing.T) {
	clock := NewFakeClock(epoch)
	store := NewMemStore()
	tokens := make(chan string, 16)
	eng := durableEngine(store, clock, tokens, &sync.Once{})
	defer eng.Close()
	ctx := context.Background()
	if _, err := eng.CreateStateMachine(ctx, "m", []byte(durableDef), ""); err != nil {
		t.Fatal(err)
	}
	x, err := eng.StartExecution(ctx, StartInput{StateMachine: "m", Name: "x", Input: `{"xs":[1,2,3]}`})
	if err != nil {
		t.Fatal(err)
	}
	var seen []string
	drive(t, eng, clock, x.ARN, tokens, &seen, nil)
	d, _ := eng.DescribeExecution(ctx, x.ARN)
	if d.Status != StatusSucceeded || canon(t, d.Output) != canon(t, durableOutput) {
		t.Fatalf("got %s %s %s, want SUCCEEDED %s", d.Status, d.Error, d.Output, durableOutput)
	}
	evs, _, _ := eng.History(ctx, x.ARN, HistoryInput{MaxResults: 10000})
	checkHistory(t, evs)
}

// TestCrashAnywhere kills the engine after every possible number of checkpoints and
// checks that a new engine over the same store finishes the execution with the output an
// uninterrupted run gives, and a history without gaps or duplicates.
func TestCrashAnywhere(t *testing.T) {
	ctx := context.Background()
	for after := 1; after < 60; after++ {
		inner := NewMemStore()
		clock := NewFakeClock(epoch)
		cs := newCrashStore(inner, after)
		tokens := make(chan string, 64)
		flaky := &sync.Once{}
		old := durableEngine(cs, clock, tokens, flaky)
		if _, err := old.CreateStateMachine(ctx, "m", []byte(durableDef), ""); err != nil {
			t.Fatal(err)
		}
		x, err := old.StartExecution(ctx, StartInput{StateMachine: "m", Name: "x", Input: `{"xs":[1,2,3]}`})
		if err != nil {
			if errors.Is(err, errCrashed) {
				continue
			}
			t.Fatal(err)
		}
		var seen []string
		drive(t, old, clock, x.ARN, tokens, &seen, cs.crashed)
		old.Close()
		rec, err := inner.Execution(ctx, x.ARN)
		if err != nil {
			t.Fatal(err)
		}
		if rec.Status == StatusSucceeded {
			t.Logf("crash after %d checkpoints: none needed (execution ended first); stopping", after)
			break
		}
		eng := durableEngine(inner, clock, tokens, flaky)
		if err := eng.Resume(ctx); err != nil {
			t.Fatalf("after %d: Resume: %v", after, err)
		}
		drive(t, eng, clock, x.ARN, tokens, &seen, nil)
		d, _ := eng.DescribeExecution(ctx, x.ARN)
		if d.Status != StatusSucceeded || canon(t, d.Output) != canon(t, durableOutput) {
			t.Fatalf("crash after %d checkpoints: got %s %s %s %s, want SUCCEEDED %s", after, d.Status, d.Error, d.Cause, d.Output, durableOutput)
		}
		evs, _, _ := eng.History(ctx, x.ARN, HistoryInput{MaxResults: 10000})
		checkHistory(t, evs)
		eng.Close()
	}
}

// TestResumeKeepsTokens: a token handed out before a restart completes the task after it.
func TestResumeKeepsTokens(t *testing.T) {
	ctx := context.Background()
	store := NewMemStore()
	clock := NewFakeClock(epoch)
	tokens := make(chan string, 4)
	old := durableEngine(store, clock, tokens, &sync.Once{})
	old.CreateStateMachine(ctx, "m", []byte(durableDef), "")
	x, _ := old.StartExecution(ctx, StartInput{StateMachine: "m", Name: "x", Input: `{"xs":[]}`})
	tok := <-tokens
	old.History(ctx, x.ARN, HistoryInput{}) // forces a checkpoint: the task is submitted
	old.Close()

	reg := make(chan string, 4)
	eng := durableEngine(store, clock, reg, &sync.Once{})
	defer eng.Close()
	if err := eng.Resume(ctx); err != nil {
		t.Fatal(err)
	}
	if err := eng.SendTaskSuccess(ctx, tok, `{"ok":1}`); err != nil {
		t.Fatalf("SendTaskSuccess with the pre-restart token: %v", err)
	}
	select {
	case <-reg:
		t.Error("the submitted callback task was invoked again after Resume")
	default:
	}
	var seen []string
	drive(t, eng, clock, x.ARN, reg, &seen, nil)
	d, _ := eng.DescribeExecution(ctx, x.ARN)
	if d.Status != StatusSucceeded {
		t.Fatalf("got %s %s %s", d.Status, d.Error, d.Cause)
	}
}

// TestTaskRunningAtCrashRunsAgain documents the at-least-once rule: a task whose
// invocation was in flight when the process died is invoked again after Resume, with the
// same InvocationID.
func TestTaskRunningAtCrashRunsAgain(t *testing.T) {
	ctx := context.Background()
	store := NewMemStore()
	clock := NewFakeClock(epoch)
	def := `{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"arn:aws:states:::work","End":true}}}`
	ids := make(chan string, 4)
	newEngine := func(block bool) *Engine {
		reg := NewRegistry()
		reg.HandleFunc("arn:aws:states:::work", func(ctx context.Context, req *TaskRequest) (any, error) {
			ids <- req.InvocationID
			if block {
				<-ctx.Done()
				return nil, ctx.Err()
			}
			return "done", nil
		})
		return New(Options{Store: store, Clock: clock, Tasks: reg, Logger: slog.New(slog.DiscardHandler), CheckpointInterval: -1})
	}
	old := newEngine(true)
	old.CreateStateMachine(ctx, "m", []byte(def), "")
	x, _ := old.StartExecution(ctx, StartInput{StateMachine: "m", Name: "x"})
	first := <-ids
	old.History(ctx, x.ARN, HistoryInput{}) // make sure the in-flight state is checkpointed
	old.Close()

	eng := newEngine(false)
	defer eng.Close()
	if err := eng.Resume(ctx); err != nil {
		t.Fatal(err)
	}
	if second := <-ids; second != first {
		t.Errorf("got InvocationID %s on re-invocation, want %s", second, first)
	}
	d, _ := eng.WaitExecution(ctx, x.ARN)
	if d.Status != StatusSucceeded || d.Output != `"done"` {
		t.Fatalf("got %s %s", d.Status, d.Output)
	}
}

// TestResumeRunsEachExecutionsDefinition: executions started before and after an
// update of their machine resume, each with the definition it started with (Resume
// parses a definition once for all the executions that share it).
func TestResumeRunsEachExecutionsDefinition(t *testing.T) {
	ctx := context.Background()
	store := NewMemStore()
	def := func(v string) []byte {
		return []byte(`{"StartAt":"CB","States":{
 "CB":{"Type":"Task","Resource":"arn:aws:states:::sqs:sendMessage.waitForTaskToken","Parameters":{"t.$":"$$.Task.Token"},"ResultPath":null,"Next":"V"},
 "V":{"Type":"Pass","Result":"` + v + `","End":true}}}`)
	}
	engine := func(tokens chan<- string) *Engine {
		reg := NewRegistry()
		reg.Handle("arn:aws:states:::sqs:sendMessage", TaskHandlerFunc(func(_ context.Context, req *TaskRequest) (any, error) {
			tokens <- req.Token
			return map[string]any{}, nil
		}))
		return New(Options{Store: store, Tasks: reg, Logger: slog.New(slog.DiscardHandler)})
	}
	tokens := make(chan string, 8)
	old := engine(tokens)
	if _, err := old.CreateStateMachine(ctx, "m", def("one"), ""); err != nil {
		t.Fatal(err)
	}
	var arns []string
	for i, v := range []string{"one", "one", "two", "two"} {
		if v == "two" && i == 2 {
			if _, err := old.UpdateStateMachine(ctx, "m", def("two"), ""); err != nil {
				t.Fatal(err)
			}
		}
		x, err := old.StartExecution(ctx, StartInput{StateMachine: "m", Name: fmt.Sprint("x", i)})
		if err != nil {
			t.Fatal(err)
		}
		<-tokens
		old.History(ctx, x.ARN, HistoryInput{}) // forces a checkpoint: the task is submitted
		arns = append(arns, x.ARN)
	}
	old.Close()

	eng := engine(make(chan string, 8))
	defer eng.Close()
	if err := eng.Resume(ctx); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, arn := range arns {
		evs, _, err := eng.History(ctx, arn, HistoryInput{})
		if err != nil {
			t.Fatal(err)
		}
		var tok string
		for _, ev := range evs {
			if d := ev.EventDetails; d != nil && d.TaskScheduledEventDetails != nil {
				var p struct{ T string }
				json.Unmarshal([]byte(d.TaskScheduledEventDetails.Parameters), &p)
				tok = p.T
			}
		}
		if err := eng.SendTaskSuccess(ctx, tok, `{}`); err != nil {
			t.Fatalf("%s: %v", arn, err)
		}
		x, err := eng.WaitExecution(ctx, arn)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, x.Output)
	}
	if want := []string{`"one"`, `"one"`, `"two"`, `"two"`}; !slices.Equal(got, want) {
		t.Errorf("outputs: got %v, want %v", got, want)
	}
}
