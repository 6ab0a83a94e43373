// Package asl is an Amazon States Language interpreter: it parses, validates and runs
// JSONPath state machine definitions the way AWS Step Functions (Standard workflows)
// does, with executions checkpointed through a small persistence port so they survive a
// restart. It is general: nothing in it knows Relais.
//
// # API
//
// Definitions:
//
//	Parse(def) (*Machine, error)   validate like ValidateStateMachineDefinition; a
//	                               *ValidationError lists every Problem{Location, Code,
//	                               Message}, Location a JSON Pointer (/States/Check/Choices/0)
//	MustParse(def) *Machine
//
// Engine (New(Options{Store, Clock, Tasks, Logger, Region, AccountID, CheckpointInterval})):
//
//	CreateStateMachine / UpdateStateMachine / DescribeStateMachine / DeleteStateMachine /
//	ListStateMachines
//	StartExecution(ctx, StartInput{StateMachine, Name, Input}) (Execution, error)
//	DescribeExecution, WaitExecution, StopExecution, ListExecutions (newest first, paged),
//	DescribeStateMachineForExecution,
//	History (events named and shaped like GetExecutionHistory, paged), RedriveExecution
//	SendTaskSuccess / SendTaskFailure / SendTaskHeartbeat (callback tasks)
//	Resume(ctx)   continue every execution the Store holds as RUNNING
//	Close()       stop as if the process died (nothing more is written)
//
// Tasks: a Registry maps Resource ARNs (exact or '*' patterns) to TaskHandlers.
// Built in: arn:aws:states:::lambda:invoke (FunctionName → a LambdaFunc registered with
// HandleLambda; the result wrapped like Step Functions: ExecutedVersion, Payload,
// SdkHttpMetadata, SdkResponseMetadata, StatusCode) and arn:aws:lambda:…:function:NAME
// (the LambdaFunc NAME, result as is). Any resource may end in .waitForTaskToken: the
// handler gets the token in TaskRequest.Token (and wherever the definition passes
// $$.Task.Token), and the state waits for SendTaskSuccess/SendTaskFailure, failing with
// States.HeartbeatTimeout when HeartbeatSeconds pass without SendTaskHeartbeat. A handler
// returning *Error fails the task with that error name; any other error gives
// States.TaskFailed with the message as cause. An unregistered resource fails the task
// with States.TaskFailed naming the resource. Handlers must honour ctx: it is cancelled
// by the task's TimeoutSeconds, StopExecution and Close (a handler is called on the
// execution's own goroutine when no TimeoutSeconds applies).
//
// Persistence: Store (PutMachine, Machines, Checkpoint, Execution, Executions, Events);
// MemStore implements it in memory. Time: Clock (Now, NewTimer); FakeClock for tests.
//
// # Semantics
//
// JSON values are what encoding/json decodes with UseNumber (map[string]any, []any,
// string, json.Number, bool, nil); numbers keep their text from input to output. Outputs
// are rendered compactly without HTML escaping, with object keys sorted (Step Functions
// keeps their input order: compare outputs as JSON, not as text). Handler results of
// other Go types are converted by a JSON round trip.
//
// Input and output processing follows the spec's order: InputPath → Parameters (".$"
// fields take paths, the context object "$$" and intrinsic functions) → the state's work →
// ResultSelector → ResultPath (applied to the state's raw input) → OutputPath. A null
// InputPath or OutputPath yields {}; a null ResultPath discards the result.
//
// Errors: Retry (IntervalSeconds 1, MaxAttempts 3 with 0 meaning never, BackoffRate 2.0,
// MaxDelaySeconds, JitterStrategy FULL/NONE) and Catch (output {"Error","Cause"} placed by
// the catcher's ResultPath). States.ALL matches any error except the terminal
// States.Runtime and States.DataLimitExceeded, which no Retry or Catch handles (as in
// Step Functions). States.TaskFailed matches everything but States.Timeout and
// States.HeartbeatTimeout; States.Timeout also matches States.HeartbeatTimeout.
//
// Parallel branches and Map iterations run concurrently; a failing branch or iteration
// aborts its siblings and fails the state with its own error (unless a Map tolerates it
// through ToleratedFailureCount/Percentage, whose excess fails with
// States.ExceedToleratedFailureThreshold; tolerated failures appear in the Map's output as
// {"Error","Cause"}). An inline Map runs at most 40 iterations at once whatever
// MaxConcurrency says (0 meaning no limit below that), as Step Functions does. Distributed Map (ProcessorConfig Mode DISTRIBUTED,
// ItemReader, ItemBatcher, ResultWriter) parses but fails with States.Runtime when run.
// QueryLanguage JSONata, Assign/variables and unresolved ${...} placeholders are refused
// by Parse with a Problem saying so.
//
// Limits, as Step Functions applies them: a history of 25,000 events fails the execution
// with States.Runtime (and it cannot be redriven); a state output over 256 KiB fails it
// with States.DataLimitExceeded (never caught); StartExecution and SendTaskSuccess refuse
// payloads over 256 KiB and Parse definitions over 1 MiB; an inline Map runs at most 40
// iterations at once; an execution can be redriven within 14 days of its end, at most 1,000
// times, never once SUCCEEDED.
//
// # Durability and at-least-once tasks
//
// Each execution's state is a tree of frames (the top level, Parallel branches, Map
// iterations) that is checkpointed, with the history events produced since the last
// checkpoint, in one Store.Checkpoint call. Checkpoints are coalesced: a background
// writer per execution saves the latest state whenever something changed. After a crash,
// Engine.Resume restarts every RUNNING execution from its last checkpoint:
//
//   - A state whose task invocation was in flight (or had finished but was not yet
//     checkpointed) is invoked again: task handlers run AT LEAST ONCE and should be
//     idempotent; TaskRequest.InvocationID is the same for a re-invocation of the same
//     attempt, for deduplication.
//   - A callback task that had been submitted waits again without re-invoking; task
//     tokens are derived from the execution, frame and attempt, so a token handed out
//     before the crash is still accepted after Resume (and a re-invoked attempt receives
//     the same token).
//   - Wait states and retry back-offs resume with their original deadline.
//   - Events produced after the last checkpoint are produced again, so the stored history
//     has no gaps and no duplicates.
//
// SendTask* results are held in the frame (and so checkpointed) until the waiting state
// consumes them; one sent to an engine that has not resumed the execution yet fails with
// ErrTaskTimedOut.
//
// # Concurrency
//
// Each execution runs in its own goroutines with its own lock; the Engine's lock is only
// taken to look up machines and live executions. Contexts flow from the caller: an
// execution outlives the StartExecution ctx (it runs on context.WithoutCancel of it) and
// ends with StopExecution or Close.
package asl
