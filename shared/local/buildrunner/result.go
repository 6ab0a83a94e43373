package buildrunner

import "time"

// Status is the status of a build or of one of its phases, as CodeBuild reports it.
type Status string

// Statuses. A build ends SUCCEEDED, FAILED, FAULT, TIMED_OUT or STOPPED; a phase may also
// end CLIENT_ERROR (a problem with the build's input: its source, its buildspec, its
// artifacts).
const (
	StatusSucceeded   Status = "SUCCEEDED"
	StatusFailed      Status = "FAILED"
	StatusFault       Status = "FAULT"
	StatusTimedOut    Status = "TIMED_OUT"
	StatusStopped     Status = "STOPPED"
	StatusClientError Status = "CLIENT_ERROR"
)

// PhaseType names a build phase, as CodeBuild's BatchGetBuilds does.
type PhaseType string

// Phases, in the order a build goes through them.
const (
	PhaseSubmitted       PhaseType = "SUBMITTED"
	PhaseQueued          PhaseType = "QUEUED"
	PhaseProvisioning    PhaseType = "PROVISIONING"
	PhaseDownloadSource  PhaseType = "DOWNLOAD_SOURCE"
	PhaseInstall         PhaseType = "INSTALL"
	PhasePreBuild        PhaseType = "PRE_BUILD"
	PhaseBuild           PhaseType = "BUILD"
	PhasePostBuild       PhaseType = "POST_BUILD"
	PhaseUploadArtifacts PhaseType = "UPLOAD_ARTIFACTS"
	PhaseFinalizing      PhaseType = "FINALIZING"
	PhaseCompleted       PhaseType = "COMPLETED"
)

// Phase context status codes Relais reports (CodeBuild's where it has one).
const (
	CodeCommandError  = "COMMAND_EXECUTION_ERROR"
	CodeYAMLError     = "YAML_FILE_ERROR"
	CodeClientError   = "CLIENT_ERROR"
	CodeParameterErr  = "Decrypted Variables Error"
	CodeSecretsErr    = "Secrets Manager Error"
	CodeTimedOut      = "BUILD_TIMED_OUT"
	CodeStopped       = "BUILD_STOPPED"
	CodeInternalError = "INTERNAL_ERROR"
)

// MessageNoArtifacts is CodeBuild's message when artifact files match nothing.
const MessageNoArtifacts = "no matching artifact paths found"

// PhaseContext says why a phase ended as it did.
type PhaseContext struct {
	StatusCode string `json:"statusCode"`
	Message    string `json:"message"`
}

// PhaseResult is one phase of a build. COMPLETED has no status.
type PhaseResult struct {
	Type            PhaseType      `json:"phaseType"`
	Status          Status         `json:"phaseStatus,omitempty"`
	Start           time.Time      `json:"startTime"`
	End             time.Time      `json:"endTime"`
	DurationSeconds int64          `json:"durationInSeconds"`
	Contexts        []PhaseContext `json:"contexts,omitempty"`
}

// Artifact is one artifact zip the build wrote.
type Artifact struct {
	// Identifier is "" for the primary artifact, else the secondary artifact's
	// identifier in the buildspec.
	Identifier string `json:"identifier,omitempty"`
	Name       string `json:"name"` // the artifact's name (buildspec name, evaluated)
	Path       string `json:"path"` // the zip file
	Files      int    `json:"files"`
	S3Prefix   string `json:"s3Prefix,omitempty"`
}

// RuntimeCheck reports one install/runtime-versions entry against this machine. Relais
// never installs a runtime: it says what it found.
type RuntimeCheck struct {
	Name      string `json:"name"`
	Requested string `json:"requested"`
	Found     string `json:"found,omitempty"` // "" when the tool is not on PATH
	Matches   bool   `json:"matches"`
}

// Result is the outcome of a build.
type Result struct {
	BuildID     string        `json:"id"`
	BuildARN    string        `json:"arn"`
	BuildNumber int64         `json:"buildNumber"`
	Project     string        `json:"projectName"`
	Status      Status        `json:"buildStatus"`
	Start       time.Time     `json:"startTime"`
	End         time.Time     `json:"endTime"`
	Duration    time.Duration `json:"duration"`
	Phases      []PhaseResult `json:"phases"`
	// ExportedVariables holds env/exported-variables as they were when the last command
	// phase ended.
	ExportedVariables map[string]string `json:"exportedVariables,omitempty"`
	Artifacts         []Artifact        `json:"artifacts,omitempty"`
	Runtimes          []RuntimeCheck    `json:"runtimes,omitempty"`
	// SourceDir is CODEBUILD_SRC_DIR, left in place for the caller to inspect or remove.
	SourceDir string `json:"sourceDir,omitempty"`
}

// Phase returns the result of one phase, or nil when the build did not reach it.
func (r *Result) Phase(t PhaseType) *PhaseResult {
	for i := range r.Phases {
		if r.Phases[i].Type == t {
			return &r.Phases[i]
		}
	}
	return nil
}

// buildStatus derives the build's status from its phases: a timeout, a stop or a fault
// wins over a failure, and any failure fails the build.
func buildStatus(phases []PhaseResult) Status {
	seen := map[Status]bool{}
	for _, p := range phases {
		seen[p.Status] = true
	}
	for _, s := range []Status{StatusTimedOut, StatusStopped, StatusFault} {
		if seen[s] {
			return s
		}
	}
	if seen[StatusFailed] || seen[StatusClientError] {
		return StatusFailed
	}
	return StatusSucceeded
}
