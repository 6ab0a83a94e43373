package main

import (
	"context"
	"strings"
	"testing"

	"github.com/relais-ci/relais/shared/core"
)

func TestStopCommand(t *testing.T) {
	env := apiEnv(t)
	id := atApproval(t, env)
	get := func() core.Execution {
		e, err := env.Store.GetExecution(context.Background(), "demo", id)
		if err != nil {
			t.Fatal(err)
		}
		return e
	}
	steps := []struct {
		name       string
		args       []string
		wantCode   int
		wantOut    string
		wantErr    string
		wantStatus core.ExecutionStatus
	}{
		{"stop and wait", []string{"stop", "demo", id, "--reason", "bad build", "--by", "hank"}, 0,
			"Stopping demo execution " + id + " (running actions finish first)\n", "", core.ExecutionStopping},
		{"again", []string{"stop", "demo", id}, 1, "", "DuplicatedStopRequestException", core.ExecutionStopping},
		{"abandon", []string{"stop", "--abandon", "demo", id}, 0,
			"Stopping demo execution " + id + " (running actions abandoned)\n", "", core.ExecutionStopped},
		{"stopped", []string{"stop", "demo", id, "--abandon"}, 1, "", "PipelineExecutionNotStoppableException", core.ExecutionStopped},
		{"missing pipeline", []string{"stop", "nope", id}, 1, "", "PipelineNotFoundException", core.ExecutionStopped},
		{"no execution id", []string{"stop", "demo"}, 2, "", "usage: relais stop", core.ExecutionStopped},
	}
	for _, step := range steps {
		t.Run(step.name, func(t *testing.T) {
			code, out, stderr := relais(t, env, step.args...)
			if code != step.wantCode || out != step.wantOut || !strings.Contains(stderr, step.wantErr) {
				t.Errorf("got exit %d, %q, stderr %q; want %d, %q, %q", code, out, stderr, step.wantCode, step.wantOut, step.wantErr)
			}
			e := get()
			if e.Status != step.wantStatus {
				t.Errorf("got status %s, want %s", e.Status, step.wantStatus)
			}
			if step.name == "stop and wait" && (e.Stop == nil || e.Stop.By != "hank" || e.Stop.Reason != "bad build") {
				t.Errorf("got stop %+v, want by hank for bad build", e.Stop)
			}
		})
	}
}
