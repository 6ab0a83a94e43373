package pipeline

import (
	"encoding/json"
	"fmt"
)

// Document is a whole declaration file in the get-pipeline or create-pipeline form:
// the pipeline with, optionally, the metadata get-pipeline adds and the tags
// create-pipeline takes.
type Document struct {
	Pipeline *Declaration `json:"pipeline"`
	Metadata *Metadata    `json:"metadata,omitempty"`
	Tags     []Tag        `json:"tags,omitempty"`
}

// Metadata is what get-pipeline prints beside the pipeline.
type Metadata struct {
	PipelineArn       string    `json:"pipelineArn,omitempty"`
	Created           Timestamp `json:"created,omitempty"`
	Updated           Timestamp `json:"updated,omitempty"`
	PollingDisabledAt Timestamp `json:"pollingDisabledAt,omitempty"`
}

// Timestamp keeps a metadata time as the JSON text it was written in: the AWS CLI prints
// epoch seconds (1501626591.112) or ISO 8601 strings depending on its configuration.
type Timestamp string

// MarshalJSON writes the timestamp as it was read.
func (t Timestamp) MarshalJSON() ([]byte, error) {
	if t == "" {
		return []byte("null"), nil
	}
	return []byte(t), nil
}

// UnmarshalJSON accepts a JSON number or string.
func (t *Timestamp) UnmarshalJSON(b []byte) error {
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	switch v.(type) {
	case float64, string:
		*t = Timestamp(b)
		return nil
	case nil:
		*t = ""
		return nil
	}
	return fmt.Errorf("timestamp must be a number or a string, not %s", b)
}

// Tag is a resource tag as create-pipeline takes it.
type Tag struct {
	Key   string `json:"key,omitempty"`
	Value string `json:"value,omitempty"`
}

// Declaration is a pipeline declaration (CodePipeline's PipelineDeclaration).
type Declaration struct {
	Name           string                   `json:"name,omitempty"`
	RoleArn        string                   `json:"roleArn,omitempty"`
	ArtifactStore  *ArtifactStore           `json:"artifactStore,omitempty"`
	ArtifactStores map[string]ArtifactStore `json:"artifactStores,omitempty"`
	Stages         []Stage                  `json:"stages,omitempty"`
	Version        int                      `json:"version,omitempty"`
	PipelineType   string                   `json:"pipelineType,omitempty"`
	ExecutionMode  string                   `json:"executionMode,omitempty"`
	Triggers       []Trigger                `json:"triggers,omitempty"`
	Variables      []Variable               `json:"variables,omitempty"`

	// Root is the JSON path of the declaration inside the file it was parsed from:
	// "pipeline" for the get-pipeline and create-pipeline forms, "" for a bare
	// declaration. Violation paths start with it.
	Root string `json:"-"`
}

// Pipeline types and execution modes, as CodePipeline spells them.
const (
	TypeV1 = "V1"
	TypeV2 = "V2"

	ModeSuperseded = "SUPERSEDED"
	ModeQueued     = "QUEUED"
	ModeParallel   = "PARALLEL"
)

// Type returns the pipeline type, V1 when the declaration does not say (as the API
// defaults it).
func (d *Declaration) Type() string {
	if d.PipelineType == "" {
		return TypeV1
	}
	return d.PipelineType
}

// Mode returns the execution mode, SUPERSEDED when the declaration does not say.
func (d *Declaration) Mode() string {
	if d.ExecutionMode == "" {
		return ModeSuperseded
	}
	return d.ExecutionMode
}

// ArtifactStore is where a pipeline keeps its artifacts (an S3 bucket).
type ArtifactStore struct {
	Type          string         `json:"type,omitempty"`
	Location      string         `json:"location,omitempty"`
	EncryptionKey *EncryptionKey `json:"encryptionKey,omitempty"`
}

// EncryptionKey is the KMS key an artifact store is encrypted with.
type EncryptionKey struct {
	ID   string `json:"id,omitempty"`
	Type string `json:"type,omitempty"`
}

// Stage is one stage (StageDeclaration).
type Stage struct {
	Name        string                 `json:"name,omitempty"`
	Blockers    []Blocker              `json:"blockers,omitempty"`
	Actions     []Action               `json:"actions,omitempty"`
	OnFailure   *FailureConditions     `json:"onFailure,omitempty"`
	OnSuccess   *SuccessConditions     `json:"onSuccess,omitempty"`
	BeforeEntry *BeforeEntryConditions `json:"beforeEntry,omitempty"`
}

// Blocker is a stage blocker (BlockerDeclaration; reserved by AWS for future use).
type Blocker struct {
	Name string `json:"name,omitempty"`
	Type string `json:"type,omitempty"`
}

// FailureConditions says what happens when a stage fails (V2).
type FailureConditions struct {
	Result             string              `json:"result,omitempty"`
	RetryConfiguration *RetryConfiguration `json:"retryConfiguration,omitempty"`
	Conditions         []Condition         `json:"conditions,omitempty"`
}

// RetryConfiguration is how a failed stage is retried automatically.
type RetryConfiguration struct {
	RetryMode string `json:"retryMode,omitempty"`
}

// SuccessConditions must be met for a stage to succeed (V2).
type SuccessConditions struct {
	Conditions []Condition `json:"conditions,omitempty"`
}

// BeforeEntryConditions must be met for an execution to enter a stage (V2).
type BeforeEntryConditions struct {
	Conditions []Condition `json:"conditions,omitempty"`
}

// Condition is a stage condition: rules and the result when they are not met.
type Condition struct {
	Result string            `json:"result,omitempty"`
	Rules  []RuleDeclaration `json:"rules,omitempty"`
}

// RuleDeclaration is one rule of a stage condition.
type RuleDeclaration struct {
	Name             string            `json:"name,omitempty"`
	RuleTypeID       RuleTypeID        `json:"ruleTypeId"`
	Configuration    map[string]string `json:"configuration,omitempty"`
	Commands         []string          `json:"commands,omitempty"`
	InputArtifacts   []Artifact        `json:"inputArtifacts,omitempty"`
	RoleArn          string            `json:"roleArn,omitempty"`
	Region           string            `json:"region,omitempty"`
	TimeoutInMinutes int               `json:"timeoutInMinutes,omitempty"`
}

// RuleTypeID names the kind of a condition rule.
type RuleTypeID struct {
	Category string `json:"category,omitempty"`
	Owner    string `json:"owner,omitempty"`
	Provider string `json:"provider,omitempty"`
	Version  string `json:"version,omitempty"`
}

// Action is one action of a stage (ActionDeclaration).
type Action struct {
	Name             string            `json:"name,omitempty"`
	ActionTypeID     ActionTypeID      `json:"actionTypeId"`
	RunOrder         int               `json:"runOrder"`
	Configuration    map[string]string `json:"configuration,omitempty"`
	OutputArtifacts  []Artifact        `json:"outputArtifacts,omitempty"`
	InputArtifacts   []Artifact        `json:"inputArtifacts,omitempty"`
	RoleArn          string            `json:"roleArn,omitempty"`
	Region           string            `json:"region,omitempty"`
	Namespace        string            `json:"namespace,omitempty"`
	TimeoutInMinutes int               `json:"timeoutInMinutes,omitempty"`
}

// setDefaults gives an action what CodePipeline assumes when a field is left out.
func (a *Action) setDefaults() { a.RunOrder = 1 }

// ActionTypeID names an action's kind: category, owner, provider and version.
type ActionTypeID struct {
	Category string `json:"category,omitempty"`
	Owner    string `json:"owner,omitempty"`
	Provider string `json:"provider,omitempty"`
	Version  string `json:"version,omitempty"`
}

// String formats the type as AWS does in its error messages.
func (t ActionTypeID) String() string {
	return fmt.Sprintf("ActionType (Category: '%s', Provider: '%s', Owner: '%s', Version: '%s')",
		t.Category, t.Provider, t.Owner, t.Version)
}

// Action categories.
const (
	CategorySource   = "Source"
	CategoryBuild    = "Build"
	CategoryTest     = "Test"
	CategoryDeploy   = "Deploy"
	CategoryApproval = "Approval"
	CategoryInvoke   = "Invoke"
	CategoryCompute  = "Compute"
)

// Action owners.
const (
	OwnerAWS        = "AWS"
	OwnerThirdParty = "ThirdParty"
	OwnerCustom     = "Custom"
)

// Artifact names an input or output artifact.
type Artifact struct {
	Name string `json:"name,omitempty"`
}

// Trigger starts the pipeline on git events for one source action (V2).
type Trigger struct {
	ProviderType     string            `json:"providerType,omitempty"`
	GitConfiguration *GitConfiguration `json:"gitConfiguration,omitempty"`
}

// GitConfiguration holds a trigger's push and pull-request filters.
type GitConfiguration struct {
	SourceActionName string                 `json:"sourceActionName,omitempty"`
	Push             []GitPushFilter        `json:"push,omitempty"`
	PullRequest      []GitPullRequestFilter `json:"pullRequest,omitempty"`
}

// GitPushFilter selects pushes by tag, or by branch and optionally changed file paths.
type GitPushFilter struct {
	Tags      *FilterCriteria `json:"tags,omitempty"`
	Branches  *FilterCriteria `json:"branches,omitempty"`
	FilePaths *FilterCriteria `json:"filePaths,omitempty"`
}

// GitPullRequestFilter selects pull-request events by kind, destination branch and
// changed file paths.
type GitPullRequestFilter struct {
	Events    []string        `json:"events,omitempty"`
	Branches  *FilterCriteria `json:"branches,omitempty"`
	FilePaths *FilterCriteria `json:"filePaths,omitempty"`
}

// Pull-request events a filter can name.
const (
	EventOpen    = "OPEN"
	EventUpdated = "UPDATED"
	EventClosed  = "CLOSED"
)

// FilterCriteria are glob patterns to include and to exclude; excludes win.
type FilterCriteria struct {
	Includes []string `json:"includes,omitempty"`
	Excludes []string `json:"excludes,omitempty"`
}

// Variable is a pipeline-level variable (V2), referenced as #{variables.name}.
type Variable struct {
	Name         string `json:"name,omitempty"`
	DefaultValue string `json:"defaultValue,omitempty"`
	Description  string `json:"description,omitempty"`
}
