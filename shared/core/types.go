package core

import (
	"crypto/rand"
	"encoding/json"
	"fmt"
	"time"
)

// Pipeline is an installed pipeline: its declaration, as CodePipeline JSON, and the
// version that increments on every update. core keeps the declaration raw so that it
// depends on no parser; shared/pipeline parses it.
type Pipeline struct {
	Name        string          `json:"name"`
	Version     int             `json:"version"`
	Declaration json.RawMessage `json:"declaration"`
	CreatedAt   time.Time       `json:"created"`
	UpdatedAt   time.Time       `json:"updated"`
}

// Execution is one run of a pipeline for a set of source revisions.
type Execution struct {
	PipelineName    string           `json:"pipelineName"`
	ID              string           `json:"pipelineExecutionId"`
	PipelineVersion int              `json:"pipelineVersion"`
	Status          ExecutionStatus  `json:"status"`
	StatusSummary   string           `json:"statusSummary,omitempty"`
	Mode            ExecutionMode    `json:"executionMode"`
	Trigger         Trigger          `json:"trigger"`
	SourceRevisions []SourceRevision `json:"sourceRevisions,omitempty"`
	// Variables are the pipeline-level variables resolved at start (#{variables.x}).
	Variables []Variable `json:"variables,omitempty"`
	// Stop is set once StopPipelineExecution was called.
	Stop *StopRequest `json:"stop,omitempty"`
	// Retry is set by RetryStageExecution: the stage to resume at and which actions run
	// again. The gate reads it when the execution enters that stage.
	Retry *StageRetry `json:"retry,omitempty"`
	// EngineRun names the engine execution currently running this pipeline execution:
	// the execution id at first, another name per retry (an engine execution, once
	// ended, cannot be resumed).
	EngineRun      string    `json:"engineRun,omitempty"`
	StartTime      time.Time `json:"startTime"`
	LastUpdateTime time.Time `json:"lastUpdateTime"`
	// Revision increments on every write; stores refuse a write whose Revision is not the
	// stored one (optimistic concurrency), so two writers never silently overwrite.
	Revision int64 `json:"revision"`
}

// Trigger says what started an execution, as CodePipeline's ExecutionTrigger.
type Trigger struct {
	Type   TriggerType `json:"triggerType"`
	Detail string      `json:"triggerDetail,omitempty"`
}

// SourceRevision is the revision a source action produced for an execution, as
// CodePipeline's SourceRevision.
type SourceRevision struct {
	ActionName      string `json:"actionName"`
	RevisionID      string `json:"revisionId,omitempty"`
	RevisionSummary string `json:"revisionSummary,omitempty"`
	RevisionURL     string `json:"revisionUrl,omitempty"`
}

// Variable is a resolved name/value pair.
type Variable struct {
	Name  string `json:"name"`
	Value string `json:"resolvedValue"`
}

// StageRetry records a call to RetryStageExecution.
type StageRetry struct {
	Stage string    `json:"stageName"`
	Mode  RetryMode `json:"retryMode"`
	// Count numbers the retries of the execution: 1 for the first.
	Count int       `json:"count"`
	At    time.Time `json:"at"`
}

// StopRequest records a call to StopPipelineExecution.
type StopRequest struct {
	Mode   StopMode  `json:"mode"`
	Reason string    `json:"reason,omitempty"`
	By     string    `json:"by,omitempty"`
	At     time.Time `json:"at"`
}

// StageExecution is the state of one stage for one execution.
type StageExecution struct {
	PipelineName string      `json:"pipelineName"`
	ExecutionID  string      `json:"pipelineExecutionId"`
	StageName    string      `json:"stageName"`
	Status       StageStatus `json:"status"`
	// Attempt counts entries into the stage: 1 on the first run, +1 per retry.
	Attempt int `json:"attempt"`
	// RetryMode is set when this attempt is a retry: which actions run again.
	RetryMode RetryMode `json:"retryMode,omitempty"`
	// RetryCount is the Execution.Retry.Count that started this attempt (0 for the first
	// run), so that a gate task delivered again after a crash re-enters the same attempt
	// instead of starting a new one.
	RetryCount     int       `json:"retryCount,omitempty"`
	StartTime      time.Time `json:"startTime"`
	LastUpdateTime time.Time `json:"lastUpdateTime"`
}

// ActionType identifies what an action runs, as CodePipeline's ActionTypeId.
type ActionType struct {
	Category string `json:"category"`
	Owner    string `json:"owner"`
	Provider string `json:"provider"`
	Version  string `json:"version"`
}

// ActionExecution is one run of one action; a retried action is a new ActionExecution
// with its own ID.
type ActionExecution struct {
	ID           string       `json:"actionExecutionId"`
	PipelineName string       `json:"pipelineName"`
	ExecutionID  string       `json:"pipelineExecutionId"`
	StageName    string       `json:"stageName"`
	ActionName   string       `json:"actionName"`
	Attempt      int          `json:"attempt"`
	Status       ActionStatus `json:"status"`
	Type         ActionType   `json:"actionTypeId"`
	RunOrder     int          `json:"runOrder"`
	Region       string       `json:"region,omitempty"`
	Namespace    string       `json:"namespace,omitempty"`
	// Configuration is the action's configuration with every #{…} reference resolved.
	Configuration   map[string]string `json:"resolvedConfiguration,omitempty"`
	InputArtifacts  []Artifact        `json:"inputArtifacts,omitempty"`
	OutputArtifacts []Artifact        `json:"outputArtifacts,omitempty"`
	OutputVariables map[string]string `json:"outputVariables,omitempty"`
	Summary         string            `json:"summary,omitempty"`
	// ExternalExecutionID names the run in the system that did the work (a build id);
	// ExternalExecutionURL links to it (build logs, commit page).
	ExternalExecutionID  string        `json:"externalExecutionId,omitempty"`
	ExternalExecutionURL string        `json:"externalExecutionUrl,omitempty"`
	Error                *ErrorDetails `json:"errorDetails,omitempty"`
	// TaskToken is the engine's callback token for this action. It is a credential: the
	// API never returns it and logs never print it.
	TaskToken      string    `json:"taskToken,omitempty"`
	StartTime      time.Time `json:"startTime"`
	LastUpdateTime time.Time `json:"lastUpdateTime"`
}

// ErrorDetails says why an action failed, as CodePipeline's ErrorDetails.
type ErrorDetails struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// Artifact is a named artifact and where it is stored. Payloads between the engine and
// the tasks carry artifacts, never their contents.
type Artifact struct {
	Name     string           `json:"name"`
	Location ArtifactLocation `json:"location"`
}

// ArtifactLocation says where an artifact's zip is: an S3 bucket, key and object version
// on AWS; a folder under the data dir and a relative path locally.
type ArtifactLocation struct {
	Store   string `json:"store"`
	Key     string `json:"key"`
	Version string `json:"version,omitempty"`
}

// IsZero reports whether the location is unset.
func (l ArtifactLocation) IsZero() bool { return l.Store == "" && l.Key == "" }

// Transition is the inbound transition of a stage: when disabled, executions wait at the
// stage's gate until it is enabled again.
type Transition struct {
	PipelineName  string    `json:"pipelineName"`
	StageName     string    `json:"stageName"`
	Enabled       bool      `json:"enabled"`
	Reason        string    `json:"disabledReason,omitempty"`
	LastChangedBy string    `json:"lastChangedBy,omitempty"`
	LastChangedAt time.Time `json:"lastChangedAt"`
}

// Waiter is an execution waiting at a stage's gate, with the callback token that lets it
// in.
type Waiter struct {
	PipelineName string `json:"pipelineName"`
	StageName    string `json:"stageName"`
	ExecutionID  string `json:"pipelineExecutionId"`
	// TaskToken resumes the waiting gate task; a credential, never logged.
	TaskToken string `json:"taskToken"`
	// ArrivedAt orders waiters (QUEUED lets the oldest in; SUPERSEDED the newest).
	ArrivedAt time.Time `json:"arrivedAt"`
	// Seq breaks ties between waiters that arrived in the same instant; stores assign it.
	Seq int64 `json:"seq"`
}

// ApprovalStatus is the state of a manual approval request.
type ApprovalStatus string

// Approval statuses.
const (
	ApprovalPending    ApprovalStatus = "Pending"
	ApprovalApproved   ApprovalStatus = "Approved"
	ApprovalRejected   ApprovalStatus = "Rejected"
	ApprovalExpired    ApprovalStatus = "Expired"
	ApprovalSuperseded ApprovalStatus = "Superseded"
)

// Approval is a manual approval waiting for (or having had) a decision.
type Approval struct {
	ID                string         `json:"id"`
	PipelineName      string         `json:"pipelineName"`
	ExecutionID       string         `json:"pipelineExecutionId"`
	StageName         string         `json:"stageName"`
	ActionName        string         `json:"actionName"`
	ActionExecutionID string         `json:"actionExecutionId"`
	Status            ApprovalStatus `json:"status"`
	// TaskToken is the engine's callback token; it stays server-side, never in a link.
	TaskToken          string          `json:"taskToken"`
	CustomData         string          `json:"customData,omitempty"`
	ExternalEntityLink string          `json:"externalEntityLink,omitempty"`
	Revision           *SourceRevision `json:"revision,omitempty"`
	RequestedAt        time.Time       `json:"requestedAt"`
	ExpiresAt          time.Time       `json:"expiresAt"`
	DecidedBy          string          `json:"decidedBy,omitempty"`
	Comment            string          `json:"comment,omitempty"`
	DecidedAt          time.Time       `json:"decidedAt,omitzero"`
}

// Notification is a message for people: an approval request or an execution's outcome.
type Notification struct {
	Kind         string `json:"kind"`
	PipelineName string `json:"pipelineName"`
	ExecutionID  string `json:"pipelineExecutionId,omitempty"`
	StageName    string `json:"stageName,omitempty"`
	ActionName   string `json:"actionName,omitempty"`
	// Topic names the destination where the declaration names one (an approval's
	// NotificationArn); empty means the runtime's default.
	Topic   string            `json:"topic,omitempty"`
	Subject string            `json:"subject"`
	Text    string            `json:"text"`
	HTML    string            `json:"html,omitempty"`
	Attrs   map[string]string `json:"attributes,omitempty"`
}

// Notification kinds.
const (
	NotifyApprovalRequested = "ApprovalRequested"
	NotifyExecutionEnded    = "ExecutionEnded"
)

// NewID returns a random RFC 4122 version 4 UUID, the form CodePipeline uses for
// execution and action execution ids.
func NewID() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		// crypto/rand never fails on supported platforms (Go 1.24+ panics instead).
		panic(fmt.Sprintf("read random bytes: %v", err))
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}
