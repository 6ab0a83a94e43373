package core

import (
	"context"
	"io"
	"time"
)

// Every port below is implemented twice: by an AWS adapter (shared/aws/…) and by a local
// one (shared/local/…), and one contract suite (shared/core/coretest) runs against both.
// Unless a method says otherwise: it is safe to call concurrently; a missing record is
// ErrNotFound; a lost conditional write is ErrConflict; a record written without its key
// (a name or id) is ErrInvalid; other failures are wrapped adapter errors. Records read
// back equal what was written, except that times compare with time.Equal (not ==) and
// raw JSON may come back reformatted.

// PipelineStore keeps installed pipelines.
type PipelineStore interface {
	// PutPipeline creates or replaces a pipeline. When p.Version is 0 the pipeline must
	// not exist (else ErrConflict) and is stored as version 1; otherwise p.Version must
	// be the stored version (else ErrConflict; ErrNotFound when none is stored) and the
	// stored one becomes p.Version+1. It returns the stored pipeline.
	PutPipeline(ctx context.Context, p Pipeline) (Pipeline, error)
	// GetPipeline returns the latest version of a pipeline.
	GetPipeline(ctx context.Context, name string) (Pipeline, error)
	// ListPipelines returns every pipeline, in name order.
	ListPipelines(ctx context.Context) ([]Pipeline, error)
	// DeletePipeline removes a pipeline; deleting a missing one is not an error.
	DeletePipeline(ctx context.Context, name string) error
}

// Page asks for one page of a list: at most Limit items (0: the adapter's default;
// above 100: 100) after the position that Token, from the previous page, names. A
// malformed token, or one from another pipeline's list, is ErrInvalid. A page may hold
// fewer than Limit items, even none, while its token is not empty (DynamoDB stops a
// query at 1 MB and cannot tell that a full page was the last): callers read on until
// the token is "".
type Page struct {
	Limit int
	Token string
}

// ExecutionStore keeps pipeline executions.
type ExecutionStore interface {
	// CreateExecution stores a new execution with Revision 1; ErrConflict if one with the
	// same pipeline and id exists. Creating is how "started once" is enforced.
	CreateExecution(ctx context.Context, e Execution) (Execution, error)
	// GetExecution returns one execution.
	GetExecution(ctx context.Context, pipeline, id string) (Execution, error)
	// UpdateExecution writes e if e.Revision is the stored revision (else ErrConflict,
	// and the stored record is unchanged) and returns it with Revision incremented.
	UpdateExecution(ctx context.Context, e Execution) (Execution, error)
	// ListExecutions returns a pipeline's executions, newest StartTime first (equal
	// StartTimes: greater ID first, so that pages never skip or repeat one), and the
	// token of the next page ("" when this is the last).
	ListExecutions(ctx context.Context, pipeline string, page Page) ([]Execution, string, error)
}

// StageStore keeps the per-execution state of stages.
type StageStore interface {
	// PutStage creates or replaces the state of one stage of one execution. Writes are
	// last-writer-wins: one execution's stage is only written by its own state machine.
	PutStage(ctx context.Context, s StageExecution) error
	// ListStages returns the stages an execution has entered, in no particular order.
	ListStages(ctx context.Context, pipeline, executionID string) ([]StageExecution, error)
	// LatestStages returns, per stage, the stage state of the execution that entered it
	// last (greatest StartTime; equal StartTimes: greater ExecutionID) — what
	// get-pipeline-state shows. Write order does not matter: a late update of an older
	// execution's stage does not hide the newer one.
	LatestStages(ctx context.Context, pipeline string) ([]StageExecution, error)
}

// ActionFilter selects action executions of one pipeline. PipelineName is required (as
// in CodePipeline's ListActionExecutions); other empty fields match everything.
type ActionFilter struct {
	PipelineName string
	ExecutionID  string
	StageName    string
	ActionName   string
}

// ActionStore keeps action executions.
type ActionStore interface {
	// PutAction creates an action execution, or replaces it if the stored status may move
	// to a.Status (ActionStatus.CanBecome); else ErrConflict. Rewriting a terminal action
	// with the same status is idempotent.
	PutAction(ctx context.Context, a ActionExecution) error
	// GetAction returns one action execution by id.
	GetAction(ctx context.Context, pipeline, actionExecutionID string) (ActionExecution, error)
	// FindActionByExternalID returns the action execution whose ExternalExecutionID is
	// externalID (how a CodeBuild completion event finds the action it ends); when several
	// share it, the one with the newest StartTime. "" finds nothing (ErrNotFound). Adapters
	// that answer from an asynchronous index (a DynamoDB GSI) may not see a PutAction of
	// the last second: callers that just wrote the id already hold the action.
	FindActionByExternalID(ctx context.Context, externalID string) (ActionExecution, error)
	// ListActions returns the matching action executions, newest StartTime first (equal
	// StartTimes: greater ID first), and the token of the next page ("" when this is the
	// last); ErrInvalid without f.PipelineName.
	ListActions(ctx context.Context, f ActionFilter, page Page) ([]ActionExecution, string, error)
}

// StageLocks hold "one execution per stage at a time".
type StageLocks interface {
	// AcquireStage makes executionID the holder of the stage if it is free or already
	// held by executionID (idempotent); ErrConflict when another execution holds it.
	AcquireStage(ctx context.Context, pipeline, stage, executionID string) error
	// ReleaseStage frees the stage if executionID holds it; releasing a stage held by
	// someone else, or free, does nothing.
	ReleaseStage(ctx context.Context, pipeline, stage, executionID string) error
	// StageHolder returns the execution holding the stage, or ErrNotFound when free.
	StageHolder(ctx context.Context, pipeline, stage string) (string, error)
}

// GateQueue keeps the executions waiting at a stage's gate.
type GateQueue interface {
	// Enqueue adds a waiter (assigning its Seq, which grows with every Enqueue at one
	// stage) and returns it as stored; adding the same execution at the same stage again
	// replaces its token and keeps its place (its first ArrivedAt and Seq).
	Enqueue(ctx context.Context, w Waiter) (Waiter, error)
	// Waiters returns the waiters of a stage in arrival order (ArrivedAt, then Seq).
	Waiters(ctx context.Context, pipeline, stage string) ([]Waiter, error)
	// Dequeue removes a waiter and returns it; ErrNotFound when it is not waiting, so of
	// two concurrent Dequeues of one waiter exactly one succeeds.
	Dequeue(ctx context.Context, pipeline, stage, executionID string) (Waiter, error)
}

// TransitionStore keeps the state of stage inbound transitions. A stage without a record
// has its transition enabled.
type TransitionStore interface {
	// PutTransition records a transition's state.
	PutTransition(ctx context.Context, t Transition) error
	// GetTransition returns a stage's transition; one never changed is returned enabled,
	// not ErrNotFound.
	GetTransition(ctx context.Context, pipeline, stage string) (Transition, error)
	// ListTransitions returns the recorded transitions of a pipeline, in no particular
	// order.
	ListTransitions(ctx context.Context, pipeline string) ([]Transition, error)
}

// ApprovalStore keeps manual approvals.
type ApprovalStore interface {
	// CreateApproval stores a pending approval; ErrConflict if the id exists; ErrInvalid
	// unless a.Status is ApprovalPending.
	CreateApproval(ctx context.Context, a Approval) error
	// GetApproval returns one approval.
	GetApproval(ctx context.Context, id string) (Approval, error)
	// DecideApproval moves the Pending approval a.ID to a.Status, recording DecidedBy,
	// Comment and DecidedAt; the other fields of a are ignored. It is the single point
	// where a decision is taken: when the approval is no longer Pending it returns
	// ErrConflict and changes nothing, so of two concurrent decisions exactly one wins.
	// ErrInvalid when a.Status is Pending or not an approval status.
	DecideApproval(ctx context.Context, a Approval) error
	// PendingApprovals returns the pending approvals of an execution ("" for all of the
	// pipeline's), in no particular order; expiry is the engine's business, so a Pending
	// approval past ExpiresAt is still returned.
	PendingApprovals(ctx context.Context, pipeline, executionID string) ([]Approval, error)
}

// DeliveryStore remembers webhook deliveries so that each starts work at most once.
type DeliveryStore interface {
	// RecordDelivery records a delivery id, to be forgotten after expiresAt. It returns
	// ErrConflict when the id was recorded before and has not expired: of any number of
	// concurrent calls with one id exactly one succeeds. A record has expired once the
	// store's clock is after its expiresAt; adapters compare, rather than wait for a
	// cleanup (DynamoDB TTL deletes up to days late).
	RecordDelivery(ctx context.Context, id string, expiresAt time.Time) error
}

// ArtifactStore keeps artifact zips. Locations, not bytes, travel through the engine.
type ArtifactStore interface {
	// PutArtifact streams r to the store as the named artifact of an execution and
	// returns its location. Writing the same name again in the same execution replaces
	// it (a retried action rewrites its outputs). A write that fails (r errs, ctx ends)
	// stores nothing: what the name held before stays readable. pipeline, executionID
	// and name must each be one path segment (non-empty, no '/' or '\', not "." or
	// ".."), else ErrInvalid.
	PutArtifact(ctx context.Context, pipeline, executionID, name string, r io.Reader) (ArtifactLocation, error)
	// OpenArtifact opens the artifact at loc; the caller closes it. ErrNotFound when
	// nothing is stored there; ErrInvalid for a location this store could never have
	// made (another store, a key escaping the store).
	OpenArtifact(ctx context.Context, loc ArtifactLocation) (io.ReadCloser, error)
	// ArtifactURL returns a link that lets a person download the artifact for ttl. It
	// need not check that the artifact exists (presigning does not).
	ArtifactURL(ctx context.Context, loc ArtifactLocation, ttl time.Duration) (string, error)
}

// Engine runs compiled state machines: Step Functions on AWS, shared/asl locally.
type Engine interface {
	// Deploy creates or updates the state machine of a pipeline from its compiled
	// definition (placeholders still in; the engine substitutes its function names).
	// Idempotent.
	Deploy(ctx context.Context, pipeline string, definition []byte) error
	// StartExecution starts the pipeline's machine with the execution id as its name.
	// Starting the same id with the same input again is a no-op; with a different input
	// it is ErrConflict. An execution is never started twice.
	StartExecution(ctx context.Context, pipeline, executionID string, input []byte) error
	// StopExecution aborts a running execution; stopping an ended one does nothing.
	StopExecution(ctx context.Context, pipeline, executionID, cause string) error
	// SendTaskSuccess resumes the callback task holding token with output (JSON).
	// ErrNotFound when the token is unknown or its task has ended.
	SendTaskSuccess(ctx context.Context, token string, output []byte) error
	// SendTaskFailure fails the callback task holding token with a state machine error
	// name (see the Error… constants) and a cause. ErrNotFound as SendTaskSuccess.
	SendTaskFailure(ctx context.Context, token, errorName, cause string) error
	// SendTaskHeartbeat tells the task holding token that its work is still going.
	SendTaskHeartbeat(ctx context.Context, token string) error
}

// Notifier delivers notifications to people. It may be slow; callers run it after they
// have recorded what the notification is about, and a failure to notify never fails
// the pipeline.
type Notifier interface {
	Notify(ctx context.Context, n Notification) error
}

// NotifierFunc adapts a function to Notifier.
type NotifierFunc func(ctx context.Context, n Notification) error

// Notify calls f.
func (f NotifierFunc) Notify(ctx context.Context, n Notification) error { return f(ctx, n) }

// Clock tells the time. Services take one so tests control time instead of sleeping.
type Clock interface {
	Now() time.Time
}

// ClockFunc adapts a function to Clock.
type ClockFunc func() time.Time

// Now calls f.
func (f ClockFunc) Now() time.Time { return f() }

// SystemClock is the real clock, in UTC.
var SystemClock Clock = ClockFunc(func() time.Time { return time.Now().UTC() })
