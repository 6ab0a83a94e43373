package main

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/codepipeline"
	"github.com/aws/aws-sdk-go-v2/service/codepipeline/types"
)

// runApprove approves the pending manual approval of an action.
func runApprove(ctx context.Context, args []string, s stdio) int {
	return decide(ctx, args, s, "approve", types.ApprovalStatusApproved)
}

// runReject rejects the pending manual approval of an action, which fails its stage.
func runReject(ctx context.Context, args []string, s stdio) int {
	return decide(ctx, args, s, "reject", types.ApprovalStatusRejected)
}

// decide finds the token of the pending approval in the pipeline state and answers it
// with PutApprovalResult.
func decide(ctx context.Context, args []string, s stdio, cmd string, status types.ApprovalStatus) int {
	fs := newFlagSet(s, cmd, cmd+" [flags] PIPELINE STAGE ACTION")
	cf := addClientFlags(fs)
	comment := fs.String("comment", "", "why (recorded with the decision)")
	executionID := fs.String("execution", "", "the execution whose approval to answer (default: the one in the stage); PARALLEL pipelines may have several")
	pos, code, ok := parseCommand(fs, args, 3, 3)
	if !ok {
		return code
	}
	name, stage, action := pos[0], pos[1], pos[2]
	c, err := cf.client()
	if err != nil {
		fmt.Fprintf(s.err, "relais %s: %v\n", cmd, err)
		return 2
	}
	var token *string
	var execution string
	if *executionID != "" {
		token, execution, err = approvalOfExecution(ctx, c, name, *executionID, stage, action)
	} else {
		token, execution, err = approvalInState(ctx, c, name, stage, action)
	}
	if err != nil {
		return apiFailed(s, cmd, err)
	}
	if token == nil {
		fmt.Fprintf(s.err, "relais %s: no approval is pending at %s/%s/%s\n", cmd, name, stage, action)
		return 1
	}
	out, err := c.PutApprovalResult(ctx, &codepipeline.PutApprovalResultInput{
		PipelineName: aws.String(name), StageName: aws.String(stage), ActionName: aws.String(action), Token: token,
		Result: &types.ApprovalResult{Status: status, Summary: aws.String(*comment)},
	})
	if err != nil {
		return apiFailed(s, cmd, err)
	}
	fmt.Fprintf(s.out, "%s %s/%s/%s (execution %s) at %s\n", status, name, stage, action, execution, formatTime(out.ApprovedAt))
	return 0
}

// approvalInState returns the token of the approval pending at an action, as
// GetPipelineState reports it, and its execution; a nil token when none is pending.
func approvalInState(ctx context.Context, c *codepipeline.Client, name, stage, action string) (*string, string, error) {
	state, err := c.GetPipelineState(ctx, &codepipeline.GetPipelineStateInput{Name: aws.String(name)})
	if err != nil {
		return nil, "", err
	}
	for _, st := range state.StageStates {
		if aws.ToString(st.StageName) != stage || st.LatestExecution == nil {
			continue
		}
		for _, a := range st.ActionStates {
			if aws.ToString(a.ActionName) == action && a.LatestExecution != nil && a.LatestExecution.Token != nil {
				return a.LatestExecution.Token, aws.ToString(st.LatestExecution.PipelineExecutionId), nil
			}
		}
	}
	return nil, "", nil
}

// approvalOfExecution returns the token of the approval pending at an action in one
// execution: its externalExecutionId, which CodePipeline takes as the token of
// approvals in PARALLEL pipelines.
func approvalOfExecution(ctx context.Context, c *codepipeline.Client, name, id, stage, action string) (*string, string, error) {
	actions, err := executionActions(ctx, c, name, id)
	if err != nil {
		return nil, "", err
	}
	for _, a := range actions { // newest first
		if aws.ToString(a.StageName) != stage || aws.ToString(a.ActionName) != action {
			continue
		}
		if a.Status != types.ActionExecutionStatusInProgress || a.Output == nil || a.Output.ExecutionResult == nil {
			return nil, "", nil
		}
		return a.Output.ExecutionResult.ExternalExecutionId, id, nil
	}
	return nil, "", nil
}
