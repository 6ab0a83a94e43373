// Package codebuild runs the Build and Test actions of provider CodeBuild on one machine:
// the action's input artifacts become the build's sources, the project's buildspec runs
// through the local build runner (shared/local/buildrunner) as local processes, and the
// build's artifacts, exported variables and log go back to the pipeline.
//
// Builds run asynchronously, as on AWS: Run starts the build and returns InProgress with
// the build id; the action ends through Job.Complete when the build does. Running builds
// are tracked by action execution id, so that an abandoned action kills its build
// (CancelAction) and a server that stops cancels them all (Shutdown).
package codebuild

import (
	"archive/zip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/relais-ci/relais/shared/action"
	"github.com/relais-ci/relais/shared/buildspec"
	"github.com/relais-ci/relais/shared/core"
	"github.com/relais-ci/relais/shared/gate"
	"github.com/relais-ci/relais/shared/local/buildrunner"
	"github.com/relais-ci/relais/shared/pipeline"
)

// Providers names the action types this package runs, as action.ProviderKey spells them.
var Providers = []string{
	pipeline.CategoryBuild + "/" + pipeline.OwnerAWS + "/CodeBuild",
	pipeline.CategoryTest + "/" + pipeline.OwnerAWS + "/CodeBuild",
}

// LogURLTTL is how long the log link an action records stays valid, for stores whose
// links expire (the longest an S3 presigned URL may live).
const LogURLTTL = 7 * 24 * time.Hour

// LogFile is the name of the build log inside the log artifact, which is stored as
// "<action name>-log" next to the execution's other artifacts.
const LogFile = "build.log"

// Project is what a CodeBuild project holds that a pipeline does not: locally, where the
// buildspec is and the build environment's defaults.
type Project struct {
	// Buildspec is the buildspec's path relative to the primary source (or absolute),
	// or the buildspec itself when it holds a newline; "" is buildspec.yml in the
	// primary source, as on CodeBuild.
	Buildspec string
	// Image names the build image the project uses on AWS. Locally builds run on this
	// machine; the image is only mentioned in the summary.
	Image string
	// Env are the project's environment variables (the pipeline's EnvironmentVariables
	// override them).
	Env []buildrunner.EnvVar
	// BaseEnv is the environment the build starts from; nil is this process's.
	BaseEnv []string
	// Timeout bounds a build; 0 is CodeBuild's default (buildrunner.DefaultTimeout).
	Timeout time.Duration
}

// Deps are what builds need.
type Deps struct {
	Artifacts core.ArtifactStore
	// Projects maps a ProjectName to its local settings; a project not named here runs
	// buildspec.yml from the primary source with the defaults.
	Projects map[string]Project
	// Secrets resolves PARAMETER_STORE and SECRETS_MANAGER environment variables, and
	// the buildspec's parameter-store and secrets-manager entries. Nil resolves none.
	Secrets buildrunner.SecretResolver
	// DataDir holds the builds' workspaces (DataDir/builds/<build uuid>), removed when a
	// build ends; "" is the system's temporary folder.
	DataDir string
	Clock   core.Clock
	Logger  *slog.Logger
}

// Builder runs CodeBuild actions locally. It is safe for concurrent use.
type Builder struct {
	d Deps

	mu       sync.Mutex
	running  map[string]*build // by action execution id
	numbers  map[string]int64  // last build number per project
	stopping bool
}

var (
	_ action.Provider = (*Builder)(nil)
	_ gate.Canceler   = (*Builder)(nil)
)

// New returns a Builder over d.
func New(d Deps) *Builder {
	if d.Clock == nil {
		d.Clock = core.SystemClock
	}
	if d.Logger == nil {
		d.Logger = slog.Default()
	}
	if d.DataDir == "" {
		d.DataDir = os.TempDir()
	}
	return &Builder{d: d, running: map[string]*build{}, numbers: map[string]int64{}}
}

// build is one running build.
type build struct {
	job     action.Job
	plan    plan
	req     buildrunner.Request
	uuid    string // the build id's uuid part
	dir     string // inputs, workspace and log; removed when the build ends
	logName string // the log's artifact name
	logger  *slog.Logger

	started action.Result // the InProgress result Run returned
	cancel  context.CancelFunc
	done    chan struct{}
	// why says who stopped the build, for its summary; set (under Builder.mu) before
	// cancel.
	why string
	// interrupted is set by Shutdown: the build is killed but its action is left
	// InProgress, so that the engine runs it again when Relais restarts.
	interrupted bool
}

// Run starts the build and returns InProgress with its id and a link to its log; the
// action ends through job.Complete. Problems with the action's configuration or inputs
// fail it at once. Running it again while the build of the same action execution runs
// returns that build.
func (b *Builder) Run(ctx context.Context, job action.Job) (action.Result, error) {
	rec := job.Record
	b.mu.Lock()
	if bl, ok := b.running[rec.ID]; ok {
		b.mu.Unlock()
		return bl.started, nil
	}
	stopping := b.stopping
	b.mu.Unlock()
	if stopping {
		return action.Failed("JobFailed", errors.New("relais is shutting down: no new build starts")), nil
	}

	plan, err := b.plan(job)
	if err != nil {
		return action.Failed("ConfigurationError", err), nil
	}
	logger := b.d.Logger.With("pipeline", rec.PipelineName, "execution_id", rec.ExecutionID, "stage", job.Stage, "action", rec.ActionName)

	uuid := core.NewID()
	buildID := plan.project + ":" + uuid
	dir := filepath.Join(b.d.DataDir, "builds", uuid)
	req, err := b.request(ctx, job, plan, dir)
	if err != nil {
		os.RemoveAll(dir)
		return action.Result{}, err
	}
	logName := rec.ActionName + "-log"
	logURL, err := b.putLog(ctx, rec, logName, strings.NewReader(fmt.Sprintf(
		"Build %s is running; its full log is stored here when it ends.\n", buildID)), time.Time{})
	if err != nil {
		os.RemoveAll(dir)
		return action.Result{}, err
	}
	req.BuildURL = logURL

	b.mu.Lock()
	if b.stopping {
		b.mu.Unlock()
		os.RemoveAll(dir)
		return action.Failed("JobFailed", errors.New("relais is shutting down: no new build starts")), nil
	}
	if other, ok := b.running[rec.ID]; ok { // a concurrent Run of the same action won
		b.mu.Unlock()
		os.RemoveAll(dir)
		return other.started, nil
	}
	b.numbers[plan.project]++
	req.BuildNumber = b.numbers[plan.project]
	// The build outlives the request that started it but not a cancel or a shutdown.
	bctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	bl := &build{
		job: job, plan: plan, req: req, uuid: uuid, dir: dir, logName: logName, logger: logger,
		started: action.Result{Status: core.ActionInProgress, ExternalID: buildID, ExternalURL: logURL,
			Summary: fmt.Sprintf("Build %s started (buildspec %s)", buildID, plan.buildspecName())},
		cancel: cancel,
		done:   make(chan struct{}),
	}
	b.running[rec.ID] = bl
	b.mu.Unlock()

	logger.InfoContext(ctx, "build started", "build_id", buildID, "workspace", dir)
	go b.finish(bctx, context.WithoutCancel(ctx), bl)
	return bl.started, nil
}

// plan is what Run reads from an action before it starts a build.
type plan struct {
	project   string
	settings  Project
	env       []buildrunner.EnvVar
	primary   string   // input artifact name
	secondary []string // input artifact names
}

func (p plan) buildspecName() string {
	switch {
	case p.settings.Buildspec == "":
		return "buildspec.yml"
	case strings.Contains(p.settings.Buildspec, "\n"):
		return "inline"
	}
	return p.settings.Buildspec
}

func (b *Builder) plan(job action.Job) (plan, error) {
	cfg := job.Record.Configuration
	var p plan
	p.project = cfg["ProjectName"]
	if p.project == "" {
		return p, errors.New("configuration ProjectName is required")
	}
	if strings.EqualFold(cfg["BatchEnabled"], "true") {
		return p, errors.New("BatchEnabled: batch builds are not available locally; " +
			"set BatchEnabled to false to run the buildspec as one build")
	}
	p.settings = b.d.Projects[p.project]
	if s := cfg["EnvironmentVariables"]; s != "" {
		env, err := parseEnv(s)
		if err != nil {
			return p, err
		}
		p.env = env
	}
	var names []string
	for _, a := range job.Declared.InputArtifacts {
		names = append(names, a.Name)
	}
	if len(names) == 0 {
		return p, errors.New("a CodeBuild action needs at least one input artifact")
	}
	p.primary = names[0]
	if ps := cfg["PrimarySource"]; ps != "" {
		if !slices.Contains(names, ps) {
			return p, fmt.Errorf("configuration PrimarySource %s is not one of the input artifacts (%s)", ps, strings.Join(names, ", "))
		}
		p.primary = ps
	}
	for _, n := range names {
		if n == p.primary {
			continue
		}
		if !buildspec.IsIdentifier(n) {
			return p, fmt.Errorf("input artifact %s cannot be a secondary source: CodeBuild names it CODEBUILD_SRC_DIR_%s, "+
				"so it must be letters, digits and underscores", n, n)
		}
		p.secondary = append(p.secondary, n)
	}
	return p, nil
}

// parseEnv reads the EnvironmentVariables configuration: a JSON array of
// {"name", "value", "type"}.
func parseEnv(s string) ([]buildrunner.EnvVar, error) {
	var vars []buildrunner.EnvVar
	dec := json.NewDecoder(strings.NewReader(s))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&vars); err != nil {
		return nil, fmt.Errorf("configuration EnvironmentVariables is not a JSON array of {name, value, type}: %w", err)
	}
	for i, v := range vars {
		if v.Name == "" {
			return nil, fmt.Errorf("configuration EnvironmentVariables[%d]: name is required", i)
		}
		switch v.Type {
		case "":
			vars[i].Type = buildrunner.EnvPlaintext
		case buildrunner.EnvPlaintext, buildrunner.EnvParameterStore, buildrunner.EnvSecretsManager:
		default:
			return nil, fmt.Errorf("configuration EnvironmentVariables[%d] (%s): type %q is not PLAINTEXT, PARAMETER_STORE or SECRETS_MANAGER", i, v.Name, v.Type)
		}
	}
	return vars, nil
}

// request fetches the input artifacts into dir and describes the build.
func (b *Builder) request(ctx context.Context, job action.Job, p plan, dir string) (buildrunner.Request, error) {
	rec := job.Record
	inputs := filepath.Join(dir, "inputs")
	if err := os.MkdirAll(inputs, 0o755); err != nil {
		return buildrunner.Request{}, fmt.Errorf("create build directory %s: %w", dir, err)
	}
	fetch := func(name string) (string, error) {
		i := slices.IndexFunc(rec.InputArtifacts, func(a core.Artifact) bool { return a.Name == name })
		if i < 0 {
			return "", fmt.Errorf("input artifact %s has no location", name)
		}
		dst := filepath.Join(inputs, name+".zip")
		if err := b.download(ctx, rec.InputArtifacts[i].Location, dst); err != nil {
			return "", fmt.Errorf("fetch input artifact %s: %w", name, err)
		}
		return dst, nil
	}
	req := buildrunner.Request{
		Workspace:  filepath.Join(dir, "ws"),
		Buildspec:  p.settings.Buildspec,
		Project:    p.project,
		Initiator:  "codepipeline/" + rec.PipelineName,
		Region:     rec.Region,
		BaseEnv:    p.settings.BaseEnv,
		ProjectEnv: p.settings.Env,
		Overrides:  p.env,
		Secrets:    b.d.Secrets,
		Timeout:    p.settings.Timeout,
	}
	var err error
	if req.Source, err = fetch(p.primary); err != nil {
		return req, err
	}
	for _, n := range p.secondary {
		if req.SecondarySources == nil {
			req.SecondarySources = map[string]string{}
		}
		if req.SecondarySources[n], err = fetch(n); err != nil {
			return req, err
		}
	}
	if rev := sourceRevision(job.Execution); rev != "" {
		req.SourceVersion, req.ResolvedSourceVersion = rev, rev
	}
	return req, nil
}

// sourceRevision is the commit a pipeline build reports as
// CODEBUILD_RESOLVED_SOURCE_VERSION: the execution's source revision. An execution with
// several source actions gives the first one's, as the job does not say which source
// action made the primary input.
func sourceRevision(e core.Execution) string {
	for _, r := range e.SourceRevisions {
		if r.RevisionID != "" {
			return r.RevisionID
		}
	}
	return ""
}

func (b *Builder) download(ctx context.Context, loc core.ArtifactLocation, dst string) error {
	rc, err := b.d.Artifacts.OpenArtifact(ctx, loc)
	if err != nil {
		return err
	}
	defer rc.Close()
	f, err := os.Create(dst)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, rc); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// putLog stores the build log as an artifact of the execution — a zip holding
// LogFile, as the store keeps zips — and returns a link to it.
func (b *Builder) putLog(ctx context.Context, rec core.ActionExecution, name string, r io.Reader, modified time.Time) (string, error) {
	pr, pw := io.Pipe()
	go func() {
		zw := zip.NewWriter(pw)
		w, err := zw.CreateHeader(&zip.FileHeader{Name: LogFile, Method: zip.Deflate, Modified: modified})
		if err == nil {
			_, err = io.Copy(w, r)
		}
		if err == nil {
			err = zw.Close()
		}
		pw.CloseWithError(err)
	}()
	loc, err := b.d.Artifacts.PutArtifact(ctx, rec.PipelineName, rec.ExecutionID, name, pr)
	pr.CloseWithError(errors.New("artifact store stopped reading"))
	if err != nil {
		return "", fmt.Errorf("store build log of %s as artifact %s: %w", rec.ActionName, name, err)
	}
	url, err := b.d.Artifacts.ArtifactURL(ctx, loc, LogURLTTL)
	if err != nil {
		return "", fmt.Errorf("link build log of %s: %w", rec.ActionName, err)
	}
	return url, nil
}

// finish runs the build, stores what it made and ends the action. bctx stops the build;
// ctx (never cancelled by a stop) carries the storing and the completion.
func (b *Builder) finish(bctx, ctx context.Context, bl *build) {
	logger := bl.logger
	defer func() {
		bl.cancel()
		if err := os.RemoveAll(bl.dir); err != nil {
			logger.WarnContext(ctx, "remove build directory", "dir", bl.dir, "err", err)
		}
		b.mu.Lock()
		delete(b.running, bl.job.Record.ID)
		b.mu.Unlock()
		close(bl.done)
	}()
	res := b.runBuild(bctx, ctx, bl)
	b.mu.Lock()
	interrupted := bl.interrupted
	b.mu.Unlock()
	if interrupted {
		logger.InfoContext(ctx, "build interrupted by shutdown; its action runs again when relais restarts", "build_id", bl.started.ExternalID)
		return
	}
	if err := bl.job.Complete(ctx, res); err != nil {
		logger.ErrorContext(ctx, "complete build action", "build_id", bl.started.ExternalID, "err", err)
		return
	}
	logger.InfoContext(ctx, "build ended", "build_id", bl.started.ExternalID, "status", res.Status)
}

func (b *Builder) runBuild(bctx, ctx context.Context, bl *build) action.Result {
	rec, req, p, logger := bl.job.Record, bl.req, bl.plan, bl.logger
	res := action.Result{Status: core.ActionFailed, ExternalID: bl.started.ExternalID, ExternalURL: bl.started.ExternalURL}
	logPath := filepath.Join(bl.dir, "build.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		res.Error = &core.ErrorDetails{Code: "JobFailed", Message: fmt.Sprintf("create build log %s: %v", logPath, err)}
		return res
	}
	req.Log = logFile
	runner := buildrunner.New(buildrunner.WithClock(b.d.Clock), buildrunner.WithIDs(func() string { return bl.uuid }))
	out, runErr := runner.Run(bctx, req)
	logFile.Close()

	// The log goes to the store whatever happened; its link replaces the first one.
	if f, err := os.Open(logPath); err == nil {
		url, err := b.putLog(ctx, rec, bl.logName, f, b.d.Clock.Now())
		f.Close()
		if err != nil {
			logger.WarnContext(ctx, "store build log", "err", err)
		} else {
			res.ExternalURL = url
		}
	}
	if runErr != nil {
		res.Error = &core.ErrorDetails{Code: "JobFailed", Message: fmt.Sprintf("build %s could not run: %v", bl.started.ExternalID, runErr)}
		return res
	}
	took := out.Duration.Round(time.Second)
	if out.Status != buildrunner.StatusSucceeded {
		b.mu.Lock()
		why := bl.why
		b.mu.Unlock()
		msg := failure(out)
		if why != "" && out.Status == buildrunner.StatusStopped {
			msg += " (" + why + ")"
		}
		res.Error = &core.ErrorDetails{Code: "JobFailed", Message: msg}
		res.Summary = fmt.Sprintf("Build %s %s after %s", out.BuildID, out.Status, took)
		return res
	}
	arts, err := b.storeArtifacts(ctx, bl.job, out)
	if err != nil {
		res.Error = &core.ErrorDetails{Code: "JobFailed", Message: err.Error()}
		res.Summary = fmt.Sprintf("Build %s SUCCEEDED in %s, but its artifacts could not be delivered", out.BuildID, took)
		return res
	}
	res.Status = core.ActionSucceeded
	res.OutputArtifacts = arts
	if len(out.ExportedVariables) > 0 {
		res.OutputVariables = out.ExportedVariables
	}
	var parts []string
	for _, a := range out.Artifacts {
		name := a.Identifier
		if name == "" {
			name = "primary"
		}
		parts = append(parts, fmt.Sprintf("%s %d files", name, a.Files))
	}
	res.Summary = fmt.Sprintf("Build %s SUCCEEDED in %s (buildspec %s, local processes", out.BuildID, took, p.buildspecName())
	if p.settings.Image != "" {
		res.Summary += ", not image " + p.settings.Image
	}
	res.Summary += ")"
	if len(parts) > 0 {
		res.Summary += "; artifacts: " + strings.Join(parts, ", ")
	}
	return res
}

// failure says why a build failed in CodePipeline's words for a CodeBuild action.
func failure(out *buildrunner.Result) string {
	msg := "Build terminated with state: " + string(out.Status)
	for _, ph := range out.Phases {
		if ph.Status == "" || ph.Status == buildrunner.StatusSucceeded {
			continue
		}
		msg += ". Phase: " + string(ph.Type)
		if len(ph.Contexts) > 0 {
			msg += ", Code: " + ph.Contexts[0].StatusCode + ", Message: " + ph.Contexts[0].Message
		}
		break
	}
	return msg
}

// storeArtifacts puts the build's artifact zips in the store as the action's output
// artifacts: a secondary artifact whose identifier is an output artifact's name becomes
// that artifact; the primary artifact becomes the first output artifact (unless a
// secondary artifact has its name).
func (b *Builder) storeArtifacts(ctx context.Context, job action.Job, out *buildrunner.Result) ([]core.Artifact, error) {
	rec := job.Record
	var arts []core.Artifact
	for i, o := range job.Declared.OutputArtifacts {
		j := slices.IndexFunc(out.Artifacts, func(a buildrunner.Artifact) bool { return a.Identifier == o.Name })
		if j < 0 && i == 0 {
			j = slices.IndexFunc(out.Artifacts, func(a buildrunner.Artifact) bool { return a.Identifier == "" })
		}
		if j < 0 {
			if i == 0 {
				return nil, fmt.Errorf("output artifact %s: the build made no primary artifact and no secondary artifact with identifier %s", o.Name, o.Name)
			}
			return nil, fmt.Errorf("output artifact %s: the build made no secondary artifact with identifier %s", o.Name, o.Name)
		}
		f, err := os.Open(out.Artifacts[j].Path)
		if err != nil {
			return nil, fmt.Errorf("output artifact %s: %w", o.Name, err)
		}
		loc, err := b.d.Artifacts.PutArtifact(ctx, rec.PipelineName, rec.ExecutionID, o.Name, f)
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("store output artifact %s: %w", o.Name, err)
		}
		arts = append(arts, core.Artifact{Name: o.Name, Location: loc})
	}
	return arts, nil
}

// CancelAction stops the build of an action execution — every process it started,
// grandchildren too — and returns once it has ended (or ctx is done). An action with no
// running build here is not an error.
func (b *Builder) CancelAction(ctx context.Context, a core.ActionExecution) error {
	b.mu.Lock()
	bl, ok := b.running[a.ID]
	if ok && bl.why == "" {
		bl.why = "the action was abandoned"
	}
	b.mu.Unlock()
	if !ok {
		return nil
	}
	bl.cancel()
	select {
	case <-bl.done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("cancel build %s: %w", bl.started.ExternalID, ctx.Err())
	}
}

// Shutdown kills every running build and waits until each has stopped, or ctx is done.
// No build starts afterwards. The actions of interrupted builds are not ended: like
// after a crash, they stay InProgress and run again when Relais restarts (the engine
// invokes a task that was running at least once more), instead of failing a pipeline
// because its server was restarted.
func (b *Builder) Shutdown(ctx context.Context) error {
	b.mu.Lock()
	b.stopping = true
	var all []*build
	for _, bl := range b.running {
		if bl.why == "" {
			bl.why = "relais is shutting down"
			bl.interrupted = true
		}
		all = append(all, bl)
	}
	b.mu.Unlock()
	for _, bl := range all {
		bl.cancel()
	}
	for _, bl := range all {
		select {
		case <-bl.done:
		case <-ctx.Done():
			return fmt.Errorf("shut down builds: %w", ctx.Err())
		}
	}
	return nil
}

// ResumesWithProcess reports that builds run in this process: after a restart, the
// action service runs the builds that were interrupted again (action.Resumable).
func (b *Builder) ResumesWithProcess() bool { return true }

var _ action.Resumable = (*Builder)(nil)
