package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/codepipeline"
)

// runStatus prints a pipeline's state, as get-pipeline-state reports it: per stage its
// inbound transition, the execution in it last and the latest run of each action.
func runStatus(ctx context.Context, args []string, s stdio) int {
	fs := newFlagSet(s, "status", "status [flags] PIPELINE")
	cf := addClientFlags(fs)
	format := fs.String("format", "text", "output format: text or json")
	pos, code, ok := parseCommand(fs, args, 1, 1)
	if !ok {
		return code
	}
	if *format != "text" && *format != "json" {
		fmt.Fprintf(s.err, "relais status: unknown format %q: want text or json\n", *format)
		return 2
	}
	c, err := cf.client()
	if err != nil {
		fmt.Fprintf(s.err, "relais status: %v\n", err)
		return 2
	}
	out, err := c.GetPipelineState(ctx, &codepipeline.GetPipelineStateInput{Name: aws.String(pos[0])})
	if err != nil {
		return apiFailed(s, "status", err)
	}
	if *format == "json" {
		data, err := awsJSON(out)
		if err != nil {
			fmt.Fprintf(s.err, "relais status: %v\n", err)
			return 2
		}
		fmt.Fprintf(s.out, "%s\n", data)
		return 0
	}

	fmt.Fprintf(s.out, "Pipeline %s (version %d)\n\n", aws.ToString(out.PipelineName), aws.ToInt32(out.PipelineVersion))
	tw := newTable(s.out)
	tw.Row("STAGE / ACTION", "STATUS", "EXECUTION", "LAST CHANGE", "DETAILS")
	for _, st := range out.StageStates {
		name := aws.ToString(st.StageName)
		status, execution := "-", "-"
		if le := st.LatestExecution; le != nil {
			status, execution = string(le.Status), aws.ToString(le.PipelineExecutionId)
		}
		var details []string
		if tr := st.InboundTransitionState; tr != nil && !tr.Enabled {
			details = append(details, fmt.Sprintf("transition disabled by %s at %s: %s",
				aws.ToString(tr.LastChangedBy), formatTime(tr.LastChangedAt), aws.ToString(tr.DisabledReason)))
		}
		for _, in := range st.InboundExecutions {
			details = append(details, "waiting to enter: "+aws.ToString(in.PipelineExecutionId))
		}
		tw.Row(name, status, execution, "", strings.Join(details, "; "))
		for _, a := range st.ActionStates {
			aname := aws.ToString(a.ActionName)
			le := a.LatestExecution
			if le == nil {
				tw.Row("  "+aname, "-")
				continue
			}
			var details []string
			if sum := aws.ToString(le.Summary); sum != "" {
				details = append(details, sum)
			}
			if e := le.ErrorDetails; e != nil {
				details = append(details, fmt.Sprintf("[%s: %s]", aws.ToString(e.Code), aws.ToString(e.Message)))
			}
			if r := a.CurrentRevision; r != nil {
				details = append(details, "revision "+aws.ToString(r.RevisionId))
			}
			if url := aws.ToString(le.ExternalExecutionUrl); url != "" {
				details = append(details, url)
			}
			if le.Token != nil {
				details = append(details, fmt.Sprintf("decide: relais approve|reject %s %s %s", aws.ToString(out.PipelineName), name, aname))
			}
			tw.Row("  "+aname, string(le.Status), "", formatTime(le.LastStatusChange), strings.Join(details, "; "))
		}
	}
	if err := tw.Flush(); err != nil {
		fmt.Fprintf(s.err, "relais status: %v\n", err)
		return 2
	}
	return 0
}
