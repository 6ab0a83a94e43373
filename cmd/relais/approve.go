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
	state, err := c.GetPipelineState(ctx, &codepipeline.GetPipelineStateInput{Name: aws.String(name)})
	if err != nil {
		return apiFailed(s, cmd, err)
	}
	var token, executionID *string
	for _, st := range state.StageStates {
		if aws.ToString(st.StageName) != stage {
			continue
		}
		for _, a := range st.ActionStates {
			if aws.ToString(a.ActionName) == action && a.LatestExecution != nil && a.LatestExecution.Token != nil {
				token = a.LatestExecution.Token
			}
		}
		if st.LatestExecution != nil {
			executionID = st.LatestExecution.PipelineExecutionId
		}
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
	fmt.Fprintf(s.out, "%s %s/%s/%s (execution %s) at %s\n", status, name, stage, action, aws.ToString(executionID), formatTime(out.ApprovedAt))
	return 0
}
