package gate

import (
	"context"
	"errors"
	"fmt"

	"github.com/relais-ci/relais/shared/core"
)

// Canceler ends the work of actions abandoned by a stop (kills a local build, stops a
// CodeBuild build). Optional: without one, abandoned actions are only recorded.
type Canceler interface {
	CancelAction(ctx context.Context, a core.ActionExecution) error
}

// Cancelers asks each canceler in turn, for cancelers that each end the work of their
// own providers' actions and leave other actions alone. It returns every error.
type Cancelers []Canceler

// CancelAction implements Canceler.
func (cs Cancelers) CancelAction(ctx context.Context, a core.ActionExecution) error {
	var errs []error
	for _, c := range cs {
		if err := c.CancelAction(ctx, a); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// StopRequest is a call to StopPipelineExecution.
type StopRequest struct {
	Pipeline    string
	ExecutionID string
	Mode        core.StopMode
	Reason      string
	By          string
	// Stages are the pipeline's stage names, in order: where the execution may wait.
	Stages []string
}

// Stop stops an InProgress execution. An execution waiting at a gate ends Stopped at once.
// StopAndWait lets running actions finish: the execution is Stopping until the stage they
// run in ends, and no further action starts. StopAndAbandon stops the engine run, abandons
// running actions (and cancels their work through c, when given) and frees the stages the
// execution holds. Stopping a Stopping execution again with StopAndAbandon abandons it.
func (s *Service) Stop(ctx context.Context, r StopRequest, c Canceler) (core.Execution, error) {
	now := s.d.Clock.Now()
	var refused error
	e, err := s.updateExecution(ctx, r.Pipeline, r.ExecutionID, func(e *core.Execution) bool {
		refused = nil
		switch {
		case e.Status == core.ExecutionInProgress:
		case e.Status == core.ExecutionStopping && r.Mode == core.StopAndAbandon:
		default:
			refused = fmt.Errorf("stop execution %s: it is %s: %w", e.ID, e.Status, core.ErrConflict)
			return false
		}
		e.Status = core.ExecutionStopping
		e.Stop = &core.StopRequest{Mode: r.Mode, Reason: r.Reason, By: r.By, At: now}
		e.LastUpdateTime = now
		return true
	})
	if err != nil {
		return core.Execution{}, err
	}
	if refused != nil {
		return e, refused
	}
	s.d.Logger.InfoContext(ctx, "execution stopping", "pipeline", r.Pipeline, "execution_id", r.ExecutionID, "mode", r.Mode)

	// Waiting at a gate: end it there.
	for _, stage := range r.Stages {
		w, err := s.d.Queue.Dequeue(ctx, r.Pipeline, stage, r.ExecutionID)
		if errors.Is(err, core.ErrNotFound) {
			continue
		}
		if err != nil {
			return e, fmt.Errorf("stop execution %s: leave the queue of stage %s: %w", r.ExecutionID, stage, err)
		}
		if e, err = s.endStopped(ctx, e, stage); err != nil {
			return e, err
		}
		if err := s.d.Engine.SendTaskFailure(ctx, w.TaskToken, core.ErrorStopped, stopReason(e)); err != nil && !errors.Is(err, core.ErrNotFound) {
			return e, fmt.Errorf("stop execution %s: fail its gate task: %w", r.ExecutionID, err)
		}
		return e, nil
	}
	if r.Mode != core.StopAndAbandon {
		return e, nil
	}
	return s.abandon(ctx, e, r.Stages, c)
}

func (s *Service) abandon(ctx context.Context, e core.Execution, stages []string, c Canceler) (core.Execution, error) {
	run := e.EngineRun
	if run == "" {
		run = e.ID
	}
	if err := s.d.Engine.StopExecution(ctx, e.PipelineName, run, stopReason(e)); err != nil && !errors.Is(err, core.ErrNotFound) {
		return e, fmt.Errorf("abandon execution %s: stop engine run %s: %w", e.ID, run, err)
	}
	now := s.d.Clock.Now()
	actions, err := s.listActions(ctx, core.ActionFilter{PipelineName: e.PipelineName, ExecutionID: e.ID})
	if err != nil {
		return e, err
	}
	for _, a := range actions {
		if a.Status != core.ActionInProgress {
			continue
		}
		a.Status = core.ActionAbandoned
		a.Summary = "Abandoned: " + stopReason(e)
		a.LastUpdateTime = now
		if err := s.d.Actions.PutAction(ctx, a); err != nil && !errors.Is(err, core.ErrConflict) {
			return e, fmt.Errorf("abandon action %s: %w", a.ActionName, err)
		}
		if c != nil {
			if err := c.CancelAction(ctx, a); err != nil {
				s.d.Logger.WarnContext(ctx, "cancel abandoned action", "pipeline", e.PipelineName, "execution_id", e.ID, "stage", a.StageName, "action", a.ActionName, "err", err)
			}
		}
	}
	stageRecords, err := s.d.Stages.ListStages(ctx, e.PipelineName, e.ID)
	if err != nil {
		return e, fmt.Errorf("abandon execution %s: list stages: %w", e.ID, err)
	}
	for _, st := range stageRecords {
		if st.Status != core.StageInProgress && st.Status != core.StageStopping {
			continue
		}
		st.Status = core.StageStopped
		st.LastUpdateTime = now
		if err := s.d.Stages.PutStage(ctx, st); err != nil {
			return e, fmt.Errorf("abandon execution %s: record stage %s: %w", e.ID, st.StageName, err)
		}
	}
	if e, err = s.endStopped(ctx, e, ""); err != nil {
		return e, err
	}
	for _, stage := range stages {
		m := s.stageMutex(e.PipelineName, stage)
		m.Lock()
		err := s.release(ctx, e.PipelineName, stage, e.ID, e.Mode)
		m.Unlock()
		if err != nil {
			return e, err
		}
	}
	return e, nil
}

// DisableTransition closes a stage's inbound transition: executions wait at its gate
// until it is enabled. Executions already in the stage go on.
func (s *Service) DisableTransition(ctx context.Context, pipeline, stage, reason, by string) error {
	if reason == "" {
		return fmt.Errorf("disable transition into %s: a reason is required: %w", stage, core.ErrInvalid)
	}
	t := core.Transition{PipelineName: pipeline, StageName: stage, Enabled: false, Reason: reason, LastChangedBy: by, LastChangedAt: s.d.Clock.Now()}
	if err := s.d.Transitions.PutTransition(ctx, t); err != nil {
		return fmt.Errorf("disable transition into %s: %w", stage, err)
	}
	return nil
}

// EnableTransition opens a stage's inbound transition and lets the next waiter in — the
// newest in SUPERSEDED mode, the oldest in QUEUED, all in PARALLEL.
func (s *Service) EnableTransition(ctx context.Context, pipeline, stage, by string, mode core.ExecutionMode) error {
	m := s.stageMutex(pipeline, stage)
	m.Lock()
	defer m.Unlock()
	t := core.Transition{PipelineName: pipeline, StageName: stage, Enabled: true, LastChangedBy: by, LastChangedAt: s.d.Clock.Now()}
	if err := s.d.Transitions.PutTransition(ctx, t); err != nil {
		return fmt.Errorf("enable transition into %s: %w", stage, err)
	}
	return s.admit(ctx, pipeline, stage, mode)
}
