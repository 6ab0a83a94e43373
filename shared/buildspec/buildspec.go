// Package buildspec reads CodeBuild build specifications (versions 0.2 and 0.1): the
// YAML file that tells CodeBuild, and Relais's local build runner, which commands to run
// in which phase, with which environment, and which files to keep as artifacts.
//
// Parse is strict: a YAML error, a value of the wrong type, a bad value and a key that
// CodeBuild does not know are all errors, each with its line and path. ParseLenient reads
// a buildspec the way CodeBuild runs one: unknown keys are not errors but warnings
// (CodeBuild logs "Found possible syntax errors in buildspec" and goes on), everything
// else is as strict as Parse.
package buildspec

import (
	"fmt"
	"strings"
)

// Versions of the format.
const (
	Version01 = "0.1" // every command runs in its own shell
	Version02 = "0.2" // the commands of a build share one shell session
)

// Spec is a parsed buildspec.
type Spec struct {
	Version   string     `json:"version"`
	RunAs     string     `json:"runAs,omitempty"`
	Env       Env        `json:"env"`
	Proxy     Proxy      `json:"proxy"`
	Batch     *Batch     `json:"batch,omitempty"`
	Phases    Phases     `json:"phases"`
	Reports   []Report   `json:"reports,omitempty"`
	Artifacts *Artifacts `json:"artifacts,omitempty"`
	Cache     *Cache     `json:"cache,omitempty"`
	// Warnings are what ParseLenient accepted that Parse refuses: keys CodeBuild does
	// not know, which it ignores.
	Warnings []Problem `json:"warnings,omitempty"`
}

// Env is the env block.
type Env struct {
	Shell               string   `json:"shell,omitempty"`
	Variables           []Var    `json:"variables,omitempty"`
	ParameterStore      []Var    `json:"parameterStore,omitempty"`
	SecretsManager      []Var    `json:"secretsManager,omitempty"`
	ExportedVariables   []string `json:"exportedVariables,omitempty"`
	GitCredentialHelper bool     `json:"gitCredentialHelper,omitempty"`
}

// Var is one entry of a mapping of environment variables: for env/variables the value
// itself; for env/parameter-store the parameter name; for env/secrets-manager the
// reference secret-id:json-key:version-stage:version-id.
type Var struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// Shells that env/shell may name.
const (
	ShellBash       = "bash"
	ShellSh         = "/bin/sh" // "sh" is read as this too
	ShellPowerShell = "powershell.exe"
	ShellCmd        = "cmd.exe"
)

// Proxy is the proxy block.
type Proxy struct {
	UploadArtifacts bool `json:"uploadArtifacts,omitempty"`
	Logs            bool `json:"logs,omitempty"`
}

// Phases holds the four build phases; a phase the buildspec does not name is nil.
type Phases struct {
	Install   *Phase `json:"install,omitempty"`
	PreBuild  *Phase `json:"preBuild,omitempty"`
	Build     *Phase `json:"build,omitempty"`
	PostBuild *Phase `json:"postBuild,omitempty"`
}

// OnFailure is what a phase's failure does to the rest of the build.
type OnFailure string

// Values of phases/*/on-failure. Unset follows CodeBuild's phase transitions.
const (
	OnFailureDefault  OnFailure = ""
	OnFailureAbort    OnFailure = "ABORT"
	OnFailureContinue OnFailure = "CONTINUE"
)

// Phase is one build phase.
type Phase struct {
	RunAs           string    `json:"runAs,omitempty"`
	OnFailure       OnFailure `json:"onFailure,omitempty"`
	RuntimeVersions []Runtime `json:"runtimeVersions,omitempty"` // install only
	Commands        []string  `json:"commands,omitempty"`
	Finally         []string  `json:"finally,omitempty"`
}

// Runtime is one entry of install/runtime-versions: a runtime name (nodejs, python,
// java, golang …) and the version asked for (a number, "3.x", "latest", "corretto11",
// or an environment variable reference such as "$MY_VAR").
type Runtime struct {
	Name    string `json:"name"`
	Version string `json:"version"`
}

// Report is one report group of the reports block.
type Report struct {
	Group         string   `json:"group"` // a report group name or ARN
	Files         []string `json:"files"`
	BaseDirectory string   `json:"baseDirectory,omitempty"`
	DiscardPaths  bool     `json:"discardPaths,omitempty"`
	FileFormat    string   `json:"fileFormat,omitempty"` // upper case; "" means JUNITXML
}

// ReportFormats lists the values reports/*/file-format may take (case-insensitive).
var ReportFormats = []string{
	"CUCUMBERJSON", "JUNITXML", "NUNITXML", "NUNIT3XML", "TESTNGXML", "VISUALSTUDIOTRX",
	"CLOVERXML", "COBERTURAXML", "JACOCOXML", "SIMPLECOV",
}

// Artifacts is the artifacts block, or one of its secondary artifacts.
type Artifacts struct {
	Files          []string `json:"files,omitempty"`
	Name           string   `json:"name,omitempty"` // shell words, evaluated at build time
	DiscardPaths   bool     `json:"discardPaths,omitempty"`
	BaseDirectory  string   `json:"baseDirectory,omitempty"`
	ExcludePaths   []string `json:"excludePaths,omitempty"`
	EnableSymlinks bool     `json:"enableSymlinks,omitempty"`
	S3Prefix       string   `json:"s3Prefix,omitempty"`
	// Secondary artifacts, in the order written; only on the primary block.
	Secondary []SecondaryArtifact `json:"secondary,omitempty"`
}

// SecondaryArtifact is one entry of artifacts/secondary-artifacts.
type SecondaryArtifact struct {
	Identifier string `json:"identifier"`
	Artifacts
}

// Cache is the cache block.
type Cache struct {
	Key          string   `json:"key,omitempty"`
	FallbackKeys []string `json:"fallbackKeys,omitempty"`
	Action       string   `json:"action,omitempty"`
	Paths        []string `json:"paths,omitempty"`
}

// Batch is the batch block. Batch builds run one build per task on CodeBuild; the local
// runner refuses them.
type Batch struct {
	FastFail bool        `json:"fastFail,omitempty"`
	Kind     string      `json:"kind"` // build-list, build-graph, build-matrix or build-fanout
	Tasks    []BatchTask `json:"tasks,omitempty"`
	Line     int         `json:"line"`
}

// BatchTask is one task of a build list or build graph.
type BatchTask struct {
	Identifier    string   `json:"identifier"`
	Buildspec     string   `json:"buildspec,omitempty"`
	DependOn      []string `json:"dependOn,omitempty"`
	IgnoreFailure bool     `json:"ignoreFailure,omitempty"`
	DebugSession  bool     `json:"debugSession,omitempty"`
	Env           BatchEnv `json:"env"`
}

// BatchEnv overrides a batch task's build environment.
type BatchEnv struct {
	ComputeType    string `json:"computeType,omitempty"`
	Image          string `json:"image,omitempty"`
	Type           string `json:"type,omitempty"`
	Fleet          string `json:"fleet,omitempty"`
	PrivilegedMode bool   `json:"privilegedMode,omitempty"`
	Variables      []Var  `json:"variables,omitempty"`
}

// Problem is one thing wrong with a buildspec, at a line (1-based; 0 when unknown) and a
// path such as "phases.build.commands[2]".
type Problem struct {
	Line int    `json:"line"`
	Path string `json:"path,omitempty"`
	Msg  string `json:"msg"`
}

func (p Problem) String() string {
	var b strings.Builder
	if p.Line > 0 {
		fmt.Fprintf(&b, "line %d: ", p.Line)
	}
	if p.Path != "" {
		b.WriteString(p.Path + ": ")
	}
	b.WriteString(p.Msg)
	return b.String()
}

// Error lists every problem found in a buildspec, in the order of the file.
type Error struct {
	Problems []Problem
}

func (e *Error) Error() string {
	parts := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		parts[i] = p.String()
	}
	return "buildspec: " + strings.Join(parts, "; ")
}

// PhaseNames lists the buildspec's phase keys in the order CodeBuild runs them.
var PhaseNames = []string{"install", "pre_build", "build", "post_build"}

// Phase returns the phase a buildspec key names (install, pre_build, build,
// post_build), or nil when the buildspec has none.
func (p Phases) Phase(name string) *Phase {
	switch name {
	case "install":
		return p.Install
	case "pre_build":
		return p.PreBuild
	case "build":
		return p.Build
	case "post_build":
		return p.PostBuild
	}
	return nil
}
