package asl

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden")

// TestGoldenHistories runs small machines and compares their whole history (event names,
// ids, timestamps from the fake clock, details) with testdata/<name>.golden.
func TestGoldenHistories(t *testing.T) {
	tests := []struct {
		name  string
		def   string
		input string
	}{
		{"pass-task-wait-choice", `{"StartAt":"A","States":{
			"A":{"Type":"Pass","Result":{"n":21},"ResultPath":"$.r","Next":"T"},
			"T":{"Type":"Task","Resource":"arn:aws:states:::lambda:invoke","Parameters":{"FunctionName":"double","Payload.$":"$.r"},"ResultSelector":{"v.$":"$.Payload.n"},"ResultPath":"$.t","Next":"W"},
			"W":{"Type":"Wait","Seconds":10,"Next":"C"},
			"C":{"Type":"Choice","Choices":[{"Variable":"$.t.v","NumericEquals":42,"Next":"S"}],"Default":"F"},
			"F":{"Type":"Fail","Error":"E"},
			"S":{"Type":"Succeed"}}}`, `{"a":1}`},
		{"retry-catch-fail", `{"StartAt":"T","States":{
			"T":{"Type":"Task","Resource":"arn:aws:lambda:us-east-1:123456789012:function:flaky","Retry":[{"ErrorEquals":["Flaky"],"IntervalSeconds":2,"MaxAttempts":1}],
			     "Catch":[{"ErrorEquals":["States.ALL"],"ResultPath":"$.error","Next":"F"}],"End":true},
			"F":{"Type":"Fail","ErrorPath":"$.error.Error","CausePath":"$.error.Cause"}}}`, `{}`},
		{"map-sequential", `{"StartAt":"M","States":{"M":{"Type":"Map","ItemsPath":"$.xs","MaxConcurrency":1,
			"ItemSelector":{"i.$":"$$.Map.Item.Index","v.$":"$$.Map.Item.Value"},
			"ItemProcessor":{"StartAt":"X","States":{"X":{"Type":"Pass","End":true}}},"ResultPath":"$.out","End":true}}}`, `{"xs":["a","b"]}`},
		{"parallel-callback", `{"StartAt":"P","States":{"P":{"Type":"Parallel","Branches":[{"StartAt":"CB","States":{
			"CB":{"Type":"Task","Resource":"arn:aws:states:::sqs:sendMessage.waitForTaskToken","Parameters":{"token.$":"$$.Task.Token"},"HeartbeatSeconds":60,"End":true}}}],"End":true}}}`, `{}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			h.eng.Tasks().HandleLambda("double", func(ctx context.Context, p any) (any, error) {
				n, _ := intValue(p.(map[string]any)["n"])
				return map[string]any{"n": jsonInt(n * 2)}, nil
			})
			h.eng.Tasks().HandleLambda("flaky", func(ctx context.Context, p any) (any, error) {
				return nil, &Error{Name: "Flaky", Cause: "always"}
			})
			h.eng.Tasks().HandleFunc("arn:aws:states:::sqs:sendMessage", func(ctx context.Context, req *TaskRequest) (any, error) {
				go func() {
					for h.eng.SendTaskSuccess(context.Background(), req.Token, `{"approved":true}`) != nil {
					}
				}()
				return map[string]any{"MessageId": "m-1"}, nil
			})
			x := h.run(tt.def, tt.input)
			checkGolden(t, tt.name, h.history(x.ARN))
		})
	}
}

// TestGoldenRedrive: a Map whose second iteration fails, redriven an hour later: only
// that iteration runs again.
func TestGoldenRedrive(t *testing.T) {
	h := newHarness(t)
	fail := true
	h.eng.Tasks().HandleFunc("arn:aws:states:::once", func(ctx context.Context, req *TaskRequest) (any, error) {
		if n, _ := intValue(req.Parameters); n == 2 && fail {
			fail = false
			return nil, &Error{Name: "Boom", Cause: "item 2"}
		}
		return req.Parameters, nil
	})
	x := h.run(`{"StartAt":"M","States":{"M":{"Type":"Map","MaxConcurrency":1,"ItemProcessor":{"StartAt":"T","States":{
		"T":{"Type":"Task","Resource":"arn:aws:states:::once","End":true}}},"End":true}}}`, `[1,2,3]`)
	if x.Status != StatusFailed {
		t.Fatalf("got %s", x.Status)
	}
	h.clock.Advance(time.Hour)
	if _, err := h.eng.RedriveExecution(context.Background(), x.ARN); err != nil {
		t.Fatal(err)
	}
	if d := h.wait(x.ARN); d.Status != StatusSucceeded || d.Output != "[1,2,3]" {
		t.Fatalf("after redrive: got %s %s", d.Status, d.Output)
	}
	checkGolden(t, "redrive-map", h.history(x.ARN))
}

// checkGolden compares a history with testdata/<name>.golden (rewritten with -update).
func checkGolden(t *testing.T, name string, evs []Event) {
	t.Helper()
	got, err := json.MarshalIndent(evs, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	got = append(got, '\n')
	path := filepath.Join("testdata", name+".golden")
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		t.Fatalf("%s missing: run go test -run TestGolden -update", path)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("history differs from %s (run with -update to accept):\ngot:\n%s", path, got)
	}
}
