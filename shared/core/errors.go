package core

import (
	"errors"
	"fmt"
)

// Sentinel errors. Adapters map their technology's failures to these (a DynamoDB
// ConditionalCheckFailedException and a SQLite constraint violation both become
// ErrConflict), so usecases decide with errors.Is and never see an SDK error type.
var (
	// ErrNotFound: the record asked for does not exist.
	ErrNotFound = errors.New("not found")
	// ErrConflict: a conditional write lost — the record exists already, its version
	// moved on, a lock is held by someone else, or a status change is not allowed.
	ErrConflict = errors.New("conflict")
	// ErrInvalid: the caller's input breaks a rule; the wrapping message says which.
	ErrInvalid = errors.New("invalid input")
	// ErrUnavailable: the operation needs something this runtime does not have
	// (a provider that cannot run locally, a notifier that is not configured).
	ErrUnavailable = errors.New("not available here")
)

// Error names that compiled state machines match in Retry and Catch. The action, gate
// and approval tasks fail with one of these names; on AWS the Lambda Go runtime reports a
// returned error's type name as the error name, so each name is also the name of the
// error type below (a test checks they agree). A test of the compiler checks that every
// ErrorEquals in compiled output is one of StateMachineErrorNames.
const (
	// ErrorActionFailed: an action ended Failed (its details are in the action execution).
	ErrorActionFailed = "ActionFailedError"
	// ErrorActionAbandoned: the execution was stopped with StopAndAbandon while the
	// action ran.
	ErrorActionAbandoned = "ActionAbandonedError"
	// ErrorSuperseded: a newer execution replaced this one at a stage gate.
	ErrorSuperseded = "SupersededError"
	// ErrorStopped: the execution was stopped before it entered a stage.
	ErrorStopped = "StoppedError"
	// ErrorRejected: a manual approval was rejected.
	ErrorRejected = "RejectedError"
	// ErrorApprovalTimeout: nobody decided a manual approval in time.
	ErrorApprovalTimeout = "ApprovalTimeoutError"

	// States.ALL, Step Functions' catch-all, matched by the stage-failed path.
	ErrorStatesAll = "States.ALL"
	// States.Timeout: a callback task's TimeoutSeconds elapsed.
	ErrorStatesTimeout = "States.Timeout"
	// States.HeartbeatTimeout: a callback task's HeartbeatSeconds elapsed.
	ErrorStatesHeartbeatTimeout = "States.HeartbeatTimeout"
	// States.TaskFailed: any task failure but States.Timeout.
	ErrorStatesTaskFailed = "States.TaskFailed"

	// Transient Lambda errors, retried on every plain (non-callback) invocation as the
	// Step Functions documentation recommends.
	ErrorLambdaService         = "Lambda.ServiceException"
	ErrorLambdaAWS             = "Lambda.AWSLambdaException"
	ErrorLambdaSdkClient       = "Lambda.SdkClientException"
	ErrorLambdaTooManyRequests = "Lambda.TooManyRequestsException"
	ErrorLambdaClientTimeout   = "Lambda.ClientExecutionTimeoutException"
)

// ErrorStageFailed is the Error of the Fail state that ends an execution whose stage
// failed. Nothing matches it; it names the outcome in the engine's history.
const ErrorStageFailed = "StageFailed"

// LambdaTransientErrors are the Lambda errors worth retrying.
var LambdaTransientErrors = []string{
	ErrorLambdaService, ErrorLambdaAWS, ErrorLambdaSdkClient, ErrorLambdaTooManyRequests,
	ErrorLambdaClientTimeout,
}

// StateMachineErrorNames lists every name a compiled machine may match.
var StateMachineErrorNames = []string{
	ErrorActionFailed, ErrorActionAbandoned, ErrorSuperseded, ErrorStopped,
	ErrorRejected, ErrorApprovalTimeout,
	ErrorStatesAll, ErrorStatesTimeout, ErrorStatesHeartbeatTimeout, ErrorStatesTaskFailed,
	ErrorLambdaService, ErrorLambdaAWS, ErrorLambdaSdkClient, ErrorLambdaTooManyRequests,
	ErrorLambdaClientTimeout,
}

// ActionFailedError is returned by the action task when an action ends Failed.
type ActionFailedError struct {
	Stage, Action string
	Message       string
}

func (e *ActionFailedError) Error() string {
	return fmt.Sprintf("action %s/%s failed: %s", e.Stage, e.Action, e.Message)
}

// ActionAbandonedError is returned by the action task when a stop abandoned the action.
type ActionAbandonedError struct{ Stage, Action string }

func (e *ActionAbandonedError) Error() string {
	return fmt.Sprintf("action %s/%s abandoned", e.Stage, e.Action)
}

// SupersededError is returned by a stage gate to an execution that a newer one
// replaced.
type SupersededError struct{ ExecutionID, By string }

func (e *SupersededError) Error() string {
	return fmt.Sprintf("execution %s superseded by %s", e.ExecutionID, e.By)
}

// StoppedError is returned by a stage gate to an execution stopped while it waited.
type StoppedError struct{ ExecutionID, Reason string }

func (e *StoppedError) Error() string {
	return fmt.Sprintf("execution %s stopped: %s", e.ExecutionID, e.Reason)
}

// RejectedError is returned when a manual approval is rejected.
type RejectedError struct{ By, Comment string }

func (e *RejectedError) Error() string {
	return fmt.Sprintf("rejected by %s: %s", e.By, e.Comment)
}

// ApprovalTimeoutError is returned when a manual approval expires undecided.
type ApprovalTimeoutError struct{ Stage, Action string }

func (e *ApprovalTimeoutError) Error() string {
	return fmt.Sprintf("approval %s/%s timed out", e.Stage, e.Action)
}

// StateMachineError returns the value of one of the error types above found in err's
// chain, or err itself when it carries none. Task functions return it rather than a
// wrapper: the Lambda Go runtime names an error after the returned value's type.
func StateMachineError(err error) error {
	var (
		af *ActionFailedError
		aa *ActionAbandonedError
		es *SupersededError
		st *StoppedError
		ar *RejectedError
		at *ApprovalTimeoutError
	)
	switch {
	case errors.As(err, &af):
		return af
	case errors.As(err, &aa):
		return aa
	case errors.As(err, &es):
		return es
	case errors.As(err, &st):
		return st
	case errors.As(err, &ar):
		return ar
	case errors.As(err, &at):
		return at
	}
	return err
}

// ErrorName returns the state machine error name of err: the name of the first error type
// above found in err's chain, or "" when err carries none of them.
func ErrorName(err error) string {
	switch StateMachineError(err).(type) {
	case *ActionFailedError:
		return ErrorActionFailed
	case *ActionAbandonedError:
		return ErrorActionAbandoned
	case *SupersededError:
		return ErrorSuperseded
	case *StoppedError:
		return ErrorStopped
	case *RejectedError:
		return ErrorRejected
	case *ApprovalTimeoutError:
		return ErrorApprovalTimeout
	}
	return ""
}
