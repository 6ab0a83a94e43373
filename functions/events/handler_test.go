package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"
	"github.com/google/go-cmp/cmp"

	"github.com/relais-ci/relais/shared/action"
	"github.com/relais-ci/relais/shared/core"
)

func sample(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "events", "events", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestSamplesRoundTrip checks that every sample is an EventBridge event as aws-lambda-go
// reads it, with nothing lost.
func TestSamplesRoundTrip(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join("..", "..", "events", "events", "*.json"))
	if len(files) == 0 {
		t.Fatal("no samples in events/events")
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			dec := json.NewDecoder(bytes.NewReader(b))
			dec.DisallowUnknownFields()
			var e events.CloudWatchEvent
			if err := dec.Decode(&e); err != nil {
				t.Fatalf("decode: %v", err)
			}
			out, _ := json.Marshal(e)
			var want, got any
			_ = json.Unmarshal(b, &want)
			_ = json.Unmarshal(out, &got)
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("round trip (-sample +encoded):\n%s", diff)
			}
		})
	}
}

type fakeCompleter struct {
	got map[string]action.Result
	err error
}

func (f *fakeCompleter) CompleteExternal(_ context.Context, id string, res action.Result) error {
	if f.got == nil {
		f.got = map[string]action.Result{}
	}
	f.got[id] = res
	return f.err
}

type fakeRuns struct{ got []EndedRun }

func (f *fakeRuns) EndRun(_ context.Context, r EndedRun) error {
	f.got = append(f.got, r)
	return nil
}

var discard = slog.New(slog.NewTextHandler(io.Discard, nil))

const buildID = "relais-hello:0b5e8d1c-7f36-4c4e-9d1b-3f0d2c9a1e01"

func TestInvoke(t *testing.T) {
	logs := "https://console.aws.amazon.com/cloudwatch/home?region=eu-west-1#logEvent:group=/aws/codebuild/relais-hello;stream=0b5e8d1c-7f36-4c4e-9d1b-3f0d2c9a1e01"
	failedMsg := "Build " + buildID + " ended FAILED in phase BUILD: COMMAND_EXECUTION_ERROR: Error while executing command: go test ./.... Reason: exit status 1"
	tests := []struct {
		sample    string
		want      Output
		wantBuild map[string]action.Result
		wantRuns  []EndedRun
	}{
		{
			sample: "codebuild-succeeded.json", want: Output{Outcome: outcomeCompleted},
			wantBuild: map[string]action.Result{buildID: {
				Status: core.ActionSucceeded, Summary: "Build " + buildID + " succeeded",
				ExternalID: buildID, ExternalURL: logs,
				OutputVariables: map[string]string{"VERSION": "1.0.3f78685"},
				OutputArtifacts: []core.Artifact{{Name: "BuildOutput", Location: core.ArtifactLocation{
					Store: "relaisstack-artifactbucket", Key: "hello/6f1c1b8e-2f0a-4c55-9a51-0c4f0f4b2b11/BuildOutput.zip"}}},
			}},
		},
		{
			sample: "codebuild-failed.json", want: Output{Outcome: outcomeCompleted},
			wantBuild: map[string]action.Result{buildID: {
				Status: core.ActionFailed, Summary: failedMsg, ExternalID: buildID, ExternalURL: logs,
				Error: &core.ErrorDetails{Code: "JobFailed", Message: failedMsg},
			}},
		},
		{sample: "codebuild-in-progress.json", want: Output{Outcome: outcomeIgnored}},
		{sample: "stepfunctions-succeeded.json", want: Output{Outcome: outcomeIgnored}},
		{sample: "stepfunctions-running.json", want: Output{Outcome: outcomeIgnored}},
		{
			sample: "stepfunctions-aborted.json", want: Output{Outcome: outcomeEnded},
			wantRuns: []EndedRun{{Pipeline: "hello", ExecutionID: "6f1c1b8e-2f0a-4c55-9a51-0c4f0f4b2b11",
				Run: "6f1c1b8e-2f0a-4c55-9a51-0c4f0f4b2b11", Status: "ABORTED"}},
		},
		{
			sample: "stepfunctions-timed-out.json", want: Output{Outcome: outcomeEnded},
			wantRuns: []EndedRun{{Pipeline: "hello", ExecutionID: "6f1c1b8e-2f0a-4c55-9a51-0c4f0f4b2b11",
				Run: "6f1c1b8e-2f0a-4c55-9a51-0c4f0f4b2b11", Status: "TIMED_OUT",
				Error: "States.Timeout", Cause: "The state machine execution timed out"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.sample, func(t *testing.T) {
			builds, runs := &fakeCompleter{}, &fakeRuns{}
			h := New(Deps{Builds: builds, Runs: runs, Logger: discard})
			out, err := lambda.NewHandler(h.Invoke).Invoke(context.Background(), sample(t, tt.sample))
			if err != nil {
				t.Fatalf("invoke: %v", err)
			}
			var got Output
			if err := json.Unmarshal(out, &got); err != nil {
				t.Fatalf("decode output %s: %v", out, err)
			}
			if got != tt.want {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
			if diff := cmp.Diff(tt.wantBuild, builds.got); diff != "" {
				t.Errorf("builds completed (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.wantRuns, runs.got); diff != "" {
				t.Errorf("runs ended (-want +got):\n%s", diff)
			}
		})
	}
}

func TestInvokeUnknownBuildIsIgnored(t *testing.T) {
	builds := &fakeCompleter{err: fmt.Errorf("complete action of x: %w", core.ErrNotFound)}
	h := New(Deps{Builds: builds, Runs: &fakeRuns{}, Logger: discard})
	out, err := h.Invoke(context.Background(), sample(t, "codebuild-succeeded.json"))
	if err != nil || out.Outcome != outcomeUnknown {
		t.Errorf("got %+v, %v; want outcome %q and no error", out, err, outcomeUnknown)
	}
}

func TestInvokeFailsOnStoreErrors(t *testing.T) {
	boom := errors.New("throttled")
	h := New(Deps{Builds: &fakeCompleter{err: boom}, Runs: &fakeRuns{}, Logger: discard})
	if _, err := h.Invoke(context.Background(), sample(t, "codebuild-failed.json")); !errors.Is(err, boom) {
		t.Errorf("got error %v, want one wrapping %v (so that EventBridge retries)", err, boom)
	}
	if _, err := h.Invoke(context.Background(), []byte(`[1,2]`)); err == nil {
		t.Error("got no error for an event that is not an object")
	}
}

func TestInvokeIgnoresOtherEvents(t *testing.T) {
	h := New(Deps{Builds: &fakeCompleter{}, Runs: &fakeRuns{}, Logger: discard})
	out, err := h.Invoke(context.Background(), []byte(`{"source":"aws.s3","detail-type":"Object Created","detail":{}}`))
	if err != nil || out.Outcome != outcomeIgnored {
		t.Errorf("got %+v, %v; want ignored", out, err)
	}
}

type fakeReader map[string]BuildOutputs

func (f fakeReader) ReadBuild(_ context.Context, id string) (BuildOutputs, error) {
	return f[id], nil
}

// TestInvokeReadsExportedVariables completes a succeeded build whose event carries no
// exported variables with those the build reader finds.
func TestInvokeReadsExportedVariables(t *testing.T) {
	var e map[string]any
	if err := json.Unmarshal(sample(t, "codebuild-succeeded.json"), &e); err != nil {
		t.Fatal(err)
	}
	delete(e["detail"].(map[string]any)["additional-information"].(map[string]any), "exported-environment-variables")
	payload, _ := json.Marshal(e)
	builds := &fakeCompleter{}
	reader := fakeReader{buildID: {Variables: map[string]string{"VERSION": "2.0"}}}
	h := New(Deps{Builds: builds, Runs: &fakeRuns{}, Reader: reader, Logger: discard})
	if _, err := h.Invoke(context.Background(), payload); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(map[string]string{"VERSION": "2.0"}, builds.got[buildID].OutputVariables); diff != "" {
		t.Errorf("output variables (-want +got):\n%s", diff)
	}
}
