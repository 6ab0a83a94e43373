package serve

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/relais-ci/relais/shared/action"
	"github.com/relais-ci/relais/shared/approval"
	"github.com/relais-ci/relais/shared/core"
	"github.com/relais-ci/relais/shared/execution"
)

// fake is a scriptable provider: every action it runs is recorded; by default it succeeds
// at once, producing its declared output artifacts and a variable; an action listed in
// fail fails; one listed in hold waits until released.
type fake struct {
	rt    *Runtime
	ready chan struct{} // closed once rt is set

	mu      sync.Mutex
	fail    map[string]bool         // action name → fails
	hold    map[string]bool         // action name → waits for release
	held    map[string][]action.Job // action name → jobs waiting
	started chan string             // "execution/action" as each action starts
	runs    []string
}

func newFake() *fake {
	return &fake{ready: make(chan struct{}), fail: map[string]bool{}, hold: map[string]bool{}, held: map[string][]action.Job{}, started: make(chan string, 100)}
}

func (f *fake) Run(ctx context.Context, job action.Job) (action.Result, error) {
	name := job.Record.ActionName
	f.mu.Lock()
	f.runs = append(f.runs, job.Execution.ID+"/"+name)
	hold, fail := f.hold[name], f.fail[name]
	if hold {
		f.held[name] = append(f.held[name], job)
	}
	f.mu.Unlock()
	f.started <- job.Execution.ID + "/" + name
	if hold {
		return action.Result{Status: core.ActionInProgress, ExternalID: "fake:" + job.Record.ID}, nil
	}
	if fail {
		return action.Failed("JobFailed", errors.New("scripted failure of "+name)), nil
	}
	return f.result(ctx, job)
}

func (f *fake) result(ctx context.Context, job action.Job) (action.Result, error) {
	<-f.ready // a resumed execution may run before open has set rt
	res := action.Result{Status: core.ActionSucceeded, Summary: "done by fake",
		OutputVariables: map[string]string{"Who": job.Record.ActionName, "Config": job.Record.Configuration["EnvironmentVariables"]}}
	for _, out := range job.Declared.OutputArtifacts {
		loc, err := f.rt.Artifacts.PutArtifact(ctx, job.Record.PipelineName, job.Record.ExecutionID, out.Name, strings.NewReader("made by "+job.Record.ActionName))
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

// release ends the oldest held run of an action.
func (f *fake) release(t *testing.T, name string, ok bool) {
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

func (f *fake) waitStarted(t *testing.T, want string) {
	t.Helper()
	timeout := time.After(20 * time.Second)
	for {
		select {
		case got := <-f.started:
			if strings.HasSuffix(got, want) {
				return
			}
		case <-timeout:
			t.Fatalf("action %s never started", want)
		}
	}
}

type act struct {
	Name, Category, Provider string
	RunOrder                 int
	In, Out                  []string
	Config                   map[string]string
	Namespace                string
}

// declaration writes a pipeline declaration of the given stages.
func declaration(name, mode string, stages map[string][]act, order []string) []byte {
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
	for _, sn := range order {
		var as []map[string]any
		for _, a := range stages[sn] {
			owner, provider := "AWS", a.Provider
			cfg := a.Config
			if cfg == nil {
				cfg = map[string]string{}
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
				"actionTypeId":    map[string]string{"category": a.Category, "owner": owner, "provider": provider, "version": "1"},
				"runOrder":        ro,
				"configuration":   cfg,
				"inputArtifacts":  arts(a.In),
				"outputArtifacts": arts(a.Out),
			}
			if a.Namespace != "" {
				m["namespace"] = a.Namespace
			}
			as = append(as, m)
		}
		sts = append(sts, map[string]any{"name": sn, "actions": as})
	}
	d := map[string]any{
		"name": name, "roleArn": "arn:aws:iam::123456789012:role/r",
		"artifactStore": map[string]string{"type": "S3", "location": "bucket"},
		"pipelineType":  "V2", "executionMode": mode, "stages": sts, "version": 1,
	}
	b, _ := json.Marshal(map[string]any{"pipeline": d})
	return b
}

// basic is Source → Build → Deploy.
func basic(name, mode string) []byte {
	return declaration(name, mode, map[string][]act{
		"Source": {{Name: "Src", Category: "Source", Out: []string{"Code"}, Namespace: "SourceVariables"}},
		"Build":  {{Name: "Compile", Category: "Build", In: []string{"Code"}, Out: []string{"Bin"}, Config: map[string]string{"EnvironmentVariables": "#{SourceVariables.CommitId}"}}},
		"Deploy": {{Name: "Ship", Category: "Deploy", In: []string{"Bin"}}},
	}, []string{"Source", "Build", "Deploy"})
}

type env struct {
	rt   *Runtime
	fake *fake
	dir  string
}

func open(t *testing.T, dir string, f *fake) *env {
	t.Helper()
	providers := map[string]action.Provider{
		"Source/AWS/CodeStarSourceConnection": f,
		"Build/AWS/CodeBuild":                 f,
		"Test/AWS/CodeBuild":                  f,
		"Deploy/AWS/S3":                       f,
	}
	rt, err := Open(context.Background(), Config{DataDir: dir, Providers: providers, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatalf("open runtime: %v", err)
	}
	f.rt = rt
	close(f.ready)
	return &env{rt: rt, fake: f, dir: dir}
}

func newEnv(t *testing.T) *env {
	t.Helper()
	e := open(t, t.TempDir(), newFake())
	t.Cleanup(func() { e.rt.Close() })
	return e
}

func (e *env) install(t *testing.T, decl []byte) {
	t.Helper()
	if _, err := e.rt.Executions.Install(context.Background(), decl); err != nil {
		t.Fatalf("install: %v", err)
	}
}

func (e *env) start(t *testing.T, p string) string {
	t.Helper()
	x, err := e.rt.Executions.Start(context.Background(), executionStart(p))
	if err != nil {
		t.Fatalf("start %s: %v", p, err)
	}
	return x.ID
}

// wait waits until the execution reaches a terminal status and returns it.
func (e *env) wait(t *testing.T, p, id string) core.Execution {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		x, err := e.rt.Store.GetExecution(context.Background(), p, id)
		if err != nil {
			t.Fatal(err)
		}
		if x.Status.Terminal() && e.engineDone(p, x) {
			return x
		}
		time.Sleep(5 * time.Millisecond)
	}
	x, _ := e.rt.Store.GetExecution(context.Background(), p, id)
	t.Fatalf("execution %s did not end: %s (%s)", id, x.Status, x.StatusSummary)
	return x
}

// engineDone reports whether the execution's engine run has ended too, so that a test
// looking at the stores sees everything the run wrote.
func (e *env) engineDone(p string, x core.Execution) bool {
	d, err := e.rt.Interp.DescribeExecution(context.Background(), e.rt.Interp.ExecutionARN(p, x.EngineRun))
	return err == nil && d.Status != "RUNNING"
}

func (e *env) expect(t *testing.T, p, id string, want core.ExecutionStatus) core.Execution {
	t.Helper()
	x := e.wait(t, p, id)
	if x.Status != want {
		t.Fatalf("execution %s: got %s (%s), want %s", id, x.Status, x.StatusSummary, want)
	}
	return x
}

func (e *env) actions(t *testing.T, p, id string) map[string]core.ActionExecution {
	t.Helper()
	all, err := core.AllActions(context.Background(), e.rt.Store, core.ActionFilter{PipelineName: p, ExecutionID: id})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]core.ActionExecution{}
	for i := len(all) - 1; i >= 0; i-- { // oldest first: the newest attempt wins
		out[all[i].StageName+"/"+all[i].ActionName] = all[i]
	}
	return out
}

func (e *env) stages(t *testing.T, p, id string) map[string]core.StageStatus {
	t.Helper()
	sts, err := e.rt.Store.ListStages(context.Background(), p, id)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]core.StageStatus{}
	for _, st := range sts {
		out[st.StageName] = st.Status
	}
	return out
}

func TestHappyPathPassesArtifactsAndVariables(t *testing.T) {
	e := newEnv(t)
	e.install(t, basic("p", "SUPERSEDED"))
	id := e.start(t, "p")
	x := e.expect(t, "p", id, core.ExecutionSucceeded)

	if len(x.SourceRevisions) != 1 || x.SourceRevisions[0].RevisionID != "c0ffee" || x.SourceRevisions[0].ActionName != "Src" {
		t.Errorf("source revisions: got %+v, want the Src action's c0ffee", x.SourceRevisions)
	}
	acts := e.actions(t, "p", id)
	build := acts["Build/Compile"]
	if got := build.Configuration["EnvironmentVariables"]; got != "c0ffee" {
		t.Errorf("resolved configuration: got EnvironmentVariables=%q, want the source's CommitId c0ffee", got)
	}
	src := acts["Source/Src"]
	if len(build.InputArtifacts) != 1 || build.InputArtifacts[0] != src.OutputArtifacts[0] {
		t.Errorf("build input: got %+v, want the source's output %+v", build.InputArtifacts, src.OutputArtifacts)
	}
	rc, err := e.rt.Artifacts.OpenArtifact(context.Background(), acts["Deploy/Ship"].InputArtifacts[0].Location)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(rc)
	rc.Close()
	if string(body) != "made by Compile" {
		t.Errorf("deploy input: got %q, want the build's artifact", body)
	}
	want := map[string]core.StageStatus{"Source": core.StageSucceeded, "Build": core.StageSucceeded, "Deploy": core.StageSucceeded}
	if got := e.stages(t, "p", id); !mapsEqual(got, want) {
		t.Errorf("stages: got %v, want %v", got, want)
	}
	for k, a := range acts {
		if a.Status != core.ActionSucceeded || a.StartTime.IsZero() || a.LastUpdateTime.Before(a.StartTime) {
			t.Errorf("action %s: got %s started %v updated %v", k, a.Status, a.StartTime, a.LastUpdateTime)
		}
	}
}

func mapsEqual[K comparable, V comparable](a, b map[K]V) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

func TestFailingActionFailsStageAndFreesIt(t *testing.T) {
	e := newEnv(t)
	e.install(t, basic("p", "QUEUED"))
	e.fake.fail["Compile"] = true
	id := e.start(t, "p")
	x := e.expect(t, "p", id, core.ExecutionFailed)
	if !strings.Contains(x.StatusSummary, "Build") {
		t.Errorf("summary %q does not name the failed stage", x.StatusSummary)
	}
	if got := e.stages(t, "p", id); got["Build"] != core.StageFailed || got["Deploy"] != "" {
		t.Errorf("stages: got %v, want Build Failed and Deploy never entered", got)
	}
	if a := e.actions(t, "p", id)["Build/Compile"]; a.Status != core.ActionFailed || a.Error == nil || !strings.Contains(a.Error.Message, "scripted failure") {
		t.Errorf("failed action: got %s %+v", a.Status, a.Error)
	}
	if _, err := e.rt.Store.StageHolder(context.Background(), "p", "Build"); !errors.Is(err, core.ErrNotFound) {
		t.Errorf("Build still held after the failure: %v", err)
	}
	// The stage is free: the next execution gets through.
	e.fake.mu.Lock()
	e.fake.fail["Compile"] = false
	e.fake.mu.Unlock()
	e.expect(t, "p", e.start(t, "p"), core.ExecutionSucceeded)
}

// TestParallelFailureDoesNotCancelSibling: as in CodePipeline, a failing action leaves the
// actions beside it running to their end; the stage fails after.
func TestParallelFailureDoesNotCancelSibling(t *testing.T) {
	e := newEnv(t)
	e.install(t, declaration("p", "SUPERSEDED", map[string][]act{
		"Source": {{Name: "Src", Category: "Source", Out: []string{"Code"}}},
		"Test": {
			{Name: "Unit", Category: "Test", In: []string{"Code"}},
			{Name: "Lint", Category: "Test", In: []string{"Code"}},
			{Name: "After", Category: "Test", In: []string{"Code"}, RunOrder: 2},
		},
	}, []string{"Source", "Test"}))
	e.fake.fail["Lint"] = true
	e.fake.hold["Unit"] = true
	id := e.start(t, "p")
	e.fake.waitStarted(t, "Unit")
	e.fake.release(t, "Unit", true)
	e.expect(t, "p", id, core.ExecutionFailed)
	acts := e.actions(t, "p", id)
	if acts["Test/Unit"].Status != core.ActionSucceeded || acts["Test/Lint"].Status != core.ActionFailed {
		t.Errorf("got Unit %s and Lint %s, want Succeeded and Failed", acts["Test/Unit"].Status, acts["Test/Lint"].Status)
	}
	if _, ran := acts["Test/After"]; ran {
		t.Error("runOrder 2 ran after runOrder 1 failed")
	}
}

func TestRunOrder(t *testing.T) {
	e := newEnv(t)
	e.install(t, declaration("p", "SUPERSEDED", map[string][]act{
		"Source": {{Name: "Src", Category: "Source", Out: []string{"Code"}}},
		"Build": {
			{Name: "Third", Category: "Build", In: []string{"Code"}, RunOrder: 3},
			{Name: "First", Category: "Build", In: []string{"Code"}, RunOrder: 1},
			{Name: "Second", Category: "Build", In: []string{"Code"}, RunOrder: 2},
		},
	}, []string{"Source", "Build"}))
	id := e.start(t, "p")
	e.expect(t, "p", id, core.ExecutionSucceeded)
	e.fake.mu.Lock()
	defer e.fake.mu.Unlock()
	want := []string{id + "/Src", id + "/First", id + "/Second", id + "/Third"}
	if !slices.Equal(e.fake.runs, want) {
		t.Errorf("run order: got %v, want %v", e.fake.runs, want)
	}
}

// TestSuperseded: with the build held, three quick executions: the first runs, the
// second waits at Build and is superseded by the third, which runs next.
func TestSuperseded(t *testing.T) {
	e := newEnv(t)
	e.install(t, basic("p", "SUPERSEDED"))
	e.fake.hold["Compile"] = true
	first := e.start(t, "p")
	e.fake.waitStarted(t, first+"/Compile")
	second := e.start(t, "p")
	e.waitQueued(t, "p", "Build", second)
	third := e.start(t, "p")
	e.expect(t, "p", second, core.ExecutionSuperseded)
	e.fake.release(t, "Compile", true)
	e.expect(t, "p", first, core.ExecutionSucceeded)
	e.fake.waitStarted(t, third+"/Compile")
	e.fake.release(t, "Compile", true)
	e.expect(t, "p", third, core.ExecutionSucceeded)
	if got := e.stages(t, "p", second)["Build"]; got != "" {
		t.Errorf("superseded execution entered Build: %s", got)
	}
}

func (e *env) waitQueued(t *testing.T, p, stage, id string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		ws, err := e.rt.Store.Waiters(context.Background(), p, stage)
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

func TestQueued(t *testing.T) {
	e := newEnv(t)
	e.install(t, basic("p", "QUEUED"))
	e.fake.hold["Compile"] = true
	ids := []string{e.start(t, "p")}
	e.fake.waitStarted(t, ids[0]+"/Compile")
	for range 2 {
		id := e.start(t, "p")
		e.waitQueued(t, "p", "Build", id)
		ids = append(ids, id)
	}
	for i, id := range ids {
		if i > 0 {
			e.fake.waitStarted(t, id+"/Compile")
		}
		e.fake.release(t, "Compile", true)
		e.expect(t, "p", id, core.ExecutionSucceeded)
	}
}

func TestParallelMode(t *testing.T) {
	e := newEnv(t)
	e.install(t, basic("p", "PARALLEL"))
	e.fake.hold["Compile"] = true
	a := e.start(t, "p")
	b := e.start(t, "p")
	// Both reach the build without waiting for each other.
	e.fake.waitStarted(t, "Compile")
	e.fake.waitStarted(t, "Compile")
	e.fake.release(t, "Compile", true)
	e.fake.release(t, "Compile", true)
	e.expect(t, "p", a, core.ExecutionSucceeded)
	e.expect(t, "p", b, core.ExecutionSucceeded)
}

func TestDisabledTransitionHoldsAndReleasesNewest(t *testing.T) {
	e := newEnv(t)
	e.install(t, basic("p", "SUPERSEDED"))
	ctx := context.Background()
	if err := e.rt.Executions.DisableTransition(ctx, "p", "Deploy", "freeze", "tester"); err != nil {
		t.Fatal(err)
	}
	first := e.start(t, "p")
	e.waitQueued(t, "p", "Deploy", first)
	second := e.start(t, "p")
	e.expect(t, "p", first, core.ExecutionSuperseded)
	e.waitQueued(t, "p", "Deploy", second)
	tr, _ := e.rt.Store.GetTransition(ctx, "p", "Deploy")
	if tr.Enabled || tr.Reason != "freeze" || tr.LastChangedBy != "tester" || tr.LastChangedAt.IsZero() {
		t.Errorf("transition: got %+v, want disabled with reason, who and when", tr)
	}
	if err := e.rt.Executions.EnableTransition(ctx, "p", "Deploy", "tester"); err != nil {
		t.Fatal(err)
	}
	e.expect(t, "p", second, core.ExecutionSucceeded)
}

func TestStopAndAbandon(t *testing.T) {
	e := newEnv(t)
	e.install(t, basic("p", "QUEUED"))
	e.fake.hold["Compile"] = true
	id := e.start(t, "p")
	e.fake.waitStarted(t, id+"/Compile")
	next := e.start(t, "p")
	e.waitQueued(t, "p", "Build", next)
	if _, err := e.rt.Executions.Stop(context.Background(), "p", id, core.StopAndAbandon, "no longer needed", "tester"); err != nil {
		t.Fatal(err)
	}
	x := e.expect(t, "p", id, core.ExecutionStopped)
	if x.Stop == nil || x.Stop.By != "tester" || !strings.Contains(x.StatusSummary, "no longer needed") {
		t.Errorf("stopped execution: got stop %+v summary %q", x.Stop, x.StatusSummary)
	}
	if a := e.actions(t, "p", id)["Build/Compile"]; a.Status != core.ActionAbandoned {
		t.Errorf("running action: got %s, want Abandoned", a.Status)
	}
	if got := e.stages(t, "p", id)["Build"]; got != core.StageStopped {
		t.Errorf("stage: got %s, want Stopped", got)
	}
	// The queued execution goes in once the stage is freed.
	e.fake.waitStarted(t, next+"/Compile")
	e.fake.release(t, "Compile", true) // the abandoned run's late end: ignored
	if a := e.actions(t, "p", id)["Build/Compile"]; a.Status != core.ActionAbandoned {
		t.Errorf("abandoned action after its work ended: got %s, want Abandoned still", a.Status)
	}
	e.fake.release(t, "Compile", true)
	e.expect(t, "p", next, core.ExecutionSucceeded)
}

func TestStopAndWait(t *testing.T) {
	e := newEnv(t)
	e.install(t, basic("p", "SUPERSEDED"))
	e.fake.hold["Compile"] = true
	id := e.start(t, "p")
	e.fake.waitStarted(t, id+"/Compile")
	x, err := e.rt.Executions.Stop(context.Background(), "p", id, core.StopAndWait, "", "tester")
	if err != nil {
		t.Fatal(err)
	}
	if x.Status != core.ExecutionStopping {
		t.Errorf("right after stop and wait: got %s, want Stopping", x.Status)
	}
	e.fake.release(t, "Compile", true)
	e.expect(t, "p", id, core.ExecutionStopped)
	acts := e.actions(t, "p", id)
	if acts["Build/Compile"].Status != core.ActionSucceeded {
		t.Errorf("running action: got %s, want it to finish Succeeded", acts["Build/Compile"].Status)
	}
	if _, ran := acts["Deploy/Ship"]; ran {
		t.Error("a stage after the stop ran")
	}
}

func TestRetryFailedStage(t *testing.T) {
	e := newEnv(t)
	e.install(t, declaration("p", "SUPERSEDED", map[string][]act{
		"Source": {{Name: "Src", Category: "Source", Out: []string{"Code"}}},
		"Build": {
			{Name: "Good", Category: "Build", In: []string{"Code"}},
			{Name: "Flaky", Category: "Build", In: []string{"Code"}},
		},
		"Deploy": {{Name: "Ship", Category: "Deploy", In: []string{"Code"}}},
	}, []string{"Source", "Build", "Deploy"}))
	e.fake.fail["Flaky"] = true
	id := e.start(t, "p")
	e.expect(t, "p", id, core.ExecutionFailed)
	e.fake.mu.Lock()
	e.fake.fail["Flaky"] = false
	e.fake.runs = nil
	e.fake.mu.Unlock()
	if _, err := e.rt.Executions.Retry(context.Background(), "p", id, "Build", core.RetryFailedActions); err != nil {
		t.Fatal(err)
	}
	x := e.expect(t, "p", id, core.ExecutionSucceeded)
	e.fake.mu.Lock()
	runs := slices.Clone(e.fake.runs)
	e.fake.mu.Unlock()
	want := []string{id + "/Flaky", id + "/Ship"}
	if !slices.Equal(runs, want) {
		t.Errorf("after retrying failed actions: ran %v, want only %v (Source and Good not again)", runs, want)
	}
	if x.Retry == nil || x.Retry.Stage != "Build" || x.Retry.Count != 1 {
		t.Errorf("retry record: got %+v", x.Retry)
	}
	if _, err := e.rt.Executions.Retry(context.Background(), "p", id, "Build", core.RetryAllActions); !errors.Is(err, core.ErrConflict) {
		t.Errorf("retrying a succeeded execution: got %v, want ErrConflict", err)
	}
}

func TestApprovalApprovedAndRejected(t *testing.T) {
	for _, decision := range []core.ApprovalDecision{core.Approved, core.Rejected} {
		t.Run(string(decision), func(t *testing.T) {
			e := newEnv(t)
			e.install(t, declaration("p", "SUPERSEDED", map[string][]act{
				"Source":  {{Name: "Src", Category: "Source", Out: []string{"Code"}, Namespace: "S"}},
				"Approve": {{Name: "Gate", Category: "Approval", Config: map[string]string{"CustomData": "ship #{S.CommitId}?"}}},
			}, []string{"Source", "Approve"}))
			id := e.start(t, "p")
			var pending []core.Approval
			for deadline := time.Now().Add(20 * time.Second); len(pending) == 0 && time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
				pending, _ = e.rt.Store.PendingApprovals(context.Background(), "p", id)
			}
			if len(pending) != 1 || pending[0].CustomData != "ship c0ffee?" {
				t.Fatalf("pending approvals: got %+v, want one with resolved CustomData", pending)
			}
			d := approval.Decision{Pipeline: "p", Stage: "Approve", Action: "Gate", Status: decision, By: "alice", Comment: "looks fine"}
			if _, err := e.rt.Approvals.Decide(context.Background(), d); err != nil {
				t.Fatal(err)
			}
			if _, err := e.rt.Approvals.Decide(context.Background(), approval.Decision{ID: pending[0].ID, Status: core.Approved, By: "bob"}); !errors.Is(err, core.ErrConflict) {
				t.Errorf("second decision: got %v, want ErrConflict", err)
			}
			want := core.ExecutionSucceeded
			if decision == core.Rejected {
				want = core.ExecutionFailed
			}
			e.expect(t, "p", id, want)
			a := e.actions(t, "p", id)["Approve/Gate"]
			if !strings.Contains(a.Summary, "alice") || !strings.Contains(a.Summary, "looks fine") {
				t.Errorf("approval action summary %q does not say who and why", a.Summary)
			}
		})
	}
}

// TestRestartMidBuild: the runtime closes while a build is held (as if killed) and opens
// again over the same data dir: the execution finishes, and only the interrupted action
// runs twice.
func TestRestartMidBuild(t *testing.T) {
	dir := t.TempDir()
	f := newFake()
	e := open(t, dir, f)
	e.install(t, basic("p", "SUPERSEDED"))
	f.hold["Compile"] = true
	id := e.start(t, "p")
	f.waitStarted(t, id+"/Compile")
	e.rt.Close()

	f2 := newFake()
	e2 := open(t, filepath.Clean(dir), f2)
	t.Cleanup(func() { e2.rt.Close() })
	e2.expect(t, "p", id, core.ExecutionSucceeded)
	f2.mu.Lock()
	defer f2.mu.Unlock()
	want := []string{id + "/Compile", id + "/Ship"}
	if !slices.Equal(f2.runs, want) {
		t.Errorf("after the restart ran %v, want %v (Src not again)", f2.runs, want)
	}
}

func executionStart(p string) execution.StartRequest { return execution.StartRequest{Pipeline: p} }
