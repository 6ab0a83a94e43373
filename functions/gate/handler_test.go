package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/google/go-cmp/cmp"

	"github.com/relais-ci/relais/shared/core"
)

// samples returns the sample events of this function, by file name.
func samples(t *testing.T) map[string][]byte {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("..", "..", "events", "gate", "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no samples in events/gate: %v", err)
	}
	out := map[string][]byte{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		out[filepath.Base(f)] = b
	}
	return out
}

// TestSamplesRoundTrip checks that every sample decodes into core.GateTask with no field
// left over and encodes back to the same JSON: the samples are what machines send.
func TestSamplesRoundTrip(t *testing.T) {
	for name, b := range samples(t) {
		t.Run(name, func(t *testing.T) {
			dec := json.NewDecoder(bytes.NewReader(b))
			dec.DisallowUnknownFields()
			var task core.GateTask
			if err := dec.Decode(&task); err != nil {
				t.Fatalf("decode: %v", err)
			}
			out, err := json.Marshal(task)
			if err != nil {
				t.Fatal(err)
			}
			var want, got any
			_ = json.Unmarshal(b, &want)
			_ = json.Unmarshal(out, &got)
			// The compiler always sends resumeAt/retryMode and last, even when empty or
			// false; the Go type leaves them out. Compare what is set.
			dropZero(want)
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("round trip (-sample +encoded):\n%s", diff)
			}
		})
	}
}

func dropZero(v any) {
	if m, ok := v.(map[string]any); ok {
		for k, x := range m {
			if x == "" || x == false {
				delete(m, k)
			}
		}
	}
}

type fakeGate struct {
	got []core.GateTask
	err error
}

func (f *fakeGate) Handle(_ context.Context, t core.GateTask) error {
	f.got = append(f.got, t)
	return f.err
}

func TestInvokePassesTheTask(t *testing.T) {
	for name, b := range samples(t) {
		t.Run(name, func(t *testing.T) {
			g := &fakeGate{}
			out, err := lambda.NewHandler(NewHandler(g).Invoke).Invoke(context.Background(), b)
			if err != nil {
				t.Fatalf("invoke: %v", err)
			}
			if string(out) != "{}" {
				t.Errorf("got output %s, want {}", out)
			}
			var want core.GateTask
			if err := json.Unmarshal(b, &want); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff([]core.GateTask{want}, g.got); diff != "" {
				t.Errorf("tasks handled (-want +got):\n%s", diff)
			}
		})
	}
}

// TestInvokeNamesErrors checks that errors the machines match reach the runtime as the
// core types (whose names it reports), even when wrapped.
func TestInvokeNamesErrors(t *testing.T) {
	superseded := &core.SupersededError{ExecutionID: "a", By: "b"}
	stopped := &core.StoppedError{ExecutionID: "a", Reason: "Stopped"}
	other := errors.New("boom")
	tests := []struct {
		name     string
		err      error
		want     error
		wantName string
	}{
		{"superseded", superseded, superseded, core.ErrorSuperseded},
		{"wrapped stopped", fmt.Errorf("enter stage Build: %w", stopped), stopped, core.ErrorStopped},
		{"other", other, other, "errorString"},
	}
	payload := samples(t)["enter.json"]
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := lambda.NewHandler(NewHandler(&fakeGate{err: tt.err}).Invoke).Invoke(context.Background(), payload)
			if err != tt.want {
				t.Fatalf("got error %v, want %v", err, tt.want)
			}
			if got := reflect.TypeOf(err).Elem().Name(); got != tt.wantName {
				t.Errorf("got error type name %q, want %q", got, tt.wantName)
			}
		})
	}
}
