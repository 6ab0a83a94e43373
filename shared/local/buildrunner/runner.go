// Package buildrunner runs a CodeBuild buildspec on this machine as CodeBuild would, with
// local processes instead of a build container: the input artifacts are placed in a
// workspace as CODEBUILD_SRC_DIR, CodeBuild's environment variables are set, the phases
// run in order in one shell session with CodeBuild's phase rules, the log streams line by
// line with CodeBuild's "[Container]" markers, and the artifacts are collected with
// CodeBuild's rules into zip files.
//
// It is what runs a Build or Test action's CodeBuild project in the local runtime, and
// what the fake CodeBuild of the end-to-end tests runs.
package buildrunner

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/relais-ci/relais/shared/buildspec"
	"github.com/relais-ci/relais/shared/core"
)

// EnvType is the type of a project or start-build environment variable, as CodeBuild's
// EnvironmentVariable.type.
type EnvType string

// Types of environment variable.
const (
	EnvPlaintext      EnvType = "PLAINTEXT"
	EnvParameterStore EnvType = "PARAMETER_STORE"
	EnvSecretsManager EnvType = "SECRETS_MANAGER"
)

// EnvVar is a project or start-build environment variable. For PARAMETER_STORE and
// SECRETS_MANAGER, Value names the secret and the Request's Secrets resolves it.
type EnvVar struct {
	Name  string  `json:"name"`
	Value string  `json:"value"`
	Type  EnvType `json:"type,omitempty"` // "" is PLAINTEXT
}

// DefaultTimeout is CodeBuild's default build timeout.
const DefaultTimeout = 60 * time.Minute

// Request describes one build.
type Request struct {
	// Workspace is a directory the runner may use as it likes (it creates it): the
	// source goes to Workspace/src, secondary sources to Workspace/src_<id>. The runner
	// does not remove it.
	Workspace string
	// Source is the primary input artifact: a zip file or a directory (copied). ""
	// builds with an empty source directory.
	Source string
	// SecondarySources maps source identifiers to zip files or directories; each is
	// placed as CODEBUILD_SRC_DIR_<identifier>.
	SecondarySources map[string]string

	// Spec is the buildspec to run. When nil, Buildspec says where it is: "" is
	// buildspec.yml in the source, text with a newline is the buildspec itself, anything
	// else a path relative to the source directory (or absolute). A buildspec read here
	// is parsed as CodeBuild does (buildspec.ParseLenient).
	Spec      *buildspec.Spec
	Buildspec string
	// IgnoreBatch runs a buildspec that has a batch block as one plain build, as
	// StartBuild (not StartBuildBatch) does on CodeBuild. Without it such a buildspec
	// is refused: batch builds are not available locally.
	IgnoreBatch bool

	Project     string // CodeBuild project name; "" is "relais-local"
	BuildNumber int64  // 0 is 1
	// SourceVersion, ResolvedSourceVersion and SourceRepoURL become the
	// CODEBUILD_SOURCE_VERSION, CODEBUILD_RESOLVED_SOURCE_VERSION and
	// CODEBUILD_SOURCE_REPO_URL variables (the commit, for a pipeline).
	SourceVersion         string
	ResolvedSourceVersion string
	SourceRepoURL         string
	// Initiator is CODEBUILD_INITIATOR: "codepipeline/<pipeline>" for a pipeline's
	// build; "" is the current user's name.
	Initiator string
	Region    string // AWS_REGION and AWS_DEFAULT_REGION when set; the ARN's region
	AccountID string // the ARN's account; "" is 000000000000
	BuildURL  string // CODEBUILD_BUILD_URL, when there is a page showing the build

	// BaseEnv is the environment of the build "image"; nil is this process's
	// environment.
	BaseEnv []string
	// ProjectEnv and Overrides are the project's environment variables and start-build's
	// environmentVariablesOverride. Precedence, as CodeBuild documents: Overrides over
	// ProjectEnv over the buildspec's env.
	ProjectEnv []EnvVar
	Overrides  []EnvVar
	// Secrets resolves parameter-store and secrets-manager variables. Nil resolves
	// nothing: a build that needs a secret then fails in DOWNLOAD_SOURCE.
	Secrets SecretResolver

	// Timeout bounds the build; 0 is DefaultTimeout.
	Timeout time.Duration
	// OutDir receives the artifact zips; "" is Workspace/artifacts.
	OutDir string
	// Log receives the build log as it is written, line by line. May be nil.
	Log io.Writer
}

// Runner runs builds. It holds no state between builds: one Runner may run any number
// of builds at once.
type Runner struct {
	clock core.Clock
	newID func() string
	bash  func() (string, error) // bash's path, looked up once
}

// Option configures a Runner.
type Option func(*Runner)

// WithClock sets the clock that stamps the log and the phases.
func WithClock(c core.Clock) Option { return func(r *Runner) { r.clock = c } }

// WithIDs sets how a build's UUID is made (tests pin it).
func WithIDs(f func() string) Option { return func(r *Runner) { r.newID = f } }

// New returns a Runner.
func New(opts ...Option) *Runner {
	r := &Runner{
		clock: core.SystemClock,
		newID: func() string { return uuid.NewString() },
		bash:  sync.OnceValues(func() (string, error) { return exec.LookPath("bash") }),
	}
	for _, o := range opts {
		o(r)
	}
	return r
}

// ErrInvalidRequest wraps the error Run returns for a request it cannot start.
var ErrInvalidRequest = errors.New("invalid build request")

// Run runs one build and returns its result. A build that fails, times out or is
// stopped is not an error: its Result says so. The error is for a request that cannot
// be run at all. Cancelling ctx stops the build (STOPPED): every process it started
// is killed.
func (r *Runner) Run(ctx context.Context, req Request) (*Result, error) {
	if req.Workspace == "" {
		return nil, fmt.Errorf("%w: no workspace", ErrInvalidRequest)
	}
	for id := range req.SecondarySources {
		if !buildspec.IsIdentifier(id) {
			return nil, fmt.Errorf("%w: secondary source identifier %q", ErrInvalidRequest, id)
		}
	}
	ws, err := filepath.Abs(req.Workspace)
	if err != nil {
		return nil, fmt.Errorf("%w: workspace: %v", ErrInvalidRequest, err)
	}
	b := &build{
		r:     r,
		req:   req,
		ws:    ws,
		log:   newBuildLog(req.Log, r.clock),
		res:   &Result{},
		stop:  ctx,
		local: map[string]bool{},
	}
	b.run(ctx)
	return b.res, nil
}

// build is the state of one Run.
type build struct {
	r   *Runner
	req Request
	ws  string
	log *buildLog
	res *Result

	stop    context.Context // the caller's: done means STOPPED
	done    <-chan struct{} // closed on stop or timeout
	timeout context.Context

	spec       *buildspec.Spec
	srcDir     string
	env        []string
	sess       *session
	succeed    bool
	local      map[string]bool // variables that may not be exported
	projectARN string
}

// phaseEnd is what a phase ended with.
type phaseEnd struct {
	status  Status
	code    string
	message string
}

var succeeded = phaseEnd{status: StatusSucceeded}

func (b *build) now() time.Time { return b.r.clock.Now().UTC() }

func (b *build) run(ctx context.Context) {
	timeout := b.req.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	tctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	b.timeout, b.done = tctx, tctx.Done()

	project := b.req.Project
	if project == "" {
		project = "relais-local"
	}
	number := b.req.BuildNumber
	if number == 0 {
		number = 1
	}
	region, account := b.req.Region, b.req.AccountID
	if region == "" {
		region = "us-east-1"
	}
	if account == "" {
		account = "000000000000"
	}
	b.res.Project = project
	b.res.BuildNumber = number
	b.res.BuildID = project + ":" + b.r.newID()
	b.res.BuildARN = fmt.Sprintf("arn:aws:codebuild:%s:%s:build/%s", region, account, b.res.BuildID)
	b.projectARN = fmt.Sprintf("arn:aws:codebuild:%s:%s:project/%s", region, account, project)
	b.res.Start = b.now()
	b.succeed = true
	defer b.log.close() // after the session's close: see session.close

	b.instant(PhaseSubmitted)
	b.instant(PhaseQueued)
	b.phase(PhaseProvisioning, false, func() phaseEnd {
		b.log.agent("Running on Relais: local processes in " + b.ws + " (not a CodeBuild container)")
		for _, d := range []string{b.ws, filepath.Join(b.ws, "tmp")} {
			if err := os.MkdirAll(d, 0o755); err != nil {
				return phaseEnd{StatusFault, CodeInternalError, "create workspace: " + err.Error()}
			}
		}
		return succeeded
	})
	if b.failedSoFar() {
		b.finish()
		return
	}
	defer func() {
		if b.sess != nil {
			b.sess.close()
		}
	}()
	if end := b.phase(PhaseDownloadSource, true, b.downloadSource); end.status != StatusSucceeded {
		b.finish()
		return
	}

	// The command phases, with CodeBuild's transitions: a failed INSTALL or PRE_BUILD
	// ends the build; a failed BUILD still runs POST_BUILD; UPLOAD_ARTIFACTS follows
	// BUILD and POST_BUILD whatever their outcome. on-failure ABORT ends the build
	// after any phase, CONTINUE goes on to the next phase.
	type step struct {
		t    PhaseType
		name string
	}
	steps := []step{{PhaseInstall, "install"}, {PhasePreBuild, "pre_build"}, {PhaseBuild, "build"}, {PhasePostBuild, "post_build"}}
	upload := true
	for _, st := range steps {
		ph := b.spec.Phases.Phase(st.name)
		end := b.phase(st.t, true, func() phaseEnd { return b.commandPhase(st.t, ph) })
		if end.status == StatusSucceeded {
			continue
		}
		if end.status == StatusTimedOut || end.status == StatusStopped || end.status == StatusFault {
			upload = false
			break
		}
		b.markFailing()
		onFailure := buildspec.OnFailureDefault
		if ph != nil {
			onFailure = ph.OnFailure
		}
		if onFailure == buildspec.OnFailureContinue {
			continue
		}
		if onFailure == buildspec.OnFailureAbort || st.t == PhaseInstall || st.t == PhasePreBuild {
			upload = false
			break
		}
		// A failed BUILD or POST_BUILD goes on to what follows it.
	}
	if b.sess != nil && !b.interrupted() {
		b.collectExported()
	}
	if upload && !b.interrupted() {
		b.phase(PhaseUploadArtifacts, true, b.uploadArtifacts)
	}
	b.finish()
}

// interrupted reports whether the build was stopped or timed out.
func (b *build) interrupted() bool {
	select {
	case <-b.done:
		return true
	default:
		return false
	}
}

func (b *build) failedSoFar() bool { return buildStatus(b.res.Phases) != StatusSucceeded }

// instant records a phase that takes no time locally.
func (b *build) instant(t PhaseType) {
	now := b.now()
	b.res.Phases = append(b.res.Phases, PhaseResult{Type: t, Status: StatusSucceeded, Start: now, End: now})
}

// phase runs one phase and records it; logged phases get CodeBuild's markers.
func (b *build) phase(t PhaseType, logged bool, body func() phaseEnd) phaseEnd {
	start := b.now()
	end := body()
	if b.interrupted() && end.status == StatusSucceeded {
		end = b.interruption()
	}
	stop := b.now()
	pr := PhaseResult{Type: t, Status: end.status, Start: start, End: stop, DurationSeconds: int64(stop.Sub(start) / time.Second)}
	if end.status != StatusSucceeded || end.code != "" || end.message != "" {
		pr.Contexts = []PhaseContext{{StatusCode: end.code, Message: end.message}}
	}
	b.res.Phases = append(b.res.Phases, pr)
	if logged {
		b.log.agent(fmt.Sprintf("Phase complete: %s State: %s", t, end.status))
		b.log.agent(fmt.Sprintf("Phase context status code: %s Message: %s", end.code, end.message))
	}
	return end
}

// interruption is how a phase ends when the build is stopped or has timed out.
func (b *build) interruption() phaseEnd {
	if b.stop.Err() != nil {
		return phaseEnd{StatusStopped, CodeStopped, "Build was stopped"}
	}
	return phaseEnd{StatusTimedOut, CodeTimedOut, "Build has timed out"}
}

func (b *build) finish() {
	if b.sess != nil && b.interrupted() {
		b.sess.kill()
	}
	b.instant(PhaseFinalizing)
	now := b.now()
	b.res.Phases = append(b.res.Phases, PhaseResult{Type: PhaseCompleted, Start: now, End: now})
	b.res.Status = buildStatus(b.res.Phases)
	b.res.End = now
	b.res.Duration = now.Sub(b.res.Start)
	b.log.agent(fmt.Sprintf("Build %s: %s", b.res.BuildID, b.res.Status))
}

// markFailing sets CODEBUILD_BUILD_SUCCEEDING=0 for the commands still to come.
func (b *build) markFailing() {
	if !b.succeed {
		return
	}
	b.succeed = false
	if b.sess != nil {
		_, _ = b.sess.internal("export CODEBUILD_BUILD_SUCCEEDING=0", b.done)
	}
}

func (b *build) downloadSource() phaseEnd {
	b.log.agent("Phase is DOWNLOAD_SOURCE")
	b.srcDir = filepath.Join(b.ws, "src")
	b.res.SourceDir = b.srcDir
	if err := placeSource(b.req.Source, b.srcDir); err != nil {
		return phaseEnd{StatusClientError, CodeClientError, "error placing the primary source: " + err.Error()}
	}
	b.log.agent("CODEBUILD_SRC_DIR=" + b.srcDir)
	secondary := map[string]string{}
	for _, id := range sortedKeys(b.req.SecondarySources) {
		dir := filepath.Join(b.ws, "src_"+id)
		if err := placeSource(b.req.SecondarySources[id], dir); err != nil {
			return phaseEnd{StatusClientError, CodeClientError, fmt.Sprintf("error placing secondary source %s: %v", id, err)}
		}
		secondary[id] = dir
		b.log.agent(fmt.Sprintf("CODEBUILD_SRC_DIR_%s=%s", id, dir))
	}

	if end := b.loadSpec(); end.status != StatusSucceeded {
		return end
	}
	if b.spec.Batch != nil && !b.req.IgnoreBatch {
		return phaseEnd{StatusClientError, CodeClientError, fmt.Sprintf(
			"this buildspec defines a batch build (%s, line %d): batch builds are not available locally; "+
				"run it as a plain build (relais build --ignore-batch) or run each task's buildspec on its own", b.spec.Batch.Kind, b.spec.Batch.Line)}
	}
	if b.spec.Batch != nil {
		b.log.agent("Ignoring the batch block: this is a single build, as StartBuild runs it")
	}

	shell, bash, end := b.chooseShell()
	if end.status != StatusSucceeded {
		return end
	}

	b.log.agent("Processing environment variables")
	env, end := b.environment(secondary)
	if end.status != StatusSucceeded {
		return end
	}
	b.env = env
	if b.spec.Env.GitCredentialHelper {
		b.log.agent("git-credential-helper: CodeBuild's Git credential helper is not available locally; git uses this machine's credentials")
	}
	if b.spec.Cache != nil {
		b.log.agent("cache: not used locally (every local build starts from its own copy of the source)")
	}
	if len(b.spec.Reports) > 0 {
		groups := make([]string, len(b.spec.Reports))
		for i, r := range b.spec.Reports {
			groups[i] = r.Group
		}
		b.log.agent("reports: test reports are not collected locally (" + strings.Join(groups, ", ") + ")")
	}
	if b.spec.Phases.Install == nil || len(b.spec.Phases.Install.RuntimeVersions) == 0 {
		b.log.agent("No runtime version selected in buildspec.")
	}
	b.log.agent("Moving to directory " + b.srcDir)
	b.sess = newSession(shell, bash, b.srcDir, b.env, filepath.Join(b.ws, "tmp"), b.spec.Version == buildspec.Version01, b.log.output)
	if err := b.sess.start(); err != nil {
		b.sess = nil
		return phaseEnd{StatusFault, CodeInternalError, err.Error()}
	}
	return succeeded
}

func (b *build) loadSpec() phaseEnd {
	if b.req.Spec != nil {
		b.spec = b.req.Spec
		b.log.agent("YAML location is the buildspec given to the build")
	} else {
		var data []byte
		loc := b.req.Buildspec
		if strings.Contains(loc, "\n") {
			data = []byte(loc)
			b.log.agent("YAML location is the buildspec given to the build")
		} else {
			if loc == "" {
				loc = "buildspec.yml"
			}
			if !filepath.IsAbs(loc) {
				loc = filepath.Join(b.srcDir, loc)
			}
			b.log.agent("YAML location is " + loc)
			var err error
			data, err = os.ReadFile(loc)
			if err != nil {
				return phaseEnd{StatusClientError, CodeYAMLError, "YAML file does not exist"}
			}
		}
		spec, err := buildspec.ParseLenient(data)
		if err != nil {
			return phaseEnd{StatusClientError, CodeYAMLError, strings.TrimPrefix(err.Error(), "buildspec: ")}
		}
		b.spec = spec
	}
	if len(b.spec.Warnings) > 0 {
		var sb strings.Builder
		sb.WriteString("Found possible syntax errors in buildspec:")
		for _, w := range b.spec.Warnings {
			fmt.Fprintf(&sb, "\n    The following key cannot be identified: %s (line %d)", w.Path, w.Line)
		}
		b.log.agent(sb.String())
	}
	return succeeded
}

// chooseShell picks the shell: env/shell, else bash (on CodeBuild the default is the
// image's /bin/sh, which is bash on Amazon Linux images and dash on Ubuntu ones).
func (b *build) chooseShell() (string, bool, phaseEnd) {
	name := b.spec.Env.Shell
	switch name {
	case "", buildspec.ShellBash:
		if name != "" {
			b.log.agent("Selecting shell bash as specified in buildspec.")
		}
		p, err := b.r.bash()
		if err != nil {
			return "", false, phaseEnd{StatusFault, CodeInternalError, "bash is not installed on this machine"}
		}
		return p, true, succeeded
	case buildspec.ShellSh:
		b.log.agent("Selecting shell /bin/sh as specified in buildspec.")
		return "/bin/sh", false, succeeded
	}
	return "", false, phaseEnd{StatusClientError, CodeClientError, fmt.Sprintf("shell %s is for Windows build images: not available locally", name)}
}

// environment builds the build's environment, lowest precedence first: the image's
// (BaseEnv), the buildspec's variables, parameter-store and secrets-manager values, the
// project's, start-build's overrides, and CodeBuild's own CODEBUILD_* variables, which
// nothing overrides.
func (b *build) environment(secondary map[string]string) ([]string, phaseEnd) {
	env := newEnvList(b.req.BaseEnv)
	// The developer's RELAIS_SECRET_* variables feed EnvSecrets; the build sees only
	// the variables they resolve, masked.
	for _, name := range env.names() {
		if strings.HasPrefix(name, EnvSecretPrefix) {
			env.unset(name)
		}
	}
	for _, v := range b.spec.Env.Variables {
		env.set(v.Name, v.Value)
	}
	ctx := b.timeout
	resolve := func(kind SecretKind, name, ref string) (string, phaseEnd) {
		code := CodeParameterErr
		if kind == SecretsManager {
			code = CodeSecretsErr
		}
		if b.req.Secrets == nil {
			return "", phaseEnd{StatusFailed, code, fmt.Sprintf("%s %s for %s: no secret resolver: locally, set %s%s or give a secrets file", kind, ref, name, EnvSecretPrefix, name)}
		}
		val, err := b.req.Secrets.ResolveSecret(ctx, SecretRef{Kind: kind, Var: name, Name: ref})
		if err != nil {
			return "", phaseEnd{StatusFailed, code, fmt.Sprintf("%s %s for %s: %v", kind, ref, name, err)}
		}
		b.log.addSecret(val)
		return val, succeeded
	}
	for _, v := range b.spec.Env.ParameterStore {
		val, end := resolve(ParameterStore, v.Name, v.Value)
		if end.status != StatusSucceeded {
			return nil, end
		}
		env.set(v.Name, val)
	}
	for _, v := range b.spec.Env.SecretsManager {
		val, end := resolve(SecretsManager, v.Name, v.Value)
		if end.status != StatusSucceeded {
			return nil, end
		}
		env.set(v.Name, val)
	}
	for _, layer := range [][]EnvVar{b.req.ProjectEnv, b.req.Overrides} {
		for _, v := range layer {
			switch v.Type {
			case "", EnvPlaintext:
				env.set(v.Name, v.Value)
			case EnvParameterStore, EnvSecretsManager:
				kind := ParameterStore
				if v.Type == EnvSecretsManager {
					kind = SecretsManager
				}
				val, end := resolve(kind, v.Name, v.Value)
				if end.status != StatusSucceeded {
					return nil, end
				}
				env.set(v.Name, val)
				b.local[v.Name] = true // CodeBuild does not export a project's secrets
			default:
				return nil, phaseEnd{StatusClientError, CodeClientError, fmt.Sprintf("environment variable %s: unknown type %q", v.Name, v.Type)}
			}
		}
	}
	for _, name := range env.names() {
		if strings.HasPrefix(name, "CODEBUILD_") && !b.inBase(name) {
			b.log.agent("Warning: " + name + " is reserved for CodeBuild: the value set for it is replaced")
		}
	}
	if b.req.Region != "" {
		env.set("AWS_REGION", b.req.Region)
		env.set("AWS_DEFAULT_REGION", b.req.Region)
	}
	initiator := b.req.Initiator
	if initiator == "" {
		initiator = os.Getenv("USER")
		if initiator == "" {
			initiator = "relais"
		}
	}
	env.set("CODEBUILD_BUILD_ARN", b.res.BuildARN)
	env.set("CODEBUILD_BUILD_ID", b.res.BuildID)
	env.set("CODEBUILD_BUILD_IMAGE", "relais/local")
	env.set("CODEBUILD_BUILD_NUMBER", strconv.FormatInt(b.res.BuildNumber, 10))
	env.set("CODEBUILD_BUILD_SUCCEEDING", "1")
	env.set("CODEBUILD_INITIATOR", initiator)
	env.set("CODEBUILD_LOG_PATH", strings.TrimPrefix(b.res.BuildID, b.res.Project+":"))
	env.set("CODEBUILD_PROJECT_ARN", b.projectARN)
	env.set("CODEBUILD_RESOLVED_SOURCE_VERSION", b.req.ResolvedSourceVersion)
	env.set("CODEBUILD_SOURCE_REPO_URL", b.req.SourceRepoURL)
	env.set("CODEBUILD_SOURCE_VERSION", b.req.SourceVersion)
	env.set("CODEBUILD_SRC_DIR", b.srcDir)
	env.set("CODEBUILD_START_TIME", strconv.FormatInt(b.res.Start.UnixMilli(), 10))
	if b.req.BuildURL != "" {
		env.set("CODEBUILD_BUILD_URL", b.req.BuildURL)
	}
	for id, dir := range secondary {
		env.set("CODEBUILD_SRC_DIR_"+id, dir)
	}
	return env.list(), succeeded
}

func (b *build) inBase(name string) bool {
	base := b.req.BaseEnv
	if base == nil {
		_, found := os.LookupEnv(name)
		return found
	}
	for _, kv := range base {
		if strings.HasPrefix(kv, name+"=") {
			return true
		}
	}
	return false
}

// commandPhase runs one of INSTALL … POST_BUILD: its commands until one fails, then its
// finally block whatever happened (unless the build was stopped or timed out).
func (b *build) commandPhase(t PhaseType, ph *buildspec.Phase) phaseEnd {
	b.log.agent("Entering phase " + string(t))
	if ph == nil {
		return succeeded
	}
	if t == PhaseInstall {
		b.checkRuntimes(ph.RuntimeVersions)
	}
	if user := firstNonEmpty(ph.RunAs, b.spec.RunAs); user != "" {
		b.log.agent("run-as " + user + ": not available locally; commands run as this process's user")
	}
	end := b.commands(ph.Commands)
	if end.status == StatusTimedOut || end.status == StatusStopped || end.status == StatusFault {
		return end
	}
	if fin := b.commands(ph.Finally); fin.status != StatusSucceeded && end.status == StatusSucceeded {
		end = fin
	} else if fin.status == StatusTimedOut || fin.status == StatusStopped || fin.status == StatusFault {
		end = fin
	}
	return end
}

// commands runs commands in the session until one fails.
func (b *build) commands(cmds []string) phaseEnd {
	if len(cmds) == 0 {
		return succeeded
	}
	logStart := func(i int) { b.log.agent("Running command " + strings.TrimRight(cmds[i], "\n")) }
	idx, rc, err := b.sess.runBlock(cmds, logStart, b.done)
	var st stopped
	switch {
	case errors.As(err, &st):
		b.sess.kill()
		return b.interruption()
	case err != nil:
		return phaseEnd{StatusFault, CodeInternalError, err.Error()}
	case idx < len(cmds):
		c := strings.TrimRight(cmds[idx], "\n")
		reason := fmt.Sprintf("exit status %d", rc)
		b.log.agent(fmt.Sprintf("Command did not exit successfully %s %s", c, reason))
		return phaseEnd{StatusFailed, CodeCommandError, fmt.Sprintf("Error while executing command: %s. Reason: %s", c, reason)}
	}
	return succeeded
}

func (b *build) checkRuntimes(rts []buildspec.Runtime) {
	for _, rt := range rts {
		requested := expandVar(rt.Version, b.env)
		rc := checkRuntime(b.timeout, rt.Name, requested, b.env)
		b.res.Runtimes = append(b.res.Runtimes, rc)
		switch {
		case rc.Found == "":
			b.log.agent(fmt.Sprintf("Runtime %s %s requested: not found on this machine (Relais does not install runtimes)", rt.Name, requested))
		case rc.Matches:
			b.log.agent(fmt.Sprintf("Runtime %s %s requested: found %s on this machine", rt.Name, requested, rc.Found))
		default:
			b.log.agent(fmt.Sprintf("Runtime %s %s requested: this machine has %s (Relais does not install runtimes)", rt.Name, requested, rc.Found))
		}
	}
}

// collectExported reads env/exported-variables from the session, as they are when the
// last command phase has ended.
func (b *build) collectExported() {
	names := b.spec.Env.ExportedVariables
	if len(names) == 0 {
		return
	}
	file := filepath.Join(b.ws, "tmp", "exported")
	var sb strings.Builder
	sb.WriteString("{ ")
	for _, n := range names {
		if !buildspec.IsIdentifier(n) {
			continue
		}
		fmt.Fprintf(&sb, `printf '%%s\0%%s\0%%s\0' %s "${%s+1}" "${%s-}"; `, n, n, n)
	}
	fmt.Fprintf(&sb, "} >%s", quote(file))
	if rc, err := b.sess.internal(sb.String(), b.done); err != nil || rc != 0 {
		b.log.agent("Could not read exported variables")
		return
	}
	data, err := os.ReadFile(file)
	if err != nil {
		return
	}
	fields := strings.Split(string(data), "\x00")
	b.res.ExportedVariables = map[string]string{}
	for i := 0; i+2 < len(fields); i += 3 {
		name, set, val := fields[i], fields[i+1], fields[i+2]
		switch {
		case strings.HasPrefix(name, "AWS_"):
			b.log.agent("Not exporting " + name + ": variables that start with AWS_ cannot be exported")
		case b.local[name]:
			b.log.agent("Not exporting " + name + ": the project's secrets cannot be exported")
		case set == "":
			b.log.agent("Exported variable " + name + " is not set")
		default:
			b.res.ExportedVariables[name] = val
		}
	}
}

// uploadArtifacts collects the primary and secondary artifacts into zips.
func (b *build) uploadArtifacts() phaseEnd {
	a := b.spec.Artifacts
	if a == nil {
		b.log.agent("No artifacts in buildspec")
		return succeeded
	}
	out := b.req.OutDir
	if out == "" {
		out = filepath.Join(b.ws, "artifacts")
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return phaseEnd{StatusFault, CodeInternalError, "create artifact directory: " + err.Error()}
	}
	type job struct {
		id  string
		def buildspec.Artifacts
	}
	jobs := []job{}
	if len(a.Files) > 0 {
		jobs = append(jobs, job{"", *a})
	}
	for _, s := range a.Secondary {
		jobs = append(jobs, job{s.Identifier, s.Artifacts})
	}
	used := map[string]bool{}
	for _, j := range jobs {
		name, err := b.artifactName(j.id, j.def.Name)
		if err != nil {
			return phaseEnd{StatusClientError, CodeClientError, fmt.Sprintf("artifact name %q: %v", j.def.Name, err)}
		}
		files, err := collectArtifact(b.srcDir, j.def, b.log.agent)
		if err != nil {
			if errors.Is(err, errNoArtifacts) {
				return phaseEnd{StatusClientError, CodeClientError, MessageNoArtifacts}
			}
			return phaseEnd{StatusClientError, CodeClientError, err.Error()}
		}
		file := zipFileName(name)
		if used[file] {
			file = j.id + "-" + file
		}
		used[file] = true
		dst := filepath.Join(out, file)
		if err := writeZip(dst, files, j.def.EnableSymlinks); err != nil {
			return phaseEnd{StatusFault, CodeInternalError, "write artifact: " + err.Error()}
		}
		b.res.Artifacts = append(b.res.Artifacts, Artifact{Identifier: j.id, Name: name, Path: dst, Files: len(files), S3Prefix: j.def.S3Prefix})
	}
	return succeeded
}

// artifactName evaluates an artifacts/name in the build shell ("the name uses the Shell
// command language"): myname-$(date +%Y-%m-%d) gets the date. Without one, the primary
// artifact is named after the project and a secondary one after its identifier.
func (b *build) artifactName(id, spec string) (string, error) {
	if spec == "" {
		if id == "" {
			return b.res.Project, nil
		}
		return id, nil
	}
	file := filepath.Join(b.ws, "tmp", "artifact-name")
	eof := "RELAIS_EOF_" + randomToken()
	script := fmt.Sprintf("{ cat <<%s\n%s\n%s\n} </dev/null >%s", eof, spec, eof, quote(file))
	rc, err := b.sess.internal(script, b.done)
	if err != nil {
		return "", err
	}
	if rc != 0 {
		return "", fmt.Errorf("exit status %d", rc)
	}
	data, err := os.ReadFile(file)
	if err != nil {
		return "", err
	}
	name := strings.TrimSpace(string(data))
	if name == "" {
		return "", errors.New("evaluates to nothing")
	}
	return name, nil
}

// zipFileName makes an artifact name a file name ending in .zip.
func zipFileName(name string) string {
	name = strings.Trim(strings.ReplaceAll(name, "/", "-"), ". ")
	if name == "" {
		name = "artifact"
	}
	if !strings.HasSuffix(strings.ToLower(name), ".zip") {
		name += ".zip"
	}
	return name
}

// expandVar expands a runtime version given as $VAR or ${VAR}.
func expandVar(s string, env []string) string {
	return os.Expand(s, func(name string) string {
		for i := len(env) - 1; i >= 0; i-- {
			if v, ok := strings.CutPrefix(env[i], name+"="); ok {
				return v
			}
		}
		return ""
	})
}

func firstNonEmpty(ss ...string) string {
	for _, s := range ss {
		if s != "" {
			return s
		}
	}
	return ""
}
