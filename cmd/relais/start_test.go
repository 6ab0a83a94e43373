package main

import (
	"context"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/relais-ci/relais/shared/core"
)

func TestStartCommand(t *testing.T) {
	env := apiEnv(t)
	ctx := context.Background()

	t.Run("variables", func(t *testing.T) {
		code, out, stderr := relais(t, env, "start", "demo", "--var", "greeting=hi there", "--by", "max")
		if code != 0 {
			t.Fatalf("got exit %d (%s), want 0", code, stderr)
		}
		e, err := env.Store.GetExecution(ctx, "demo", strings.TrimSpace(out))
		if err != nil {
			t.Fatalf("get the execution printed (%q): %v", out, err)
		}
		if diff := cmp.Diff([]core.Variable{{Name: "greeting", Value: "hi there"}}, e.Variables); diff != "" {
			t.Errorf("variables (-want +got):\n%s", diff)
		}
		if e.Trigger.Detail != "max" {
			t.Errorf("got trigger detail %q, want max", e.Trigger.Detail)
		}
	})

	t.Run("client token", func(t *testing.T) {
		before := len(env.Engine.CallsOf("StartExecution"))
		_, first, _ := relais(t, env, "start", "--client-token", "release-7", "demo")
		_, second, _ := relais(t, env, "start", "--client-token", "release-7", "demo")
		if first != second || first == "" {
			t.Errorf("got ids %q and %q, want the same", first, second)
		}
		if n := len(env.Engine.CallsOf("StartExecution")) - before; n != 1 {
			t.Errorf("got %d engine starts, want 1", n)
		}
	})

	for _, tc := range []struct {
		name     string
		args     []string
		wantCode int
		wantErr  string
	}{
		{"undeclared variable", []string{"start", "demo", "--var", "colour=red"}, 1, "ValidationException"},
		{"variable without value", []string{"start", "demo", "--var", "greeting"}, 2, "want NAME=VALUE"},
		{"variable twice", []string{"start", "demo", "--var", "a=1", "--var", "a=2"}, 2, "variable a given twice"},
		{"missing pipeline", []string{"start", "nope"}, 1, "PipelineNotFoundException"},
		{"no pipeline", []string{"start"}, 2, "usage: relais start"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, _, stderr := relais(t, env, tc.args...)
			if code != tc.wantCode || !strings.Contains(stderr, tc.wantErr) {
				t.Errorf("got exit %d, stderr %q; want %d and %q", code, stderr, tc.wantCode, tc.wantErr)
			}
		})
	}
}

func TestStartWatch(t *testing.T) {
	env := apiEnv(t)
	w := startCLI(t, env, "start", "--watch", "demo")
	line := w.waitFor(t, "Watching demo execution ")
	id := strings.TrimPrefix(line, "Watching demo execution ")
	if w.seen[0] != id {
		t.Errorf("got first line %q, want the execution id %s", w.seen[0], id)
	}
	failed := "exit status 2"
	env.RunStage(t, "demo", id, "Source", false)
	env.EnterStage(t, "demo", id, "Build")
	env.FailStage(t, "demo", id, "Build", failed)
	w.waitFor(t, "Execution "+id+" Failed")
	if code := w.exit(t); code != 1 {
		t.Errorf("got exit %d, want 1 (the execution failed)", code)
	}
}
