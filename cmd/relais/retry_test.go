package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/relais-ci/relais/shared/action"
	"github.com/relais-ci/relais/shared/api/apitest"
	"github.com/relais-ci/relais/shared/core"
)

// failedAtBuild runs an execution whose Build action fails.
func failedAtBuild(t *testing.T, env *apitest.Env) string {
	t.Helper()
	env.SetResult("Compile", action.Result{Status: core.ActionFailed, Error: &core.ErrorDetails{Code: "BuildFailed", Message: "exit status 2"},
		ExternalURL: "http://127.0.0.1:8080/logs/compile"})
	code, out, stderr := relais(t, env, "start", "demo")
	if code != 0 {
		t.Fatalf("start: exit %d: %s", code, stderr)
	}
	id := strings.TrimSpace(out)
	env.RunStage(t, "demo", id, "Source", false)
	env.EnterStage(t, "demo", id, "Build")
	env.RunAction(t, "demo", id, "Build", "Compile")
	env.FailStage(t, "demo", id, "Build", "exit status 2")
	return id
}

func TestRetryCommand(t *testing.T) {
	for _, tc := range []struct {
		flags    []string
		wantMode core.RetryMode
	}{
		{nil, core.RetryFailedActions},
		{[]string{"--all-actions"}, core.RetryAllActions},
	} {
		t.Run(string(tc.wantMode), func(t *testing.T) {
			env := apiEnv(t)
			id := failedAtBuild(t, env)
			code, out, stderr := relais(t, env, append([]string{"retry", "demo", id, "Build"}, tc.flags...)...)
			if want := "Retrying stage Build of demo execution " + id + " (" + string(tc.wantMode) + ")\n"; code != 0 || out != want {
				t.Fatalf("got exit %d, %q (%s); want 0, %q", code, out, stderr, want)
			}
			starts := env.Engine.CallsOf("StartExecution")
			var in core.MachineInput
			if err := json.Unmarshal([]byte(starts[len(starts)-1].Detail), &in); err != nil {
				t.Fatal(err)
			}
			if in.ResumeAt != "Build" || in.RetryMode != tc.wantMode {
				t.Errorf("got machine input %+v, want resume at Build, %s", in, tc.wantMode)
			}
		})
	}

	env := apiEnv(t)
	id := failedAtBuild(t, env)
	for _, tc := range []struct {
		name     string
		args     []string
		wantCode int
		wantErr  string
	}{
		{"stage that succeeded", []string{"retry", "demo", id, "Source"}, 1, "StageNotRetryableException"},
		{"unknown stage", []string{"retry", "demo", id, "Nope"}, 1, "StageNotFoundException"},
		{"unknown execution", []string{"retry", "demo", "00000000-0000-4000-8000-000000000000", "Build"}, 1, "PipelineExecutionNotFoundException"},
		{"no stage", []string{"retry", "demo", id}, 2, "usage: relais retry"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, _, stderr := relais(t, env, tc.args...)
			if code != tc.wantCode || !strings.Contains(stderr, tc.wantErr) {
				t.Errorf("got exit %d, stderr %q; want %d and %q", code, stderr, tc.wantCode, tc.wantErr)
			}
		})
	}
}
