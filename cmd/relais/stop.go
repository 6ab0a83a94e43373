package main

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/codepipeline"
)

// runStop stops an execution: by default running actions finish and nothing further
// starts; with --abandon they are abandoned at once.
func runStop(ctx context.Context, args []string, s stdio) int {
	fs := newFlagSet(s, "stop", "stop [flags] PIPELINE EXECUTION_ID")
	cf := addClientFlags(fs)
	abandon := fs.Bool("abandon", false, "abandon running actions instead of letting them finish")
	reason := fs.String("reason", "", "why (shown with the execution)")
	pos, code, ok := parseCommand(fs, args, 2, 2)
	if !ok {
		return code
	}
	c, err := cf.client()
	if err != nil {
		fmt.Fprintf(s.err, "relais stop: %v\n", err)
		return 2
	}
	in := &codepipeline.StopPipelineExecutionInput{
		PipelineName: aws.String(pos[0]), PipelineExecutionId: aws.String(pos[1]), Abandon: *abandon,
	}
	if *reason != "" {
		in.Reason = reason
	}
	if _, err := c.StopPipelineExecution(ctx, in); err != nil {
		return apiFailed(s, "stop", err)
	}
	how := "running actions finish first"
	if *abandon {
		how = "running actions abandoned"
	}
	fmt.Fprintf(s.out, "Stopping %s execution %s (%s)\n", pos[0], pos[1], how)
	return 0
}
