package api

import (
	"strconv"
	"time"

	"github.com/relais-ci/relais/shared/pipeline"
)

// The request and response shapes of CodePipeline's API (2015-07-09), with the JSON
// names its AWS JSON 1.1 protocol uses. Only what Relais answers is here; unknown
// request fields are ignored, as AWS ignores them.

// epoch is a timestamp as AWS JSON 1.1 writes it: seconds since the epoch, a JSON
// number with millisecond precision. The zero time is left out (omitzero).
type epoch struct{ time.Time }

func at(t time.Time) epoch { return epoch{t} }

// MarshalJSON writes the time as epoch seconds.
func (e epoch) MarshalJSON() ([]byte, error) {
	return strconv.AppendFloat(nil, float64(e.UnixMilli())/1000, 'f', -1, 64), nil
}

// Requests.

type listPipelinesInput struct {
	MaxResults int    `json:"maxResults"`
	NextToken  string `json:"nextToken"`
}

type getPipelineInput struct {
	Name    string `json:"name"`
	Version int    `json:"version"`
}

type pipelineVariable struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

type sourceRevisionOverride struct {
	ActionName    string `json:"actionName"`
	RevisionType  string `json:"revisionType"`
	RevisionValue string `json:"revisionValue"`
}

type startPipelineExecutionInput struct {
	Name               string                   `json:"name"`
	Variables          []pipelineVariable       `json:"variables"`
	ClientRequestToken string                   `json:"clientRequestToken"`
	SourceRevisions    []sourceRevisionOverride `json:"sourceRevisions"`
}

type stopPipelineExecutionInput struct {
	PipelineName        string `json:"pipelineName"`
	PipelineExecutionID string `json:"pipelineExecutionId"`
	Abandon             bool   `json:"abandon"`
	Reason              string `json:"reason"`
}

type getPipelineExecutionInput struct {
	PipelineName        string `json:"pipelineName"`
	PipelineExecutionID string `json:"pipelineExecutionId"`
}

type listPipelineExecutionsInput struct {
	PipelineName string `json:"pipelineName"`
	MaxResults   int    `json:"maxResults"`
	NextToken    string `json:"nextToken"`
	Filter       *struct {
		SucceededInStage *struct {
			StageName string `json:"stageName"`
		} `json:"succeededInStage"`
	} `json:"filter"`
}

type getPipelineStateInput struct {
	Name string `json:"name"`
}

type listActionExecutionsInput struct {
	PipelineName string `json:"pipelineName"`
	MaxResults   int    `json:"maxResults"`
	NextToken    string `json:"nextToken"`
	Filter       *struct {
		PipelineExecutionID       string `json:"pipelineExecutionId"`
		LatestInPipelineExecution *struct {
			PipelineExecutionID string `json:"pipelineExecutionId"`
		} `json:"latestInPipelineExecution"`
	} `json:"filter"`
}

type retryStageExecutionInput struct {
	PipelineName        string `json:"pipelineName"`
	StageName           string `json:"stageName"`
	PipelineExecutionID string `json:"pipelineExecutionId"`
	RetryMode           string `json:"retryMode"`
}

type stageTransitionInput struct {
	PipelineName   string `json:"pipelineName"`
	StageName      string `json:"stageName"`
	TransitionType string `json:"transitionType"`
	Reason         string `json:"reason"`
}

type putApprovalResultInput struct {
	PipelineName string `json:"pipelineName"`
	StageName    string `json:"stageName"`
	ActionName   string `json:"actionName"`
	Token        string `json:"token"`
	Result       *struct {
		Summary string `json:"summary"`
		Status  string `json:"status"`
	} `json:"result"`
}

// Responses.

type pipelineSummary struct {
	Name          string `json:"name"`
	Version       int    `json:"version"`
	PipelineType  string `json:"pipelineType,omitempty"`
	ExecutionMode string `json:"executionMode,omitempty"`
	Created       epoch  `json:"created,omitzero"`
	Updated       epoch  `json:"updated,omitzero"`
}

type listPipelinesOutput struct {
	Pipelines []pipelineSummary `json:"pipelines"`
	NextToken string            `json:"nextToken,omitempty"`
}

type pipelineMetadata struct {
	PipelineArn string `json:"pipelineArn,omitempty"`
	Created     epoch  `json:"created,omitzero"`
	Updated     epoch  `json:"updated,omitzero"`
}

type getPipelineOutput struct {
	Pipeline *pipeline.Declaration `json:"pipeline"`
	Metadata pipelineMetadata      `json:"metadata"`
}

type executionIDOutput struct {
	PipelineExecutionID string `json:"pipelineExecutionId"`
}

type executionTrigger struct {
	TriggerType   string `json:"triggerType,omitempty"`
	TriggerDetail string `json:"triggerDetail,omitempty"`
}

type sourceRevision struct {
	ActionName      string `json:"actionName"`
	RevisionID      string `json:"revisionId,omitempty"`
	RevisionSummary string `json:"revisionSummary,omitempty"`
	RevisionURL     string `json:"revisionUrl,omitempty"`
}

type artifactRevision struct {
	Name            string `json:"name,omitempty"`
	RevisionID      string `json:"revisionId,omitempty"`
	RevisionSummary string `json:"revisionSummary,omitempty"`
	RevisionURL     string `json:"revisionUrl,omitempty"`
}

type resolvedVariable struct {
	Name          string `json:"name"`
	ResolvedValue string `json:"resolvedValue"`
}

type pipelineExecution struct {
	PipelineName        string             `json:"pipelineName"`
	PipelineVersion     int                `json:"pipelineVersion"`
	PipelineExecutionID string             `json:"pipelineExecutionId"`
	Status              string             `json:"status"`
	StatusSummary       string             `json:"statusSummary,omitempty"`
	ArtifactRevisions   []artifactRevision `json:"artifactRevisions"`
	Variables           []resolvedVariable `json:"variables,omitempty"`
	Trigger             executionTrigger   `json:"trigger"`
	ExecutionMode       string             `json:"executionMode,omitempty"`
	ExecutionType       string             `json:"executionType,omitempty"`
}

type getPipelineExecutionOutput struct {
	PipelineExecution pipelineExecution `json:"pipelineExecution"`
}

type stopTrigger struct {
	Reason string `json:"reason,omitempty"`
}

type pipelineExecutionSummary struct {
	PipelineExecutionID string           `json:"pipelineExecutionId"`
	Status              string           `json:"status"`
	StatusSummary       string           `json:"statusSummary,omitempty"`
	StartTime           epoch            `json:"startTime,omitzero"`
	LastUpdateTime      epoch            `json:"lastUpdateTime,omitzero"`
	SourceRevisions     []sourceRevision `json:"sourceRevisions"`
	Trigger             executionTrigger `json:"trigger"`
	StopTrigger         *stopTrigger     `json:"stopTrigger,omitempty"`
	ExecutionMode       string           `json:"executionMode,omitempty"`
	ExecutionType       string           `json:"executionType,omitempty"`
}

type listPipelineExecutionsOutput struct {
	PipelineExecutionSummaries []pipelineExecutionSummary `json:"pipelineExecutionSummaries"`
	NextToken                  string                     `json:"nextToken,omitempty"`
}

type transitionState struct {
	Enabled        bool   `json:"enabled"`
	LastChangedBy  string `json:"lastChangedBy,omitempty"`
	LastChangedAt  epoch  `json:"lastChangedAt,omitzero"`
	DisabledReason string `json:"disabledReason,omitempty"`
}

type stageExecution struct {
	PipelineExecutionID string `json:"pipelineExecutionId"`
	Status              string `json:"status"`
	Type                string `json:"type,omitempty"`
}

type errorDetails struct {
	Code    string `json:"code,omitempty"`
	Message string `json:"message,omitempty"`
}

type actionExecution struct {
	ActionExecutionID    string        `json:"actionExecutionId,omitempty"`
	Status               string        `json:"status,omitempty"`
	Summary              string        `json:"summary,omitempty"`
	LastStatusChange     epoch         `json:"lastStatusChange,omitzero"`
	Token                string        `json:"token,omitempty"`
	ExternalExecutionID  string        `json:"externalExecutionId,omitempty"`
	ExternalExecutionURL string        `json:"externalExecutionUrl,omitempty"`
	ErrorDetails         *errorDetails `json:"errorDetails,omitempty"`
}

type actionRevision struct {
	RevisionID       string `json:"revisionId,omitempty"`
	RevisionChangeID string `json:"revisionChangeId,omitempty"`
	Created          epoch  `json:"created,omitzero"`
}

type actionState struct {
	ActionName      string           `json:"actionName"`
	CurrentRevision *actionRevision  `json:"currentRevision,omitempty"`
	LatestExecution *actionExecution `json:"latestExecution,omitempty"`
	EntityURL       string           `json:"entityUrl,omitempty"`
	RevisionURL     string           `json:"revisionUrl,omitempty"`
}

type retryStageMetadata struct {
	ManualStageRetryAttempt int    `json:"manualStageRetryAttempt,omitempty"`
	LatestRetryTrigger      string `json:"latestRetryTrigger,omitempty"`
}

type stageState struct {
	StageName              string              `json:"stageName"`
	InboundExecutions      []stageExecution    `json:"inboundExecutions,omitempty"`
	InboundTransitionState *transitionState    `json:"inboundTransitionState,omitempty"`
	ActionStates           []actionState       `json:"actionStates"`
	LatestExecution        *stageExecution     `json:"latestExecution,omitempty"`
	RetryStageMetadata     *retryStageMetadata `json:"retryStageMetadata,omitempty"`
}

type getPipelineStateOutput struct {
	PipelineName    string       `json:"pipelineName"`
	PipelineVersion int          `json:"pipelineVersion"`
	StageStates     []stageState `json:"stageStates"`
	Created         epoch        `json:"created,omitzero"`
	Updated         epoch        `json:"updated,omitzero"`
}

type actionTypeID struct {
	Category string `json:"category"`
	Owner    string `json:"owner"`
	Provider string `json:"provider"`
	Version  string `json:"version"`
}

type s3Location struct {
	Bucket string `json:"bucket,omitempty"`
	Key    string `json:"key,omitempty"`
}

type artifactDetail struct {
	Name       string     `json:"name"`
	S3Location s3Location `json:"s3location"`
}

type actionExecutionInput struct {
	ActionTypeID          actionTypeID      `json:"actionTypeId"`
	Configuration         map[string]string `json:"configuration,omitempty"`
	ResolvedConfiguration map[string]string `json:"resolvedConfiguration,omitempty"`
	RoleArn               string            `json:"roleArn,omitempty"`
	Region                string            `json:"region,omitempty"`
	InputArtifacts        []artifactDetail  `json:"inputArtifacts"`
	Namespace             string            `json:"namespace,omitempty"`
}

type actionExecutionResult struct {
	ExternalExecutionID      string        `json:"externalExecutionId,omitempty"`
	ExternalExecutionSummary string        `json:"externalExecutionSummary,omitempty"`
	ExternalExecutionURL     string        `json:"externalExecutionUrl,omitempty"`
	ErrorDetails             *errorDetails `json:"errorDetails,omitempty"`
}

type actionExecutionOutput struct {
	OutputArtifacts []artifactDetail       `json:"outputArtifacts"`
	ExecutionResult *actionExecutionResult `json:"executionResult,omitempty"`
	OutputVariables map[string]string      `json:"outputVariables,omitempty"`
}

type actionExecutionDetail struct {
	PipelineExecutionID string                `json:"pipelineExecutionId"`
	ActionExecutionID   string                `json:"actionExecutionId"`
	PipelineVersion     int                   `json:"pipelineVersion,omitempty"`
	StageName           string                `json:"stageName"`
	ActionName          string                `json:"actionName"`
	StartTime           epoch                 `json:"startTime,omitzero"`
	LastUpdateTime      epoch                 `json:"lastUpdateTime,omitzero"`
	Status              string                `json:"status"`
	Input               actionExecutionInput  `json:"input"`
	Output              actionExecutionOutput `json:"output"`
}

type listActionExecutionsOutput struct {
	ActionExecutionDetails []actionExecutionDetail `json:"actionExecutionDetails"`
	NextToken              string                  `json:"nextToken,omitempty"`
}

type putApprovalResultOutput struct {
	ApprovedAt epoch `json:"approvedAt,omitzero"`
}

// errorBody is the body of an error response.
type errorBody struct {
	Type    string `json:"__type"`
	Message string `json:"message"`
}
