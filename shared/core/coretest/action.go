package coretest

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/relais-ci/relais/shared/core"
)

// ActionStore checks the promises of core.ActionStore. newStore returns an empty store;
// it is called once per subtest.
func ActionStore(t *testing.T, newStore func(t *testing.T) core.ActionStore) {
	ctx := t.Context()
	action := func(pipeline, id, execution, stage, name string, start time.Time) core.ActionExecution {
		return core.ActionExecution{
			ID: id, PipelineName: pipeline, ExecutionID: execution, StageName: stage, ActionName: name,
			Attempt: 1, Status: core.ActionInProgress,
			Type:     core.ActionType{Category: "Build", Owner: "AWS", Provider: "CodeBuild", Version: "1"},
			RunOrder: 1, Region: "eu-west-1", Namespace: "BuildVariables",
			Configuration:  map[string]string{"ProjectName": "relais"},
			InputArtifacts: []core.Artifact{{Name: "src", Location: core.ArtifactLocation{Store: "s", Key: "k", Version: "v"}}},
			TaskToken:      "token-" + id,
			StartTime:      start, LastUpdateTime: start,
		}
	}
	ended := func(a core.ActionExecution, status core.ActionStatus, n int) core.ActionExecution {
		a.Status = status
		a.Summary = fmt.Sprintf("%s (%d)", status, n)
		a.OutputArtifacts = []core.Artifact{{Name: "out", Location: core.ArtifactLocation{Store: "s", Key: "o"}}}
		a.OutputVariables = map[string]string{"n": fmt.Sprint(n)}
		a.ExternalExecutionURL = "https://logs/" + a.ID
		if status == core.ActionFailed {
			a.Error = &core.ErrorDetails{Code: "JobFailed", Message: "exit 1"}
		}
		a.LastUpdateTime = a.StartTime.Add(time.Duration(n) * time.Second)
		return a
	}
	put := func(t *testing.T, s core.ActionStore, as ...core.ActionExecution) {
		t.Helper()
		for _, a := range as {
			noErr(t, "put action "+a.ID, s.PutAction(ctx, a))
		}
	}
	mustGet := func(t *testing.T, s core.ActionStore, pipeline, id string) core.ActionExecution {
		t.Helper()
		got, err := s.GetAction(ctx, pipeline, id)
		noErr(t, "get action "+id, err)
		return got
	}

	t.Run("put then get", func(t *testing.T) {
		s := newStore(t)
		a := action("build", "a1", "e1", "Build", "Compile", at(0))
		put(t, s, a)
		if diff := cmp.Diff(a, mustGet(t, s, "build", "a1")); diff != "" {
			t.Errorf("GetAction (-want +got):\n%s", diff)
		}
	})

	t.Run("get of a missing action is not found", func(t *testing.T) {
		s := newStore(t)
		put(t, s, action("build", "a1", "e1", "Build", "Compile", at(0)))
		for _, tt := range []struct{ pipeline, id string }{{"build", "a2"}, {"other", "a1"}} {
			_, err := s.GetAction(ctx, tt.pipeline, tt.id)
			wantErr(t, "get "+tt.pipeline+"/"+tt.id, err, core.ErrNotFound)
		}
	})

	t.Run("status moves follow CanBecome", func(t *testing.T) {
		for _, from := range core.ActionStatuses {
			for _, to := range core.ActionStatuses {
				t.Run(fmt.Sprintf("%s->%s", from, to), func(t *testing.T) {
					s := newStore(t)
					first := ended(action("build", "a1", "e1", "Build", "Compile", at(0)), from, 1)
					put(t, s, first)
					next := ended(first, to, 2)
					err := s.PutAction(ctx, next)
					want := first
					if from.CanBecome(to) {
						noErr(t, "put", err)
						want = next
					} else {
						wantErr(t, "put", err, core.ErrConflict)
					}
					if diff := cmp.Diff(want, mustGet(t, s, "build", "a1")); diff != "" {
						t.Errorf("stored action (-want +got):\n%s", diff)
					}
				})
			}
		}
	})

	t.Run("rewriting a terminal action is idempotent", func(t *testing.T) {
		s := newStore(t)
		a := ended(action("build", "a1", "e1", "Build", "Compile", at(0)), core.ActionSucceeded, 1)
		for range 3 {
			put(t, s, a)
		}
		if diff := cmp.Diff(a, mustGet(t, s, "build", "a1")); diff != "" {
			t.Errorf("stored action (-want +got):\n%s", diff)
		}
	})

	t.Run("concurrent endings: one status wins", func(t *testing.T) {
		s := newStore(t)
		a := action("build", "a1", "e1", "Build", "Compile", at(0))
		put(t, s, a)
		statuses := []core.ActionStatus{core.ActionSucceeded, core.ActionFailed}
		errs := race(20, func(i int) error {
			return s.PutAction(ctx, ended(a, statuses[i%2], i))
		})
		won := winners(t, errs, core.ErrConflict)
		if len(won) == 0 {
			t.Fatal("no call succeeded")
		}
		got := mustGet(t, s, "build", "a1")
		for _, w := range won {
			if statuses[w%2] != got.Status {
				t.Errorf("call %d moved the action to %s, but %s is stored: two different endings both won", w, statuses[w%2], got.Status)
			}
		}
	})

	t.Run("find by external id", func(t *testing.T) {
		s := newStore(t)
		plain := action("build", "a0", "e1", "Source", "Checkout", at(0))
		old := action("build", "a1", "e1", "Build", "Compile", at(1))
		old.ExternalExecutionID = "relais:build-1"
		newer := action("deploy", "a2", "e9", "Build", "Compile", at(2))
		newer.ExternalExecutionID = "relais:build-1"
		other := action("build", "a3", "e2", "Build", "Compile", at(3))
		other.ExternalExecutionID = "relais:build-2"
		put(t, s, plain, newer, old, other)

		got, err := s.FindActionByExternalID(ctx, "relais:build-2")
		noErr(t, "find", err)
		if diff := cmp.Diff(other, got); diff != "" {
			t.Errorf("FindActionByExternalID (-want +got):\n%s", diff)
		}
		got, err = s.FindActionByExternalID(ctx, "relais:build-1")
		noErr(t, "find shared", err)
		if got.ID != newer.ID {
			t.Errorf("id shared by two actions: got %s, want the newest, %s", got.ID, newer.ID)
		}
		for _, ext := range []string{"", "relais:build-3"} {
			_, err := s.FindActionByExternalID(ctx, ext)
			wantErr(t, fmt.Sprintf("find %q", ext), err, core.ErrNotFound)
		}
	})

	t.Run("list filters, newest first, and pages", func(t *testing.T) {
		s := newStore(t)
		var all []core.ActionExecution
		n := 0
		for _, e := range []string{"e1", "e2"} {
			for _, st := range []string{"Build", "Deploy"} {
				for _, name := range []string{"Compile", "Lint"} {
					n++
					// Start times interleave executions and stages, so that order comes
					// from StartTime alone.
					all = append(all, action("build", id("a", n), e, st, name, at((n*7)%11)))
				}
			}
		}
		put(t, s, all...)
		put(t, s, action("other", "x1", "e1", "Build", "Compile", at(3)))
		slices.SortFunc(all, func(a, b core.ActionExecution) int { return b.StartTime.Compare(a.StartTime) })
		match := func(f core.ActionFilter) []core.ActionExecution {
			var out []core.ActionExecution
			for _, a := range all {
				if (f.ExecutionID == "" || a.ExecutionID == f.ExecutionID) &&
					(f.StageName == "" || a.StageName == f.StageName) &&
					(f.ActionName == "" || a.ActionName == f.ActionName) {
					out = append(out, a)
				}
			}
			return out
		}
		for _, f := range []core.ActionFilter{
			{PipelineName: "build"},
			{PipelineName: "build", ExecutionID: "e2"},
			{PipelineName: "build", StageName: "Deploy"},
			{PipelineName: "build", ActionName: "Lint"},
			{PipelineName: "build", ExecutionID: "e1", StageName: "Build", ActionName: "Compile"},
			{PipelineName: "build", ExecutionID: "e3"},
		} {
			for _, limit := range []int{1, 3, 100} {
				t.Run(fmt.Sprintf("%+v limit %d", f, limit), func(t *testing.T) {
					got := readPages(t, limit, func(p core.Page) ([]core.ActionExecution, string, error) {
						return s.ListActions(ctx, f, p)
					})
					if diff := cmp.Diff(match(f), got); diff != "" {
						t.Errorf("ListActions (-want +got):\n%s", diff)
					}
				})
			}
		}
	})

	t.Run("list orders equal start times by id, descending", func(t *testing.T) {
		s := newStore(t)
		var want []core.ActionExecution
		for i := range 5 {
			a := action("build", id("a", i), "e1", "Build", "Compile", at(0))
			put(t, s, a)
			want = append(want, a)
		}
		slices.Reverse(want)
		got := readPages(t, 2, func(p core.Page) ([]core.ActionExecution, string, error) {
			return s.ListActions(ctx, core.ActionFilter{PipelineName: "build"}, p)
		})
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("ListActions (-want +got):\n%s", diff)
		}
	})

	t.Run("list needs a pipeline and a token of its own", func(t *testing.T) {
		s := newStore(t)
		put(t, s, action("build", "a1", "e1", "Build", "Compile", at(0)))
		_, _, err := s.ListActions(ctx, core.ActionFilter{ExecutionID: "e1"}, core.Page{})
		wantErr(t, "list without pipeline", err, core.ErrInvalid)
		_, _, err = s.ListActions(ctx, core.ActionFilter{PipelineName: "build"}, core.Page{Token: "not a token!"})
		wantErr(t, "list with a malformed token", err, core.ErrInvalid)
		put(t, s, action("build", "a2", "e1", "Build", "Compile", at(1)))
		_, next, err := s.ListActions(ctx, core.ActionFilter{PipelineName: "build"}, core.Page{Limit: 1})
		noErr(t, "list", err)
		if next == "" {
			t.Fatal("list of 2 with limit 1: got no next page")
		}
		_, _, err = s.ListActions(ctx, core.ActionFilter{PipelineName: "other"}, core.Page{Limit: 1, Token: next})
		wantErr(t, "list with another pipeline's token", err, core.ErrInvalid)
	})

	t.Run("empty keys are invalid", func(t *testing.T) {
		s := newStore(t)
		for _, a := range []core.ActionExecution{
			action("", "a1", "e1", "Build", "Compile", at(0)),
			action("build", "", "e1", "Build", "Compile", at(0)),
		} {
			err := s.PutAction(ctx, a)
			wantErr(t, fmt.Sprintf("put %q/%q", a.PipelineName, a.ID), err, core.ErrInvalid)
		}
	})
}
