package core

// The protocol between a compiled state machine and Relais's task functions. The
// compiler (statemachines) writes Parameters that produce these payloads; the gate and
// action services decode them. Payloads carry names and ids only: everything else —
// the declaration, artifact locations, variables — is read from the stores, which are
// the source of truth, so that a payload stays far below Step Functions' 256 KB.

// MachineInput is the input of every execution of a compiled machine.
type MachineInput struct {
	Pipeline    string `json:"pipeline"`
	ExecutionID string `json:"executionId"`
	// ResumeAt names the stage to start at: "" for the first stage; a stage name when
	// a failed or stopped execution is retried (its earlier stages are not run again).
	ResumeAt string `json:"resumeAt"`
	// RetryMode says which actions of the ResumeAt stage run again ("" when not a retry).
	RetryMode RetryMode `json:"retryMode"`
}

// Gate operations.
const (
	// GateEnter: wait (callback) until the stage's inbound transition is enabled and the
	// stage is free for this execution, per the execution mode.
	GateEnter = "enter"
	// GateLeave: the stage succeeded: record it, free the stage, let the next waiter in.
	GateLeave = "leave"
	// GateFail: the stage ended without success (an action failed, or the execution was
	// stopped): record why, free the stage, let the next waiter in.
	GateFail = "fail"
)

// GateTask is the payload of the gate function.
type GateTask struct {
	Op          string `json:"op"`
	Pipeline    string `json:"pipeline"`
	ExecutionID string `json:"executionId"`
	Stage       string `json:"stage"`
	// Token is the callback token of an enter task; empty for leave and fail.
	Token string `json:"token,omitempty"`
	// ResumeAt and RetryMode are the machine input's, passed to enter.
	ResumeAt  string    `json:"resumeAt,omitempty"`
	RetryMode RetryMode `json:"retryMode,omitempty"`
	// Last is set on the leave of the last stage: the execution succeeded.
	Last bool `json:"last,omitempty"`
	// Failure is the error a fail task was caught with ({"Error", "Cause"}).
	Failure *TaskFailure `json:"failure,omitempty"`
}

// TaskFailure is the error output of a caught state ({"Error": …, "Cause": …}).
type TaskFailure struct {
	Error string `json:"Error"`
	Cause string `json:"Cause"`
}

// ActionTask is the payload of the action function: run one action of one execution and
// answer through the callback token.
type ActionTask struct {
	Pipeline    string `json:"pipeline"`
	ExecutionID string `json:"executionId"`
	Stage       string `json:"stage"`
	Action      string `json:"action"`
	Token       string `json:"token"`
}

// ActionResult is the output an action's callback sends back to the machine.
type ActionResult struct {
	Status ActionStatus `json:"status"`
}
