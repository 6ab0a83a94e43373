package difftest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/relais-ci/relais/shared/asl"
)

// runRelais runs one case on a fresh asl.Engine: the machine and the execution are both
// named "difftest" (so $$.Execution.Name and $$.StateMachine.Name match what the reference
// harness passes), every Task state is answered by the case's stubs, and short timers fire
// at once (see instantClock).
func runRelais(t *testing.T, c namedCase) outcome {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s := newStubs(c.Tasks)
	eng := asl.New(asl.Options{Clock: &instantClock{now: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}})
	defer eng.Close()
	eng.Tasks().HandleFunc("*", s.invoke)
	if _, err := eng.CreateStateMachine(ctx, "difftest", c.Definition, ""); err != nil {
		var verr *asl.ValidationError
		if errors.As(err, &verr) {
			return outcome{Status: "INVALID", Error: err.Error()}
		}
		t.Fatalf("create state machine: %v", err)
	}
	x, err := eng.StartExecution(ctx, asl.StartInput{StateMachine: "difftest", Name: "difftest", Input: string(c.Input)})
	if err != nil {
		t.Fatalf("start execution: %v", err)
	}
	x, err = eng.WaitExecution(ctx, x.ARN)
	if err != nil {
		t.Fatalf("wait for execution: %v", err)
	}
	got := outcome{Status: x.Status, Error: x.Error, Cause: x.Cause, Calls: s.recorded()}
	if x.Status == asl.StatusSucceeded {
		if err := json.Unmarshal([]byte(x.Output), &got.Output); err != nil {
			t.Fatalf("execution output %q: %v", x.Output, err)
		}
	}
	return got
}

// stubs answers Task states from a case's stubs and records every task's input.
type stubs struct {
	defs  map[string]stub
	mu    sync.Mutex
	n     map[string]int
	calls map[string][]any
}

func newStubs(defs map[string]stub) *stubs {
	return &stubs{defs: defs, n: map[string]int{}, calls: map[string][]any{}}
}

func (s *stubs) invoke(ctx context.Context, req *asl.TaskRequest) (any, error) {
	input, err := normalize(req.Parameters)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	def, ok := s.defs[req.StateName]
	n := s.n[req.StateName]
	s.n[req.StateName]++
	s.calls[req.StateName] = append(s.calls[req.StateName], input)
	s.mu.Unlock()
	if !ok {
		return nil, &asl.Error{Name: "Stub.Missing", Cause: "no stub for task state " + req.StateName}
	}
	switch {
	case def.When != nil:
		key, _ := json.Marshal(input)
		for _, w := range def.When {
			var in any
			if err := json.Unmarshal(w.Input, &in); err != nil {
				return nil, err
			}
			if k, _ := json.Marshal(in); bytes.Equal(k, key) {
				return answer(w, input)
			}
		}
		if def.Otherwise != nil {
			return answer(*def.Otherwise, input)
		}
		return nil, &asl.Error{Name: "Stub.NoMatch", Cause: "no stub for input " + string(key)}
	case def.Sequence != nil:
		return answer(def.Sequence[min(n, len(def.Sequence)-1)], input)
	}
	return answer(def.stubOutcome, input)
}

func answer(o stubOutcome, input any) (any, error) {
	switch {
	case o.Echo:
		return input, nil
	case o.Error != nil:
		return nil, &asl.Error{Name: *o.Error, Cause: o.Cause}
	case o.Result == nil:
		return nil, nil
	}
	var v any
	err := json.Unmarshal(o.Result, &v)
	return v, err
}

func (s *stubs) recorded() map[string][]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string][]any{}
	for name := range s.defs {
		out[name] = s.calls[name]
		if out[name] == nil {
			out[name] = []any{}
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// normalize turns a value into plain encoding/json types (float64 numbers, map[string]any).
func normalize(v any) (any, error) {
	data, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	var out any
	err = json.Unmarshal(data, &out)
	return out, err
}

// instantLimit is the longest timer instantClock fires. The corpus keeps its waits and
// back-offs under it and its task timeouts above it, so a timeout cannot race a task's answer.
const instantLimit = 25 * time.Second

// instantClock lets the corpus run without sleeping: a timer of at most instantLimit (Wait
// states, Retry back-off) fires at once and moves the clock on by its duration; a longer
// one never fires.
type instantClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *instantClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *instantClock) NewTimer(d time.Duration) asl.Timer {
	ch := make(chan time.Time, 1)
	if d <= instantLimit {
		c.mu.Lock()
		if d > 0 {
			c.now = c.now.Add(d)
		}
		ch <- c.now
		c.mu.Unlock()
	}
	return instantTimer(ch)
}

type instantTimer chan time.Time

func (t instantTimer) C() <-chan time.Time { return t }
func (t instantTimer) Stop() bool          { return len(t) == 0 }
