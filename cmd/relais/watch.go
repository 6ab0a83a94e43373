package main

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/codepipeline"
	"github.com/aws/aws-sdk-go-v2/service/codepipeline/types"
	"github.com/aws/smithy-go"
)

// runWatch follows an execution (by default the newest) until it ends: exit 0 when it
// succeeded, 1 when it failed, was stopped or superseded, 2 on usage or connection
// errors.
func runWatch(ctx context.Context, args []string, s stdio) int {
	fs := newFlagSet(s, "watch", "watch [flags] PIPELINE [EXECUTION_ID]")
	cf := addClientFlags(fs)
	interval := fs.Duration("interval", 500*time.Millisecond, "how often to poll")
	pos, code, ok := parseCommand(fs, args, 1, 2)
	if !ok {
		return code
	}
	c, err := cf.client()
	if err != nil {
		fmt.Fprintf(s.err, "relais watch: %v\n", err)
		return 2
	}
	name := pos[0]
	var id string
	if len(pos) == 2 {
		id = pos[1]
	} else {
		out, err := c.ListPipelineExecutions(ctx, &codepipeline.ListPipelineExecutionsInput{PipelineName: aws.String(name), MaxResults: aws.Int32(1)})
		if err != nil {
			return apiFailed(s, "watch", err)
		}
		if len(out.PipelineExecutionSummaries) == 0 {
			fmt.Fprintf(s.err, "relais watch: pipeline %s has no executions\n", name)
			return 1
		}
		id = aws.ToString(out.PipelineExecutionSummaries[0].PipelineExecutionId)
	}
	return follow(ctx, c, s, name, id, *interval)
}

// maxPollFailures is how many polls in a row may fail to reach the API before watch
// gives up.
const maxPollFailures = 5

// follow polls an execution and prints every change until it ends.
func follow(ctx context.Context, c *codepipeline.Client, s stdio, pipelineName, id string, interval time.Duration) int {
	w := &watcher{c: c, s: s, pipeline: pipelineName, id: id, printed: map[string]string{}}
	fmt.Fprintf(s.out, "Watching %s execution %s\n", pipelineName, id)
	failures := 0
	for {
		code, done, err := w.poll(ctx)
		switch {
		case err == nil:
			failures = 0
		case ctx.Err() != nil:
			fmt.Fprintln(s.err, "relais watch: interrupted")
			return 2
		default:
			var ae smithy.APIError
			if failures++; errors.As(err, &ae) || failures >= maxPollFailures {
				return apiFailed(s, "watch", err)
			}
		}
		if done {
			return code
		}
		select {
		case <-ctx.Done():
			fmt.Fprintln(s.err, "relais watch: interrupted")
			return 2
		case <-time.After(interval):
		}
	}
}

// watcher remembers what it printed, so that each change is printed once.
type watcher struct {
	c        *codepipeline.Client
	s        stdio
	pipeline string
	id       string
	// printed maps a thing (stage, action execution, approval) to what was last printed
	// of it.
	printed map[string]string
}

// once prints line unless sig was the last thing printed for key.
func (w *watcher) once(key, sig, line string) {
	if w.printed[key] == sig {
		return
	}
	w.printed[key] = sig
	fmt.Fprintln(w.s.out, line)
}

func (w *watcher) poll(ctx context.Context) (code int, done bool, err error) {
	// The execution's status first: what it says has ended had ended before the
	// actions are read, so the last poll prints every action's outcome.
	ex, err := w.c.GetPipelineExecution(ctx, &codepipeline.GetPipelineExecutionInput{PipelineName: aws.String(w.pipeline), PipelineExecutionId: aws.String(w.id)})
	if err != nil {
		return 0, false, err
	}
	actions, err := executionActions(ctx, w.c, w.pipeline, w.id)
	if err != nil {
		return 0, false, err
	}
	state, err := w.c.GetPipelineState(ctx, &codepipeline.GetPipelineStateInput{Name: aws.String(w.pipeline)})
	if err != nil {
		return 0, false, err
	}
	for _, st := range state.StageStates {
		w.stage(st, actions)
	}
	pe := ex.PipelineExecution
	status := pe.Status
	switch status {
	case types.PipelineExecutionStatusInProgress, types.PipelineExecutionStatusStopping:
		if status == types.PipelineExecutionStatusStopping {
			w.once("execution", string(status), fmt.Sprintf("Execution %s is stopping: %s", w.id, aws.ToString(pe.StatusSummary)))
		}
		return 0, false, nil
	}
	line := fmt.Sprintf("Execution %s %s", w.id, status)
	if d, ok := span(actions); ok {
		line += " in " + formatDuration(d)
	}
	if sum := aws.ToString(pe.StatusSummary); sum != "" {
		line += ": " + sum
	}
	w.once("execution", string(status), line)
	if status == types.PipelineExecutionStatusSucceeded {
		return 0, true, nil
	}
	return 1, true, nil
}

// stage prints what changed in one stage for the watched execution.
func (w *watcher) stage(st types.StageState, all []types.ActionExecutionDetail) {
	name := aws.ToString(st.StageName)
	for _, in := range st.InboundExecutions {
		if aws.ToString(in.PipelineExecutionId) != w.id {
			continue
		}
		line := fmt.Sprintf("%-30s waiting to enter", name)
		if tr := st.InboundTransitionState; tr != nil && !tr.Enabled {
			line += fmt.Sprintf(" (transition disabled by %s: %s; relais transition enable %s %s)",
				aws.ToString(tr.LastChangedBy), aws.ToString(tr.DisabledReason), w.pipeline, name)
		}
		w.once("wait:"+name, "waiting", line)
	}
	var mine []types.ActionExecutionDetail
	for _, a := range all {
		if aws.ToString(a.StageName) == name {
			mine = append(mine, a)
		}
	}
	slices.SortStableFunc(mine, func(a, b types.ActionExecutionDetail) int {
		return aws.ToTime(a.StartTime).Compare(aws.ToTime(b.StartTime))
	})
	var stageLine, stageStatus string
	if le := st.LatestExecution; le != nil && aws.ToString(le.PipelineExecutionId) == w.id {
		stageStatus = string(le.Status)
		stageLine = fmt.Sprintf("%-30s %s", name, le.Status)
		if le.Status != types.StageExecutionStatusInProgress {
			if d, ok := span(mine); ok {
				stageLine += " in " + formatDuration(d)
			}
		}
	}
	// A stage that starts is printed before its actions, one that ends after them.
	starting := stageStatus == string(types.StageExecutionStatusInProgress)
	if starting {
		w.once("stage:"+name, stageStatus, stageLine)
	}
	for _, a := range mine {
		w.action(a, st)
	}
	if stageStatus != "" && !starting {
		w.once("stage:"+name, stageStatus, stageLine)
	}
}

func (w *watcher) action(a types.ActionExecutionDetail, st types.StageState) {
	stage, name := aws.ToString(a.StageName), aws.ToString(a.ActionName)
	line := fmt.Sprintf("  %-28s %s", stage+"/"+name, a.Status)
	if a.Status != types.ActionExecutionStatusInProgress {
		line += " in " + formatDuration(aws.ToTime(a.LastUpdateTime).Sub(aws.ToTime(a.StartTime)))
	}
	url := ""
	if a.Output != nil && a.Output.ExecutionResult != nil {
		r := a.Output.ExecutionResult
		if sum := aws.ToString(r.ExternalExecutionSummary); sum != "" {
			line += ": " + sum
		}
		if e := r.ErrorDetails; e != nil && a.Status == types.ActionExecutionStatusFailed {
			line += fmt.Sprintf(" [%s: %s]", aws.ToString(e.Code), aws.ToString(e.Message))
		}
		if url = aws.ToString(r.ExternalExecutionUrl); url != "" {
			label := "link"
			if t := a.Input; t != nil && t.ActionTypeId != nil &&
				(t.ActionTypeId.Category == types.ActionCategoryBuild || t.ActionTypeId.Category == types.ActionCategoryTest) {
				label = "logs"
			}
			line += "\n      " + label + ": " + url
		}
	}
	w.once("action:"+aws.ToString(a.ActionExecutionId), string(a.Status)+" "+url, line)
	if a.Status != types.ActionExecutionStatusInProgress || a.Input == nil || a.Input.ActionTypeId == nil ||
		a.Input.ActionTypeId.Category != types.ActionCategoryApproval {
		return
	}
	// An approval waits: say how to answer it. The plain command answers the approval
	// of the execution in the stage; another one (PARALLEL pipelines) is named.
	target := fmt.Sprintf("%s %s %s", w.pipeline, stage, name)
	if le := st.LatestExecution; le == nil || aws.ToString(le.PipelineExecutionId) != w.id {
		target += " --execution " + w.id
	}
	var b strings.Builder
	fmt.Fprintf(&b, "  %-28s waiting for approval", stage+"/"+name)
	if data := a.Input.ResolvedConfiguration["CustomData"]; data != "" {
		fmt.Fprintf(&b, ": %s", data)
	}
	for _, as := range st.ActionStates {
		if link := aws.ToString(as.EntityUrl); aws.ToString(as.ActionName) == name && link != "" {
			fmt.Fprintf(&b, "\n      review: %s", link)
		}
	}
	fmt.Fprintf(&b, "\n      approve: relais approve %s [--comment TEXT]", target)
	fmt.Fprintf(&b, "\n      reject:  relais reject %s --comment TEXT", target)
	w.once("approval:"+aws.ToString(a.ActionExecutionId), "pending", b.String())
}

// span returns the time from the first action's start to the last action's last
// update.
func span(actions []types.ActionExecutionDetail) (time.Duration, bool) {
	var first, last time.Time
	for _, a := range actions {
		if s := aws.ToTime(a.StartTime); first.IsZero() || s.Before(first) {
			first = s
		}
		if u := aws.ToTime(a.LastUpdateTime); u.After(last) {
			last = u
		}
	}
	if first.IsZero() {
		return 0, false
	}
	return last.Sub(first), true
}

// executionActions returns every action execution of an execution, newest first.
func executionActions(ctx context.Context, c *codepipeline.Client, pipelineName, id string) ([]types.ActionExecutionDetail, error) {
	var all []types.ActionExecutionDetail
	in := &codepipeline.ListActionExecutionsInput{
		PipelineName: aws.String(pipelineName),
		Filter:       &types.ActionExecutionFilter{PipelineExecutionId: aws.String(id)},
		MaxResults:   aws.Int32(100),
	}
	for {
		out, err := c.ListActionExecutions(ctx, in)
		if err != nil {
			return nil, err
		}
		all = append(all, out.ActionExecutionDetails...)
		if out.NextToken == nil {
			return all, nil
		}
		in.NextToken = out.NextToken
	}
}
