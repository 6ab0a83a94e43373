// Package lambdajob is the CodePipeline job event that Invoke (Lambda) actions hand
// their function — the same JSON on AWS (shared/aws/lambdaaction) and locally, where an
// executable stands in for the function (shared/local/lambdainvoke) — and the reply
// Relais reads back.
package lambdajob

// Event is the event a function receives.
type Event struct {
	Job Job `json:"CodePipeline.job"`
}

// Job is CodePipeline's job.
type Job struct {
	ID        string  `json:"id"`
	AccountID string  `json:"accountId"`
	Data      JobData `json:"data"`
}

// JobData is what the job carries.
type JobData struct {
	ActionConfiguration ActionConfiguration `json:"actionConfiguration"`
	InputArtifacts      []Artifact          `json:"inputArtifacts"`
	OutputArtifacts     []Artifact          `json:"outputArtifacts"`
	ArtifactCredentials Credentials         `json:"artifactCredentials"`
}

// ActionConfiguration holds the action's FunctionName and UserParameters.
type ActionConfiguration struct {
	Configuration map[string]string `json:"configuration"`
}

// Artifact is an input or output artifact and where it is.
type Artifact struct {
	Name     string   `json:"name"`
	Revision *string  `json:"revision"`
	Location Location `json:"location"`
}

// Location is an artifact's location: always "S3" in form (locally bucketName is a
// folder and objectKey a path inside it).
type Location struct {
	Type       string     `json:"type"`
	S3Location S3Location `json:"s3Location"`
}

// S3Location is a bucket and key.
type S3Location struct {
	BucketName string `json:"bucketName"`
	ObjectKey  string `json:"objectKey"`
}

// Credentials are the temporary credentials CodePipeline passes for the artifact
// bucket. Relais passes none: the fields are empty (locally expirationTime is the
// invocation's deadline, in milliseconds since the epoch).
type Credentials struct {
	AccessKeyID     string `json:"accessKeyId"`
	SecretAccessKey string `json:"secretAccessKey"`
	SessionToken    string `json:"sessionToken"`
	ExpirationTime  int64  `json:"expirationTime"`
}

// Reply is the part of a function's result Relais reads.
type Reply struct {
	OutputVariables  map[string]string `json:"outputVariables,omitempty"`
	Summary          string            `json:"summary,omitempty"`
	ExecutionDetails *struct {
		Summary             string `json:"summary,omitempty"`
		ExternalExecutionID string `json:"externalExecutionId,omitempty"`
	} `json:"executionDetails,omitempty"`
}
