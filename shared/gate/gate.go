// Package gate decides when an execution may enter a stage, and records stage outcomes.
//
// Every stage of a compiled machine starts with an enter task that waits (callback token)
// until the gate lets the execution in, and ends with a leave or fail task. The gate
// enforces CodePipeline's semantics over the core stores:
//
//   - a stage runs at most one execution at a time (stage locks), except in PARALLEL mode;
//   - SUPERSEDED: a newer execution waiting at a stage replaces an older one waiting
//     there, which ends Superseded; QUEUED: waiters go in in arrival order;
//     PARALLEL: nobody waits for anybody;
//   - a disabled inbound transition holds every execution at the gate until it is
//     enabled, when the next waiter (the newest, in SUPERSEDED mode) goes in;
//   - a stop request ends an execution waiting at a gate at once, and one running a
//     stage when its running actions have ended (stop and wait).
//
// The stores are the source of truth and every step is a conditional write, so gate
// operations may run concurrently in several processes (Lambdas) and may be retried:
// each is idempotent. Within one process, operations on one stage are also serialised
// to keep contention low.
package gate

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"

	"github.com/relais-ci/relais/shared/core"
)

// Deps are what the gate works over.
type Deps struct {
	Executions  core.ExecutionStore
	Stages      core.StageStore
	Actions     core.ActionStore
	Locks       core.StageLocks
	Queue       core.GateQueue
	Transitions core.TransitionStore
	Engine      core.Engine
	Clock       core.Clock
	Logger      *slog.Logger
}

// Service is the gate.
type Service struct {
	d     Deps
	mu    sync.Mutex
	locks map[string]*sync.Mutex
}

// New returns a gate over d. Clock and Logger default to the system clock and
// slog.Default().
func New(d Deps) *Service {
	if d.Clock == nil {
		d.Clock = core.SystemClock
	}
	if d.Logger == nil {
		d.Logger = slog.Default()
	}
	return &Service{d: d, locks: map[string]*sync.Mutex{}}
}

// Handle runs one gate task from a compiled machine. Errors that the machine matches are
// *core.SupersededError and *core.StoppedError; any other error fails the stage.
func (s *Service) Handle(ctx context.Context, t core.GateTask) error {
	if t.Pipeline == "" || t.ExecutionID == "" || t.Stage == "" {
		return fmt.Errorf("gate %s: pipeline, executionId and stage are required: %w", t.Op, core.ErrInvalid)
	}
	switch t.Op {
	case core.GateEnter:
		return s.Enter(ctx, t)
	case core.GateLeave:
		return s.Leave(ctx, t)
	case core.GateFail:
		return s.Fail(ctx, t)
	}
	return fmt.Errorf("gate: unknown op %q: %w", t.Op, core.ErrInvalid)
}

// stageMutex serialises this process's operations on one stage.
func (s *Service) stageMutex(pipeline, stage string) *sync.Mutex {
	key := pipeline + "\x00" + stage
	s.mu.Lock()
	defer s.mu.Unlock()
	m, ok := s.locks[key]
	if !ok {
		m = &sync.Mutex{}
		s.locks[key] = m
	}
	return m
}

// Enter queues the execution at the stage's gate and lets in whoever may go in now. The
// execution's callback token is answered when it goes in (SendTaskSuccess), or failed
// with SupersededError or StoppedError.
func (s *Service) Enter(ctx context.Context, t core.GateTask) error {
	m := s.stageMutex(t.Pipeline, t.Stage)
	m.Lock()
	defer m.Unlock()

	e, err := s.d.Executions.GetExecution(ctx, t.Pipeline, t.ExecutionID)
	if err != nil {
		return fmt.Errorf("enter stage %s: get execution %s: %w", t.Stage, t.ExecutionID, err)
	}
	if e.Stop != nil || e.Status.Terminal() {
		if _, err := s.endStopped(ctx, e, ""); err != nil {
			return err
		}
		return &core.StoppedError{ExecutionID: e.ID, Reason: stopReason(e)}
	}
	if t.Token == "" {
		return fmt.Errorf("enter stage %s: no task token: %w", t.Stage, core.ErrInvalid)
	}
	me, err := s.d.Queue.Enqueue(ctx, core.Waiter{
		PipelineName: t.Pipeline, StageName: t.Stage, ExecutionID: t.ExecutionID,
		TaskToken: t.Token, ArrivedAt: s.d.Clock.Now(),
	})
	if err != nil {
		return fmt.Errorf("enter stage %s: queue execution %s: %w", t.Stage, t.ExecutionID, err)
	}
	if e.Mode == core.ModeSuperseded || e.Mode == "" {
		if err := s.supersede(ctx, e, me); err != nil {
			return err
		}
	}
	return s.admit(ctx, t.Pipeline, t.Stage, e.Mode)
}

// supersede ends every execution waiting at me's stage that started before e, and e
// itself when a newer one already waits there.
func (s *Service) supersede(ctx context.Context, e core.Execution, me core.Waiter) error {
	waiters, err := s.d.Queue.Waiters(ctx, me.PipelineName, me.StageName)
	if err != nil {
		return fmt.Errorf("supersede at stage %s: list waiters: %w", me.StageName, err)
	}
	// The newest execution (by start time) among the waiters wins.
	newest, newestStart := e.ID, e.StartTime
	others := map[string]core.Execution{}
	for _, w := range waiters {
		if w.ExecutionID == e.ID {
			continue
		}
		o, err := s.d.Executions.GetExecution(ctx, w.PipelineName, w.ExecutionID)
		if err != nil {
			return fmt.Errorf("supersede at stage %s: get execution %s: %w", me.StageName, w.ExecutionID, err)
		}
		others[w.ExecutionID] = o
		if o.StartTime.After(newestStart) || (o.StartTime.Equal(newestStart) && o.ID > newest) {
			newest, newestStart = o.ID, o.StartTime
		}
	}
	for _, w := range waiters {
		if w.ExecutionID == newest {
			continue
		}
		if err := s.supersedeOne(ctx, w, newest); err != nil {
			return err
		}
	}
	return nil
}

func (s *Service) supersedeOne(ctx context.Context, w core.Waiter, by string) error {
	if _, err := s.d.Queue.Dequeue(ctx, w.PipelineName, w.StageName, w.ExecutionID); err != nil {
		if errors.Is(err, core.ErrNotFound) {
			return nil // let in or superseded meanwhile
		}
		return fmt.Errorf("supersede execution %s: dequeue: %w", w.ExecutionID, err)
	}
	now := s.d.Clock.Now()
	if _, err := s.updateExecution(ctx, w.PipelineName, w.ExecutionID, func(e *core.Execution) bool {
		if e.Status.Terminal() {
			return false
		}
		e.Status = core.ExecutionSuperseded
		e.StatusSummary = fmt.Sprintf("Superseded by execution %s at stage %s", by, w.StageName)
		e.LastUpdateTime = now
		return true
	}); err != nil {
		return err
	}
	// A superseded execution never holds the lock of the stage it waited at, but a
	// concurrent admit may have just taken it on its behalf.
	if err := s.d.Locks.ReleaseStage(ctx, w.PipelineName, w.StageName, w.ExecutionID); err != nil {
		return fmt.Errorf("supersede execution %s: release stage %s: %w", w.ExecutionID, w.StageName, err)
	}
	s.d.Logger.InfoContext(ctx, "execution superseded", "pipeline", w.PipelineName, "execution_id", w.ExecutionID, "stage", w.StageName, "by", by)
	if err := s.d.Engine.SendTaskFailure(ctx, w.TaskToken, core.ErrorSuperseded, "superseded by execution "+by); err != nil && !errors.Is(err, core.ErrNotFound) {
		return fmt.Errorf("supersede execution %s: fail its gate task: %w", w.ExecutionID, err)
	}
	return nil
}

// admit lets in the waiters of a stage that may go in now.
func (s *Service) admit(ctx context.Context, pipeline, stage string, mode core.ExecutionMode) error {
	tr, err := s.d.Transitions.GetTransition(ctx, pipeline, stage)
	if err != nil {
		return fmt.Errorf("admit at stage %s: get transition: %w", stage, err)
	}
	if !tr.Enabled {
		return nil
	}
	// Each round lets one waiter in or finds it gone; a waiter whose engine run has
	// ended is dropped and the next one tried. The bound only guards against a store
	// that keeps returning a waiter it cannot remove.
	for range 1000 {
		waiters, err := s.d.Queue.Waiters(ctx, pipeline, stage)
		if err != nil {
			return fmt.Errorf("admit at stage %s: list waiters: %w", stage, err)
		}
		if len(waiters) == 0 {
			return nil
		}
		if mode == core.ModeParallel {
			for _, w := range waiters {
				if _, err := s.letIn(ctx, w, false); err != nil {
					return err
				}
			}
			return nil
		}
		w := waiters[0] // QUEUED: the oldest
		if mode != core.ModeQueued {
			w = waiters[len(waiters)-1] // SUPERSEDED: the newest (normally the only one)
		}
		if err := s.d.Locks.AcquireStage(ctx, pipeline, stage, w.ExecutionID); err != nil {
			if errors.Is(err, core.ErrConflict) {
				return nil // the holder lets the next one in when it leaves
			}
			return fmt.Errorf("admit execution %s at stage %s: acquire: %w", w.ExecutionID, stage, err)
		}
		in, err := s.letIn(ctx, w, true)
		if err != nil || in {
			return err
		}
	}
	return fmt.Errorf("admit at stage %s: waiters keep coming back: %w", stage, core.ErrConflict)
}

// letIn takes w off the queue, records the stage as entered and answers its gate task.
// It reports whether w went in; when w is gone (let in elsewhere, superseded, its engine
// run stopped) it frees the stage if locked says it was taken for w.
func (s *Service) letIn(ctx context.Context, w core.Waiter, locked bool) (bool, error) {
	unlock := func() error {
		if !locked {
			return nil
		}
		return s.d.Locks.ReleaseStage(ctx, w.PipelineName, w.StageName, w.ExecutionID)
	}
	if _, err := s.d.Queue.Dequeue(ctx, w.PipelineName, w.StageName, w.ExecutionID); err != nil {
		if errors.Is(err, core.ErrNotFound) {
			// Another gate operation let it in (then it holds the stage, rightly) or
			// superseded it (then the lock taken on its behalf must go).
			if e, gerr := s.d.Executions.GetExecution(ctx, w.PipelineName, w.ExecutionID); gerr == nil && e.Status.Terminal() {
				return false, unlock()
			}
			return true, nil
		}
		return false, fmt.Errorf("let execution %s into stage %s: dequeue: %w", w.ExecutionID, w.StageName, err)
	}
	e, err := s.d.Executions.GetExecution(ctx, w.PipelineName, w.ExecutionID)
	if err != nil {
		return false, fmt.Errorf("let execution %s into stage %s: %w", w.ExecutionID, w.StageName, err)
	}
	if e.Status.Terminal() {
		return false, unlock() // it ended while waiting (its enter task failed)
	}
	st := core.StageExecution{
		PipelineName: w.PipelineName, ExecutionID: w.ExecutionID, StageName: w.StageName,
		Status: core.StageInProgress, Attempt: 1, StartTime: s.d.Clock.Now(),
	}
	retry := e.Retry != nil && e.Retry.Stage == w.StageName
	prev, err := s.stage(ctx, w.PipelineName, w.ExecutionID, w.StageName)
	switch {
	case err == nil && retry && prev.RetryCount < e.Retry.Count:
		// A retry of this stage: a new attempt.
		st.Attempt, st.RetryMode, st.RetryCount = prev.Attempt+1, e.Retry.Mode, e.Retry.Count
	case err == nil:
		// The engine delivered this gate task again (it resumed from a checkpoint taken
		// before the stage was entered): the same attempt goes on, so its actions answer
		// from what they recorded instead of running again.
		st = prev
		st.Status = core.StageInProgress
	case !errors.Is(err, core.ErrNotFound):
		return false, err
	case retry:
		st.RetryMode, st.RetryCount = e.Retry.Mode, e.Retry.Count
	}
	st.LastUpdateTime = s.d.Clock.Now()
	if err := s.d.Stages.PutStage(ctx, st); err != nil {
		return false, fmt.Errorf("let execution %s into stage %s: record stage: %w", w.ExecutionID, w.StageName, err)
	}
	s.d.Logger.InfoContext(ctx, "stage entered", "pipeline", w.PipelineName, "execution_id", w.ExecutionID, "stage", w.StageName, "attempt", st.Attempt)
	if err := s.d.Engine.SendTaskSuccess(ctx, w.TaskToken, []byte(`{}`)); err != nil {
		if errors.Is(err, core.ErrNotFound) {
			return false, unlock() // its engine run is gone (stopped)
		}
		return false, fmt.Errorf("let execution %s into stage %s: answer gate task: %w", w.ExecutionID, w.StageName, err)
	}
	return true, nil
}

// Leave records a stage's success, frees it and lets the next waiter in. On the last
// stage the execution succeeds. When a stop was requested the execution ends Stopped
// here and Leave returns *core.StoppedError.
func (s *Service) Leave(ctx context.Context, t core.GateTask) error {
	m := s.stageMutex(t.Pipeline, t.Stage)
	m.Lock()
	defer m.Unlock()

	cur, err := s.d.Executions.GetExecution(ctx, t.Pipeline, t.ExecutionID)
	if err != nil {
		return fmt.Errorf("leave stage %s: get execution %s: %w", t.Stage, t.ExecutionID, err)
	}
	// Stopped with stop-and-wait while this stage ran: its actions have finished, and the
	// stage is recorded Stopped so that a retry resumes here (its succeeded actions are
	// kept by FAILED_ACTIONS) and goes on to the stages the stop kept from running.
	status := core.StageSucceeded
	if cur.Stop != nil && !t.Last {
		status = core.StageStopped
	}
	if err := s.endStage(ctx, t, status); err != nil {
		return err
	}
	now := s.d.Clock.Now()
	e, err := s.updateExecution(ctx, t.Pipeline, t.ExecutionID, func(e *core.Execution) bool {
		switch {
		case e.Status.Terminal():
			return false
		case e.Stop != nil:
			e.Status = core.ExecutionStopped
			e.StatusSummary = stopReason(*e)
		case t.Last:
			e.Status = core.ExecutionSucceeded
		default:
			return false
		}
		e.LastUpdateTime = now
		return true
	})
	if err != nil {
		return err
	}
	if err := s.release(ctx, t.Pipeline, t.Stage, t.ExecutionID, e.Mode); err != nil {
		return err
	}
	if e.Status == core.ExecutionStopped {
		return &core.StoppedError{ExecutionID: e.ID, Reason: stopReason(e)}
	}
	return nil
}

// Fail records that a stage ended without success — Failed, or Stopped when a stop was
// requested — frees it and lets the next waiter in. Actions of the stage still in
// progress (an approval that timed out) end Failed with the reason.
func (s *Service) Fail(ctx context.Context, t core.GateTask) error {
	m := s.stageMutex(t.Pipeline, t.Stage)
	m.Lock()
	defer m.Unlock()

	e, err := s.d.Executions.GetExecution(ctx, t.Pipeline, t.ExecutionID)
	if err != nil {
		return fmt.Errorf("fail stage %s: get execution %s: %w", t.Stage, t.ExecutionID, err)
	}
	stopped := e.Stop != nil || e.Status == core.ExecutionStopped
	if err := s.failRunningActions(ctx, t, stopped); err != nil {
		return err
	}
	stageStatus, status := core.StageFailed, core.ExecutionFailed
	if stopped {
		stageStatus, status = core.StageStopped, core.ExecutionStopped
	}
	if err := s.endStage(ctx, t, stageStatus); err != nil {
		return err
	}
	// An enter task that failed may have left the execution queued at this stage.
	if _, err := s.d.Queue.Dequeue(ctx, t.Pipeline, t.Stage, t.ExecutionID); err != nil && !errors.Is(err, core.ErrNotFound) {
		return fmt.Errorf("fail stage %s: leave its queue: %w", t.Stage, err)
	}
	now := s.d.Clock.Now()
	e, err = s.updateExecution(ctx, t.Pipeline, t.ExecutionID, func(e *core.Execution) bool {
		if e.Status.Terminal() {
			return false
		}
		e.Status = status
		e.StatusSummary = failureSummary(t, stopped, *e)
		e.LastUpdateTime = now
		return true
	})
	if err != nil {
		return err
	}
	s.d.Logger.InfoContext(ctx, "stage ended", "pipeline", t.Pipeline, "execution_id", t.ExecutionID, "stage", t.Stage, "status", stageStatus)
	return s.release(ctx, t.Pipeline, t.Stage, t.ExecutionID, e.Mode)
}

func failureSummary(t core.GateTask, stopped bool, e core.Execution) string {
	if stopped {
		return stopReason(e)
	}
	if t.Failure == nil {
		return fmt.Sprintf("Stage %s failed", t.Stage)
	}
	if t.Failure.Error == core.ErrorStatesTimeout {
		return fmt.Sprintf("Stage %s failed: an action timed out", t.Stage)
	}
	if t.Failure.Cause != "" {
		return fmt.Sprintf("Stage %s failed: %s", t.Stage, t.Failure.Cause)
	}
	return fmt.Sprintf("Stage %s failed: %s", t.Stage, t.Failure.Error)
}

// failRunningActions ends the actions of the stage's current attempt still InProgress:
// they timed out, or the stage failed around them.
func (s *Service) failRunningActions(ctx context.Context, t core.GateTask, stopped bool) error {
	st, err := s.stage(ctx, t.Pipeline, t.ExecutionID, t.Stage)
	if err != nil {
		if errors.Is(err, core.ErrNotFound) {
			return nil // failed before entering (the gate task itself failed)
		}
		return err
	}
	actions, err := s.listActions(ctx, core.ActionFilter{PipelineName: t.Pipeline, ExecutionID: t.ExecutionID, StageName: t.Stage})
	if err != nil {
		return err
	}
	now := s.d.Clock.Now()
	for _, a := range actions {
		if a.Attempt != st.Attempt || a.Status != core.ActionInProgress {
			continue
		}
		a.LastUpdateTime = now
		switch {
		case stopped:
			a.Status = core.ActionAbandoned
			a.Summary = "Abandoned: the execution was stopped"
		case t.Failure != nil && t.Failure.Error == core.ErrorStatesTimeout:
			a.Status = core.ActionFailed
			msg := "Action timed out"
			if a.Type.Category == "Approval" {
				msg = "Approval timed out"
			}
			a.Error = &core.ErrorDetails{Code: "TimeoutError", Message: msg}
		default:
			a.Status = core.ActionFailed
			msg := "The stage failed"
			if t.Failure != nil {
				msg = t.Failure.Error + ": " + t.Failure.Cause
			}
			a.Error = &core.ErrorDetails{Code: "JobFailed", Message: msg}
		}
		if err := s.d.Actions.PutAction(ctx, a); err != nil && !errors.Is(err, core.ErrConflict) {
			return fmt.Errorf("end action %s of stage %s: %w", a.ActionName, t.Stage, err)
		}
	}
	return nil
}

// endStage records the outcome of the execution's current attempt at a stage.
func (s *Service) endStage(ctx context.Context, t core.GateTask, status core.StageStatus) error {
	st, err := s.stage(ctx, t.Pipeline, t.ExecutionID, t.Stage)
	if err != nil {
		if !errors.Is(err, core.ErrNotFound) {
			return err
		}
		// The stage was never entered (its gate task failed): record the outcome anyway,
		// so that get-pipeline-state shows it.
		st = core.StageExecution{PipelineName: t.Pipeline, ExecutionID: t.ExecutionID, StageName: t.Stage, Attempt: 1, StartTime: s.d.Clock.Now()}
	}
	if st.Status == status {
		return nil // a retried leave or fail
	}
	st.Status = status
	st.LastUpdateTime = s.d.Clock.Now()
	if err := s.d.Stages.PutStage(ctx, st); err != nil {
		return fmt.Errorf("record stage %s of execution %s as %s: %w", t.Stage, t.ExecutionID, status, err)
	}
	return nil
}

// release frees a stage held by executionID and lets the next waiter in.
func (s *Service) release(ctx context.Context, pipeline, stage, executionID string, mode core.ExecutionMode) error {
	if err := s.d.Locks.ReleaseStage(ctx, pipeline, stage, executionID); err != nil {
		return fmt.Errorf("release stage %s held by %s: %w", stage, executionID, err)
	}
	return s.admit(ctx, pipeline, stage, mode)
}

func (s *Service) stage(ctx context.Context, pipeline, executionID, stage string) (core.StageExecution, error) {
	return core.FindStage(ctx, s.d.Stages, pipeline, executionID, stage)
}

func (s *Service) listActions(ctx context.Context, f core.ActionFilter) ([]core.ActionExecution, error) {
	return core.AllActions(ctx, s.d.Actions, f)
}

func (s *Service) updateExecution(ctx context.Context, pipeline, id string, change func(*core.Execution) bool) (core.Execution, error) {
	return core.UpdateExecution(ctx, s.d.Executions, pipeline, id, change)
}

// endStopped records a stopped execution as Stopped (it was Stopping) and returns it.
func (s *Service) endStopped(ctx context.Context, e core.Execution, stage string) (core.Execution, error) {
	now := s.d.Clock.Now()
	return s.updateExecution(ctx, e.PipelineName, e.ID, func(e *core.Execution) bool {
		if e.Status != core.ExecutionStopping && e.Status != core.ExecutionInProgress {
			return false
		}
		e.Status = core.ExecutionStopped
		e.StatusSummary = stopReason(*e)
		e.LastUpdateTime = now
		return true
	})
}

func stopReason(e core.Execution) string {
	if e.Stop == nil {
		return "Stopped"
	}
	if e.Stop.Reason != "" {
		return "Stopped: " + e.Stop.Reason
	}
	return "Stopped"
}
