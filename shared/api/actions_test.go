package api_test

import (
	"context"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/codepipeline"
	"github.com/aws/aws-sdk-go-v2/service/codepipeline/types"
	"github.com/google/go-cmp/cmp"

	"github.com/relais-ci/relais/shared/api"
	"github.com/relais-ci/relais/shared/api/apitest"
	"github.com/relais-ci/relais/shared/core"
)

func TestListActionExecutions(t *testing.T) {
	env, c := setup(t)
	ctx := context.Background()
	id := start(t, c)
	env.RunStage(t, "demo", id, "Source", false)
	env.Clock.Advance(time.Second)
	env.RunStage(t, "demo", id, "Build", false)
	env.Clock.Advance(time.Second)
	other := start(t, c)
	env.Clock.Advance(time.Second)
	env.EnterStage(t, "demo", other, "Source")
	env.RunAction(t, "demo", other, "Source", "Checkout")

	out, err := c.ListActionExecutions(ctx, &codepipeline.ListActionExecutionsInput{
		PipelineName: aws.String("demo"), Filter: &types.ActionExecutionFilter{PipelineExecutionId: aws.String(id)},
	})
	if err != nil {
		t.Fatalf("list actions: %v", err)
	}
	type view struct {
		Action, Status, Type  string
		Version               int32
		Config, Resolved      map[string]string
		Inputs, Outputs       []string
		Vars                  map[string]string
		ExternalSummary, Exec string
	}
	art := func(as []types.ArtifactDetail) []string {
		var out []string
		for _, a := range as {
			out = append(out, aws.ToString(a.Name)+" s3://"+aws.ToString(a.S3location.Bucket)+"/"+aws.ToString(a.S3location.Key))
		}
		return out
	}
	var got []view
	for _, d := range out.ActionExecutionDetails {
		v := view{
			Action: aws.ToString(d.StageName) + "/" + aws.ToString(d.ActionName), Status: string(d.Status),
			Type:    string(d.Input.ActionTypeId.Category) + "/" + aws.ToString(d.Input.ActionTypeId.Provider),
			Version: aws.ToInt32(d.PipelineVersion), Exec: aws.ToString(d.PipelineExecutionId),
			Config: d.Input.Configuration, Resolved: d.Input.ResolvedConfiguration,
			Inputs: art(d.Input.InputArtifacts), Outputs: art(d.Output.OutputArtifacts), Vars: d.Output.OutputVariables,
		}
		if r := d.Output.ExecutionResult; r != nil {
			v.ExternalSummary = aws.ToString(r.ExternalExecutionSummary)
		}
		got = append(got, v)
	}
	want := []view{
		{
			Action: "Build/Compile", Status: "Succeeded", Type: "Build/CodeBuild", Version: 1, Exec: id,
			Config:          map[string]string{"ProjectName": "hello-#{variables.greeting}"},
			Resolved:        map[string]string{"ProjectName": "hello-hello"},
			Inputs:          []string{"SourceOutput s3://relais-artifacts/demo/" + id + "/SourceOutput.zip"},
			Outputs:         []string{"BuildOutput s3://relais-artifacts/demo/" + id + "/BuildOutput.zip"},
			ExternalSummary: "Compile done",
		},
		{
			Action: "Source/Checkout", Status: "Succeeded", Type: "Source/CodeStarSourceConnection", Version: 1, Exec: id,
			Config: map[string]string{
				"ConnectionArn":    "arn:aws:codeconnections:us-east-1:123456789012:connection/00000000-0000-0000-0000-000000000000",
				"FullRepositoryId": "relais-ci/hello", "BranchName": "main",
			},
			Resolved: map[string]string{
				"ConnectionArn":    "arn:aws:codeconnections:us-east-1:123456789012:connection/00000000-0000-0000-0000-000000000000",
				"FullRepositoryId": "relais-ci/hello", "BranchName": "main",
			},
			Outputs:         []string{"SourceOutput s3://relais-artifacts/demo/" + id + "/SourceOutput.zip"},
			Vars:            map[string]string{"CommitId": "c0ffee"},
			ExternalSummary: "Checkout done",
		},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("action executions, newest first (-want +got):\n%s", diff)
	}

	t.Run("all executions, paged", func(t *testing.T) {
		var execs []string
		var token *string
		for {
			out, err := c.ListActionExecutions(ctx, &codepipeline.ListActionExecutionsInput{PipelineName: aws.String("demo"), MaxResults: aws.Int32(1), NextToken: token})
			if err != nil {
				t.Fatalf("list actions: %v", err)
			}
			for _, d := range out.ActionExecutionDetails {
				execs = append(execs, aws.ToString(d.PipelineExecutionId))
			}
			if token = out.NextToken; token == nil {
				break
			}
		}
		if diff := cmp.Diff([]string{other, id, id}, execs); diff != "" {
			t.Errorf("executions of the actions, newest first (-want +got):\n%s", diff)
		}
	})

	for _, tc := range []struct {
		name string
		in   codepipeline.ListActionExecutionsInput
		code string
	}{
		{"unknown execution", codepipeline.ListActionExecutionsInput{PipelineName: aws.String("demo"),
			Filter: &types.ActionExecutionFilter{PipelineExecutionId: aws.String("00000000-0000-4000-8000-000000000000")}}, "PipelineExecutionNotFoundException"},
		{"missing pipeline", codepipeline.ListActionExecutionsInput{PipelineName: aws.String("nope")}, "PipelineNotFoundException"},
		{"bad token", codepipeline.ListActionExecutionsInput{PipelineName: aws.String("demo"), NextToken: aws.String("garbage")}, "InvalidNextTokenException"},
		{"too many", codepipeline.ListActionExecutionsInput{PipelineName: aws.String("demo"), MaxResults: aws.Int32(101)}, "ValidationException"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := c.ListActionExecutions(ctx, &tc.in)
			wantCode(t, err, tc.code)
		})
	}
}

func TestPutApprovalResult(t *testing.T) {
	ctx := context.Background()
	put := func(c *codepipeline.Client, stage, action string, token *string, status types.ApprovalStatus, summary string) (*codepipeline.PutApprovalResultOutput, error) {
		return c.PutApprovalResult(ctx, &codepipeline.PutApprovalResultInput{
			PipelineName: aws.String("demo"), StageName: aws.String(stage), ActionName: aws.String(action), Token: token,
			Result: &types.ApprovalResult{Status: status, Summary: aws.String(summary)},
		}, func(o *codepipeline.Options) {
			o.APIOptions = append(o.APIOptions, apitest.WithHeader(api.UserHeader, "erin"))
		})
	}
	releaseRecord := func(t *testing.T, env *apitest.Env, id string) core.ActionExecution {
		t.Helper()
		recs, err := core.AllActions(ctx, env.Store, core.ActionFilter{PipelineName: "demo", ExecutionID: id, StageName: "Approval"})
		if err != nil || len(recs) == 0 {
			t.Fatalf("got approval actions %v, %v; want one", recs, err)
		}
		return recs[0]
	}

	for _, tc := range []struct {
		status      types.ApprovalStatus
		wantStatus  core.ActionStatus
		wantSummary string
		wantEngine  string
	}{
		{types.ApprovalStatusApproved, core.ActionSucceeded, "Approved by erin: looks good", "SendTaskSuccess"},
		{types.ApprovalStatusRejected, core.ActionFailed, "Rejected by erin: looks good", "SendTaskFailure"},
	} {
		t.Run(string(tc.status), func(t *testing.T) {
			env, c := setup(t)
			id := pendingApproval(t, env, c)
			token := approvalToken(t, c, "Approval", "Release")
			out, err := put(c, "Approval", "Release", token, tc.status, "looks good")
			if err != nil {
				t.Fatalf("put approval result: %v", err)
			}
			if got := aws.ToTime(out.ApprovedAt); !got.Equal(env.Clock.Now()) {
				t.Errorf("got approvedAt %v, want %v", got, env.Clock.Now())
			}
			rec := releaseRecord(t, env, id)
			if rec.Status != tc.wantStatus || rec.Summary != tc.wantSummary {
				t.Errorf("got action %s %q, want %s %q", rec.Status, rec.Summary, tc.wantStatus, tc.wantSummary)
			}
			answers := env.Engine.CallsOf(tc.wantEngine)
			if len(answers) == 0 || answers[len(answers)-1].Token != rec.TaskToken {
				t.Errorf("got %s calls %+v, want the last to answer the approval's task token", tc.wantEngine, answers)
			}
			_, err = put(c, "Approval", "Release", token, types.ApprovalStatusApproved, "again")
			wantCode(t, err, "ApprovalAlreadyCompletedException")
		})
	}

	t.Run("by externalExecutionId, as for PARALLEL pipelines", func(t *testing.T) {
		env, c := setup(t)
		id := pendingApproval(t, env, c)
		out, err := c.ListActionExecutions(ctx, &codepipeline.ListActionExecutionsInput{
			PipelineName: aws.String("demo"), Filter: &types.ActionExecutionFilter{PipelineExecutionId: aws.String(id)},
		})
		if err != nil {
			t.Fatalf("list actions: %v", err)
		}
		var external *string
		for _, d := range out.ActionExecutionDetails {
			if aws.ToString(d.ActionName) == "Release" && d.Output.ExecutionResult != nil {
				external = d.Output.ExecutionResult.ExternalExecutionId
			}
		}
		if external == nil {
			t.Fatalf("no externalExecutionId for Release in %+v", out.ActionExecutionDetails)
		}
		if _, err := put(c, "Approval", "Release", external, types.ApprovalStatusApproved, "ok"); err != nil {
			t.Fatalf("approve by externalExecutionId %s: %v", aws.ToString(external), err)
		}
		if rec := releaseRecord(t, env, id); rec.Status != core.ActionSucceeded {
			t.Errorf("got action %s, want Succeeded", rec.Status)
		}
	})

	t.Run("expired", func(t *testing.T) {
		env, c := setup(t)
		pendingApproval(t, env, c)
		token := approvalToken(t, c, "Approval", "Release")
		env.Clock.Advance(8 * 24 * time.Hour)
		_, err := put(c, "Approval", "Release", token, types.ApprovalStatusApproved, "late")
		wantCode(t, err, "InvalidApprovalTokenException")
	})

	env, c := setup(t)
	pendingApproval(t, env, c)
	token := approvalToken(t, c, "Approval", "Release")
	for _, tc := range []struct {
		name, stage, action string
		token               *string
		status              types.ApprovalStatus
		code                string
	}{
		{"unknown token", "Approval", "Release", aws.String("00000000-0000-4000-8000-000000000000"), types.ApprovalStatusApproved, "InvalidApprovalTokenException"},
		{"token of another action", "Build", "Compile", token, types.ApprovalStatusApproved, "InvalidApprovalTokenException"},
		{"unknown action", "Approval", "Nope", token, types.ApprovalStatusApproved, "ActionNotFoundException"},
		{"unknown stage", "Nope", "Release", token, types.ApprovalStatusApproved, "StageNotFoundException"},
		{"bad status", "Approval", "Release", token, "Maybe", "ValidationException"},
		{"empty token", "Approval", "Release", aws.String(""), types.ApprovalStatusApproved, "ValidationException"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := put(c, tc.stage, tc.action, tc.token, tc.status, "s")
			wantCode(t, err, tc.code)
		})
	}
	// None of the refused answers decided it.
	if _, err := put(c, "Approval", "Release", token, types.ApprovalStatusApproved, "finally"); err != nil {
		t.Errorf("approve after refused answers: %v", err)
	}
}
