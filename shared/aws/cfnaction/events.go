package cfnaction

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation/types"

	"github.com/relais-ci/relais/shared/action"
	"github.com/relais-ci/relais/shared/core"
	"github.com/relais-ci/relais/shared/pipeline"
)

// The EventBridge events StackEvent reads.
const (
	EventSource     = "aws.cloudformation"
	EventDetailType = "CloudFormation Stack Status Change"
	// TokenPrefix starts the client request token of every operation Relais starts, and
	// so the detail's client-request-token of every event StackEvent acts on.
	TokenPrefix = tokenPrefix
)

// EndStatuses are the stack statuses in which an operation Relais started may end (or,
// for CREATE_FAILED and UPDATE_FAILED, end unless a rollback follows). An EventBridge
// rule may match only these; StackEvent ignores the others.
var EndStatuses = []string{
	"CREATE_COMPLETE", "CREATE_FAILED", "ROLLBACK_COMPLETE", "ROLLBACK_FAILED",
	"UPDATE_COMPLETE", "UPDATE_FAILED", "UPDATE_ROLLBACK_COMPLETE", "UPDATE_ROLLBACK_FAILED",
	"DELETE_COMPLETE", "DELETE_FAILED",
	"IMPORT_COMPLETE", "IMPORT_ROLLBACK_COMPLETE", "IMPORT_ROLLBACK_FAILED",
}

// stackStatusChange is the part of a CloudFormation Stack Status Change event StackEvent
// reads.
type stackStatusChange struct {
	Source     string `json:"source"`
	DetailType string `json:"detail-type"`
	ID         string `json:"id"`
	Detail     struct {
		StackID       string `json:"stack-id"`
		StatusDetails struct {
			Status string `json:"status"`
			Reason string `json:"status-reason"`
		} `json:"status-details"`
		Token string `json:"client-request-token"`
	} `json:"detail"`
}

// StackEvent handles a CloudFormation Stack Status Change event (the whole EventBridge
// event). For the end of an operation Relais started it returns the external id of its
// action and, with done, how the action ended: Succeeded with the stack's outputs as
// output variables (and in the output artifact with OutputFileName), or Failed with the
// stack's status, its reason and the first resource that failed. The caller completes
// the action with action.Service.CompleteExternal(externalID, res).
//
// done is false for every other event: another source, a stack operation Relais did not
// start (externalID ""), a status on the way, an action that has already ended, and the
// deletion of a failed stack by REPLACE_ON_FAILURE, on which StackEvent creates the
// stack again and the action goes on. An event Relais started whose action cannot be
// found is an error wrapping core.ErrNotFound: the action store may not show an
// external id recorded a moment ago, so the caller should let the event be delivered
// again. Handling an event twice does no harm.
func (d *Deployer) StackEvent(ctx context.Context, raw json.RawMessage) (externalID string, res action.Result, done bool, err error) {
	var ev stackStatusChange
	if err := json.Unmarshal(raw, &ev); err != nil {
		return "", action.Result{}, false, fmt.Errorf("decode event: %w", err)
	}
	if ev.Source != EventSource || ev.DetailType != EventDetailType {
		return "", action.Result{}, false, nil
	}
	stem, op, ok := parseToken(ev.Detail.Token)
	if !ok {
		return "", action.Result{}, false, nil
	}
	status, reason := ev.Detail.StatusDetails.Status, ev.Detail.StatusDetails.Reason
	if !ended(op, types.StackStatus(status)) {
		return stem, action.Result{}, false, nil
	}
	if d.d.Actions == nil {
		return stem, action.Result{}, false, errors.New("cloudformation events: the deployer has no action store")
	}
	rec, err := d.d.Actions.FindActionByExternalID(ctx, stem)
	if err != nil {
		return stem, action.Result{}, false, fmt.Errorf("stack %s %s: find action: %w", ev.Detail.StackID, status, err)
	}
	if rec.Status.Terminal() {
		return stem, action.Result{}, false, nil
	}
	job, err := d.jobOf(ctx, rec)
	if err != nil {
		return stem, action.Result{}, false, err
	}
	var st types.Stack
	if op != opDelete && op != opReplace {
		// The stack as it is now: its outputs, and whether a rollback follows a failure.
		out, err := d.d.CloudFormation.DescribeStacks(ctx, &cloudformation.DescribeStacksInput{StackName: aws.String(ev.Detail.StackID)})
		if err != nil {
			return stem, action.Result{}, false, fmt.Errorf("describe stack %s: %w", ev.Detail.StackID, err)
		}
		if len(out.Stacks) > 0 {
			st = out.Stacks[0]
		}
	}
	if st.StackId == nil {
		st.StackId, st.StackName = aws.String(ev.Detail.StackID), aws.String(stackName(job))
	}
	res, done, err = d.outcome(ctx, job, op, st, status, reason)
	if err != nil {
		return stem, action.Result{}, false, err
	}
	if done {
		res.ExternalID = stem
		if res.ExternalURL == "" {
			res.ExternalURL = stackURL(ev.Detail.StackID)
		}
	}
	return stem, res, done, nil
}

// ended reports whether status can end an operation of kind op.
func ended(op string, status types.StackStatus) bool {
	if op == opDelete || op == opReplace {
		return status == types.StackStatusDeleteComplete || status == types.StackStatusDeleteFailed
	}
	return strings.HasSuffix(string(status), "_COMPLETE") || strings.HasSuffix(string(status), "_FAILED")
}

// outcome turns the status an operation of this action execution reached into the
// action's result; done is false when the action goes on (a rollback follows, a failed
// stack was deleted and is being created again).
func (d *Deployer) outcome(ctx context.Context, job action.Job, op string, st types.Stack, status, reason string) (action.Result, bool, error) {
	name := stackName(job)
	s := types.StackStatus(status)
	switch op {
	case opDelete:
		if s == types.StackStatusDeleteComplete {
			res, err := d.ended(ctx, job, nil, "Stack "+name+" deleted")
			return res, true, err
		}
	case opReplace:
		if s == types.StackStatusDeleteComplete {
			d.d.Logger.InfoContext(ctx, "failed stack deleted: creating it again", "pipeline", job.Record.PipelineName,
				"execution_id", job.Record.ExecutionID, "stage", job.Stage, "action", job.Record.ActionName, "stack", name)
			res, err := d.deploy(ctx, job, recreate)
			if err != nil {
				return failure(err), true, nil
			}
			return res, res.Status != core.ActionInProgress, nil
		}
	default:
		switch s {
		case types.StackStatusCreateComplete, types.StackStatusUpdateComplete, types.StackStatusImportComplete:
			verb := map[string]string{opCreate: "created", opUpdate: "updated"}[op]
			summary := "Stack " + name + " " + verb
			if op == opExecute {
				summary = fmt.Sprintf("Change set %s executed on stack %s", job.Record.Configuration["ChangeSetName"], name)
			}
			res, err := d.succeeded(ctx, job, st, summary)
			return res, true, err
		case types.StackStatusCreateFailed, types.StackStatusUpdateFailed:
			if inProgress(st.StackStatus) {
				return action.Result{}, false, nil // the rollback's end will come
			}
		}
	}
	msg := fmt.Sprintf("Stack %s ended %s", name, status)
	if reason != "" {
		msg += ": " + reason
	}
	if first := d.firstFailure(ctx, aws.ToString(st.StackId), ExternalID(job.Record.ID)); first != "" {
		msg += "; first failure: " + first
	}
	res := action.Failed("JobFailed", errors.New(msg))
	res.Summary = msg
	res.ExternalID = ExternalID(job.Record.ID)
	res.ExternalURL = stackURL(aws.ToString(st.StackId))
	return res, true, nil
}

// succeeded is the Result of an action whose stack is st: its outputs are the action's
// variables and output file.
func (d *Deployer) succeeded(ctx context.Context, job action.Job, st types.Stack, summary string) (action.Result, error) {
	res, err := d.ended(ctx, job, &st, summary)
	if res.ExternalURL == "" {
		res.ExternalURL = stackURL(aws.ToString(st.StackId))
	}
	return res, err
}

// ended is the Result of an action that succeeded, with the outputs of st (none when
// nil).
func (d *Deployer) ended(ctx context.Context, job action.Job, st *types.Stack, summary string) (action.Result, error) {
	outputs := map[string]string{}
	if st != nil {
		for _, o := range st.Outputs {
			if k := aws.ToString(o.OutputKey); k != "" {
				outputs[k] = aws.ToString(o.OutputValue)
			}
		}
	}
	res := action.Result{Status: core.ActionSucceeded, Summary: summary, ExternalID: ExternalID(job.Record.ID)}
	if len(outputs) > 0 {
		res.OutputVariables = outputs
	}
	if job.Record.Configuration["OutputFileName"] != "" {
		a, err := d.writeOutputs(ctx, job, outputs)
		if err != nil {
			return action.Result{}, err
		}
		res.OutputArtifacts = []core.Artifact{a}
	}
	return res, nil
}

// firstFailure names the first resource that failed in the stack's newest operation of
// stem ("[LogicalId] STATUS: reason"), reading back at most a few pages of events; ""
// when none is found or the events cannot be read (the message is a help, not a need).
func (d *Deployer) firstFailure(ctx context.Context, stackID, stem string) string {
	if stackID == "" {
		return ""
	}
	in := &cloudformation.DescribeStackEventsInput{StackName: aws.String(stackID)}
	var first string
	seen := false
	for page := 0; page < 5; page++ {
		out, err := d.d.CloudFormation.DescribeStackEvents(ctx, in)
		if err != nil {
			d.d.Logger.WarnContext(ctx, "stack events unreadable", "stack", stackID, "err", err)
			return first
		}
		for _, e := range out.StackEvents { // newest first
			s, _, ok := parseToken(aws.ToString(e.ClientRequestToken))
			if !ok || s != stem {
				if seen {
					return first // past the start of the operation
				}
				continue
			}
			seen = true
			reason := aws.ToString(e.ResourceStatusReason)
			if !strings.HasSuffix(string(e.ResourceStatus), "_FAILED") || aws.ToString(e.ResourceType) == "AWS::CloudFormation::Stack" ||
				reason == "" || strings.Contains(reason, "cancelled") {
				continue
			}
			first = fmt.Sprintf("[%s] %s: %s", aws.ToString(e.LogicalResourceId), e.ResourceStatus, reason)
		}
		if out.NextToken == nil {
			break
		}
		in.NextToken = out.NextToken
	}
	return first
}

// jobOf rebuilds the job of a recorded action execution, for what StackEvent does with
// it: read its inputs again, write its output artifact.
func (d *Deployer) jobOf(ctx context.Context, rec core.ActionExecution) (action.Job, error) {
	job := action.Job{
		Execution: core.Execution{PipelineName: rec.PipelineName, ID: rec.ExecutionID},
		Stage:     rec.StageName,
		Record:    rec,
		Declared:  pipeline.Action{Name: rec.ActionName, Configuration: rec.Configuration},
	}
	for _, a := range rec.InputArtifacts {
		job.Declared.InputArtifacts = append(job.Declared.InputArtifacts, pipeline.Artifact{Name: a.Name})
	}
	if rec.Configuration["OutputFileName"] == "" {
		return job, nil
	}
	// Only the declaration names the output artifact.
	if d.d.Pipelines == nil {
		return job, errors.New("cloudformation events: the deployer has no pipeline store to name the output artifact")
	}
	p, err := d.d.Pipelines.GetPipeline(ctx, rec.PipelineName)
	if err != nil {
		return job, fmt.Errorf("get pipeline %s: %w", rec.PipelineName, err)
	}
	decl, err := pipeline.Parse(p.Declaration)
	if err != nil {
		return job, fmt.Errorf("parse pipeline %s: %w", rec.PipelineName, err)
	}
	for _, s := range decl.Stages {
		for _, a := range s.Actions {
			if s.Name == rec.StageName && a.Name == rec.ActionName {
				job.Declared.OutputArtifacts = a.OutputArtifacts
			}
		}
	}
	return job, nil
}
