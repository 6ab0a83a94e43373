package asl

import "time"

// Event is one entry of an execution's history, named and shaped like Step Functions'
// GetExecutionHistory HistoryEvent: exactly one *EventDetails field is set, under the JSON
// name Step Functions uses for that event type.
type Event struct {
	ID              int64     `json:"id"`
	PreviousEventID int64     `json:"previousEventId"`
	Timestamp       time.Time `json:"timestamp"`
	Type            string    `json:"type"`
	// EventDetails holds the one details field of the event type; embedded so that the
	// JSON shape is Step Functions' (details at the top level of the event).
	*EventDetails
}

// EventDetails holds the type-specific part of an Event: one field is set.
type EventDetails struct {
	ExecutionStartedEventDetails   *ExecutionStartedEventDetails   `json:"executionStartedEventDetails,omitempty"`
	ExecutionSucceededEventDetails *ExecutionSucceededEventDetails `json:"executionSucceededEventDetails,omitempty"`
	ExecutionFailedEventDetails    *ErrorEventDetails              `json:"executionFailedEventDetails,omitempty"`
	ExecutionAbortedEventDetails   *ErrorEventDetails              `json:"executionAbortedEventDetails,omitempty"`
	ExecutionTimedOutEventDetails  *ErrorEventDetails              `json:"executionTimedOutEventDetails,omitempty"`
	ExecutionRedrivenEventDetails  *ExecutionRedrivenEventDetails  `json:"executionRedrivenEventDetails,omitempty"`

	StateEnteredEventDetails *StateEnteredEventDetails `json:"stateEnteredEventDetails,omitempty"`
	StateExitedEventDetails  *StateExitedEventDetails  `json:"stateExitedEventDetails,omitempty"`

	TaskScheduledEventDetails *TaskScheduledEventDetails `json:"taskScheduledEventDetails,omitempty"`
	TaskStartedEventDetails   *TaskStartedEventDetails   `json:"taskStartedEventDetails,omitempty"`
	TaskSubmittedEventDetails *TaskResultEventDetails    `json:"taskSubmittedEventDetails,omitempty"`
	TaskSucceededEventDetails *TaskResultEventDetails    `json:"taskSucceededEventDetails,omitempty"`
	TaskFailedEventDetails    *TaskErrorEventDetails     `json:"taskFailedEventDetails,omitempty"`
	TaskTimedOutEventDetails  *TaskErrorEventDetails     `json:"taskTimedOutEventDetails,omitempty"`

	LambdaFunctionScheduledEventDetails *LambdaFunctionScheduledEventDetails `json:"lambdaFunctionScheduledEventDetails,omitempty"`
	LambdaFunctionSucceededEventDetails *ExecutionSucceededEventDetails      `json:"lambdaFunctionSucceededEventDetails,omitempty"`
	LambdaFunctionFailedEventDetails    *ErrorEventDetails                   `json:"lambdaFunctionFailedEventDetails,omitempty"`
	LambdaFunctionTimedOutEventDetails  *ErrorEventDetails                   `json:"lambdaFunctionTimedOutEventDetails,omitempty"`

	MapStateStartedEventDetails       *MapStateStartedEventDetails `json:"mapStateStartedEventDetails,omitempty"`
	MapIterationStartedEventDetails   *MapIterationEventDetails    `json:"mapIterationStartedEventDetails,omitempty"`
	MapIterationSucceededEventDetails *MapIterationEventDetails    `json:"mapIterationSucceededEventDetails,omitempty"`
	MapIterationFailedEventDetails    *MapIterationEventDetails    `json:"mapIterationFailedEventDetails,omitempty"`
	MapIterationAbortedEventDetails   *MapIterationEventDetails    `json:"mapIterationAbortedEventDetails,omitempty"`
}

// DataDetails says whether a payload in an event was truncated (never, here).
type DataDetails struct {
	Truncated bool `json:"truncated"`
}

// ExecutionStartedEventDetails is the detail of ExecutionStarted.
type ExecutionStartedEventDetails struct {
	Input        string       `json:"input"`
	InputDetails *DataDetails `json:"inputDetails,omitempty"`
	RoleArn      string       `json:"roleArn,omitempty"`
}

// ExecutionSucceededEventDetails is the detail of ExecutionSucceeded (and LambdaFunctionSucceeded).
type ExecutionSucceededEventDetails struct {
	Output        string       `json:"output"`
	OutputDetails *DataDetails `json:"outputDetails,omitempty"`
}

// ErrorEventDetails is the shape of ExecutionFailed/Aborted/TimedOut and
// LambdaFunctionFailed/TimedOut details.
type ErrorEventDetails struct {
	Error string `json:"error,omitempty"`
	Cause string `json:"cause,omitempty"`
}

// ExecutionRedrivenEventDetails is the detail of ExecutionRedriven.
type ExecutionRedrivenEventDetails struct {
	RedriveCount int `json:"redriveCount"`
}

// StateEnteredEventDetails is the detail of every <Type>StateEntered event.
type StateEnteredEventDetails struct {
	Name         string       `json:"name"`
	Input        string       `json:"input"`
	InputDetails *DataDetails `json:"inputDetails,omitempty"`
}

// StateExitedEventDetails is the detail of every <Type>StateExited event.
type StateExitedEventDetails struct {
	Name          string       `json:"name"`
	Output        string       `json:"output"`
	OutputDetails *DataDetails `json:"outputDetails,omitempty"`
}

// TaskScheduledEventDetails is the detail of TaskScheduled; Parameters is JSON text.
type TaskScheduledEventDetails struct {
	ResourceType       string `json:"resourceType"`
	Resource           string `json:"resource"`
	Region             string `json:"region"`
	Parameters         string `json:"parameters"`
	TimeoutInSeconds   int64  `json:"timeoutInSeconds,omitempty"`
	HeartbeatInSeconds int64  `json:"heartbeatInSeconds,omitempty"`
}

// TaskStartedEventDetails is the detail of TaskStarted.
type TaskStartedEventDetails struct {
	ResourceType string `json:"resourceType"`
	Resource     string `json:"resource"`
}

// TaskResultEventDetails is the shape of TaskSubmitted and TaskSucceeded details.
type TaskResultEventDetails struct {
	ResourceType  string       `json:"resourceType"`
	Resource      string       `json:"resource"`
	Output        string       `json:"output"`
	OutputDetails *DataDetails `json:"outputDetails,omitempty"`
}

// TaskErrorEventDetails is the shape of TaskFailed and TaskTimedOut details.
type TaskErrorEventDetails struct {
	ResourceType string `json:"resourceType"`
	Resource     string `json:"resource"`
	Error        string `json:"error,omitempty"`
	Cause        string `json:"cause,omitempty"`
}

// LambdaFunctionScheduledEventDetails is the detail of LambdaFunctionScheduled (plain Lambda ARN resources).
type LambdaFunctionScheduledEventDetails struct {
	Resource         string       `json:"resource"`
	Input            string       `json:"input"`
	InputDetails     *DataDetails `json:"inputDetails,omitempty"`
	TimeoutInSeconds int64        `json:"timeoutInSeconds,omitempty"`
}

// MapStateStartedEventDetails is the detail of MapStateStarted: the number of iterations.
type MapStateStartedEventDetails struct {
	Length int `json:"length"`
}

// MapIterationEventDetails is the detail of MapIterationStarted/Succeeded/Failed/Aborted.
type MapIterationEventDetails struct {
	Name  string `json:"name"`
	Index int    `json:"index"`
}

// History event types.
const (
	EventExecutionStarted   = "ExecutionStarted"
	EventExecutionSucceeded = "ExecutionSucceeded"
	EventExecutionFailed    = "ExecutionFailed"
	EventExecutionAborted   = "ExecutionAborted"
	EventExecutionTimedOut  = "ExecutionTimedOut"
	EventExecutionRedriven  = "ExecutionRedriven"
)
