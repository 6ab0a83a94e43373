// Package scenarios runs the end-to-end scenarios of test/scenarios/NN_name/: each folder
// holds a pipeline (pipeline.json) and a script (script.txt) that drives it on the local
// runtime — starting executions, holding, failing and releasing actions (run by
// servetest's scriptable fake), deciding approvals, stopping, retrying, toggling
// transitions — and states the expected result in its expect lines. The first comment
// of a script says what the scenario shows.
package scenarios

import (
	"bufio"
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/relais-ci/relais/shared/approval"
	"github.com/relais-ci/relais/shared/core"
	"github.com/relais-ci/relais/shared/local/serve/servetest"
	"github.com/relais-ci/relais/shared/pipeline"
)

func TestScenarios(t *testing.T) {
	dirs, err := filepath.Glob("[0-9][0-9]_*")
	if err != nil || len(dirs) < 10 {
		t.Fatalf("got %d scenario folders (%v), want the suite", len(dirs), err)
	}
	for _, dir := range dirs {
		if _, err := os.Stat(filepath.Join(dir, "script.txt")); err != nil {
			continue // scenarios with their own Go test
		}
		t.Run(dir, func(t *testing.T) {
			t.Parallel()
			run(t, dir)
		})
	}
}

// scenario is one script's state: executions by their script names.
type scenario struct {
	t     *testing.T
	env   *servetest.Env
	name  string // the pipeline's name
	execs map[string]string
	runs  []string
}

func run(t *testing.T, dir string) {
	decl, err := os.ReadFile(filepath.Join(dir, "pipeline.json"))
	if err != nil {
		t.Fatal(err)
	}
	d, err := pipeline.Parse(decl)
	if err != nil {
		t.Fatalf("pipeline.json: %v", err)
	}
	s := &scenario{t: t, env: servetest.New(t), name: d.Name, execs: map[string]string{}}
	s.env.Install(t, decl)
	f, err := os.Open(filepath.Join(dir, "script.txt"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		s.step(n, strings.Fields(line))
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
}

func (s *scenario) id(name string) string {
	id, ok := s.execs[name]
	if !ok {
		s.t.Fatalf("execution %s was never started", name)
	}
	return id
}

// step runs one script line; a wrong expectation fails the test with the line number.
func (s *scenario) step(n int, w []string) {
	t, e := s.t, s.env
	t.Helper()
	arity := func(min int) {
		if len(w) < min {
			t.Fatalf("line %d: %s needs %d arguments", n, w[0], min-1)
		}
	}
	ctx := context.Background()
	switch w[0] {
	case "hold", "unhold":
		arity(2)
		e.Fake.Hold(w[1], w[0] == "hold")
	case "fail", "unfail":
		arity(2)
		e.Fake.Fail(w[1], w[0] == "fail")
	case "start":
		arity(2)
		s.execs[w[1]] = e.Start(t, s.name)
	case "wait-started":
		arity(3)
		e.Fake.WaitStarted(t, s.id(w[1])+"/"+w[2])
	case "wait-queued":
		arity(3)
		e.WaitQueued(t, s.name, w[2], s.id(w[1]))
	case "release":
		arity(3)
		e.Fake.Release(t, w[1], w[2] == "ok")
	case "approve", "reject":
		arity(4)
		x := s.id(w[1])
		a := e.PendingApproval(t, s.name, x)
		if a.StageName != w[2] || a.ActionName != w[3] {
			t.Fatalf("line %d: pending approval is %s/%s, want %s/%s", n, a.StageName, a.ActionName, w[2], w[3])
		}
		status := core.Approved
		if w[0] == "reject" {
			status = core.Rejected
		}
		if _, err := e.RT.Approvals.Decide(ctx, approval.Decision{ID: a.ID, Status: status, By: "scenario", Comment: strings.Join(w[4:], " ")}); err != nil {
			t.Fatalf("line %d: %v", n, err)
		}
	case "wait-approval":
		arity(2)
		e.PendingApproval(t, s.name, s.id(w[1]))
	case "advance":
		arity(2)
		d, err := time.ParseDuration(w[1])
		if err != nil {
			t.Fatalf("line %d: %v", n, err)
		}
		e.Clock.Advance(d)
	case "stop":
		arity(3)
		mode := core.StopAndWait
		if w[2] == "abandon" {
			mode = core.StopAndAbandon
		}
		if _, err := e.RT.Executions.Stop(ctx, s.name, s.id(w[1]), mode, "scenario", "scenario"); err != nil {
			t.Fatalf("line %d: %v", n, err)
		}
	case "retry":
		arity(4)
		mode := core.RetryFailedActions
		if w[3] == "all" {
			mode = core.RetryAllActions
		}
		if _, err := e.RT.Executions.Retry(ctx, s.name, s.id(w[1]), w[2], mode); err != nil {
			t.Fatalf("line %d: %v", n, err)
		}
	case "disable":
		arity(3)
		if err := e.RT.Executions.DisableTransition(ctx, s.name, w[1], strings.Join(w[2:], " "), "scenario"); err != nil {
			t.Fatalf("line %d: %v", n, err)
		}
	case "enable":
		arity(2)
		if err := e.RT.Executions.EnableTransition(ctx, s.name, w[1], "scenario"); err != nil {
			t.Fatalf("line %d: %v", n, err)
		}
	case "expect":
		arity(3)
		x := e.Wait(t, s.name, s.id(w[1]))
		if string(x.Status) != w[2] {
			t.Fatalf("line %d: execution %s: got %s (%s), want %s", n, w[1], x.Status, x.StatusSummary, w[2])
		}
	case "expect-stage":
		arity(4)
		got := string(e.Stages(t, s.name, s.id(w[1]))[w[2]])
		if w[3] == "-" {
			w[3] = ""
		}
		if got != w[3] {
			t.Fatalf("line %d: stage %s of %s: got %q, want %q", n, w[2], w[1], got, w[3])
		}
	case "expect-action":
		arity(4)
		a, ok := e.Actions(t, s.name, s.id(w[1]))[w[2]]
		got := string(a.Status)
		if !ok {
			got = "-"
		}
		if got != w[3] {
			t.Fatalf("line %d: action %s of %s: got %s, want %s", n, w[2], w[1], got, w[3])
		}
	case "expect-config":
		arity(5)
		a := e.Actions(t, s.name, s.id(w[1]))[w[2]]
		want := strings.Join(w[4:], " ")
		for name, id := range s.execs {
			want = strings.ReplaceAll(want, "$"+name, id)
		}
		if got := a.Configuration[w[3]]; got != want {
			t.Fatalf("line %d: %s configuration %s: got %q, want %q", n, w[2], w[3], got, want)
		}
	case "expect-input-from":
		// expect-input-from X STAGE/ACTION STAGE/PRODUCER: the action's input artifact
		// is the producer's output.
		arity(4)
		acts := e.Actions(t, s.name, s.id(w[1]))
		in, out := acts[w[2]].InputArtifacts, acts[w[3]].OutputArtifacts
		if len(in) == 0 || len(out) == 0 || !slices.Contains(out, in[0]) {
			t.Fatalf("line %d: %s's input %+v is not among %s's outputs %+v", n, w[2], in, w[3], out)
		}
	case "forget-runs":
		e.Fake.Runs()
		s.runs = nil
	case "expect-runs":
		// expect-runs X ACTION…: the actions the fake ran for X since the last
		// expect-runs, in order.
		s.runs = append(s.runs, e.Fake.Runs()...)
		x := s.id(w[1])
		var got, rest []string
		for _, r := range s.runs {
			if name, ok := strings.CutPrefix(r, x+"/"); ok {
				got = append(got, name)
			} else {
				rest = append(rest, r)
			}
		}
		s.runs = rest
		if !slices.Equal(got, w[2:]) {
			t.Fatalf("line %d: %s ran %v, want %v", n, w[1], got, w[2:])
		}
	case "expect-lock-free":
		arity(2)
		if h, err := e.RT.Store.StageHolder(ctx, s.name, w[1]); !errors.Is(err, core.ErrNotFound) {
			t.Fatalf("line %d: stage %s is held by %s (%v), want free", n, w[1], h, err)
		}
	default:
		t.Fatalf("line %d: unknown command %q", n, w[0])
	}
}
