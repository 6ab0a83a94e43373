package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/relais-ci/relais/shared/api/apitest"
)

// Placeholders for an execution id and a formatted time, as wide as what they
// replace.
const (
	idMark   = "<execution-id......................>"
	timeMark = "YYYY-MM-DD hh:mm:ss"
)

// atApproval starts an execution through the CLI and runs it to its pending approval.
func atApproval(t *testing.T, env *apitest.Env) string {
	t.Helper()
	code, out, stderr := relais(t, env, "start", "demo")
	if code != 0 {
		t.Fatalf("start: exit %d: %s", code, stderr)
	}
	id := strings.TrimSpace(out)
	env.RunStage(t, "demo", id, "Source", false)
	env.RunStage(t, "demo", id, "Build", false)
	env.EnterStage(t, "demo", id, "Approval")
	env.RunAction(t, "demo", id, "Approval", "Release")
	return id
}

func TestStatusCommandBeforeAnyExecution(t *testing.T) {
	env := apiEnv(t)
	code, out, stderr := relais(t, env, "status", "demo")
	if code != 0 {
		t.Fatalf("got exit %d (%s), want 0", code, stderr)
	}
	want := `Pipeline demo (version 1)

STAGE / ACTION  STATUS  EXECUTION  LAST CHANGE  DETAILS
Source          -       -
  Checkout      -
Build           -       -
  Compile       -
Approval        -       -
  Release       -
Deploy          -       -
  Site          -
`
	if diff := cmp.Diff(want, out); diff != "" {
		t.Errorf("status (-want +got):\n%s", diff)
	}
}

func TestStatusCommand(t *testing.T) {
	env := apiEnv(t)
	id := atApproval(t, env)
	if err := env.Execution.DisableTransition(context.Background(), "demo", "Deploy", "Freeze", "alice"); err != nil {
		t.Fatal(err)
	}
	now := env.Clock.Now()
	ts := formatTime(&now)

	t.Run("text", func(t *testing.T) {
		code, out, stderr := relais(t, env, "status", "demo")
		if code != 0 {
			t.Fatalf("got exit %d (%s), want 0", code, stderr)
		}
		// Ids and times have fixed widths: placeholders of the same width keep the
		// columns where they are.
		out = strings.ReplaceAll(strings.ReplaceAll(out, id, idMark), ts, timeMark)
		want := `Pipeline demo (version 1)

STAGE / ACTION  STATUS      EXECUTION                             LAST CHANGE          DETAILS
Source          Succeeded   <execution-id......................>
  Checkout      Succeeded                                         YYYY-MM-DD hh:mm:ss  Checkout done
Build           Succeeded   <execution-id......................>
  Compile       Succeeded                                         YYYY-MM-DD hh:mm:ss  Compile done
Approval        InProgress  <execution-id......................>
  Release       InProgress                                        YYYY-MM-DD hh:mm:ss  Waiting for approval until 2026-12-02T12:00:00Z; decide: relais approve|reject demo Approval Release
Deploy          -           -                                                          transition disabled by alice at YYYY-MM-DD hh:mm:ss: Freeze
  Site          -
`
		if diff := cmp.Diff(want, out); diff != "" {
			t.Errorf("status (-want +got):\n%s", diff)
		}
	})

	t.Run("json", func(t *testing.T) {
		code, out, stderr := relais(t, env, "status", "--format", "json", "demo")
		if code != 0 {
			t.Fatalf("got exit %d (%s), want 0", code, stderr)
		}
		var got struct {
			PipelineName string `json:"pipelineName"`
			StageStates  []struct {
				StageName              string `json:"stageName"`
				InboundTransitionState *struct {
					Enabled        bool   `json:"enabled"`
					DisabledReason string `json:"disabledReason"`
				} `json:"inboundTransitionState"`
				LatestExecution *struct {
					PipelineExecutionID string `json:"pipelineExecutionId"`
					Status              string `json:"status"`
				} `json:"latestExecution"`
				ActionStates []struct {
					ActionName      string `json:"actionName"`
					LatestExecution *struct {
						Status           string    `json:"status"`
						Token            string    `json:"token"`
						LastStatusChange time.Time `json:"lastStatusChange"`
					} `json:"latestExecution"`
				} `json:"actionStates"`
			} `json:"stageStates"`
		}
		if err := json.Unmarshal([]byte(out), &got); err != nil {
			t.Fatalf("decode %s: %v", out, err)
		}
		if got.PipelineName != "demo" || len(got.StageStates) != 4 {
			t.Fatalf("got %s, want demo's 4 stages", out)
		}
		approval := got.StageStates[2]
		if approval.LatestExecution == nil || approval.LatestExecution.PipelineExecutionID != id || approval.ActionStates[0].LatestExecution.Token == "" {
			t.Errorf("got Approval stage %+v, want execution %s with a token", approval, id)
		}
		if tr := got.StageStates[3].InboundTransitionState; tr == nil || tr.Enabled || tr.DisabledReason != "Freeze" {
			t.Errorf("got Deploy transition %+v, want disabled for Freeze", tr)
		}
		if when := approval.ActionStates[0].LatestExecution.LastStatusChange; !when.Equal(now) {
			t.Errorf("got lastStatusChange %v, want %v", when, now)
		}
	})

	for _, tc := range []struct {
		name     string
		args     []string
		wantCode int
		wantErr  string
	}{
		{"missing pipeline", []string{"status", "nope"}, 1, "PipelineNotFoundException"},
		{"no pipeline", []string{"status"}, 2, "usage: relais status"},
		{"two pipelines", []string{"status", "a", "b"}, 2, "usage: relais status"},
		{"bad format", []string{"status", "--format", "yaml", "demo"}, 2, "unknown format"},
		{"help", []string{"status", "-h"}, 0, "usage: relais status"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, _, stderr := relais(t, env, tc.args...)
			if code != tc.wantCode || !strings.Contains(stderr, tc.wantErr) {
				t.Errorf("got exit %d, stderr %q; want %d and %q", code, stderr, tc.wantCode, tc.wantErr)
			}
		})
	}
}
