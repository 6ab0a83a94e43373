package asl

import (
	"errors"
	"fmt"
	"strings"
)

// Error names defined by the Amazon States Language and Step Functions. State machines
// match these in Retry and Catch ErrorEquals.
const (
	ErrNameALL                             = "States.ALL"
	ErrNameTimeout                         = "States.Timeout"
	ErrNameHeartbeatTimeout                = "States.HeartbeatTimeout"
	ErrNameTaskFailed                      = "States.TaskFailed"
	ErrNamePermissions                     = "States.Permissions"
	ErrNameResultPathMatchFailure          = "States.ResultPathMatchFailure"
	ErrNameParameterPathFailure            = "States.ParameterPathFailure"
	ErrNameBranchFailed                    = "States.BranchFailed"
	ErrNameNoChoiceMatched                 = "States.NoChoiceMatched"
	ErrNameIntrinsicFailure                = "States.IntrinsicFailure"
	ErrNameExceedToleratedFailureThreshold = "States.ExceedToleratedFailureThreshold"
	ErrNameItemReaderFailed                = "States.ItemReaderFailed"
	ErrNameResultWriterFailed              = "States.ResultWriterFailed"
	ErrNameRuntime                         = "States.Runtime"
	ErrNameDataLimitExceeded               = "States.DataLimitExceeded"
)

// Error is a named State Machine error, the unit Retry and Catch match on. A task handler
// returns an *Error to fail its task with that name; any other error fails the task with
// States.TaskFailed and the error's message as cause.
type Error struct {
	Name  string `json:"Error"`
	Cause string `json:"Cause"`
}

// NewError returns an *Error with the given name and a formatted cause.
func NewError(name, format string, args ...any) *Error {
	return &Error{Name: name, Cause: fmt.Sprintf(format, args...)}
}

func (e *Error) Error() string {
	if e.Cause == "" {
		return e.Name
	}
	return e.Name + ": " + e.Cause
}

// terminal reports whether no Retry or Catch may handle the error (Step Functions never
// catches States.Runtime or States.DataLimitExceeded, even with States.ALL).
func (e *Error) terminal() bool {
	return e.Name == ErrNameRuntime || e.Name == ErrNameDataLimitExceeded
}

// asError converts any error to an *Error: an *Error (possibly wrapped) keeps its name,
// anything else becomes States.TaskFailed with the message as cause.
func asError(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return &Error{Name: ErrNameTaskFailed, Cause: err.Error()}
}

// matchesError reports whether an ErrorEquals entry matches the error name.
// States.ALL matches every catchable error; States.TaskFailed matches every error except
// States.Timeout and States.HeartbeatTimeout; States.Timeout also matches
// States.HeartbeatTimeout (a heartbeat timeout is a kind of timeout).
func matchesError(pattern, name string) bool {
	switch pattern {
	case name:
		return true
	case ErrNameALL:
		return true
	case ErrNameTaskFailed:
		return name != ErrNameTimeout && name != ErrNameHeartbeatTimeout
	case ErrNameTimeout:
		return name == ErrNameHeartbeatTimeout
	}
	return false
}

// Sentinel errors of the Engine API.
var (
	// ErrNotFound: no state machine or execution by that name or ARN.
	ErrNotFound = errors.New("asl: not found")
	// ErrExecutionAlreadyExists: an execution of that name exists with a different input.
	ErrExecutionAlreadyExists = errors.New("asl: execution already exists")
	// ErrStateMachineAlreadyExists: a machine of that name exists with another definition.
	ErrStateMachineAlreadyExists = errors.New("asl: state machine already exists")
	// ErrTaskTimedOut: the task token names no task that is waiting (any more).
	ErrTaskTimedOut = errors.New("asl: task timed out: provided task does not exist anymore")
	// ErrInvalidToken: the task token is malformed.
	ErrInvalidToken = errors.New("asl: invalid task token")
	// ErrExecutionNotRedrivable: the execution cannot be redriven (see Engine.Redrive).
	ErrExecutionNotRedrivable = errors.New("asl: execution not redrivable")
	// ErrExecutionNotRunning: Stop on an execution that has already ended.
	ErrExecutionNotRunning = errors.New("asl: execution not running")
	// ErrInvalidName: a state machine or execution name breaks Step Functions' rules.
	ErrInvalidName = errors.New("asl: invalid name")
	// ErrUnsupported: the definition uses a feature this interpreter does not run.
	ErrUnsupported = errors.New("asl: not supported")
	// ErrClosed: the Engine was closed.
	ErrClosed = errors.New("asl: engine closed")
)

// Problem is one validation finding in a definition. Location is a JSON Pointer into the
// definition (e.g. /States/Check/Choices/0); Code is a stable machine-readable kind
// (e.g. SCHEMA_VALIDATION_FAILED, MISSING_TRANSITION_TARGET, UNREACHABLE_STATE).
type Problem struct {
	Location string `json:"location"`
	Code     string `json:"code"`
	Message  string `json:"message"`
}

func (p Problem) String() string { return p.Location + ": " + p.Message + " (" + p.Code + ")" }

// Problem codes, modelled on ValidateStateMachineDefinition's diagnostics.
const (
	CodeInvalidJSON        = "INVALID_JSON_DESCRIPTION"
	CodeSchema             = "SCHEMA_VALIDATION_FAILED"
	CodeUnknownField       = "UNKNOWN_FIELD"
	CodeMissingField       = "MISSING_FIELD"
	CodeMissingTarget      = "MISSING_TRANSITION_TARGET"
	CodeUnreachable        = "UNREACHABLE_STATE"
	CodeDuplicateState     = "DUPLICATE_STATE_NAME"
	CodeNoTerminal         = "NO_TERMINAL_STATE"
	CodeInvalidPath        = "INVALID_JSON_PATH"
	CodeInvalidIntrinsic   = "INVALID_INTRINSIC"
	CodeUnsupported        = "UNSUPPORTED_FEATURE"
	CodePlaceholder        = "UNRESOLVED_PLACEHOLDER"
	CodeInvalidChoice      = "INVALID_CHOICE_RULE"
	CodeInvalidErrorEquals = "INVALID_ERROR_EQUALS"
)

// ValidationError is returned by Parse when a definition has problems; it lists all of them.
type ValidationError struct {
	Problems []Problem
}

func (e *ValidationError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "invalid state machine definition: %d problem(s)", len(e.Problems))
	for _, p := range e.Problems {
		b.WriteString("\n  ")
		b.WriteString(p.String())
	}
	return b.String()
}
