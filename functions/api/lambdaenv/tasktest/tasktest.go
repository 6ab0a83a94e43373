// Package tasktest checks a task function (functions/gate, functions/action) against
// its sample events: lambdaenv.TaskHandler over the task type T, as main wires it.
package tasktest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"testing"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/google/go-cmp/cmp"

	"github.com/relais-ci/relais/functions/api/lambdaenv"
	"github.com/relais-ci/relais/shared/core"
)

// Check runs the checks over the samples in dir (events/<function>):
//   - every sample decodes into T with no field left over and encodes back to the same
//     JSON (the samples are what machines send);
//   - the handler passes each sample's task to the service and answers {};
//   - errors the machines match reach the runtime as the core types (whose names it
//     reports), even when wrapped.
func Check[T any](t *testing.T, dir string) {
	samples := read(t, dir)
	t.Run("samples round trip", func(t *testing.T) {
		for _, name := range sortedKeys(samples) {
			b := samples[name]
			t.Run(name, func(t *testing.T) {
				dec := json.NewDecoder(bytes.NewReader(b))
				dec.DisallowUnknownFields()
				var task T
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
				// The compiler always sends fields such as resumeAt, retryMode and last,
				// even when empty or false; the Go types leave them out. Compare what is set.
				dropZero(want)
				if diff := cmp.Diff(want, got); diff != "" {
					t.Errorf("round trip (-sample +encoded):\n%s", diff)
				}
			})
		}
	})
	t.Run("invoke passes the task", func(t *testing.T) {
		for _, name := range sortedKeys(samples) {
			b := samples[name]
			t.Run(name, func(t *testing.T) {
				var got []T
				h := lambdaenv.NewTaskHandler(func(_ context.Context, task T) error {
					got = append(got, task)
					return nil
				})
				out, err := lambda.NewHandler(h.Invoke).Invoke(context.Background(), b)
				if err != nil {
					t.Fatalf("invoke: %v", err)
				}
				if string(out) != "{}" {
					t.Errorf("got output %s, want {}", out)
				}
				var want T
				if err := json.Unmarshal(b, &want); err != nil {
					t.Fatal(err)
				}
				if diff := cmp.Diff([]T{want}, got); diff != "" {
					t.Errorf("tasks handled (-want +got):\n%s", diff)
				}
			})
		}
	})
	t.Run("invoke names errors", func(t *testing.T) {
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
			{"wrapped stopped", fmt.Errorf("handle task: %w", stopped), stopped, core.ErrorStopped},
			{"other", other, other, "errorString"},
		}
		payload := samples[sortedKeys(samples)[0]]
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				h := lambdaenv.NewTaskHandler(func(context.Context, T) error { return tt.err })
				_, err := lambda.NewHandler(h.Invoke).Invoke(context.Background(), payload)
				if err != tt.want {
					t.Fatalf("got error %v, want %v", err, tt.want)
				}
				if got := reflect.TypeOf(err).Elem().Name(); got != tt.wantName {
					t.Errorf("got error type name %q, want %q", got, tt.wantName)
				}
			})
		}
	})
}

// read returns the sample events in dir, by file name.
func read(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no samples in %s: %v", dir, err)
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

func sortedKeys(m map[string][]byte) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
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
