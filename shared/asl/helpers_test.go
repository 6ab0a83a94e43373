package asl

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"testing"
	"time"
)

var epoch = time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)

type harness struct {
	t     *testing.T
	eng   *Engine
	clock *FakeClock
	store *MemStore
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	h := &harness{t: t, clock: NewFakeClock(epoch), store: NewMemStore()}
	h.eng = New(Options{Store: h.store, Clock: h.clock, Logger: slog.New(slog.DiscardHandler)})
	t.Cleanup(h.eng.Close)
	return h
}

// start creates (or reuses) machine "m" with def and starts an execution.
func (h *harness) start(def, input string) Execution {
	h.t.Helper()
	ctx := context.Background()
	if _, err := h.eng.CreateStateMachine(ctx, "m", []byte(def), "arn:aws:iam::123456789012:role/r"); err != nil {
		if _, err2 := h.eng.UpdateStateMachine(ctx, "m", []byte(def), ""); err2 != nil {
			h.t.Fatalf("create machine: %v", err)
		}
	}
	x, err := h.eng.StartExecution(ctx, StartInput{StateMachine: "m", Name: "x", Input: input})
	if err != nil {
		h.t.Fatalf("start: %v", err)
	}
	return x
}

// wait waits for the execution, advancing the fake clock whenever the engine sleeps.
func (h *harness) wait(arn string) Execution {
	h.t.Helper()
	x := h.eng.liveExecution(arn)
	if x != nil {
		deadline := time.After(time.Minute)
		// The clock moves only once the execution has been quiet for a while: a task
		// handler that is merely slow to be scheduled (under -race, on a loaded machine)
		// must not see its TimeoutSeconds fire.
		last, quiet := int64(-1), 0
	loop:
		for {
			select {
			case <-x.done:
				break loop
			case <-deadline:
				h.t.Fatalf("execution %s did not finish", arn)
			case <-time.After(time.Millisecond):
				if n := h.eventCount(arn); n != last {
					last, quiet = n, 0
					continue
				}
				if quiet++; quiet >= 30 {
					h.clock.AdvanceToNextWithin(400 * 24 * time.Hour)
					quiet = 0
				}
			}
		}
	}
	d, err := h.eng.DescribeExecution(context.Background(), arn)
	if err != nil {
		h.t.Fatal(err)
	}
	return d
}

func (h *harness) run(def, input string) Execution {
	h.t.Helper()
	return h.wait(h.start(def, input).ARN)
}

// eventCount is how many history events the execution has written so far.
func (h *harness) eventCount(arn string) int64 {
	r, err := h.store.Execution(context.Background(), arn)
	if err != nil {
		return -1
	}
	return r.EventCount
}

func (h *harness) history(arn string) []Event {
	h.t.Helper()
	evs, _, err := h.eng.History(context.Background(), arn, HistoryInput{MaxResults: 100000})
	if err != nil {
		h.t.Fatal(err)
	}
	return evs
}

func eventTypes(evs []Event) []string {
	out := make([]string, len(evs))
	for i, e := range evs {
		out[i] = e.Type
	}
	return out
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// canon re-encodes JSON text so comparisons ignore key order and spacing.
func canon(t *testing.T, s string) string {
	t.Helper()
	if s == "" {
		return ""
	}
	v, err := decodeJSON([]byte(s))
	if err != nil {
		t.Fatalf("bad JSON %q: %v", s, err)
	}
	return compactJSON(v)
}

func sprintf(format string, args ...any) string { return fmt.Sprintf(format, args...) }
