package main

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/codepipeline"
	"github.com/aws/aws-sdk-go-v2/service/codepipeline/types"
)

// runExecutions lists a pipeline's executions, newest first.
func runExecutions(ctx context.Context, args []string, s stdio) int {
	fs := newFlagSet(s, "executions", "executions [flags] PIPELINE")
	cf := addClientFlags(fs)
	limit := fs.Int("max", 20, "list at most this many executions")
	format := fs.String("format", "text", "output format: text or json")
	pos, code, ok := parseCommand(fs, args, 1, 1)
	if !ok {
		return code
	}
	if *format != "text" && *format != "json" {
		fmt.Fprintf(s.err, "relais executions: unknown format %q: want text or json\n", *format)
		return 2
	}
	if *limit < 1 {
		fmt.Fprintf(s.err, "relais executions: --max %d: want at least 1\n", *limit)
		return 2
	}
	c, err := cf.client()
	if err != nil {
		fmt.Fprintf(s.err, "relais executions: %v\n", err)
		return 2
	}
	var all []types.PipelineExecutionSummary
	in := &codepipeline.ListPipelineExecutionsInput{PipelineName: aws.String(pos[0])}
	for len(all) < *limit {
		in.MaxResults = aws.Int32(int32(min(*limit-len(all), 100)))
		out, err := c.ListPipelineExecutions(ctx, in)
		if err != nil {
			return apiFailed(s, "executions", err)
		}
		all = append(all, out.PipelineExecutionSummaries...)
		if out.NextToken == nil {
			break
		}
		in.NextToken = out.NextToken
	}
	if *format == "json" {
		data, err := awsJSON(codepipeline.ListPipelineExecutionsOutput{PipelineExecutionSummaries: all})
		if err != nil {
			fmt.Fprintf(s.err, "relais executions: %v\n", err)
			return 2
		}
		fmt.Fprintf(s.out, "%s\n", data)
		return 0
	}
	if len(all) == 0 {
		fmt.Fprintf(s.out, "Pipeline %s has no executions\n", pos[0])
		return 0
	}
	tw := newTable(s.out)
	tw.Row("EXECUTION", "STATUS", "STARTED", "DURATION", "TRIGGER", "REVISION", "SUMMARY")
	for _, e := range all {
		trigger := "-"
		if e.Trigger != nil {
			trigger = string(e.Trigger.TriggerType)
			if d := aws.ToString(e.Trigger.TriggerDetail); d != "" {
				trigger += " (" + d + ")"
			}
		}
		revision := "-"
		if len(e.SourceRevisions) > 0 {
			revision = aws.ToString(e.SourceRevisions[0].RevisionId)
			if sum := aws.ToString(e.SourceRevisions[0].RevisionSummary); sum != "" {
				revision += " " + sum
			}
		}
		summary := aws.ToString(e.StatusSummary)
		if e.StopTrigger != nil && summary == "" {
			summary = "stop: " + aws.ToString(e.StopTrigger.Reason)
		}
		duration := "-"
		if e.StartTime != nil && e.LastUpdateTime != nil {
			duration = formatDuration(e.LastUpdateTime.Sub(*e.StartTime))
		}
		tw.Row(aws.ToString(e.PipelineExecutionId), string(e.Status), formatTime(e.StartTime), duration, trigger, revision, summary)
	}
	if err := tw.Flush(); err != nil {
		fmt.Fprintf(s.err, "relais executions: %v\n", err)
		return 2
	}
	return 0
}
