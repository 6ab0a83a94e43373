package api

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"

	"github.com/relais-ci/relais/shared/core"
	"github.com/relais-ci/relais/shared/execution"
	"github.com/relais-ci/relais/shared/pipeline"
)

// executionType is what Relais's executions are: it runs no rollbacks.
const executionType = "STANDARD"

// ExecutionIDForToken returns the execution id StartPipelineExecution gives a client
// request token: a UUID (version 8, name-based) derived from the pipeline and the
// token, so that a repeated request names the same execution and starts it once.
func ExecutionIDForToken(pipelineName, token string) string {
	sum := sha256.Sum256([]byte("relais/StartPipelineExecution\x00" + pipelineName + "\x00" + token))
	b := sum[:16]
	b[6] = b[6]&0x0f | 0x80
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

func (h *Handler) startPipelineExecution(ctx context.Context, c call, in *startPipelineExecutionInput) (any, error) {
	var v checks
	v.name("name", in.Name)
	if in.ClientRequestToken != "" && (len(in.ClientRequestToken) > 128 || !clientTokenPattern.MatchString(in.ClientRequestToken)) {
		v.add("Value '%s' at 'clientRequestToken' failed to satisfy constraint: Member must satisfy regular expression pattern: ^[a-zA-Z0-9-]+$ and have length at most 128", in.ClientRequestToken)
	}
	if len(in.Variables) > 50 {
		v.add("Value at 'variables' failed to satisfy constraint: Member must have length less than or equal to 50")
	}
	vars := map[string]string{}
	for i, pv := range in.Variables {
		switch {
		case pv.Name == "" || len(pv.Name) > 128 || !variableNamePattern.MatchString(pv.Name):
			v.add("Value '%s' at 'variables.%d.member.name' failed to satisfy constraint: Member must satisfy regular expression pattern: [A-Za-z0-9@\\-_]+", pv.Name, i+1)
		case len(pv.Value) > 1000:
			v.add("Value at 'variables.%d.member.value' failed to satisfy constraint: Member must have length less than or equal to 1000", i+1)
		}
		if _, dup := vars[pv.Name]; dup {
			v.add("The variable %s is given more than once", pv.Name)
		}
		vars[pv.Name] = pv.Value
	}
	if len(in.SourceRevisions) > 0 {
		v.add("Relais does not support source revision overrides (sourceRevisions): it runs the revision the source action fetches")
	}
	if err := v.err(); err != nil {
		return nil, err
	}
	if _, _, err := h.declaration(ctx, in.Name); err != nil {
		return nil, err
	}
	req := execution.StartRequest{
		Pipeline:  in.Name,
		Trigger:   core.Trigger{Type: core.TriggerStartPipelineExecution, Detail: c.user},
		Variables: vars,
	}
	if in.ClientRequestToken != "" {
		req.ID = ExecutionIDForToken(in.Name, in.ClientRequestToken)
	}
	e, err := h.d.Service.Start(ctx, req)
	if err != nil {
		if e.ID != "" {
			// Recorded, but its run could not start: the execution exists, Failed.
			h.d.Logger.ErrorContext(ctx, "start execution run", "pipeline", in.Name, "execution_id", e.ID, "err", err)
			return executionIDOutput{PipelineExecutionID: e.ID}, nil
		}
		return nil, mapError(err, "PipelineNotFoundException", "ConflictException")
	}
	if req.ID != "" {
		// A repeated token names an existing execution: it must ask for the same.
		for _, ev := range e.Variables {
			if want, ok := vars[ev.Name]; ok && want != ev.Value {
				return nil, apiError("ConflictException", "The client request token %s was used to start execution %s with other variables", in.ClientRequestToken, e.ID)
			}
		}
	}
	return executionIDOutput{PipelineExecutionID: e.ID}, nil
}

// execution returns one execution; PipelineExecutionNotFoundException when the
// pipeline has none with that id.
func (h *Handler) execution(ctx context.Context, pipelineName, id string) (core.Execution, error) {
	e, err := h.d.Executions.GetExecution(ctx, pipelineName, id)
	if errors.Is(err, core.ErrNotFound) {
		return core.Execution{}, apiError("PipelineExecutionNotFoundException", "The pipeline %s has no execution %s", pipelineName, id)
	}
	if err != nil {
		return core.Execution{}, fmt.Errorf("get execution %s: %w", id, err)
	}
	return e, nil
}

func (h *Handler) stopPipelineExecution(ctx context.Context, c call, in *stopPipelineExecutionInput) (any, error) {
	var v checks
	v.name("pipelineName", in.PipelineName)
	v.executionID("pipelineExecutionId", in.PipelineExecutionID)
	if len(in.Reason) > 200 {
		v.add("Value at 'reason' failed to satisfy constraint: Member must have length less than or equal to 200")
	}
	if err := v.err(); err != nil {
		return nil, err
	}
	if _, _, err := h.declaration(ctx, in.PipelineName); err != nil {
		return nil, err
	}
	e, err := h.d.Executions.GetExecution(ctx, in.PipelineName, in.PipelineExecutionID)
	if errors.Is(err, core.ErrNotFound) {
		// CodePipeline's StopPipelineExecution knows no "execution not found".
		return nil, apiError("PipelineExecutionNotStoppableException", "Unable to stop pipeline execution %s: the pipeline %s has no such execution", in.PipelineExecutionID, in.PipelineName)
	}
	if err != nil {
		return nil, fmt.Errorf("get execution %s: %w", in.PipelineExecutionID, err)
	}
	mode := core.StopAndWait
	if in.Abandon {
		mode = core.StopAndAbandon
	}
	switch {
	case e.Status == core.ExecutionStopping && (mode == core.StopAndWait || (e.Stop != nil && e.Stop.Mode == core.StopAndAbandon)):
		return nil, apiError("DuplicatedStopRequestException", "Execution %s is already stopping (%s); only a stop and abandon may follow a stop and wait", e.ID, stopMode(e))
	case e.Status != core.ExecutionInProgress && e.Status != core.ExecutionStopping:
		return nil, apiError("PipelineExecutionNotStoppableException", "Unable to stop pipeline execution %s: it is %s, not InProgress", e.ID, e.Status)
	}
	e, err = h.d.Service.Stop(ctx, in.PipelineName, in.PipelineExecutionID, mode, in.Reason, c.user)
	if err != nil {
		return nil, mapError(err, "PipelineExecutionNotStoppableException", "PipelineExecutionNotStoppableException")
	}
	return executionIDOutput{PipelineExecutionID: e.ID}, nil
}

func stopMode(e core.Execution) core.StopMode {
	if e.Stop == nil {
		return core.StopAndWait
	}
	return e.Stop.Mode
}

func (h *Handler) getPipelineExecution(ctx context.Context, c call, in *getPipelineExecutionInput) (any, error) {
	var v checks
	v.name("pipelineName", in.PipelineName)
	v.executionID("pipelineExecutionId", in.PipelineExecutionID)
	if err := v.err(); err != nil {
		return nil, err
	}
	d, _, err := h.declaration(ctx, in.PipelineName)
	if err != nil {
		return nil, err
	}
	e, err := h.execution(ctx, in.PipelineName, in.PipelineExecutionID)
	if err != nil {
		return nil, err
	}
	out := pipelineExecution{
		PipelineName: e.PipelineName, PipelineVersion: e.PipelineVersion, PipelineExecutionID: e.ID,
		Status: string(e.Status), StatusSummary: e.StatusSummary,
		ArtifactRevisions: []artifactRevision{},
		Trigger:           executionTrigger{TriggerType: string(e.Trigger.Type), TriggerDetail: e.Trigger.Detail},
		ExecutionMode:     string(e.Mode), ExecutionType: executionType,
	}
	for _, r := range e.SourceRevisions {
		out.ArtifactRevisions = append(out.ArtifactRevisions, artifactRevision{
			Name: sourceArtifact(d, r.ActionName), RevisionID: r.RevisionID, RevisionSummary: r.RevisionSummary, RevisionURL: r.RevisionURL,
		})
	}
	for _, x := range e.Variables {
		out.Variables = append(out.Variables, resolvedVariable{Name: x.Name, ResolvedValue: x.Value})
	}
	return getPipelineExecutionOutput{PipelineExecution: out}, nil
}

// sourceArtifact names the artifact a source action produces (an artifact revision's
// name); the action's name when the declaration no longer has it.
func sourceArtifact(d *pipeline.Declaration, action string) string {
	for _, st := range d.Stages {
		if a := findAction(&st, action); a != nil && len(a.OutputArtifacts) > 0 {
			return a.OutputArtifacts[0].Name
		}
	}
	return action
}

func (h *Handler) listPipelineExecutions(ctx context.Context, c call, in *listPipelineExecutionsInput) (any, error) {
	var v checks
	v.name("pipelineName", in.PipelineName)
	v.maxResults(in.MaxResults, 100)
	succeededIn := ""
	if in.Filter != nil && in.Filter.SucceededInStage != nil {
		succeededIn = in.Filter.SucceededInStage.StageName
		v.name("filter.succeededInStage.stageName", succeededIn)
	}
	if err := v.err(); err != nil {
		return nil, err
	}
	d, _, err := h.declaration(ctx, in.PipelineName)
	if err != nil {
		return nil, err
	}
	if _, st := findStage(d, succeededIn); succeededIn != "" && st == nil {
		return nil, stageNotFound(in.PipelineName, succeededIn)
	}
	es, next, err := h.d.Executions.ListExecutions(ctx, in.PipelineName, core.Page{Limit: in.MaxResults, Token: in.NextToken})
	if errors.Is(err, core.ErrInvalid) && in.NextToken != "" {
		return nil, apiError("InvalidNextTokenException", "The next token is not valid")
	}
	if err != nil {
		return nil, fmt.Errorf("list executions of %s: %w", in.PipelineName, err)
	}
	out := listPipelineExecutionsOutput{PipelineExecutionSummaries: []pipelineExecutionSummary{}, NextToken: next}
	for _, e := range es {
		if succeededIn != "" {
			// A filtered page may hold fewer than maxResults: the filter applies to
			// each page of the list, as the store reads it.
			st, err := core.FindStage(ctx, h.d.Stages, e.PipelineName, e.ID, succeededIn)
			if errors.Is(err, core.ErrNotFound) || (err == nil && st.Status != core.StageSucceeded) {
				continue
			}
			if err != nil {
				return nil, err
			}
		}
		out.PipelineExecutionSummaries = append(out.PipelineExecutionSummaries, summarize(e))
	}
	return out, nil
}

func summarize(e core.Execution) pipelineExecutionSummary {
	s := pipelineExecutionSummary{
		PipelineExecutionID: e.ID, Status: string(e.Status), StatusSummary: e.StatusSummary,
		StartTime: at(e.StartTime), LastUpdateTime: at(e.LastUpdateTime),
		SourceRevisions: []sourceRevision{},
		Trigger:         executionTrigger{TriggerType: string(e.Trigger.Type), TriggerDetail: e.Trigger.Detail},
		ExecutionMode:   string(e.Mode), ExecutionType: executionType,
	}
	for _, r := range e.SourceRevisions {
		s.SourceRevisions = append(s.SourceRevisions, sourceRevision(r))
	}
	if e.Stop != nil {
		s.StopTrigger = &stopTrigger{Reason: e.Stop.Reason}
	}
	return s
}

func (h *Handler) retryStageExecution(ctx context.Context, c call, in *retryStageExecutionInput) (any, error) {
	var v checks
	v.name("pipelineName", in.PipelineName)
	v.name("stageName", in.StageName)
	v.executionID("pipelineExecutionId", in.PipelineExecutionID)
	mode := core.RetryMode(in.RetryMode)
	if !mode.Valid() {
		v.add("Value '%s' at 'retryMode' failed to satisfy constraint: Member must satisfy enum value set: [FAILED_ACTIONS, ALL_ACTIONS]", in.RetryMode)
	}
	if err := v.err(); err != nil {
		return nil, err
	}
	d, _, err := h.declaration(ctx, in.PipelineName)
	if err != nil {
		return nil, err
	}
	if _, st := findStage(d, in.StageName); st == nil {
		return nil, stageNotFound(in.PipelineName, in.StageName)
	}
	e, err := h.execution(ctx, in.PipelineName, in.PipelineExecutionID)
	if err != nil {
		return nil, err
	}
	if e.Mode != core.ModeParallel {
		// A stage that failed in a later execution too is retried from that one:
		// retrying an older one would run older revisions.
		latest, err := h.d.Stages.LatestStages(ctx, in.PipelineName)
		if err != nil {
			return nil, fmt.Errorf("retry stage %s: latest stages: %w", in.StageName, err)
		}
		for _, st := range latest {
			if st.StageName == in.StageName && st.ExecutionID != e.ID {
				return nil, apiError("NotLatestPipelineExecutionException", "Execution %s is not the latest to have entered stage %s: %s is", e.ID, in.StageName, st.ExecutionID)
			}
		}
	}
	e, err = h.d.Service.Retry(ctx, in.PipelineName, in.PipelineExecutionID, in.StageName, mode)
	if err != nil {
		refused := errors.Is(err, core.ErrConflict) || errors.Is(err, core.ErrNotFound) || errors.Is(err, core.ErrInvalid)
		if !refused && e.ID != "" {
			// Recorded as retried, but its run could not start (the execution is
			// Failed again, saying why).
			h.d.Logger.ErrorContext(ctx, "start retry run", "pipeline", in.PipelineName, "execution_id", e.ID, "stage", in.StageName, "err", err)
			return executionIDOutput{PipelineExecutionID: e.ID}, nil
		}
		// Not found here: the execution never entered the stage.
		return nil, mapError(err, "StageNotRetryableException", "StageNotRetryableException")
	}
	return executionIDOutput{PipelineExecutionID: e.ID}, nil
}

// transitionStage returns the stage whose inbound transition a request names: the
// stage itself for Inbound, the next one for Outbound (the transition out of a stage is
// the one into the next, which is how GetPipelineState reports it).
func (h *Handler) transitionStage(ctx context.Context, in *stageTransitionInput, disable bool) (string, error) {
	var v checks
	v.name("pipelineName", in.PipelineName)
	v.name("stageName", in.StageName)
	if in.TransitionType != "Inbound" && in.TransitionType != "Outbound" {
		v.add("Value '%s' at 'transitionType' failed to satisfy constraint: Member must satisfy enum value set: [Inbound, Outbound]", in.TransitionType)
	}
	if disable {
		switch {
		case in.Reason == "":
			v.add("Value null at 'reason' failed to satisfy constraint: Member must not be null")
		case len(in.Reason) > 300 || !reasonPattern.MatchString(in.Reason):
			v.add("Value '%s' at 'reason' failed to satisfy constraint: Member must satisfy regular expression pattern: [a-zA-Z0-9!@ \\(\\)\\.\\*\\?\\-]+ and have length at most 300", in.Reason)
		}
	}
	if err := v.err(); err != nil {
		return "", err
	}
	d, _, err := h.declaration(ctx, in.PipelineName)
	if err != nil {
		return "", err
	}
	i, st := findStage(d, in.StageName)
	if st == nil {
		return "", stageNotFound(in.PipelineName, in.StageName)
	}
	if in.TransitionType == "Inbound" {
		return st.Name, nil
	}
	if i == len(d.Stages)-1 {
		return "", validation("Stage %s is the last stage of %s: it has no outbound transition", in.StageName, in.PipelineName)
	}
	return d.Stages[i+1].Name, nil
}

func (h *Handler) disableStageTransition(ctx context.Context, c call, in *stageTransitionInput) (any, error) {
	stage, err := h.transitionStage(ctx, in, true)
	if err != nil {
		return nil, err
	}
	if err := h.d.Service.DisableTransition(ctx, in.PipelineName, stage, in.Reason, c.user); err != nil {
		return nil, mapError(err, "StageNotFoundException", "")
	}
	return struct{}{}, nil
}

func (h *Handler) enableStageTransition(ctx context.Context, c call, in *stageTransitionInput) (any, error) {
	stage, err := h.transitionStage(ctx, in, false)
	if err != nil {
		return nil, err
	}
	if err := h.d.Service.EnableTransition(ctx, in.PipelineName, stage, c.user); err != nil {
		return nil, mapError(err, "StageNotFoundException", "")
	}
	return struct{}{}, nil
}
