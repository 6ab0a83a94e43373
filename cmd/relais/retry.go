package main

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/codepipeline"
	"github.com/aws/aws-sdk-go-v2/service/codepipeline/types"
)

// runRetry retries the failed or stopped stage of an execution: its failed actions, or
// with --all-actions all of them; later stages follow.
func runRetry(ctx context.Context, args []string, s stdio) int {
	fs := newFlagSet(s, "retry", "retry [flags] PIPELINE EXECUTION_ID STAGE")
	cf := addClientFlags(fs)
	all := fs.Bool("all-actions", false, "run every action of the stage again, not only the failed ones")
	pos, code, ok := parseCommand(fs, args, 3, 3)
	if !ok {
		return code
	}
	c, err := cf.client()
	if err != nil {
		fmt.Fprintf(s.err, "relais retry: %v\n", err)
		return 2
	}
	mode := types.StageRetryModeFailedActions
	if *all {
		mode = types.StageRetryModeAllActions
	}
	out, err := c.RetryStageExecution(ctx, &codepipeline.RetryStageExecutionInput{
		PipelineName: aws.String(pos[0]), PipelineExecutionId: aws.String(pos[1]), StageName: aws.String(pos[2]), RetryMode: mode,
	})
	if err != nil {
		return apiFailed(s, "retry", err)
	}
	fmt.Fprintf(s.out, "Retrying stage %s of %s execution %s (%s)\n", pos[2], pos[0], aws.ToString(out.PipelineExecutionId), mode)
	return 0
}
