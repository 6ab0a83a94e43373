package serve_test

import (
	"context"
	"errors"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/relais-ci/relais/shared/approval"
	"github.com/relais-ci/relais/shared/core"
	"github.com/relais-ci/relais/shared/local/serve/servetest"
)

// The semantics of the local runtime, end to end through the compiled machines, the
// interpreter, the gate, action and approval services and SQLite, with actions run by
// servetest's scriptable fake.

func TestHappyPathPassesArtifactsAndVariables(t *testing.T) {
	e := servetest.New(t)
	e.Install(t, servetest.Basic("p", "SUPERSEDED"))
	id := e.Start(t, "p")
	x := e.Expect(t, "p", id, core.ExecutionSucceeded)

	if len(x.SourceRevisions) != 1 || x.SourceRevisions[0].RevisionID != "c0ffee" || x.SourceRevisions[0].ActionName != "Src" {
		t.Errorf("source revisions: got %+v, want the Src action's c0ffee", x.SourceRevisions)
	}
	acts := e.Actions(t, "p", id)
	build := acts["Build/Compile"]
	if got := build.Configuration["EnvironmentVariables"]; got != "c0ffee" {
		t.Errorf("resolved configuration: got EnvironmentVariables=%q, want the source's CommitId c0ffee", got)
	}
	src := acts["Source/Src"]
	if len(build.InputArtifacts) != 1 || build.InputArtifacts[0] != src.OutputArtifacts[0] {
		t.Errorf("build input: got %+v, want the source's output %+v", build.InputArtifacts, src.OutputArtifacts)
	}
	rc, err := e.RT.Artifacts.OpenArtifact(context.Background(), acts["Deploy/Ship"].InputArtifacts[0].Location)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(rc)
	rc.Close()
	if string(body) != "made by Compile" {
		t.Errorf("deploy input: got %q, want the build's artifact", body)
	}
	want := map[string]core.StageStatus{"Source": core.StageSucceeded, "Build": core.StageSucceeded, "Deploy": core.StageSucceeded}
	if got := e.Stages(t, "p", id); !mapsEqual(got, want) {
		t.Errorf("stages: got %v, want %v", got, want)
	}
	for k, a := range acts {
		if a.Status != core.ActionSucceeded || a.StartTime.IsZero() || a.LastUpdateTime.Before(a.StartTime) {
			t.Errorf("action %s: got %s started %v updated %v", k, a.Status, a.StartTime, a.LastUpdateTime)
		}
	}
}

func TestFailingActionFailsStageAndFreesIt(t *testing.T) {
	e := servetest.New(t)
	e.Install(t, servetest.Basic("p", "QUEUED"))
	e.Fake.Fail("Compile", true)
	id := e.Start(t, "p")
	x := e.Expect(t, "p", id, core.ExecutionFailed)
	if !strings.Contains(x.StatusSummary, "Build") {
		t.Errorf("summary %q does not name the failed stage", x.StatusSummary)
	}
	if got := e.Stages(t, "p", id); got["Build"] != core.StageFailed || got["Deploy"] != "" {
		t.Errorf("stages: got %v, want Build Failed and Deploy never entered", got)
	}
	if a := e.Actions(t, "p", id)["Build/Compile"]; a.Status != core.ActionFailed || a.Error == nil || !strings.Contains(a.Error.Message, "scripted failure") {
		t.Errorf("failed action: got %s %+v", a.Status, a.Error)
	}
	if _, err := e.RT.Store.StageHolder(context.Background(), "p", "Build"); !errors.Is(err, core.ErrNotFound) {
		t.Errorf("Build still held after the failure: %v", err)
	}
	// The stage is free: the next execution gets through.
	e.Fake.Fail("Compile", false)
	e.Expect(t, "p", e.Start(t, "p"), core.ExecutionSucceeded)
}

// TestParallelFailureDoesNotCancelSibling: as in CodePipeline, a failing action leaves the
// actions beside it running to their end; the stage fails after.
func TestParallelFailureDoesNotCancelSibling(t *testing.T) {
	e := servetest.New(t)
	e.Install(t, servetest.Declaration("p", "SUPERSEDED",
		servetest.Stage{Name: "Source", Actions: []servetest.Act{{Name: "Src", Category: "Source", Out: []string{"Code"}}}},
		servetest.Stage{Name: "Test", Actions: []servetest.Act{
			{Name: "Unit", Category: "Test", In: []string{"Code"}},
			{Name: "Lint", Category: "Test", In: []string{"Code"}},
			{Name: "After", Category: "Test", In: []string{"Code"}, RunOrder: 2},
		}},
	))
	e.Fake.Fail("Lint", true)
	e.Fake.Hold("Unit", true)
	id := e.Start(t, "p")
	e.Fake.WaitStarted(t, "Unit")
	e.Fake.Release(t, "Unit", true)
	e.Expect(t, "p", id, core.ExecutionFailed)
	acts := e.Actions(t, "p", id)
	if acts["Test/Unit"].Status != core.ActionSucceeded || acts["Test/Lint"].Status != core.ActionFailed {
		t.Errorf("got Unit %s and Lint %s, want Succeeded and Failed", acts["Test/Unit"].Status, acts["Test/Lint"].Status)
	}
	if _, ran := acts["Test/After"]; ran {
		t.Error("runOrder 2 ran after runOrder 1 failed")
	}
}

func TestRunOrder(t *testing.T) {
	e := servetest.New(t)
	e.Install(t, servetest.Declaration("p", "SUPERSEDED",
		servetest.Stage{Name: "Source", Actions: []servetest.Act{{Name: "Src", Category: "Source", Out: []string{"Code"}}}},
		servetest.Stage{Name: "Build", Actions: []servetest.Act{
			{Name: "Third", Category: "Build", In: []string{"Code"}, RunOrder: 3},
			{Name: "First", Category: "Build", In: []string{"Code"}, RunOrder: 1},
			{Name: "Second", Category: "Build", In: []string{"Code"}, RunOrder: 2},
		}},
	))
	id := e.Start(t, "p")
	e.Expect(t, "p", id, core.ExecutionSucceeded)
	want := []string{id + "/Src", id + "/First", id + "/Second", id + "/Third"}
	if runs := e.Fake.Runs(); !slices.Equal(runs, want) {
		t.Errorf("run order: got %v, want %v", runs, want)
	}
}

// TestSuperseded: with the build held, three quick executions: the first runs, the
// second waits at Build and is superseded by the third, which runs next.
func TestSuperseded(t *testing.T) {
	e := servetest.New(t)
	e.Install(t, servetest.Basic("p", "SUPERSEDED"))
	e.Fake.Hold("Compile", true)
	first := e.Start(t, "p")
	e.Fake.WaitStarted(t, first+"/Compile")
	second := e.Start(t, "p")
	e.WaitQueued(t, "p", "Build", second)
	third := e.Start(t, "p")
	e.Expect(t, "p", second, core.ExecutionSuperseded)
	e.Fake.Release(t, "Compile", true)
	e.Expect(t, "p", first, core.ExecutionSucceeded)
	e.Fake.WaitStarted(t, third+"/Compile")
	e.Fake.Release(t, "Compile", true)
	e.Expect(t, "p", third, core.ExecutionSucceeded)
	if got := e.Stages(t, "p", second)["Build"]; got != "" {
		t.Errorf("superseded execution entered Build: %s", got)
	}
}

func TestQueued(t *testing.T) {
	e := servetest.New(t)
	e.Install(t, servetest.Basic("p", "QUEUED"))
	e.Fake.Hold("Compile", true)
	ids := []string{e.Start(t, "p")}
	e.Fake.WaitStarted(t, ids[0]+"/Compile")
	for range 2 {
		id := e.Start(t, "p")
		e.WaitQueued(t, "p", "Build", id)
		ids = append(ids, id)
	}
	for i, id := range ids {
		if i > 0 {
			e.Fake.WaitStarted(t, id+"/Compile")
		}
		e.Fake.Release(t, "Compile", true)
		e.Expect(t, "p", id, core.ExecutionSucceeded)
	}
}

func TestParallelMode(t *testing.T) {
	e := servetest.New(t)
	e.Install(t, servetest.Basic("p", "PARALLEL"))
	e.Fake.Hold("Compile", true)
	a := e.Start(t, "p")
	b := e.Start(t, "p")
	// Both reach the build without waiting for each other.
	e.Fake.WaitStarted(t, "Compile")
	e.Fake.WaitStarted(t, "Compile")
	e.Fake.Release(t, "Compile", true)
	e.Fake.Release(t, "Compile", true)
	e.Expect(t, "p", a, core.ExecutionSucceeded)
	e.Expect(t, "p", b, core.ExecutionSucceeded)
}

func TestDisabledTransitionHoldsAndReleasesNewest(t *testing.T) {
	e := servetest.New(t)
	e.Install(t, servetest.Basic("p", "SUPERSEDED"))
	ctx := context.Background()
	if err := e.RT.Executions.DisableTransition(ctx, "p", "Deploy", "freeze", "tester"); err != nil {
		t.Fatal(err)
	}
	first := e.Start(t, "p")
	e.WaitQueued(t, "p", "Deploy", first)
	second := e.Start(t, "p")
	e.Expect(t, "p", first, core.ExecutionSuperseded)
	e.WaitQueued(t, "p", "Deploy", second)
	tr, _ := e.RT.Store.GetTransition(ctx, "p", "Deploy")
	if tr.Enabled || tr.Reason != "freeze" || tr.LastChangedBy != "tester" || tr.LastChangedAt.IsZero() {
		t.Errorf("transition: got %+v, want disabled with reason, who and when", tr)
	}
	if err := e.RT.Executions.EnableTransition(ctx, "p", "Deploy", "tester"); err != nil {
		t.Fatal(err)
	}
	e.Expect(t, "p", second, core.ExecutionSucceeded)
}

func TestStopAndAbandon(t *testing.T) {
	e := servetest.New(t)
	e.Install(t, servetest.Basic("p", "QUEUED"))
	e.Fake.Hold("Compile", true)
	id := e.Start(t, "p")
	e.Fake.WaitStarted(t, id+"/Compile")
	next := e.Start(t, "p")
	e.WaitQueued(t, "p", "Build", next)
	if _, err := e.RT.Executions.Stop(context.Background(), "p", id, core.StopAndAbandon, "no longer needed", "tester"); err != nil {
		t.Fatal(err)
	}
	x := e.Expect(t, "p", id, core.ExecutionStopped)
	if x.Stop == nil || x.Stop.By != "tester" || !strings.Contains(x.StatusSummary, "no longer needed") {
		t.Errorf("stopped execution: got stop %+v summary %q", x.Stop, x.StatusSummary)
	}
	if a := e.Actions(t, "p", id)["Build/Compile"]; a.Status != core.ActionAbandoned {
		t.Errorf("running action: got %s, want Abandoned", a.Status)
	}
	if got := e.Stages(t, "p", id)["Build"]; got != core.StageStopped {
		t.Errorf("stage: got %s, want Stopped", got)
	}
	// The queued execution goes in once the stage is freed.
	e.Fake.WaitStarted(t, next+"/Compile")
	e.Fake.Release(t, "Compile", true) // the abandoned run's late end: ignored
	if a := e.Actions(t, "p", id)["Build/Compile"]; a.Status != core.ActionAbandoned {
		t.Errorf("abandoned action after its work ended: got %s, want Abandoned still", a.Status)
	}
	e.Fake.Release(t, "Compile", true)
	e.Expect(t, "p", next, core.ExecutionSucceeded)
}

func TestStopAndWait(t *testing.T) {
	e := servetest.New(t)
	e.Install(t, servetest.Basic("p", "SUPERSEDED"))
	e.Fake.Hold("Compile", true)
	id := e.Start(t, "p")
	e.Fake.WaitStarted(t, id+"/Compile")
	x, err := e.RT.Executions.Stop(context.Background(), "p", id, core.StopAndWait, "", "tester")
	if err != nil {
		t.Fatal(err)
	}
	if x.Status != core.ExecutionStopping {
		t.Errorf("right after stop and wait: got %s, want Stopping", x.Status)
	}
	e.Fake.Release(t, "Compile", true)
	e.Expect(t, "p", id, core.ExecutionStopped)
	acts := e.Actions(t, "p", id)
	if acts["Build/Compile"].Status != core.ActionSucceeded {
		t.Errorf("running action: got %s, want it to finish Succeeded", acts["Build/Compile"].Status)
	}
	if _, ran := acts["Deploy/Ship"]; ran {
		t.Error("a stage after the stop ran")
	}
}

func TestRetryFailedStage(t *testing.T) {
	e := servetest.New(t)
	e.Install(t, servetest.Declaration("p", "SUPERSEDED",
		servetest.Stage{Name: "Source", Actions: []servetest.Act{{Name: "Src", Category: "Source", Out: []string{"Code"}}}},
		servetest.Stage{Name: "Build", Actions: []servetest.Act{
			{Name: "Good", Category: "Build", In: []string{"Code"}},
			{Name: "Flaky", Category: "Build", In: []string{"Code"}},
		}},
		servetest.Stage{Name: "Deploy", Actions: []servetest.Act{{Name: "Ship", Category: "Deploy", In: []string{"Code"}}}},
	))
	e.Fake.Fail("Flaky", true)
	id := e.Start(t, "p")
	e.Expect(t, "p", id, core.ExecutionFailed)
	e.Fake.Fail("Flaky", false)
	e.Fake.Runs()
	if _, err := e.RT.Executions.Retry(context.Background(), "p", id, "Build", core.RetryFailedActions); err != nil {
		t.Fatal(err)
	}
	x := e.Expect(t, "p", id, core.ExecutionSucceeded)
	runs := e.Fake.Runs()
	want := []string{id + "/Flaky", id + "/Ship"}
	if !slices.Equal(runs, want) {
		t.Errorf("after retrying failed actions: ran %v, want only %v (Source and Good not again)", runs, want)
	}
	if x.Retry == nil || x.Retry.Stage != "Build" || x.Retry.Count != 1 {
		t.Errorf("retry record: got %+v", x.Retry)
	}
	if _, err := e.RT.Executions.Retry(context.Background(), "p", id, "Build", core.RetryAllActions); !errors.Is(err, core.ErrConflict) {
		t.Errorf("retrying a succeeded execution: got %v, want ErrConflict", err)
	}
}

func TestApprovalApprovedAndRejected(t *testing.T) {
	for _, decision := range []core.ApprovalDecision{core.Approved, core.Rejected} {
		t.Run(string(decision), func(t *testing.T) {
			e := servetest.New(t)
			e.Install(t, servetest.Declaration("p", "SUPERSEDED",
				servetest.Stage{Name: "Source", Actions: []servetest.Act{{Name: "Src", Category: "Source", Out: []string{"Code"}, Namespace: "S"}}},
				servetest.Stage{Name: "Approve", Actions: []servetest.Act{{Name: "Gate", Category: "Approval", Config: map[string]string{"CustomData": "ship #{S.CommitId}?"}}}},
			))
			id := e.Start(t, "p")
			var pending []core.Approval
			for deadline := time.Now().Add(2 * time.Minute); len(pending) == 0 && time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
				pending, _ = e.RT.Store.PendingApprovals(context.Background(), "p", id)
			}
			if len(pending) != 1 || pending[0].CustomData != "ship c0ffee?" {
				t.Fatalf("pending approvals: got %+v, want one with resolved CustomData", pending)
			}
			d := approval.Decision{Pipeline: "p", Stage: "Approve", Action: "Gate", Status: decision, By: "alice", Comment: "looks fine"}
			if _, err := e.RT.Approvals.Decide(context.Background(), d); err != nil {
				t.Fatal(err)
			}
			if _, err := e.RT.Approvals.Decide(context.Background(), approval.Decision{ID: pending[0].ID, Status: core.Approved, By: "bob"}); !errors.Is(err, core.ErrConflict) {
				t.Errorf("second decision: got %v, want ErrConflict", err)
			}
			want := core.ExecutionSucceeded
			if decision == core.Rejected {
				want = core.ExecutionFailed
			}
			e.Expect(t, "p", id, want)
			a := e.Actions(t, "p", id)["Approve/Gate"]
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
	f := servetest.NewFake()
	e := servetest.Open(t, dir, f)
	e.Install(t, servetest.Basic("p", "SUPERSEDED"))
	f.Hold("Compile", true)
	id := e.Start(t, "p")
	f.WaitStarted(t, id+"/Compile")
	e.RT.Close()

	f2 := servetest.NewFake()
	e2 := servetest.Open(t, dir, f2)
	t.Cleanup(func() { e2.RT.Close() })
	e2.Expect(t, "p", id, core.ExecutionSucceeded)
	want := []string{id + "/Compile", id + "/Ship"}
	if runs := f2.Runs(); !slices.Equal(runs, want) {
		t.Errorf("after the restart ran %v, want %v (Src not again)", runs, want)
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
