package api

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"sort"

	"github.com/relais-ci/relais/shared/core"
	"github.com/relais-ci/relais/shared/pipeline"
)

// declaration returns an installed pipeline, parsed; PipelineNotFoundException when
// there is none.
func (h *Handler) declaration(ctx context.Context, name string) (*pipeline.Declaration, core.Pipeline, error) {
	d, p, err := h.d.Service.Declaration(ctx, name)
	if errors.Is(err, core.ErrNotFound) {
		return nil, core.Pipeline{}, apiError("PipelineNotFoundException", "The pipeline %s does not exist", name)
	}
	if err != nil {
		return nil, core.Pipeline{}, err
	}
	return d, p, nil
}

func findStage(d *pipeline.Declaration, name string) (int, *pipeline.Stage) {
	for i := range d.Stages {
		if d.Stages[i].Name == name {
			return i, &d.Stages[i]
		}
	}
	return -1, nil
}

func findAction(st *pipeline.Stage, name string) *pipeline.Action {
	for i := range st.Actions {
		if st.Actions[i].Name == name {
			return &st.Actions[i]
		}
	}
	return nil
}

func stageNotFound(pipelineName, stage string) error {
	return apiError("StageNotFoundException", "The pipeline %s has no stage %s", pipelineName, stage)
}

// listPipelines pages through the pipelines in name order; the token is the last name
// of the previous page.
func (h *Handler) listPipelines(ctx context.Context, c call, in *listPipelinesInput) (any, error) {
	var v checks
	v.maxResults(in.MaxResults, 1000)
	if err := v.err(); err != nil {
		return nil, err
	}
	after := ""
	if in.NextToken != "" {
		b, err := base64.RawURLEncoding.DecodeString(in.NextToken)
		if err != nil || len(b) == 0 {
			return nil, apiError("InvalidNextTokenException", "The next token is not valid")
		}
		after = string(b)
	}
	all, err := h.d.Pipelines.ListPipelines(ctx)
	if err != nil {
		return nil, fmt.Errorf("list pipelines: %w", err)
	}
	sort.Slice(all, func(i, j int) bool { return all[i].Name < all[j].Name })
	limit := in.MaxResults
	if limit == 0 {
		limit = 1000
	}
	out := listPipelinesOutput{Pipelines: []pipelineSummary{}}
	for _, p := range all {
		if p.Name <= after {
			continue
		}
		if len(out.Pipelines) == limit {
			out.NextToken = base64.RawURLEncoding.EncodeToString([]byte(out.Pipelines[limit-1].Name))
			break
		}
		s := pipelineSummary{Name: p.Name, Version: p.Version, Created: at(p.CreatedAt), Updated: at(p.UpdatedAt)}
		if d, err := pipeline.Parse(p.Declaration); err == nil {
			s.PipelineType, s.ExecutionMode = d.Type(), d.Mode()
		} else {
			h.d.Logger.WarnContext(ctx, "stored declaration does not parse", "pipeline", p.Name, "err", err)
		}
		out.Pipelines = append(out.Pipelines, s)
	}
	return out, nil
}

func (h *Handler) getPipeline(ctx context.Context, c call, in *getPipelineInput) (any, error) {
	var v checks
	v.name("name", in.Name)
	if in.Version < 0 {
		v.add("Value '%d' at 'version' failed to satisfy constraint: Member must have value greater than or equal to 1", in.Version)
	}
	if err := v.err(); err != nil {
		return nil, err
	}
	d, p, err := h.declaration(ctx, in.Name)
	if err != nil {
		return nil, err
	}
	if in.Version != 0 && in.Version != p.Version {
		// Relais keeps the latest version of a pipeline only.
		return nil, apiError("PipelineVersionNotFoundException", "The pipeline %s has no version %d (the current version is %d)", in.Name, in.Version, p.Version)
	}
	d.Version = p.Version
	out := getPipelineOutput{Pipeline: d, Metadata: pipelineMetadata{Created: at(p.CreatedAt), Updated: at(p.UpdatedAt)}}
	if h.arnPrefix != "" {
		out.Metadata.PipelineArn = h.arnPrefix + p.Name
	}
	return out, nil
}

// getPipelineState reports, per declared stage, its inbound transition, the execution
// that entered it last and that execution's latest run of each action.
func (h *Handler) getPipelineState(ctx context.Context, c call, in *getPipelineStateInput) (any, error) {
	var v checks
	v.name("name", in.Name)
	if err := v.err(); err != nil {
		return nil, err
	}
	d, p, err := h.declaration(ctx, in.Name)
	if err != nil {
		return nil, err
	}
	transitions, err := h.d.Transitions.ListTransitions(ctx, p.Name)
	if err != nil {
		return nil, fmt.Errorf("get state of %s: list transitions: %w", p.Name, err)
	}
	latest, err := h.d.Stages.LatestStages(ctx, p.Name)
	if err != nil {
		return nil, fmt.Errorf("get state of %s: latest stages: %w", p.Name, err)
	}
	pending, err := h.d.Approvals.PendingApprovals(ctx, p.Name, "")
	if err != nil {
		return nil, fmt.Errorf("get state of %s: pending approvals: %w", p.Name, err)
	}
	// The approval id, never the engine's task token, is the token a client answers.
	approvalOf := map[string]string{}
	for _, a := range pending {
		approvalOf[a.ActionExecutionID] = a.ID
	}
	executions := map[string]core.Execution{}
	execution := func(id string) (core.Execution, error) {
		if e, ok := executions[id]; ok {
			return e, nil
		}
		e, err := h.d.Executions.GetExecution(ctx, p.Name, id)
		if err != nil {
			return core.Execution{}, fmt.Errorf("get state of %s: %w", p.Name, err)
		}
		executions[id] = e
		return e, nil
	}

	out := getPipelineStateOutput{
		PipelineName: p.Name, PipelineVersion: p.Version, StageStates: []stageState{},
		Created: at(p.CreatedAt), Updated: at(p.UpdatedAt),
	}
	for i, st := range d.Stages {
		ss := stageState{StageName: st.Name, ActionStates: []actionState{}}
		tr := core.Transition{Enabled: true}
		recorded := false
		for _, t := range transitions {
			if t.StageName == st.Name {
				tr, recorded = t, true
			}
		}
		// The first stage has no stage before it: it shows a transition only once one
		// was changed.
		if i > 0 || recorded {
			ss.InboundTransitionState = &transitionState{
				Enabled: tr.Enabled, LastChangedBy: tr.LastChangedBy, LastChangedAt: at(tr.LastChangedAt), DisabledReason: tr.Reason,
			}
		}
		if h.d.Queue != nil {
			waiters, err := h.d.Queue.Waiters(ctx, p.Name, st.Name)
			if err != nil {
				return nil, fmt.Errorf("get state of %s: waiters at %s: %w", p.Name, st.Name, err)
			}
			for _, w := range waiters {
				ss.InboundExecutions = append(ss.InboundExecutions, stageExecution{
					PipelineExecutionID: w.ExecutionID, Status: string(core.StageInProgress), Type: "STANDARD",
				})
			}
		}
		var stageRec *core.StageExecution
		for j := range latest {
			if latest[j].StageName == st.Name {
				stageRec = &latest[j]
			}
		}
		var actions []core.ActionExecution
		if stageRec != nil {
			ss.LatestExecution = &stageExecution{PipelineExecutionID: stageRec.ExecutionID, Status: string(stageRec.Status), Type: "STANDARD"}
			if stageRec.RetryMode != "" {
				ss.RetryStageMetadata = &retryStageMetadata{ManualStageRetryAttempt: stageRec.Attempt - 1, LatestRetryTrigger: "ManualStageRetry"}
			}
			actions, err = core.AllActions(ctx, h.d.Actions, core.ActionFilter{PipelineName: p.Name, ExecutionID: stageRec.ExecutionID, StageName: st.Name})
			if err != nil {
				return nil, fmt.Errorf("get state of %s: %w", p.Name, err)
			}
		}
		for _, a := range st.Actions {
			as := actionState{ActionName: a.Name, EntityURL: entityURL(a)}
			for _, rec := range actions { // newest first
				if rec.ActionName != a.Name {
					continue
				}
				as.LatestExecution = &actionExecution{
					ActionExecutionID: rec.ID, Status: string(rec.Status), Summary: rec.Summary,
					LastStatusChange:    at(rec.LastUpdateTime),
					ExternalExecutionID: rec.ExternalExecutionID, ExternalExecutionURL: rec.ExternalExecutionURL,
					ErrorDetails: errorsOf(rec.Error),
				}
				if rec.Status == core.ActionInProgress {
					as.LatestExecution.Token = approvalOf[rec.ID]
				}
				break
			}
			if a.ActionTypeID.Category == pipeline.CategorySource && stageRec != nil {
				e, err := execution(stageRec.ExecutionID)
				if err != nil {
					return nil, err
				}
				for _, r := range e.SourceRevisions {
					if r.ActionName == a.Name {
						as.CurrentRevision = &actionRevision{RevisionID: r.RevisionID}
						as.RevisionURL = r.RevisionURL
					}
				}
			}
			ss.ActionStates = append(ss.ActionStates, as)
		}
		out.StageStates = append(out.StageStates, ss)
	}
	return out, nil
}

// entityURL links to what an action works on, where Relais can tell: the repository
// of a GitHub source, the page an approval asks reviewers to look at.
func entityURL(a pipeline.Action) string {
	switch {
	case a.ActionTypeID.Category == pipeline.CategorySource && a.Configuration["FullRepositoryId"] != "":
		return "https://github.com/" + a.Configuration["FullRepositoryId"]
	case a.ActionTypeID.Category == pipeline.CategorySource && a.ActionTypeID.Provider == "GitHub" && a.Configuration["Owner"] != "":
		return "https://github.com/" + a.Configuration["Owner"] + "/" + a.Configuration["Repo"]
	case a.ActionTypeID.Category == pipeline.CategoryApproval:
		return a.Configuration["ExternalEntityLink"]
	}
	return ""
}

func errorsOf(e *core.ErrorDetails) *errorDetails {
	if e == nil {
		return nil
	}
	return &errorDetails{Code: e.Code, Message: e.Message}
}
