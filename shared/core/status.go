package core

import "fmt"

// ExecutionStatus is the status of a pipeline execution, as CodePipeline's
// PipelineExecution.status.
type ExecutionStatus string

// Pipeline execution statuses.
const (
	ExecutionCancelled  ExecutionStatus = "Cancelled"
	ExecutionInProgress ExecutionStatus = "InProgress"
	ExecutionStopped    ExecutionStatus = "Stopped"
	ExecutionStopping   ExecutionStatus = "Stopping"
	ExecutionSucceeded  ExecutionStatus = "Succeeded"
	ExecutionSuperseded ExecutionStatus = "Superseded"
	ExecutionFailed     ExecutionStatus = "Failed"
)

// ExecutionStatuses lists every execution status.
var ExecutionStatuses = []ExecutionStatus{
	ExecutionCancelled, ExecutionInProgress, ExecutionStopped, ExecutionStopping,
	ExecutionSucceeded, ExecutionSuperseded, ExecutionFailed,
}

// Terminal reports whether no further change can happen to an execution in this status,
// except a retry of a failed stage, which moves a Failed or Stopped execution back to
// InProgress (see CanBecome).
func (s ExecutionStatus) Terminal() bool {
	switch s {
	case ExecutionCancelled, ExecutionStopped, ExecutionSucceeded, ExecutionSuperseded, ExecutionFailed:
		return true
	}
	return false
}

// Valid reports whether s is one of CodePipeline's execution statuses.
func (s ExecutionStatus) Valid() bool { return member(s, ExecutionStatuses) }

// CanBecome reports whether an execution may move from s to next.
//
//   - InProgress → any other status.
//   - Stopping → Stopped (running actions ended) or Failed (one of them failed).
//   - Failed, Stopped → InProgress: a retry of the failed stage resumes the same execution.
//   - Cancelled, Succeeded, Superseded are final.
//
// A move to the same status is allowed: recording it again is idempotent.
func (s ExecutionStatus) CanBecome(next ExecutionStatus) bool {
	if s == next {
		return true
	}
	switch s {
	case ExecutionInProgress:
		return next.Valid()
	case ExecutionStopping:
		return next == ExecutionStopped || next == ExecutionFailed
	case ExecutionFailed, ExecutionStopped:
		return next == ExecutionInProgress
	}
	return false
}

// StageStatus is the status of a stage within an execution, as CodePipeline's
// StageExecution.status.
type StageStatus string

// Stage execution statuses.
const (
	StageCancelled  StageStatus = "Cancelled"
	StageInProgress StageStatus = "InProgress"
	StageFailed     StageStatus = "Failed"
	StageStopped    StageStatus = "Stopped"
	StageStopping   StageStatus = "Stopping"
	StageSucceeded  StageStatus = "Succeeded"
	StageSkipped    StageStatus = "Skipped"
)

// StageStatuses lists every stage status.
var StageStatuses = []StageStatus{
	StageCancelled, StageInProgress, StageFailed, StageStopped, StageStopping, StageSucceeded, StageSkipped,
}

// Terminal reports whether the stage has ended for this execution (until a retry).
func (s StageStatus) Terminal() bool {
	return s != StageInProgress && s != StageStopping && s.Valid()
}

// Valid reports whether s is one of CodePipeline's stage statuses.
func (s StageStatus) Valid() bool { return member(s, StageStatuses) }

// CanBecome reports whether a stage execution may move from s to next; the rules mirror
// ExecutionStatus.CanBecome, with Skipped final.
func (s StageStatus) CanBecome(next StageStatus) bool {
	if s == next {
		return true
	}
	switch s {
	case StageInProgress:
		return next.Valid()
	case StageStopping:
		return next == StageStopped || next == StageFailed
	case StageFailed, StageStopped:
		return next == StageInProgress
	}
	return false
}

// ActionStatus is the status of an action execution, as CodePipeline's
// ActionExecution.status.
type ActionStatus string

// Action execution statuses.
const (
	ActionInProgress ActionStatus = "InProgress"
	ActionAbandoned  ActionStatus = "Abandoned"
	ActionSucceeded  ActionStatus = "Succeeded"
	ActionFailed     ActionStatus = "Failed"
)

// ActionStatuses lists every action status.
var ActionStatuses = []ActionStatus{ActionInProgress, ActionAbandoned, ActionSucceeded, ActionFailed}

// Terminal reports whether the action execution has ended. A retried action is a new
// action execution, so an ended one never changes again.
func (s ActionStatus) Terminal() bool { return s != ActionInProgress && s.Valid() }

// Valid reports whether s is one of CodePipeline's action statuses.
func (s ActionStatus) Valid() bool { return member(s, ActionStatuses) }

// CanBecome reports whether an action execution may move from s to next: only
// InProgress moves, and recording the same status again is idempotent.
func (s ActionStatus) CanBecome(next ActionStatus) bool {
	return s == next || (s == ActionInProgress && next.Valid())
}

// ExecutionMode is how executions of one pipeline share its stages.
type ExecutionMode string

// Execution modes, as CodePipeline's pipeline executionMode.
const (
	// ModeSuperseded: a newer execution waiting at a stage replaces the older one waiting
	// there, which ends Superseded. The default.
	ModeSuperseded ExecutionMode = "SUPERSEDED"
	// ModeQueued: executions go through each stage one at a time, in the order they arrived.
	ModeQueued ExecutionMode = "QUEUED"
	// ModeParallel: executions do not wait for each other.
	ModeParallel ExecutionMode = "PARALLEL"
)

// Valid reports whether m is one of CodePipeline's execution modes.
func (m ExecutionMode) Valid() bool {
	return m == ModeSuperseded || m == ModeQueued || m == ModeParallel
}

// TriggerType says what started an execution, as CodePipeline's
// ExecutionTrigger.triggerType.
type TriggerType string

// Trigger types.
const (
	TriggerCreatePipeline         TriggerType = "CreatePipeline"
	TriggerStartPipelineExecution TriggerType = "StartPipelineExecution"
	TriggerPollForSourceChanges   TriggerType = "PollForSourceChanges"
	TriggerWebhook                TriggerType = "Webhook"
	TriggerCloudWatchEvent        TriggerType = "CloudWatchEvent"
	TriggerPutActionRevision      TriggerType = "PutActionRevision"
	TriggerWebhookV2              TriggerType = "WebhookV2"
	TriggerManualRollback         TriggerType = "ManualRollback"
	TriggerAutomatedRollback      TriggerType = "AutomatedRollback"
)

// StopMode is how StopPipelineExecution ends running actions.
type StopMode string

// Stop modes.
const (
	// StopAndWait lets running actions finish; the execution is Stopping until they do.
	StopAndWait StopMode = "StopAndWait"
	// StopAndAbandon abandons running actions at once.
	StopAndAbandon StopMode = "StopAndAbandon"
)

// RetryMode says which actions RetryStageExecution re-runs.
type RetryMode string

// Retry modes, as CodePipeline's StageRetryMode.
const (
	RetryFailedActions RetryMode = "FAILED_ACTIONS"
	RetryAllActions    RetryMode = "ALL_ACTIONS"
)

// Valid reports whether m is one of CodePipeline's retry modes.
func (m RetryMode) Valid() bool { return m == RetryFailedActions || m == RetryAllActions }

// ApprovalDecision is the answer to a manual approval, as CodePipeline's
// ApprovalResult.status.
type ApprovalDecision string

// Approval decisions.
const (
	Approved ApprovalDecision = "Approved"
	Rejected ApprovalDecision = "Rejected"
)

// Valid reports whether d is Approved or Rejected.
func (d ApprovalDecision) Valid() bool { return d == Approved || d == Rejected }

// TransitionError describes a refused status change.
func TransitionError[S ~string](kind string, from, to S) error {
	return fmt.Errorf("%s cannot move from %s to %s: %w", kind, from, to, ErrConflict)
}

func member[S comparable](s S, all []S) bool {
	for _, v := range all {
		if v == s {
			return true
		}
	}
	return false
}
