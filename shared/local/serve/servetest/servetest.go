// Package servetest runs pipelines on the local runtime in tests: a scriptable fake
// provider (actions that succeed, fail, or wait until released), declarations built from
// a few lines, and helpers that wait for executions and read what they recorded. The
// semantics tests of shared/local/serve and the scenarios under test/scenarios use it.
package servetest

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/relais-ci/relais/shared/action"
	"github.com/relais-ci/relais/shared/asl"
	"github.com/relais-ci/relais/shared/core"
	"github.com/relais-ci/relais/shared/execution"
	"github.com/relais-ci/relais/shared/local/fileartifact"
	"github.com/relais-ci/relais/shared/local/serve"
)

// Timeout bounds every wait; reaching it fails the test (it is never an assertion on
// how fast something is).
const Timeout = 30 * time.Second

// Fake is a scriptable provider: every action it runs is recorded; by default it
// succeeds at once, producing its declared output artifacts and the variables Who and
// Config (and CommitId for a Source action); an action named in Fail fails; one named in
// Hold waits until Release.
type Fake struct {
	// artifacts is where the fake writes its outputs: the runtime's artifact folder,
	// opened by Open before the runtime (resumed actions run while it opens).
	artifacts core.ArtifactStore

	mu   sync.Mutex
	fail map[string]bool
	hold map[string]bool
	held map[string][]action.Job
	// starts lists "execution/action" as each action starts; claimed marks the ones a
	// WaitStarted has returned for.
	starts  []string
	claimed []bool
	runs    []string
	seen    map[string]bool // action execution ids run
}

var _ action.Resumable = (*Fake)(nil)

// ResumesWithProcess: the fake's held actions live in this process, like local builds.
func (f *Fake) ResumesWithProcess() bool { return true }

// NewFake returns a fake whose actions all succeed.
func NewFake() *Fake {
	return &Fake{fail: map[string]bool{}, hold: map[string]bool{},
		held: map[string][]action.Job{}, seen: map[string]bool{}}
}

// Fail makes the named action fail (or succeed again with false).
func (f *Fake) Fail(name string, fail bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fail[name] = fail
}

// Hold makes the named action wait until Release.
func (f *Fake) Hold(name string, hold bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.hold[name] = hold
}

// Runs returns "execution/action" for every run so far, in order, and forgets them.
func (f *Fake) Runs() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	r := f.runs
	f.runs = nil
	return r
}

// Run runs an action as scripted.
func (f *Fake) Run(ctx context.Context, job action.Job) (action.Result, error) {
	name := job.Record.ActionName
	f.mu.Lock()
	if f.seen[job.Record.ID] {
		// Run again for the same action execution (the engine's re-invoke and the
		// service's Resume after a restart): like a local build, it is already running.
		f.mu.Unlock()
		return action.Result{Status: core.ActionInProgress, ExternalID: "fake:" + job.Record.ID}, nil
	}
	f.seen[job.Record.ID] = true
	f.runs = append(f.runs, job.Execution.ID+"/"+name)
	f.starts = append(f.starts, job.Execution.ID+"/"+name)
	f.claimed = append(f.claimed, false)
	hold, fail := f.hold[name], f.fail[name]
	if hold {
		f.held[name] = append(f.held[name], job)
	}
	f.mu.Unlock()
	if hold {
		return action.Result{Status: core.ActionInProgress, ExternalID: "fake:" + job.Record.ID}, nil
	}
	if fail {
		return action.Failed("JobFailed", errors.New("scripted failure of "+name)), nil
	}
	return f.result(ctx, job)
}

func (f *Fake) result(ctx context.Context, job action.Job) (action.Result, error) {
	res := action.Result{Status: core.ActionSucceeded, Summary: "done by fake",
		OutputVariables: map[string]string{"Who": job.Record.ActionName, "Config": job.Record.Configuration["EnvironmentVariables"]}}
	for _, out := range job.Declared.OutputArtifacts {
		loc, err := f.artifacts.PutArtifact(ctx, job.Record.PipelineName, job.Record.ExecutionID, out.Name, strings.NewReader("made by "+job.Record.ActionName))
		if err != nil {
			return action.Result{}, err
		}
		res.OutputArtifacts = append(res.OutputArtifacts, core.Artifact{Name: out.Name, Location: loc})
	}
	if job.Declared.ActionTypeID.Category == "Source" {
		res.Revision = &core.SourceRevision{RevisionID: "c0ffee", RevisionSummary: "a commit"}
		res.OutputVariables["CommitId"] = "c0ffee"
	}
	return res, nil
}

// Release ends the oldest held run of an action, with success or failure.
func (f *Fake) Release(t testing.TB, name string, ok bool) {
	t.Helper()
	f.mu.Lock()
	jobs := f.held[name]
	if len(jobs) == 0 {
		f.mu.Unlock()
		t.Fatalf("no held run of %s to release", name)
	}
	job := jobs[0]
	f.held[name] = jobs[1:]
	f.mu.Unlock()
	res := action.Failed("JobFailed", errors.New("scripted failure"))
	if ok {
		var err error
		if res, err = f.result(context.Background(), job); err != nil {
			t.Fatal(err)
		}
	}
	if err := job.Complete(context.Background(), res); err != nil {
		t.Fatalf("complete %s: %v", name, err)
	}
}

// WaitStarted waits until an action whose "execution/action" ends with suffix has
// started, and claims that start: each start satisfies one WaitStarted, whatever order
// concurrent actions started in.
func (f *Fake) WaitStarted(t testing.TB, suffix string) {
	t.Helper()
	deadline := time.Now().Add(Timeout)
	for {
		f.mu.Lock()
		for i, s := range f.starts {
			if !f.claimed[i] && strings.HasSuffix(s, suffix) {
				f.claimed[i] = true
				f.mu.Unlock()
				return
			}
		}
		f.mu.Unlock()
		if time.Now().After(deadline) {
			t.Fatalf("action %s never started", suffix)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// Act declares one action for Declaration. Category picks the provider: Source →
// CodeStarSourceConnection, Build/Test → CodeBuild, Approval → Manual, Deploy → S3, each
// with its required configuration.
type Act struct {
	Name, Category string
	RunOrder       int
	In, Out        []string
	Config         map[string]string
	Namespace      string
	// TimeoutInMinutes sets an approval's timeout.
	TimeoutInMinutes int
}

// Stage is a named stage of Declaration.
type Stage struct {
	Name    string
	Actions []Act
}

// Declaration writes a V2 pipeline declaration.
func Declaration(name, mode string, stages ...Stage) []byte {
	type art struct {
		Name string `json:"name"`
	}
	arts := func(ns []string) []art {
		out := []art{}
		for _, n := range ns {
			out = append(out, art{n})
		}
		return out
	}
	var sts []map[string]any
	for _, st := range stages {
		var as []map[string]any
		for _, a := range st.Actions {
			var provider string
			cfg := map[string]string{}
			for k, v := range a.Config {
				cfg[k] = v
			}
			switch a.Category {
			case "Source":
				provider = "CodeStarSourceConnection"
				cfg["ConnectionArn"] = "arn:aws:codeconnections:us-east-1:123456789012:connection/x"
				cfg["FullRepositoryId"] = "o/r"
				cfg["BranchName"] = "main"
			case "Build", "Test":
				provider = "CodeBuild"
				cfg["ProjectName"] = "p"
			case "Approval":
				provider = "Manual"
			case "Deploy":
				provider = "S3"
				cfg["BucketName"] = "bucket"
				cfg["Extract"] = "true"
			}
			ro := a.RunOrder
			if ro == 0 {
				ro = 1
			}
			m := map[string]any{
				"name":            a.Name,
				"actionTypeId":    map[string]string{"category": a.Category, "owner": "AWS", "provider": provider, "version": "1"},
				"runOrder":        ro,
				"configuration":   cfg,
				"inputArtifacts":  arts(a.In),
				"outputArtifacts": arts(a.Out),
			}
			if a.Namespace != "" {
				m["namespace"] = a.Namespace
			}
			if a.TimeoutInMinutes != 0 {
				m["timeoutInMinutes"] = a.TimeoutInMinutes
			}
			as = append(as, m)
		}
		sts = append(sts, map[string]any{"name": st.Name, "actions": as})
	}
	d := map[string]any{
		"name": name, "roleArn": "arn:aws:iam::123456789012:role/r",
		"artifactStore": map[string]string{"type": "S3", "location": "bucket"},
		"pipelineType":  "V2", "executionMode": mode, "stages": sts, "version": 1,
	}
	b, _ := json.Marshal(map[string]any{"pipeline": d})
	return b
}

// Basic is Source (Src, namespace SourceVariables) → Build (Compile, whose
// EnvironmentVariables is #{SourceVariables.CommitId}) → Deploy (Ship).
func Basic(name, mode string) []byte {
	return Declaration(name, mode,
		Stage{"Source", []Act{{Name: "Src", Category: "Source", Out: []string{"Code"}, Namespace: "SourceVariables"}}},
		Stage{"Build", []Act{{Name: "Compile", Category: "Build", In: []string{"Code"}, Out: []string{"Bin"}, Config: map[string]string{"EnvironmentVariables": "#{SourceVariables.CommitId}"}}}},
		Stage{"Deploy", []Act{{Name: "Ship", Category: "Deploy", In: []string{"Bin"}}}},
	)
}

// Env is a local runtime whose actions the Fake runs.
type Env struct {
	RT   *serve.Runtime
	Fake *Fake
	Dir  string
	// Clock drives the interpreter's timers (approval timeouts): it stands still until
	// a test advances it.
	Clock *asl.FakeClock
}

// Open opens a runtime over dir with f as the provider of every action type but Manual
// approval. The caller closes Env.RT.
func Open(t testing.TB, dir string, f *Fake) *Env {
	t.Helper()
	providers := map[string]action.Provider{
		"Source/AWS/CodeStarSourceConnection": f,
		"Build/AWS/CodeBuild":                 f,
		"Test/AWS/CodeBuild":                  f,
		"Deploy/AWS/S3":                       f,
	}
	arts, err := fileartifact.New(filepath.Join(dir, "artifacts"))
	if err != nil {
		t.Fatalf("open artifact folder: %v", err)
	}
	t.Cleanup(func() { arts.Close() })
	f.artifacts = arts
	clock := asl.NewFakeClock(time.Now())
	rt, err := serve.Open(context.Background(), serve.Config{DataDir: dir, Providers: providers, EngineClock: clock, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatalf("open runtime: %v", err)
	}
	return &Env{RT: rt, Fake: f, Dir: dir, Clock: clock}
}

// New opens a runtime over a temporary dir, closed when the test ends.
func New(t testing.TB) *Env {
	t.Helper()
	e := Open(t, t.TempDir(), NewFake())
	t.Cleanup(func() { e.RT.Close() })
	return e
}

// Install installs a declaration.
func (e *Env) Install(t testing.TB, decl []byte) {
	t.Helper()
	if _, err := e.RT.Executions.Install(context.Background(), decl); err != nil {
		t.Fatalf("install: %v", err)
	}
}

// Start starts an execution and returns its id.
func (e *Env) Start(t testing.TB, p string) string {
	t.Helper()
	x, err := e.RT.Executions.Start(context.Background(), execution.StartRequest{Pipeline: p})
	if err != nil {
		t.Fatalf("start %s: %v", p, err)
	}
	return x.ID
}

// Wait waits until the execution has ended — its status and its engine run — and
// returns it.
func (e *Env) Wait(t testing.TB, p, id string) core.Execution {
	t.Helper()
	deadline := time.Now().Add(Timeout)
	for time.Now().Before(deadline) {
		x, err := e.RT.Store.GetExecution(context.Background(), p, id)
		if err != nil {
			t.Fatal(err)
		}
		if x.Status.Terminal() && e.engineDone(p, x) {
			return x
		}
		time.Sleep(5 * time.Millisecond)
	}
	x, _ := e.RT.Store.GetExecution(context.Background(), p, id)
	t.Fatalf("execution %s did not end: %s (%s)", id, x.Status, x.StatusSummary)
	return x
}

// engineDone reports whether the execution's engine run has ended too, so that a test
// looking at the stores sees everything the run wrote.
func (e *Env) engineDone(p string, x core.Execution) bool {
	d, err := e.RT.Interp.DescribeExecution(context.Background(), e.RT.Interp.ExecutionARN(p, x.EngineRun))
	return err == nil && d.Status != "RUNNING"
}

// Expect waits for the execution to end and fails the test unless it ended want.
func (e *Env) Expect(t testing.TB, p, id string, want core.ExecutionStatus) core.Execution {
	t.Helper()
	x := e.Wait(t, p, id)
	if x.Status != want {
		t.Fatalf("execution %s: got %s (%s), want %s", id, x.Status, x.StatusSummary, want)
	}
	return x
}

// Actions returns the newest action execution of each "Stage/Action" of an execution.
func (e *Env) Actions(t testing.TB, p, id string) map[string]core.ActionExecution {
	t.Helper()
	all, err := core.AllActions(context.Background(), e.RT.Store, core.ActionFilter{PipelineName: p, ExecutionID: id})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]core.ActionExecution{}
	for i := len(all) - 1; i >= 0; i-- { // oldest first: the newest attempt wins
		out[all[i].StageName+"/"+all[i].ActionName] = all[i]
	}
	return out
}

// Stages returns the status of each stage an execution entered.
func (e *Env) Stages(t testing.TB, p, id string) map[string]core.StageStatus {
	t.Helper()
	sts, err := e.RT.Store.ListStages(context.Background(), p, id)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]core.StageStatus{}
	for _, st := range sts {
		out[st.StageName] = st.Status
	}
	return out
}

// WaitQueued waits until the execution waits at a stage's gate.
func (e *Env) WaitQueued(t testing.TB, p, stage, id string) {
	t.Helper()
	deadline := time.Now().Add(Timeout)
	for time.Now().Before(deadline) {
		ws, err := e.RT.Store.Waiters(context.Background(), p, stage)
		if err != nil {
			t.Fatal(err)
		}
		for _, w := range ws {
			if w.ExecutionID == id {
				return
			}
		}
		time.Sleep(2 * time.Millisecond)
	}
	t.Fatalf("execution %s never waited at %s", id, stage)
}

// PendingApproval waits until the execution has a pending approval and returns it.
func (e *Env) PendingApproval(t testing.TB, p, id string) core.Approval {
	t.Helper()
	deadline := time.Now().Add(Timeout)
	for time.Now().Before(deadline) {
		pending, err := e.RT.Store.PendingApprovals(context.Background(), p, id)
		if err != nil {
			t.Fatal(err)
		}
		if len(pending) > 0 {
			return pending[0]
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("execution %s never asked for approval", id)
	return core.Approval{}
}
