package main

import (
	"context"
	"strings"
	"testing"

	"github.com/relais-ci/relais/shared/core"
)

func TestTransitionCommand(t *testing.T) {
	env := apiEnv(t)
	get := func() core.Transition {
		tr, err := env.Store.GetTransition(context.Background(), "demo", "Deploy")
		if err != nil {
			t.Fatal(err)
		}
		return tr
	}
	steps := []struct {
		name        string
		args        []string
		wantCode    int
		wantOut     string
		wantErr     string
		wantEnabled bool
		wantReason  string
	}{
		{"disable", []string{"transition", "disable", "demo", "Deploy", "--reason", "Release freeze", "--by", "ivy"}, 0,
			"Transition into demo/Deploy disabled\n", "", false, "Release freeze"},
		{"enable", []string{"transition", "enable", "demo", "Deploy", "--by", "ivy"}, 0,
			"Transition into demo/Deploy enabled\n", "", true, ""},
		{"disable without a reason", []string{"transition", "disable", "demo", "Deploy"}, 0,
			"Transition into demo/Deploy disabled\n", "", false, defaultDisableReason},
		{"reason AWS refuses", []string{"transition", "disable", "demo", "Deploy", "--reason", "no; way"}, 1,
			"", "ValidationException", false, defaultDisableReason},
		{"unknown stage", []string{"transition", "enable", "demo", "Nope"}, 1, "", "StageNotFoundException", false, defaultDisableReason},
		{"bad verb", []string{"transition", "toggle", "demo", "Deploy"}, 2, "", "want enable or disable", false, defaultDisableReason},
		{"reason with enable", []string{"transition", "enable", "demo", "Deploy", "--reason", "x"}, 2, "", "--reason goes with disable", false, defaultDisableReason},
		{"too few arguments", []string{"transition", "enable", "demo"}, 2, "", "usage: relais transition", false, defaultDisableReason},
	}
	for _, step := range steps {
		t.Run(step.name, func(t *testing.T) {
			code, out, stderr := relais(t, env, step.args...)
			if code != step.wantCode || out != step.wantOut || !strings.Contains(stderr, step.wantErr) {
				t.Errorf("got exit %d, %q, stderr %q; want %d, %q, %q", code, out, stderr, step.wantCode, step.wantOut, step.wantErr)
			}
			if tr := get(); tr.Enabled != step.wantEnabled || tr.Reason != step.wantReason {
				t.Errorf("got transition enabled %v (%q), want %v (%q)", tr.Enabled, tr.Reason, step.wantEnabled, step.wantReason)
			}
		})
	}
	if tr := get(); tr.LastChangedBy == "" {
		t.Errorf("got lastChangedBy %q, want someone", tr.LastChangedBy)
	}
}
