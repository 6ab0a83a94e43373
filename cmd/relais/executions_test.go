package main

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestExecutionsCommand(t *testing.T) {
	env := apiEnv(t)
	var ids []string
	for range 3 {
		env.Clock.Advance(time.Minute)
		code, out, stderr := relais(t, env, "start", "demo", "--by", "gina")
		if code != 0 {
			t.Fatalf("start: exit %d: %s", code, stderr)
		}
		ids = append(ids, strings.TrimSpace(out))
	}
	env.Clock.Advance(90 * time.Second)
	env.RunStage(t, "demo", ids[0], "Source", false)
	if code, _, stderr := relais(t, env, "stop", "demo", ids[1], "--abandon", "--reason", "wrong branch"); code != 0 {
		t.Fatalf("stop: exit %d: %s", code, stderr)
	}

	t.Run("text", func(t *testing.T) {
		code, out, stderr := relais(t, env, "executions", "demo")
		if code != 0 {
			t.Fatalf("got exit %d (%s), want 0", code, stderr)
		}
		for i, id := range ids {
			out = strings.ReplaceAll(out, id, []string{"<first.............................>", "<second............................>", "<third.............................>"}[i])
		}
		lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
		var got [][]string
		for _, l := range lines {
			got = append(got, strings.Fields(l))
		}
		start := func(m int) []string {
			s := formatTime(ptrTime(env.Clock.Now().Add(time.Duration(m-4)*time.Minute - 30*time.Second)))
			return strings.Fields(s)
		}
		row := func(id, status string, startMinute int, rest ...string) []string {
			r := append([]string{id, status}, start(startMinute)...)
			return append(r, rest...)
		}
		want := [][]string{
			{"EXECUTION", "STATUS", "STARTED", "DURATION", "TRIGGER", "REVISION", "SUMMARY"},
			row("<third.............................>", "InProgress", 3, "0s", "StartPipelineExecution", "(gina)", "-"),
			row("<second............................>", "Stopped", 2, "2m30s", "StartPipelineExecution", "(gina)", "-", "Stopped:", "wrong", "branch"),
			row("<first.............................>", "InProgress", 1, "0s", "StartPipelineExecution", "(gina)", "-"),
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("executions (-want +got):\n%s\n%s", diff, out)
		}
	})

	t.Run("max and json", func(t *testing.T) {
		code, out, stderr := relais(t, env, "executions", "--max", "2", "--format", "json", "demo")
		if code != 0 {
			t.Fatalf("got exit %d (%s), want 0", code, stderr)
		}
		var got struct {
			PipelineExecutionSummaries []struct {
				PipelineExecutionID string `json:"pipelineExecutionId"`
				Status              string `json:"status"`
			} `json:"pipelineExecutionSummaries"`
		}
		if err := json.Unmarshal([]byte(out), &got); err != nil {
			t.Fatalf("decode %s: %v", out, err)
		}
		var ids2 []string
		for _, s := range got.PipelineExecutionSummaries {
			ids2 = append(ids2, s.PipelineExecutionID+" "+s.Status)
		}
		if diff := cmp.Diff([]string{ids[2] + " InProgress", ids[1] + " Stopped"}, ids2); diff != "" {
			t.Errorf("newest two (-want +got):\n%s", diff)
		}
	})

	for _, tc := range []struct {
		name     string
		args     []string
		wantCode int
		wantErr  string
	}{
		{"missing pipeline", []string{"executions", "nope"}, 1, "PipelineNotFoundException"},
		{"bad max", []string{"executions", "--max", "0", "demo"}, 2, "--max 0"},
		{"no pipeline", []string{"executions"}, 2, "usage: relais executions"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, _, stderr := relais(t, env, tc.args...)
			if code != tc.wantCode || !strings.Contains(stderr, tc.wantErr) {
				t.Errorf("got exit %d, stderr %q; want %d and %q", code, stderr, tc.wantCode, tc.wantErr)
			}
		})
	}
}

func ptrTime(t time.Time) *time.Time { return &t }

func TestExecutionsCommandEmpty(t *testing.T) {
	env := apiEnv(t)
	code, out, _ := relais(t, env, "executions", "demo")
	if code != 0 || out != "Pipeline demo has no executions\n" {
		t.Errorf("got exit %d, %q; want 0 and no executions", code, out)
	}
}
