package asl

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// flaky fails with the given errors in turn, then succeeds with {"calls":n}.
func flaky(errs ...error) (TaskHandlerFunc, *atomic.Int32) {
	var n atomic.Int32
	return func(ctx context.Context, req *TaskRequest) (any, error) {
		i := int(n.Add(1)) - 1
		if i < len(errs) {
			return nil, errs[i]
		}
		return map[string]any{"calls": jsonInt(int64(i + 1))}, nil
	}, &n
}

func TestMatchesError(t *testing.T) {
	tests := []struct {
		pattern, name string
		want          bool
	}{
		{"E", "E", true},
		{"E", "F", false},
		{ErrNameALL, "Custom", true},
		{ErrNameALL, ErrNameTimeout, true},
		{ErrNameTaskFailed, "Custom", true},
		{ErrNameTaskFailed, ErrNameTimeout, false},
		{ErrNameTaskFailed, ErrNameHeartbeatTimeout, false},
		{ErrNameTimeout, ErrNameHeartbeatTimeout, true},
		{ErrNameTimeout, ErrNameTaskFailed, false},
	}
	for _, tt := range tests {
		if got := matchesError(tt.pattern, tt.name); got != tt.want {
			t.Errorf("matchesError(%q, %q): got %v, want %v", tt.pattern, tt.name, got, tt.want)
		}
	}
}

// startChoice makes state "Caught" reachable whatever the Catch fields say.
const startChoice = `"Start":{"Type":"Choice","Choices":[{"Variable":"$.never","IsPresent":true,"Next":"Caught"}],"Default":"T"},`

func TestRetryCatch(t *testing.T) {
	const res = "arn:aws:states:::test:flaky"
	def := func(fields string) string {
		return `{"StartAt":"Start","States":{` + startChoice + `"T":{"Type":"Task","Resource":"` + res + `",` + fields + `,"End":true},
		"Caught":{"Type":"Pass","End":true}}}`
	}
	custom := &Error{Name: "Custom", Cause: "c"}
	tests := []struct {
		name       string
		fields     string
		errs       []error
		wantStatus string
		wantOutput string
		wantError  string
		wantCalls  int32
		wantDelays []time.Duration // fake-clock time of each call after the first
	}{
		{"no retry", `"Comment":"-"`, []error{custom}, StatusFailed, "", "Custom", 1, nil},
		{"default retry 3 attempts backoff 2", `"Retry":[{"ErrorEquals":["Custom"]}]`, []error{custom, custom, custom}, StatusSucceeded, `{"calls":4}`, "", 4, []time.Duration{1 * time.Second, 2 * time.Second, 4 * time.Second}},
		{"retries exhausted", `"Retry":[{"ErrorEquals":["Custom"],"MaxAttempts":2}]`, []error{custom, custom, custom}, StatusFailed, "", "Custom", 3, nil},
		{"MaxAttempts 0 never retries", `"Retry":[{"ErrorEquals":["Custom"],"MaxAttempts":0}]`, []error{custom}, StatusFailed, "", "Custom", 1, nil},
		{"interval backoff max delay", `"Retry":[{"ErrorEquals":["States.ALL"],"IntervalSeconds":3,"BackoffRate":3,"MaxDelaySeconds":10,"MaxAttempts":3}]`, []error{custom, custom, custom}, StatusSucceeded, `{"calls":4}`, "", 4, []time.Duration{3 * time.Second, 9 * time.Second, 10 * time.Second}},
		{"plain error is TaskFailed", `"Retry":[{"ErrorEquals":["States.TaskFailed"],"IntervalSeconds":1}]`, []error{errors.New("boom")}, StatusSucceeded, `{"calls":2}`, "", 2, nil},
		{"retrier order: first match wins", `"Retry":[{"ErrorEquals":["Custom"],"MaxAttempts":1},{"ErrorEquals":["States.ALL"],"MaxAttempts":5}]`, []error{custom, custom}, StatusFailed, "", "Custom", 2, nil},
		{"catch", `"Catch":[{"ErrorEquals":["Other"],"Next":"Caught"},{"ErrorEquals":["States.ALL"],"ResultPath":"$.err","Next":"Caught"}]`, []error{custom}, StatusSucceeded, `{"in":1,"err":{"Error":"Custom","Cause":"c"}}`, "", 1, nil},
		{"catch replaces by default", `"Catch":[{"ErrorEquals":["Custom"],"Next":"Caught"}]`, []error{custom}, StatusSucceeded, `{"Error":"Custom","Cause":"c"}`, "", 1, nil},
		{"retry then catch", `"Retry":[{"ErrorEquals":["Custom"],"MaxAttempts":1}],"Catch":[{"ErrorEquals":["Custom"],"ResultPath":null,"Next":"Caught"}]`, []error{custom, custom}, StatusSucceeded, `{"in":1}`, "", 2, nil},
		{"runtime not caught", `"InputPath":"$.nope","Catch":[{"ErrorEquals":["States.ALL"],"Next":"Caught"}]`, nil, StatusFailed, "", ErrNameRuntime, 0, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			handler, calls := flaky(tt.errs...)
			var times []time.Time
			h.eng.Tasks().HandleFunc(res, func(ctx context.Context, req *TaskRequest) (any, error) {
				times = append(times, h.clock.Now())
				return handler(ctx, req)
			})
			x := h.run(def(tt.fields), `{"in":1}`)
			if x.Status != tt.wantStatus || x.Error != tt.wantError {
				t.Fatalf("got %s %q (%s), want %s %q", x.Status, x.Error, x.Cause, tt.wantStatus, tt.wantError)
			}
			if got, want := canon(t, x.Output), canon(t, tt.wantOutput); got != want {
				t.Errorf("got output %s, want %s", got, want)
			}
			if got := calls.Load(); got != tt.wantCalls {
				t.Errorf("got %d calls, want %d", got, tt.wantCalls)
			}
			if tt.wantDelays != nil {
				var got []time.Duration
				for i := 1; i < len(times); i++ {
					got = append(got, times[i].Sub(times[i-1]))
				}
				if diff := cmp.Diff(tt.wantDelays, got); diff != "" {
					t.Errorf("retry delays (-want +got):\n%s", diff)
				}
			}
		})
	}
}

func TestJitterFull(t *testing.T) {
	h := newHarness(t)
	handler, _ := flaky(&Error{Name: "E"})
	var times []time.Time
	h.eng.Tasks().HandleFunc("arn:aws:states:::t", func(ctx context.Context, req *TaskRequest) (any, error) {
		times = append(times, h.clock.Now())
		return handler(ctx, req)
	})
	x := h.run(`{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"arn:aws:states:::t","Retry":[{"ErrorEquals":["E"],"IntervalSeconds":10,"JitterStrategy":"FULL"}],"End":true}}}`, `{}`)
	if x.Status != StatusSucceeded {
		t.Fatalf("got %s", x.Status)
	}
	if d := times[1].Sub(times[0]); d < 0 || d > 10*time.Second {
		t.Errorf("got jittered delay %v, want within [0, 10s]", d)
	}
}

func TestTaskTimeouts(t *testing.T) {
	block := func(ctx context.Context, req *TaskRequest) (any, error) {
		<-ctx.Done()
		return nil, ctx.Err()
	}
	tests := []struct {
		name, fields, input, want string
	}{
		{"TimeoutSeconds", `"TimeoutSeconds":5`, `{}`, ErrNameTimeout},
		{"TimeoutSecondsPath", `"TimeoutSecondsPath":"$.t"`, `{"t":7}`, ErrNameTimeout},
		{"catch timeout", `"TimeoutSeconds":5,"Catch":[{"ErrorEquals":["States.Timeout"],"Next":"C"}]`, `{}`, ""},
		{"TaskFailed does not catch timeout", `"TimeoutSeconds":5,"Catch":[{"ErrorEquals":["States.TaskFailed"],"Next":"C"}]`, `{}`, ErrNameTimeout},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			h.eng.Tasks().HandleFunc("arn:aws:states:::block", block)
			x := h.run(`{"StartAt":"Start","States":{"Start":{"Type":"Choice","Choices":[{"Variable":"$.never","IsPresent":true,"Next":"C"}],"Default":"T"},"T":{"Type":"Task","Resource":"arn:aws:states:::block",`+tt.fields+`,"End":true},"C":{"Type":"Succeed"}}}`, tt.input)
			if x.Error != tt.want {
				t.Fatalf("got %s %q (%s), want error %q", x.Status, x.Error, x.Cause, tt.want)
			}
		})
	}
}

func TestExecutionTimeout(t *testing.T) {
	h := newHarness(t)
	x := h.run(`{"TimeoutSeconds":10,"StartAt":"W","States":{"W":{"Type":"Wait","Seconds":60,"End":true}}}`, `{}`)
	if x.Status != StatusTimedOut || x.Error != ErrNameTimeout {
		t.Fatalf("got %s %q, want TIMED_OUT States.Timeout", x.Status, x.Error)
	}
	evs := h.history(x.ARN)
	if last := evs[len(evs)-1].Type; last != EventExecutionTimedOut {
		t.Errorf("got last event %s, want ExecutionTimedOut", last)
	}
}
