package main

import (
	"context"
	"strings"
	"testing"

	"github.com/relais-ci/relais/shared/core"
)

func TestApproveRejectCommands(t *testing.T) {
	for _, tc := range []struct {
		cmd         string
		wantOut     string
		wantStatus  core.ActionStatus
		wantSummary string
	}{
		{"approve", "Approved demo/Approval/Release", core.ActionSucceeded, "Approved by frank: ship it"},
		{"reject", "Rejected demo/Approval/Release", core.ActionFailed, "Rejected by frank: ship it"},
	} {
		t.Run(tc.cmd, func(t *testing.T) {
			env := apiEnv(t)
			id := atApproval(t, env)
			code, out, stderr := relais(t, env, tc.cmd, "demo", "Approval", "Release", "--comment", "ship it", "--by", "frank")
			if code != 0 {
				t.Fatalf("got exit %d (%s), want 0", code, stderr)
			}
			if !strings.HasPrefix(out, tc.wantOut+" (execution "+id+")") {
				t.Errorf("got %q, want %q for execution %s", out, tc.wantOut, id)
			}
			recs, err := core.AllActions(context.Background(), env.Store, core.ActionFilter{PipelineName: "demo", ExecutionID: id, StageName: "Approval"})
			if err != nil || len(recs) != 1 {
				t.Fatalf("got %v, %v; want one approval action", recs, err)
			}
			if recs[0].Status != tc.wantStatus || recs[0].Summary != tc.wantSummary {
				t.Errorf("got action %s %q, want %s %q", recs[0].Status, recs[0].Summary, tc.wantStatus, tc.wantSummary)
			}
			code, _, stderr = relais(t, env, tc.cmd, "demo", "Approval", "Release")
			if code != 1 || !strings.Contains(stderr, "no approval is pending at demo/Approval/Release") {
				t.Errorf("second %s: got exit %d, stderr %q; want 1, nothing pending", tc.cmd, code, stderr)
			}
		})
	}

	t.Run("of one execution", func(t *testing.T) {
		env := apiEnv(t)
		id := atApproval(t, env)
		code, out, stderr := relais(t, env, "approve", "demo", "Approval", "Release", "--execution", id)
		if code != 0 || !strings.HasPrefix(out, "Approved demo/Approval/Release (execution "+id+")") {
			t.Errorf("got exit %d, %q (%s); want 0, approved in %s", code, out, stderr, id)
		}
		code, _, stderr = relais(t, env, "reject", "demo", "Approval", "Release", "--execution", id)
		if code != 1 || !strings.Contains(stderr, "no approval is pending") {
			t.Errorf("got exit %d, stderr %q; want 1, nothing pending", code, stderr)
		}
	})

	env := apiEnv(t)
	atApproval(t, env)
	for _, tc := range []struct {
		name     string
		args     []string
		wantCode int
		wantErr  string
	}{
		{"not an approval", []string{"approve", "demo", "Build", "Compile"}, 1, "no approval is pending at demo/Build/Compile"},
		{"missing pipeline", []string{"approve", "nope", "Approval", "Release"}, 1, "PipelineNotFoundException"},
		{"too few arguments", []string{"reject", "demo", "Approval"}, 2, "usage: relais reject"},
		{"unknown execution", []string{"approve", "demo", "Approval", "Release", "--execution", "00000000-0000-4000-8000-000000000000"}, 1, "PipelineExecutionNotFoundException"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, _, stderr := relais(t, env, tc.args...)
			if code != tc.wantCode || !strings.Contains(stderr, tc.wantErr) {
				t.Errorf("got exit %d, stderr %q; want %d and %q", code, stderr, tc.wantCode, tc.wantErr)
			}
		})
	}
}
