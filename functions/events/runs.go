package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/relais-ci/relais/shared/core"
	"github.com/relais-ci/relais/shared/pipeline"
)

// StageFailer records a stage's failure, frees it and lets the next waiter in
// (*gate.Service).
type StageFailer interface {
	Fail(ctx context.Context, t core.GateTask) error
}

// Runs ends the executions whose engine run ended without passing through the machine's
// failed path: a run aborted from the console, one past the machine's timeout, one whose
// failed-path task itself failed. Such an execution would otherwise stay InProgress
// forever and hold its stage, so that no later execution gets in.
type Runs struct {
	Pipelines  core.PipelineStore
	Executions core.ExecutionStore
	Stages     core.StageStore
	Locks      core.StageLocks
	Queue      core.GateQueue
	Gate       StageFailer
	Clock      core.Clock
	Logger     *slog.Logger
}

var _ RunEnder = (*Runs)(nil)

// EndRun ends r's execution if it is still in progress and r is its current run: it
// takes the execution off every gate queue, fails (or, for an aborted run, stops) each
// stage the execution is in or holds, which frees the stage for the next waiter, and
// records the execution's end. It is idempotent.
func (s *Runs) EndRun(ctx context.Context, r EndedRun) error {
	logger := s.Logger
	if logger == nil {
		logger = slog.Default()
	}
	clock := s.Clock
	if clock == nil {
		clock = core.SystemClock
	}
	e, err := s.Executions.GetExecution(ctx, r.Pipeline, r.ExecutionID)
	if errors.Is(err, core.ErrNotFound) {
		logger.WarnContext(ctx, "ended run of an unknown execution", "pipeline", r.Pipeline, "execution_id", r.ExecutionID, "run", r.Run)
		return nil
	}
	if err != nil {
		return fmt.Errorf("get execution %s: %w", r.ExecutionID, err)
	}
	run := e.EngineRun
	if run == "" {
		run = e.ID
	}
	if e.Status.Terminal() || r.Run != run {
		return nil // recorded by the machine's own path, or an older run of a retried execution
	}
	p, err := s.Pipelines.GetPipeline(ctx, r.Pipeline)
	if err != nil {
		return fmt.Errorf("get pipeline %s: %w", r.Pipeline, err)
	}
	d, err := pipeline.Parse(p.Declaration)
	if err != nil {
		return fmt.Errorf("parse pipeline %s: %w", r.Pipeline, err)
	}
	now := clock.Now()
	if r.Status == "ABORTED" && e.Stop == nil {
		// Stopped outside Relais: record it as the abandoning stop it was, so that the
		// stage ends Stopped and its running actions Abandoned.
		if _, err := core.UpdateExecution(ctx, s.Executions, r.Pipeline, r.ExecutionID, func(x *core.Execution) bool {
			if x.Status.Terminal() || x.Stop != nil {
				return false
			}
			x.Status = core.ExecutionStopping
			x.Stop = &core.StopRequest{Mode: core.StopAndAbandon, Reason: "the state machine execution was aborted", By: "engine", At: now}
			x.LastUpdateTime = now
			return true
		}); err != nil {
			return err
		}
	}
	failure := &core.TaskFailure{Error: r.Error, Cause: r.Cause}
	if failure.Error == "" {
		failure.Error = "States." + r.Status
	}
	if failure.Cause == "" {
		failure.Cause = "the state machine execution ended " + r.Status
	}
	entered, err := s.Stages.ListStages(ctx, r.Pipeline, r.ExecutionID)
	if err != nil {
		return fmt.Errorf("list stages of execution %s: %w", r.ExecutionID, err)
	}
	running := map[string]bool{}
	for _, st := range entered {
		running[st.StageName] = st.Status == core.StageInProgress || st.Status == core.StageStopping
	}
	for _, st := range d.Stages {
		if _, err := s.Queue.Dequeue(ctx, r.Pipeline, st.Name, r.ExecutionID); err != nil && !errors.Is(err, core.ErrNotFound) {
			return fmt.Errorf("take execution %s off the queue of stage %s: %w", r.ExecutionID, st.Name, err)
		}
		holder, err := s.Locks.StageHolder(ctx, r.Pipeline, st.Name)
		if err != nil && !errors.Is(err, core.ErrNotFound) {
			return fmt.Errorf("holder of stage %s: %w", st.Name, err)
		}
		if !running[st.Name] && holder != r.ExecutionID {
			continue
		}
		t := core.GateTask{Op: core.GateFail, Pipeline: r.Pipeline, ExecutionID: r.ExecutionID, Stage: st.Name, Failure: failure}
		if err := s.Gate.Fail(ctx, t); err != nil {
			return fmt.Errorf("fail stage %s of execution %s: %w", st.Name, r.ExecutionID, err)
		}
	}
	// Waiting at no gate and in no stage (between two, or before the first): the
	// execution still ends.
	e, err = core.UpdateExecution(ctx, s.Executions, r.Pipeline, r.ExecutionID, func(x *core.Execution) bool {
		if x.Status.Terminal() {
			return false
		}
		x.Status, x.StatusSummary = core.ExecutionFailed, "The state machine execution ended "+r.Status+": "+failure.Cause
		if x.Stop != nil {
			x.Status, x.StatusSummary = core.ExecutionStopped, "Stopped: "+x.Stop.Reason
		}
		x.LastUpdateTime = now
		return true
	})
	if err != nil {
		return err
	}
	logger.InfoContext(ctx, "execution ended with its run", "pipeline", r.Pipeline, "execution_id", r.ExecutionID, "run", r.Run, "run_status", r.Status, "status", e.Status)
	return nil
}
