// Package lambdainvoke runs the Invoke action of provider Lambda on one machine: the
// action's FunctionName is mapped to a local executable, which gets CodePipeline's job
// event on standard input and answers on standard output.
//
// The protocol, the local stand-in for a Lambda function that calls PutJobSuccessResult
// or PutJobFailureResult:
//
//   - stdin: the event {"CodePipeline.job": {"id", "accountId", "data": {…}}} exactly as
//     CodePipeline sends it to a function, with artifact locations pointing at local
//     files: bucketName is a folder, objectKey a path inside it. Input artifacts are
//     the artifact store's own files when the store is a folder (else copies); each
//     output artifact is a zip the executable writes at its location.
//   - exit status 0: the job succeeded. Standard output is then empty or one JSON
//     object: {"outputVariables": {"k": "v"}, "summary": "…"}, where "executionDetails":
//     {"summary", "externalExecutionId"} is accepted too, as PutJobSuccessResult takes.
//     Logs belong on standard error.
//   - any other exit status: the job failed, with the last lines of standard error as
//     the message.
//
// The executable runs in its own process group, killed whole on timeout, on cancel
// (CancelAction, an abandoned action) and after it exits.
package lambdainvoke

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/relais-ci/relais/shared/local/proc"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/relais-ci/relais/shared/action"
	"github.com/relais-ci/relais/shared/action/lambdajob"
	"github.com/relais-ci/relais/shared/core"
	"github.com/relais-ci/relais/shared/gate"
)

// Provider is the action type this package runs, as action.ProviderKey spells it.
const Provider = "Invoke/AWS/Lambda"

// DefaultTimeout is Lambda's longest function timeout.
const DefaultTimeout = 15 * time.Minute

// AccountID is the account id local job events carry.
const AccountID = "000000000000"

// Limits on what is read back from the executable.
const (
	maxResult    = 6 << 20 // Lambda's synchronous response limit
	maxErrorTail = 2000    // bytes of standard error in a failure message
	tailLines    = 20
)

// Deps are what invocations need.
type Deps struct {
	Artifacts core.ArtifactStore
	// Functions maps a FunctionName to the path of the executable that stands in for it.
	Functions map[string]string
	// DataDir holds each invocation's scratch folder (DataDir/lambda/<job id>): output
	// artifacts, and copies of input artifacts when the store is not a folder. Removed
	// when the invocation ends. "" is the system's temporary folder.
	DataDir string
	// Timeout bounds an invocation; 0 is DefaultTimeout.
	Timeout time.Duration
	Logger  *slog.Logger
}

// Invoker runs Lambda Invoke actions locally. It is safe for concurrent use.
type Invoker struct {
	d Deps

	mu      sync.Mutex
	running map[string]context.CancelFunc // by action execution id
}

var (
	_ action.Provider = (*Invoker)(nil)
	_ gate.Canceler   = (*Invoker)(nil)
)

// New returns an Invoker over d.
func New(d Deps) *Invoker {
	if d.Timeout <= 0 {
		d.Timeout = DefaultTimeout
	}
	if d.Logger == nil {
		d.Logger = slog.Default()
	}
	if d.DataDir == "" {
		d.DataDir = os.TempDir()
	}
	fns := make(map[string]string, len(d.Functions))
	for k, v := range d.Functions {
		fns[k] = v
	}
	d.Functions = fns
	return &Invoker{d: d, running: map[string]context.CancelFunc{}}
}

// The job event and reply types are CodePipeline's, shared with the other Invoke
// provider (package lambdajob).
type (
	Event               = lambdajob.Event
	Job                 = lambdajob.Job
	JobData             = lambdajob.JobData
	ActionConfiguration = lambdajob.ActionConfiguration
	Artifact            = lambdajob.Artifact
	Location            = lambdajob.Location
	S3Location          = lambdajob.S3Location
	Credentials         = lambdajob.Credentials
	Reply               = lambdajob.Reply
)

// folderStore is a store whose artifacts are files under one folder, at their key
// (shared/local/fileartifact): their locations can be given as they are.
type folderStore interface{ Dir() string }

// Run invokes the function and waits for it.
func (v *Invoker) Run(ctx context.Context, job action.Job) (action.Result, error) {
	rec := job.Record
	cfg := rec.Configuration
	name := cfg["FunctionName"]
	logger := v.d.Logger.With("pipeline", rec.PipelineName, "execution_id", rec.ExecutionID, "stage", job.Stage, "action", rec.ActionName)
	if name == "" {
		return action.Failed("ConfigurationError", errors.New("configuration FunctionName is required")), nil
	}
	path, ok := v.d.Functions[name]
	if !ok {
		return action.Failed("ConfigurationError", fmt.Errorf(
			"function %s is not mapped to a local executable: start relais serve with --lambda %s=PATH", name, name)), nil
	}

	ctx, cancel := context.WithTimeout(ctx, v.d.Timeout)
	defer cancel()
	v.mu.Lock()
	v.running[rec.ID] = cancel
	v.mu.Unlock()
	defer func() {
		v.mu.Lock()
		delete(v.running, rec.ID)
		v.mu.Unlock()
	}()

	scratch := filepath.Join(v.d.DataDir, "lambda", rec.ID)
	if err := os.MkdirAll(filepath.Join(scratch, "out"), 0o755); err != nil {
		return action.Result{}, fmt.Errorf("create scratch folder for function %s: %w", name, err)
	}
	defer os.RemoveAll(scratch)

	ev, err := v.event(ctx, job, scratch)
	if err != nil {
		return action.Result{}, err
	}
	deadline, _ := ctx.Deadline()
	ev.Job.Data.ArtifactCredentials.ExpirationTime = deadline.UnixMilli()
	in, err := json.Marshal(ev)
	if err != nil {
		return action.Result{}, fmt.Errorf("encode job event for function %s: %w", name, err)
	}

	var stdout limitedBuffer
	stdout.max = maxResult
	var stderr tail
	cmd := exec.CommandContext(ctx, path)
	cmd.Stdin = bytes.NewReader(in)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.Env = append(os.Environ(), "AWS_LAMBDA_FUNCTION_NAME="+name, "RELAIS_JOB_ID="+ev.Job.ID)
	cmd.SysProcAttr = proc.Attr()
	cmd.Cancel = func() error { return killGroup(cmd) }
	cmd.WaitDelay = 5 * time.Second // a grandchild holding stdout open does not hold us
	logger.InfoContext(ctx, "function invoked", "function", name, "executable", path)
	runErr := cmd.Run()
	if cmd.Process != nil {
		_ = killGroup(cmd) // what it left running in the background goes too
	}

	if err := ctx.Err(); err != nil && runErr != nil {
		msg := fmt.Sprintf("function %s (%s) was cancelled: its process group was killed", name, path)
		if errors.Is(err, context.DeadlineExceeded) {
			msg = fmt.Sprintf("function %s (%s) timed out after %s: its process group was killed", name, path, v.d.Timeout)
		}
		if t := stderr.String(); t != "" {
			msg += "; standard error ended with: " + t
		}
		return action.Failed("JobFailed", errors.New(msg)), nil
	}
	var exit *exec.ExitError
	if errors.As(runErr, &exit) {
		msg := fmt.Sprintf("function %s (%s) failed: %s", name, path, exit.ProcessState)
		if t := stderr.String(); t != "" {
			msg += ": " + t
		}
		return action.Failed("JobFailed", errors.New(msg)), nil
	}
	if runErr != nil {
		return action.Failed("JobFailed", fmt.Errorf("run function %s (%s): %w", name, path, runErr)), nil
	}
	if stdout.over {
		return action.Failed("JobFailed", fmt.Errorf("function %s (%s) wrote more than %d bytes to standard output", name, path, maxResult)), nil
	}
	reply, err := parseReply(stdout.Bytes())
	if err != nil {
		return action.Failed("JobFailed", fmt.Errorf("function %s (%s): %w", name, path, err)), nil
	}

	res := action.Result{Status: core.ActionSucceeded, OutputVariables: reply.OutputVariables, Summary: reply.Summary, ExternalID: ev.Job.ID}
	if d := reply.ExecutionDetails; d != nil {
		if res.Summary == "" {
			res.Summary = d.Summary
		}
		if d.ExternalExecutionID != "" {
			res.ExternalID = d.ExternalExecutionID
		}
	}
	for _, o := range ev.Job.Data.OutputArtifacts {
		loc, err := v.collect(ctx, rec, o)
		if err != nil {
			return action.Failed("JobFailed", fmt.Errorf("function %s (%s): %w", name, path, err)), nil
		}
		res.OutputArtifacts = append(res.OutputArtifacts, core.Artifact{Name: o.Name, Location: loc})
	}
	if res.Summary == "" {
		res.Summary = fmt.Sprintf("Function %s (%s) succeeded", name, path)
	}
	logger.InfoContext(ctx, "function succeeded", "function", name, "variables", len(res.OutputVariables))
	return res, nil
}

// event builds the job event: input artifacts where the function can read them, output
// artifacts where it is to write them.
func (v *Invoker) event(ctx context.Context, job action.Job, scratch string) (Event, error) {
	rec := job.Record
	conf := map[string]string{"FunctionName": rec.Configuration["FunctionName"]}
	if p, ok := rec.Configuration["UserParameters"]; ok {
		conf["UserParameters"] = p
	}
	ev := Event{Job: Job{ID: rec.ID, AccountID: AccountID, Data: JobData{
		ActionConfiguration: ActionConfiguration{Configuration: conf},
		InputArtifacts:      []Artifact{},
		OutputArtifacts:     []Artifact{},
	}}}
	fs, isFolder := v.d.Artifacts.(folderStore)
	for _, a := range rec.InputArtifacts {
		var loc S3Location
		if isFolder {
			loc = S3Location{BucketName: fs.Dir(), ObjectKey: a.Location.Key}
		} else {
			dir := filepath.Join(scratch, "in")
			if err := copyArtifact(ctx, v.d.Artifacts, a.Location, dir, a.Name+".zip"); err != nil {
				return ev, fmt.Errorf("fetch input artifact %s: %w", a.Name, err)
			}
			loc = S3Location{BucketName: dir, ObjectKey: a.Name + ".zip"}
		}
		ev.Job.Data.InputArtifacts = append(ev.Job.Data.InputArtifacts, Artifact{Name: a.Name, Location: Location{Type: "S3", S3Location: loc}})
	}
	for _, o := range job.Declared.OutputArtifacts {
		ev.Job.Data.OutputArtifacts = append(ev.Job.Data.OutputArtifacts, Artifact{Name: o.Name,
			Location: Location{Type: "S3", S3Location: S3Location{BucketName: filepath.Join(scratch, "out"), ObjectKey: o.Name + ".zip"}}})
	}
	return ev, nil
}

// collect stores the output artifact the function wrote.
func (v *Invoker) collect(ctx context.Context, rec core.ActionExecution, o Artifact) (core.ArtifactLocation, error) {
	p := filepath.Join(o.Location.S3Location.BucketName, o.Location.S3Location.ObjectKey)
	f, err := os.Open(p)
	if errors.Is(err, os.ErrNotExist) {
		return core.ArtifactLocation{}, fmt.Errorf("output artifact %s was not written to %s", o.Name, p)
	}
	if err != nil {
		return core.ArtifactLocation{}, fmt.Errorf("output artifact %s: %w", o.Name, err)
	}
	defer f.Close()
	loc, err := v.d.Artifacts.PutArtifact(ctx, rec.PipelineName, rec.ExecutionID, o.Name, f)
	if err != nil {
		return core.ArtifactLocation{}, fmt.Errorf("store output artifact %s: %w", o.Name, err)
	}
	return loc, nil
}

func copyArtifact(ctx context.Context, store core.ArtifactStore, loc core.ArtifactLocation, dir, name string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	rc, err := store.OpenArtifact(ctx, loc)
	if err != nil {
		return err
	}
	defer rc.Close()
	f, err := os.Create(filepath.Join(dir, name))
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, rc); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// parseReply reads what a successful executable printed: nothing, or one JSON object.
func parseReply(b []byte) (Reply, error) {
	var r Reply
	if len(bytes.TrimSpace(b)) == 0 {
		return r, nil
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&r); err != nil {
		return r, fmt.Errorf(`standard output is not the JSON result {"outputVariables": {...}, "summary": "..."} (logs belong on standard error): %w`, err)
	}
	if dec.More() {
		return r, errors.New("standard output holds more than one JSON value (logs belong on standard error)")
	}
	return r, nil
}

// CancelAction kills the invocation of an action execution, if one runs here.
func (v *Invoker) CancelAction(_ context.Context, a core.ActionExecution) error {
	v.mu.Lock()
	cancel, ok := v.running[a.ID]
	v.mu.Unlock()
	if ok {
		cancel()
	}
	return nil
}

func killGroup(cmd *exec.Cmd) error {
	if cmd.Process == nil {
		return nil
	}
	err := syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	if errors.Is(err, syscall.ESRCH) {
		return os.ErrProcessDone
	}
	return err
}

// limitedBuffer keeps up to max bytes and notes whether more came.
type limitedBuffer struct {
	bytes.Buffer
	max  int
	over bool
}

func (b *limitedBuffer) Write(p []byte) (int, error) {
	if room := b.max - b.Len(); len(p) > room {
		b.over = true
		if room > 0 {
			b.Buffer.Write(p[:room])
		}
		return len(p), nil
	}
	return b.Buffer.Write(p)
}

// tail keeps the end of what is written to it: the last lines of standard error.
type tail struct {
	mu  sync.Mutex
	buf []byte
}

func (t *tail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if len(t.buf) > 4*maxErrorTail {
		t.buf = append([]byte(nil), t.buf[len(t.buf)-maxErrorTail:]...)
	}
	return len(p), nil
}

// String returns the last lines, at most maxErrorTail bytes.
func (t *tail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := strings.TrimRight(string(t.buf), "\n")
	lines := strings.Split(s, "\n")
	if len(lines) > tailLines {
		lines = lines[len(lines)-tailLines:]
	}
	s = strings.Join(lines, "\n")
	if len(s) > maxErrorTail {
		s = "…" + s[len(s)-maxErrorTail:]
	}
	return s
}
