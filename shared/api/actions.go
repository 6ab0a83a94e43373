package api

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/relais-ci/relais/shared/approval"
	"github.com/relais-ci/relais/shared/core"
	"github.com/relais-ci/relais/shared/pipeline"
)

func (h *Handler) listActionExecutions(ctx context.Context, c call, in *listActionExecutionsInput) (any, error) {
	var v checks
	v.name("pipelineName", in.PipelineName)
	v.maxResults(in.MaxResults, 100)
	executionID := ""
	if f := in.Filter; f != nil {
		executionID = f.PipelineExecutionID
		if l := f.LatestInPipelineExecution; l != nil {
			if executionID != "" && l.PipelineExecutionID != executionID {
				v.add("filter.pipelineExecutionId and filter.latestInPipelineExecution.pipelineExecutionId name different executions")
			}
			executionID = l.PipelineExecutionID
			v.executionID("filter.latestInPipelineExecution.pipelineExecutionId", executionID)
		}
	}
	if err := v.err(); err != nil {
		return nil, err
	}
	d, _, err := h.declaration(ctx, in.PipelineName)
	if err != nil {
		return nil, err
	}
	executions := map[string]core.Execution{}
	if executionID != "" {
		e, err := h.execution(ctx, in.PipelineName, executionID)
		if err != nil {
			return nil, err
		}
		executions[e.ID] = e
	}
	recs, next, err := h.d.Actions.ListActions(ctx, core.ActionFilter{PipelineName: in.PipelineName, ExecutionID: executionID},
		core.Page{Limit: in.MaxResults, Token: in.NextToken})
	if errors.Is(err, core.ErrInvalid) && in.NextToken != "" {
		return nil, apiError("InvalidNextTokenException", "The next token is not valid")
	}
	if err != nil {
		return nil, fmt.Errorf("list actions of %s: %w", in.PipelineName, err)
	}
	out := listActionExecutionsOutput{ActionExecutionDetails: []actionExecutionDetail{}, NextToken: next}
	for _, rec := range recs {
		e, ok := executions[rec.ExecutionID]
		if !ok {
			e, err = h.d.Executions.GetExecution(ctx, in.PipelineName, rec.ExecutionID)
			if err != nil && !errors.Is(err, core.ErrNotFound) {
				return nil, fmt.Errorf("list actions of %s: %w", in.PipelineName, err)
			}
			executions[rec.ExecutionID] = e
		}
		out.ActionExecutionDetails = append(out.ActionExecutionDetails, detail(d, e, rec))
	}
	return out, nil
}

// detail describes one action execution: its input as run (with the configuration as
// declared and as resolved) and its output.
func detail(d *pipeline.Declaration, e core.Execution, rec core.ActionExecution) actionExecutionDetail {
	out := actionExecutionDetail{
		PipelineExecutionID: rec.ExecutionID, ActionExecutionID: rec.ID, PipelineVersion: e.PipelineVersion,
		StageName: rec.StageName, ActionName: rec.ActionName,
		StartTime: at(rec.StartTime), LastUpdateTime: at(rec.LastUpdateTime), Status: string(rec.Status),
		Input: actionExecutionInput{
			ActionTypeID: actionTypeID{
				Category: rec.Type.Category, Owner: rec.Type.Owner, Provider: rec.Type.Provider, Version: rec.Type.Version,
			},
			ResolvedConfiguration: rec.Configuration, Region: rec.Region, Namespace: rec.Namespace,
			InputArtifacts: artifacts(rec.InputArtifacts),
		},
		Output: actionExecutionOutput{OutputArtifacts: artifacts(rec.OutputArtifacts), OutputVariables: rec.OutputVariables},
	}
	if _, st := findStage(d, rec.StageName); st != nil {
		if a := findAction(st, rec.ActionName); a != nil {
			out.Input.Configuration, out.Input.RoleArn = a.Configuration, a.RoleArn
		}
	}
	if rec.ExternalExecutionID != "" || rec.ExternalExecutionURL != "" || rec.Summary != "" || rec.Error != nil {
		out.Output.ExecutionResult = &actionExecutionResult{
			ExternalExecutionID: rec.ExternalExecutionID, ExternalExecutionSummary: rec.Summary,
			ExternalExecutionURL: rec.ExternalExecutionURL, ErrorDetails: errorsOf(rec.Error),
		}
	}
	return out
}

func artifacts(as []core.Artifact) []artifactDetail {
	out := make([]artifactDetail, 0, len(as))
	for _, a := range as {
		out = append(out, artifactDetail{Name: a.Name, S3Location: s3Location{Bucket: a.Location.Store, Key: a.Location.Key}})
	}
	return out
}

// approvalPrefix starts the externalExecutionId of a manual approval action (see
// approval.Service.Run).
const approvalPrefix = "approval:"

// putApprovalResult answers a pending manual approval. The token is the approval id
// that GetPipelineState reports for the pending action, or the action execution's
// externalExecutionId.
func (h *Handler) putApprovalResult(ctx context.Context, c call, in *putApprovalResultInput) (any, error) {
	var v checks
	v.name("pipelineName", in.PipelineName)
	v.name("stageName", in.StageName)
	v.name("actionName", in.ActionName)
	if in.Token == "" {
		v.add("Value null at 'token' failed to satisfy constraint: Member must not be null")
	}
	var status core.ApprovalDecision
	switch {
	case in.Result == nil:
		v.add("Value null at 'result' failed to satisfy constraint: Member must not be null")
	case !core.ApprovalDecision(in.Result.Status).Valid():
		v.add("Value '%s' at 'result.status' failed to satisfy constraint: Member must satisfy enum value set: [Approved, Rejected]", in.Result.Status)
	case len(in.Result.Summary) > 512:
		v.add("Value at 'result.summary' failed to satisfy constraint: Member must have length less than or equal to 512")
	default:
		status = core.ApprovalDecision(in.Result.Status)
	}
	if err := v.err(); err != nil {
		return nil, err
	}
	d, _, err := h.declaration(ctx, in.PipelineName)
	if err != nil {
		return nil, err
	}
	_, st := findStage(d, in.StageName)
	if st == nil {
		return nil, stageNotFound(in.PipelineName, in.StageName)
	}
	if a := findAction(st, in.ActionName); a == nil {
		return nil, apiError("ActionNotFoundException", "The stage %s of %s has no action %s", in.StageName, in.PipelineName, in.ActionName)
	}
	// CodePipeline answers approvals of PARALLEL pipelines by the action's
	// externalExecutionId, which for Relais's approvals is "approval:" and the id.
	a, err := h.d.Approvals.GetApproval(ctx, strings.TrimPrefix(in.Token, approvalPrefix))
	if errors.Is(err, core.ErrNotFound) {
		return nil, apiError("InvalidApprovalTokenException", "The approval token is not valid for %s/%s/%s", in.PipelineName, in.StageName, in.ActionName)
	}
	if err != nil {
		return nil, fmt.Errorf("get approval: %w", err)
	}
	if a.PipelineName != in.PipelineName || a.StageName != in.StageName || a.ActionName != in.ActionName {
		return nil, apiError("InvalidApprovalTokenException", "The approval token is not valid for %s/%s/%s", in.PipelineName, in.StageName, in.ActionName)
	}
	if err := notPending(a); err != nil {
		return nil, err
	}
	decided, err := h.d.Approval.Decide(ctx, approval.Decision{ID: a.ID, Status: status, By: c.user, Comment: in.Result.Summary})
	if errors.Is(err, core.ErrConflict) {
		if err := notPending(decided); err != nil {
			return nil, err
		}
		return nil, apiError("ApprovalAlreadyCompletedException", "The approval request was already answered")
	}
	if err != nil {
		return nil, mapError(err, "InvalidApprovalTokenException", "")
	}
	when := decided.DecidedAt
	if when.IsZero() {
		when = h.d.Clock.Now()
	}
	return putApprovalResultOutput{ApprovedAt: at(when)}, nil
}

// notPending returns the error for answering an approval that is no longer pending:
// answered already, or expired or superseded (which CodePipeline reports as an invalid
// token).
func notPending(a core.Approval) error {
	switch a.Status {
	case core.ApprovalPending:
		return nil
	case core.ApprovalApproved, core.ApprovalRejected:
		return apiError("ApprovalAlreadyCompletedException", "The approval request was already answered: %s by %s", a.Status, a.DecidedBy)
	}
	return apiError("InvalidApprovalTokenException", "The approval request is no longer open: %s", a.Status)
}
