package api_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/codepipeline"
	"github.com/aws/aws-sdk-go-v2/service/codepipeline/types"
	"github.com/google/go-cmp/cmp"

	"github.com/relais-ci/relais/shared/action"
	"github.com/relais-ci/relais/shared/api"
	"github.com/relais-ci/relais/shared/api/apitest"
	"github.com/relais-ci/relais/shared/core"
)

func TestListPipelines(t *testing.T) {
	env, c := setup(t)
	env.Install(t, strings.Replace(apitest.Pipeline, `"name": "demo"`, `"name": "alpha"`, 1))
	env.Install(t, strings.Replace(strings.Replace(apitest.Pipeline, `"name": "demo"`, `"name": "zeta"`, 1), `"SUPERSEDED"`, `"QUEUED"`, 1))
	ctx := context.Background()

	type summary struct{ Name, Type, Mode string }
	var pages [][]summary
	var token *string
	for range 5 {
		out, err := c.ListPipelines(ctx, &codepipeline.ListPipelinesInput{MaxResults: aws.Int32(2), NextToken: token})
		if err != nil {
			t.Fatalf("list pipelines: %v", err)
		}
		var page []summary
		for _, p := range out.Pipelines {
			page = append(page, summary{aws.ToString(p.Name), string(p.PipelineType), string(p.ExecutionMode)})
			if p.Created == nil || aws.ToInt32(p.Version) != 1 {
				t.Errorf("pipeline %s: got created %v version %d, want a time and 1", aws.ToString(p.Name), p.Created, aws.ToInt32(p.Version))
			}
		}
		pages = append(pages, page)
		if token = out.NextToken; token == nil {
			break
		}
	}
	want := [][]summary{
		{{"alpha", "V2", "SUPERSEDED"}, {"demo", "V2", "SUPERSEDED"}},
		{{"zeta", "V2", "QUEUED"}},
	}
	if diff := cmp.Diff(want, pages); diff != "" {
		t.Errorf("pages (-want +got):\n%s", diff)
	}

	for _, tc := range []struct {
		name string
		in   codepipeline.ListPipelinesInput
		code string
	}{
		{"bad token", codepipeline.ListPipelinesInput{NextToken: aws.String("!!not-a-token")}, "InvalidNextTokenException"},
		{"too many", codepipeline.ListPipelinesInput{MaxResults: aws.Int32(1001)}, "ValidationException"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := c.ListPipelines(ctx, &tc.in)
			wantCode(t, err, tc.code)
		})
	}
}

func TestGetPipeline(t *testing.T) {
	env, c := setup(t)
	ctx := context.Background()
	out, err := c.GetPipeline(ctx, &codepipeline.GetPipelineInput{Name: aws.String("demo")})
	if err != nil {
		t.Fatalf("get pipeline: %v", err)
	}
	var stages []string
	for _, s := range out.Pipeline.Stages {
		stages = append(stages, aws.ToString(s.Name))
	}
	if diff := cmp.Diff([]string{"Source", "Build", "Approval", "Deploy"}, stages); diff != "" {
		t.Errorf("stages (-want +got):\n%s", diff)
	}
	if got := aws.ToInt32(out.Pipeline.Version); got != 1 {
		t.Errorf("got version %d, want 1", got)
	}
	if got := out.Pipeline.ExecutionMode; got != types.ExecutionModeSuperseded {
		t.Errorf("got execution mode %q, want SUPERSEDED", got)
	}
	if got := out.Pipeline.Stages[1].Actions[0].Configuration["ProjectName"]; got != "hello-#{variables.greeting}" {
		t.Errorf("got ProjectName %q, want the declared (unresolved) value", got)
	}
	if got, want := aws.ToTime(out.Metadata.Created), env.Clock.Now(); !got.Equal(want) {
		t.Errorf("got created %v, want %v", got, want)
	}
	if out.Metadata.PipelineArn != nil {
		t.Errorf("got pipelineArn %q, want none without WithARNPrefix", aws.ToString(out.Metadata.PipelineArn))
	}

	for _, tc := range []struct {
		name string
		in   codepipeline.GetPipelineInput
		code string
	}{
		{"missing pipeline", codepipeline.GetPipelineInput{Name: aws.String("nope")}, "PipelineNotFoundException"},
		{"old version", codepipeline.GetPipelineInput{Name: aws.String("demo"), Version: aws.Int32(2)}, "PipelineVersionNotFoundException"},
		{"empty name", codepipeline.GetPipelineInput{Name: aws.String("")}, "ValidationException"},
		{"bad name", codepipeline.GetPipelineInput{Name: aws.String("a b")}, "ValidationException"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := c.GetPipeline(ctx, &tc.in)
			wantCode(t, err, tc.code)
		})
	}
}

func TestGetPipelineARN(t *testing.T) {
	env := apitest.New(t, api.WithARNPrefix("arn:aws:codepipeline:us-east-1:123456789012:"))
	env.Install(t, apitest.Pipeline)
	out, err := env.Client().GetPipeline(context.Background(), &codepipeline.GetPipelineInput{Name: aws.String("demo")})
	if err != nil {
		t.Fatalf("get pipeline: %v", err)
	}
	if got, want := aws.ToString(out.Metadata.PipelineArn), "arn:aws:codepipeline:us-east-1:123456789012:demo"; got != want {
		t.Errorf("got pipelineArn %q, want %q", got, want)
	}
}

func TestGetPipelineState(t *testing.T) {
	env, c := setup(t)
	ctx := context.Background()
	env.SetResult("Checkout", action.Result{
		Status: core.ActionSucceeded, Summary: "Fix the greeting", OutputVariables: map[string]string{"CommitId": "abc123"},
		OutputArtifacts: []core.Artifact{{Name: "SourceOutput", Location: core.ArtifactLocation{Store: "relais-artifacts", Key: "src.zip"}}},
		Revision:        &core.SourceRevision{RevisionID: "abc123", RevisionSummary: "Fix the greeting", RevisionURL: "https://github.com/relais-ci/hello/commit/abc123"},
	})

	t.Run("before any execution", func(t *testing.T) {
		out, err := c.GetPipelineState(ctx, &codepipeline.GetPipelineStateInput{Name: aws.String("demo")})
		if err != nil {
			t.Fatalf("get state: %v", err)
		}
		want := []stageView{
			{Stage: "Source", Actions: []actionView{{Action: "Checkout"}}},
			{Stage: "Build", Transition: "enabled", Actions: []actionView{{Action: "Compile"}}},
			{Stage: "Approval", Transition: "enabled", Actions: []actionView{{Action: "Release"}}},
			{Stage: "Deploy", Transition: "enabled", Actions: []actionView{{Action: "Site"}}},
		}
		if diff := cmp.Diff(want, viewState(out)); diff != "" {
			t.Errorf("state (-want +got):\n%s", diff)
		}
		if got := aws.ToInt32(out.PipelineVersion); got != 1 {
			t.Errorf("got pipelineVersion %d, want 1", got)
		}
	})

	id := pendingApproval(t, env, c)
	if _, err := c.DisableStageTransition(ctx, &codepipeline.DisableStageTransitionInput{
		PipelineName: aws.String("demo"), StageName: aws.String("Deploy"), TransitionType: types.StageTransitionTypeInbound,
		Reason: aws.String("Freeze (release day)"),
	}, func(o *codepipeline.Options) {
		o.APIOptions = append(o.APIOptions, apitest.WithHeader(api.UserHeader, "alice"))
	}); err != nil {
		t.Fatalf("disable transition: %v", err)
	}

	t.Run("at a pending approval", func(t *testing.T) {
		out, err := c.GetPipelineState(ctx, &codepipeline.GetPipelineStateInput{Name: aws.String("demo")})
		if err != nil {
			t.Fatalf("get state: %v", err)
		}
		want := []stageView{
			{Stage: "Source", Execution: id, Status: "Succeeded", Actions: []actionView{{Action: "Checkout", Status: "Succeeded", Summary: "Fix the greeting", Revision: "abc123"}}},
			{Stage: "Build", Transition: "enabled", Execution: id, Status: "Succeeded", Actions: []actionView{{Action: "Compile", Status: "Succeeded", Summary: "Compile done"}}},
			{Stage: "Approval", Transition: "enabled", Execution: id, Status: "InProgress", Actions: []actionView{{Action: "Release", Status: "InProgress", Summary: "Waiting for approval until 2026-12-02T12:00:00Z", HasToken: true}}},
			{Stage: "Deploy", Transition: "disabled: Freeze (release day) by alice", Actions: []actionView{{Action: "Site"}}},
		}
		if diff := cmp.Diff(want, viewState(out)); diff != "" {
			t.Errorf("state (-want +got):\n%s", diff)
		}
		release := out.StageStates[2].ActionStates[0]
		pending, err := env.Store.PendingApprovals(ctx, "demo", id)
		if err != nil || len(pending) != 1 {
			t.Fatalf("got pending approvals %v, %v; want one", pending, err)
		}
		if got := aws.ToString(release.LatestExecution.Token); got != pending[0].ID || got == pending[0].TaskToken {
			t.Errorf("got token %q, want the approval id %q (not the task token)", got, pending[0].ID)
		}
		if got, want := aws.ToString(out.StageStates[0].ActionStates[0].RevisionUrl), "https://github.com/relais-ci/hello/commit/abc123"; got != want {
			t.Errorf("got revisionUrl %q, want %q", got, want)
		}
		if got, want := aws.ToString(out.StageStates[0].ActionStates[0].EntityUrl), "https://github.com/relais-ci/hello"; got != want {
			t.Errorf("got entityUrl %q, want %q", got, want)
		}
		tr := out.StageStates[3].InboundTransitionState
		if got := aws.ToTime(tr.LastChangedAt); !got.Equal(env.Clock.Now()) {
			t.Errorf("got lastChangedAt %v, want %v", got, env.Clock.Now())
		}
	})

	t.Run("waiting at a disabled transition", func(t *testing.T) {
		if _, err := c.PutApprovalResult(ctx, &codepipeline.PutApprovalResultInput{
			PipelineName: aws.String("demo"), StageName: aws.String("Approval"), ActionName: aws.String("Release"),
			Token:  approvalToken(t, c, "Approval", "Release"),
			Result: &types.ApprovalResult{Status: types.ApprovalStatusApproved, Summary: aws.String("ok")},
		}); err != nil {
			t.Fatalf("approve: %v", err)
		}
		env.LeaveStage(t, "demo", id, "Approval", false)
		env.EnterStage(t, "demo", id, "Deploy")
		out, err := c.GetPipelineState(ctx, &codepipeline.GetPipelineStateInput{Name: aws.String("demo")})
		if err != nil {
			t.Fatalf("get state: %v", err)
		}
		deploy := out.StageStates[3]
		if len(deploy.InboundExecutions) != 1 || aws.ToString(deploy.InboundExecutions[0].PipelineExecutionId) != id {
			t.Errorf("got inbound executions %+v, want %s waiting", deploy.InboundExecutions, id)
		}
		if deploy.LatestExecution != nil {
			t.Errorf("got latest execution %+v at Deploy, want none (it waits)", deploy.LatestExecution)
		}
	})

	t.Run("errors", func(t *testing.T) {
		_, err := c.GetPipelineState(ctx, &codepipeline.GetPipelineStateInput{Name: aws.String("nope")})
		wantCode(t, err, "PipelineNotFoundException")
		_, err = c.GetPipelineState(ctx, &codepipeline.GetPipelineStateInput{Name: aws.String("")})
		wantCode(t, err, "ValidationException")
	})
}

// approvalToken returns the token GetPipelineState reports for a pending approval.
func approvalToken(t *testing.T, c *codepipeline.Client, stage, action string) *string {
	t.Helper()
	out, err := c.GetPipelineState(context.Background(), &codepipeline.GetPipelineStateInput{Name: aws.String("demo")})
	if err != nil {
		t.Fatalf("get state: %v", err)
	}
	for _, s := range out.StageStates {
		for _, a := range s.ActionStates {
			if aws.ToString(s.StageName) == stage && aws.ToString(a.ActionName) == action && a.LatestExecution != nil && a.LatestExecution.Token != nil {
				return a.LatestExecution.Token
			}
		}
	}
	t.Fatalf("no approval token at %s/%s", stage, action)
	return nil
}

func TestTimestampsAreEpochSeconds(t *testing.T) {
	env, c := setup(t)
	env.Clock.Advance(1500 * time.Millisecond)
	id := start(t, c)
	out, err := c.ListPipelineExecutions(context.Background(), &codepipeline.ListPipelineExecutionsInput{PipelineName: aws.String("demo")})
	if err != nil {
		t.Fatalf("list executions: %v", err)
	}
	if len(out.PipelineExecutionSummaries) != 1 {
		t.Fatalf("got %d executions, want 1 (%s)", len(out.PipelineExecutionSummaries), id)
	}
	if got, want := aws.ToTime(out.PipelineExecutionSummaries[0].StartTime), env.Clock.Now(); !got.Equal(want) {
		t.Errorf("got startTime %v, want %v (milliseconds kept)", got, want)
	}
}
