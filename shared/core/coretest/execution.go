package coretest

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/relais-ci/relais/shared/core"
)

// ExecutionStore checks the promises of core.ExecutionStore. newStore returns an empty
// store; it is called once per subtest.
func ExecutionStore(t *testing.T, newStore func(t *testing.T) core.ExecutionStore) {
	ctx := t.Context()
	execution := func(pipeline, id string, start time.Time) core.Execution {
		return core.Execution{
			PipelineName: pipeline, ID: id, PipelineVersion: 3,
			Status: core.ExecutionInProgress, Mode: core.ModeQueued,
			Trigger: core.Trigger{Type: core.TriggerWebhookV2, Detail: "push to main"},
			SourceRevisions: []core.SourceRevision{{
				ActionName: "Source", RevisionID: "9f1c2d", RevisionSummary: "fix build",
				RevisionURL: "https://github.com/o/r/commit/9f1c2d",
			}},
			Variables: []core.Variable{{Name: "env", Value: "prod"}},
			StartTime: start, LastUpdateTime: start,
		}
	}
	mustCreate := func(t *testing.T, s core.ExecutionStore, e core.Execution) core.Execution {
		t.Helper()
		got, err := s.CreateExecution(ctx, e)
		noErr(t, "create execution "+e.ID, err)
		return got
	}
	mustGet := func(t *testing.T, s core.ExecutionStore, pipeline, id string) core.Execution {
		t.Helper()
		got, err := s.GetExecution(ctx, pipeline, id)
		noErr(t, "get execution "+id, err)
		return got
	}

	t.Run("create stores revision 1", func(t *testing.T) {
		s := newStore(t)
		in := execution("build", "e1", at(0))
		in.Revision = 7 // the store assigns revisions; the caller's is ignored
		got := mustCreate(t, s, in)
		want := in
		want.Revision = 1
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("CreateExecution returned (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff(want, mustGet(t, s, "build", "e1")); diff != "" {
			t.Errorf("GetExecution (-want +got):\n%s", diff)
		}
	})

	t.Run("create of an existing id conflicts and changes nothing", func(t *testing.T) {
		s := newStore(t)
		first := mustCreate(t, s, execution("build", "e1", at(0)))
		again := execution("build", "e1", at(5))
		again.Status = core.ExecutionFailed
		_, err := s.CreateExecution(ctx, again)
		wantErr(t, "second create", err, core.ErrConflict)
		if diff := cmp.Diff(first, mustGet(t, s, "build", "e1")); diff != "" {
			t.Errorf("stored execution changed (-want +got):\n%s", diff)
		}
	})

	t.Run("one id in two pipelines is two executions", func(t *testing.T) {
		s := newStore(t)
		a := mustCreate(t, s, execution("build", "e1", at(0)))
		b := mustCreate(t, s, execution("deploy", "e1", at(1)))
		if diff := cmp.Diff(a, mustGet(t, s, "build", "e1")); diff != "" {
			t.Errorf("build/e1 (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff(b, mustGet(t, s, "deploy", "e1")); diff != "" {
			t.Errorf("deploy/e1 (-want +got):\n%s", diff)
		}
	})

	t.Run("get of a missing execution is not found", func(t *testing.T) {
		s := newStore(t)
		mustCreate(t, s, execution("build", "e1", at(0)))
		for _, tt := range []struct{ pipeline, id string }{{"build", "e2"}, {"other", "e1"}} {
			_, err := s.GetExecution(ctx, tt.pipeline, tt.id)
			wantErr(t, "get "+tt.pipeline+"/"+tt.id, err, core.ErrNotFound)
		}
	})

	t.Run("update with the stored revision increments it", func(t *testing.T) {
		s := newStore(t)
		e := mustCreate(t, s, execution("build", "e1", at(0)))
		for rev := int64(1); rev <= 3; rev++ {
			e.Status = core.ExecutionStopping
			e.StatusSummary = fmt.Sprintf("update %d", rev)
			e.Stop = &core.StopRequest{Mode: core.StopAndWait, Reason: "r", By: "ann", At: at(int(rev))}
			e.LastUpdateTime = at(int(rev))
			got, err := s.UpdateExecution(ctx, e)
			noErr(t, "update", err)
			want := e
			want.Revision = rev + 1
			if diff := cmp.Diff(want, got); diff != "" {
				t.Fatalf("UpdateExecution returned (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(want, mustGet(t, s, "build", "e1")); diff != "" {
				t.Fatalf("GetExecution after update (-want +got):\n%s", diff)
			}
			e = got
		}
	})

	t.Run("update with a stale revision conflicts and changes nothing", func(t *testing.T) {
		s := newStore(t)
		e := mustCreate(t, s, execution("build", "e1", at(0)))
		e.Status = core.ExecutionSucceeded
		e2, err := s.UpdateExecution(ctx, e)
		noErr(t, "update", err)
		for _, rev := range []int64{0, 1, 3} {
			stale := e2
			stale.Revision = rev
			stale.Status = core.ExecutionFailed
			stale.StatusSummary = "stale writer"
			_, err := s.UpdateExecution(ctx, stale)
			wantErr(t, fmt.Sprintf("update with revision %d", rev), err, core.ErrConflict)
		}
		if diff := cmp.Diff(e2, mustGet(t, s, "build", "e1")); diff != "" {
			t.Errorf("stored execution changed (-want +got):\n%s", diff)
		}
	})

	t.Run("update of a missing execution is not found", func(t *testing.T) {
		s := newStore(t)
		e := execution("build", "ghost", at(0))
		e.Revision = 1
		_, err := s.UpdateExecution(ctx, e)
		wantErr(t, "update", err, core.ErrNotFound)
		_, err = s.GetExecution(ctx, "build", "ghost")
		wantErr(t, "get after failed update", err, core.ErrNotFound)
	})

	t.Run("empty keys are invalid", func(t *testing.T) {
		s := newStore(t)
		for _, e := range []core.Execution{execution("", "e1", at(0)), execution("build", "", at(0))} {
			_, err := s.CreateExecution(ctx, e)
			wantErr(t, fmt.Sprintf("create %q/%q", e.PipelineName, e.ID), err, core.ErrInvalid)
		}
	})

	t.Run("concurrent creates of one id: exactly one wins", func(t *testing.T) {
		s := newStore(t)
		errs := race(50, func(i int) error {
			e := execution("build", "e1", at(i))
			_, err := s.CreateExecution(ctx, e)
			return err
		})
		w := exactlyOne(t, errs, core.ErrConflict)
		if got := mustGet(t, s, "build", "e1").StartTime; !got.Equal(at(w)) {
			t.Errorf("stored StartTime: got %v, want the winner's %v", got, at(w))
		}
	})

	t.Run("concurrent updates of one revision: exactly one wins", func(t *testing.T) {
		s := newStore(t)
		e := mustCreate(t, s, execution("build", "e1", at(0)))
		errs := race(20, func(i int) error {
			u := e
			u.StatusSummary = fmt.Sprintf("writer %d", i)
			_, err := s.UpdateExecution(ctx, u)
			return err
		})
		w := exactlyOne(t, errs, core.ErrConflict)
		got := mustGet(t, s, "build", "e1")
		if want := fmt.Sprintf("writer %d", w); got.StatusSummary != want || got.Revision != 2 {
			t.Errorf("stored: got %q at revision %d, want %q at revision 2", got.StatusSummary, got.Revision, want)
		}
	})

	t.Run("list is newest first and pages", func(t *testing.T) {
		s := newStore(t)
		// Created out of order, with another pipeline's executions in between, and ids
		// that sort otherwise than start times, so that neither write order, nor id
		// order, nor a missing pipeline condition can pass for sorting.
		var want []core.Execution
		for _, i := range rand.New(rand.NewPCG(1, 2)).Perm(7) {
			want = append(want, mustCreate(t, s, execution("build", id("e", i), at((i*5)%7))))
			mustCreate(t, s, execution("other", id("o", i), at(i)))
		}
		slices.SortFunc(want, func(a, b core.Execution) int { return b.StartTime.Compare(a.StartTime) })
		for _, limit := range []int{1, 3, 7, 50} {
			t.Run(fmt.Sprintf("limit %d", limit), func(t *testing.T) {
				got := readPages(t, limit, func(p core.Page) ([]core.Execution, string, error) {
					return s.ListExecutions(ctx, "build", p)
				})
				if diff := cmp.Diff(want, got); diff != "" {
					t.Errorf("ListExecutions (-want +got):\n%s", diff)
				}
			})
		}
	})

	t.Run("list orders equal start times by id, descending", func(t *testing.T) {
		s := newStore(t)
		var want []core.Execution
		for i := range 5 {
			want = append(want, mustCreate(t, s, execution("build", id("e", i), at(0))))
		}
		slices.Reverse(want)
		got := readPages(t, 2, func(p core.Page) ([]core.Execution, string, error) {
			return s.ListExecutions(ctx, "build", p)
		})
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("ListExecutions (-want +got):\n%s", diff)
		}
	})

	t.Run("list limits pages to 100", func(t *testing.T) {
		s := newStore(t)
		for i := range 105 {
			mustCreate(t, s, execution("build", id("e", i), at(i)))
		}
		for _, limit := range []int{0, 101, 1000} {
			got, next, err := s.ListExecutions(ctx, "build", core.Page{Limit: limit})
			noErr(t, "list", err)
			if len(got) > 100 || next == "" {
				t.Errorf("limit %d: got %d executions and next %q, want at most 100 and a next page", limit, len(got), next)
			}
		}
	})

	t.Run("list of a pipeline without executions is empty", func(t *testing.T) {
		s := newStore(t)
		mustCreate(t, s, execution("other", "e1", at(0)))
		got, next, err := s.ListExecutions(ctx, "build", core.Page{})
		noErr(t, "list", err)
		if len(got) != 0 || next != "" {
			t.Errorf("got %d executions and next %q, want none and no next page", len(got), next)
		}
	})

	t.Run("a malformed or foreign page token is invalid", func(t *testing.T) {
		s := newStore(t)
		mustCreate(t, s, execution("build", "e1", at(0)))
		_, _, err := s.ListExecutions(ctx, "build", core.Page{Token: "not a token!"})
		wantErr(t, "list with a malformed token", err, core.ErrInvalid)
		mustCreate(t, s, execution("build", "e2", at(1)))
		_, next, err := s.ListExecutions(ctx, "build", core.Page{Limit: 1})
		noErr(t, "list", err)
		if next == "" {
			t.Fatal("list of 2 with limit 1: got no next page")
		}
		_, _, err = s.ListExecutions(ctx, "other", core.Page{Limit: 1, Token: next})
		wantErr(t, "list with another pipeline's token", err, core.ErrInvalid)
	})
}

// readPages reads a list page after page with the given limit and returns every item.
// It fails t when a page holds more than limit items (so a list longer than limit must
// page) or when the tokens never end.
func readPages[T any](t *testing.T, limit int, list func(core.Page) ([]T, string, error)) []T {
	t.Helper()
	var all []T
	token, pages := "", 0
	for {
		got, next, err := list(core.Page{Limit: limit, Token: token})
		if err != nil {
			t.Fatalf("list page %d: %v", pages+1, err)
		}
		pages++
		if len(got) > limit {
			t.Fatalf("page %d: got %d items, want at most %d", pages, len(got), limit)
		}
		all = append(all, got...)
		if next == "" {
			break
		}
		if pages > 1000 {
			t.Fatalf("still a next page after %d pages", pages)
		}
		token = next
	}
	return all
}
