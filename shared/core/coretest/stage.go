package coretest

import (
	"cmp"
	"slices"
	"testing"
	"time"

	gocmp "github.com/google/go-cmp/cmp"

	"github.com/relais-ci/relais/shared/core"
)

// StageStore checks the promises of core.StageStore. newStore returns an empty store;
// it is called once per subtest.
func StageStore(t *testing.T, newStore func(t *testing.T) core.StageStore) {
	ctx := t.Context()
	stage := func(pipeline, execution, name string, status core.StageStatus, start time.Time) core.StageExecution {
		return core.StageExecution{
			PipelineName: pipeline, ExecutionID: execution, StageName: name, Status: status,
			Attempt: 1, StartTime: start, LastUpdateTime: start,
		}
	}
	put := func(t *testing.T, s core.StageStore, st ...core.StageExecution) {
		t.Helper()
		for _, x := range st {
			noErr(t, "put stage "+x.ExecutionID+"/"+x.StageName, s.PutStage(ctx, x))
		}
	}
	sorted := func(st []core.StageExecution) []core.StageExecution {
		return slices.SortedFunc(slices.Values(st), func(a, b core.StageExecution) int {
			return cmp.Or(cmp.Compare(a.StageName, b.StageName), cmp.Compare(a.ExecutionID, b.ExecutionID))
		})
	}

	t.Run("put then list", func(t *testing.T) {
		s := newStore(t)
		src := stage("build", "e1", "Source", core.StageSucceeded, at(0))
		bld := stage("build", "e1", "Build", core.StageInProgress, at(1))
		put(t, s, src, bld,
			stage("build", "e2", "Source", core.StageInProgress, at(2)),
			stage("other", "e1", "Deploy", core.StageInProgress, at(2)))
		got, err := s.ListStages(ctx, "build", "e1")
		noErr(t, "list", err)
		if diff := gocmp.Diff([]core.StageExecution{bld, src}, sorted(got)); diff != "" {
			t.Errorf("ListStages (-want +got):\n%s", diff)
		}
	})

	t.Run("put replaces, last writer wins", func(t *testing.T) {
		s := newStore(t)
		first := stage("build", "e1", "Build", core.StageFailed, at(0))
		second := stage("build", "e1", "Build", core.StageInProgress, at(3))
		second.Attempt = 2
		put(t, s, first, second)
		got, err := s.ListStages(ctx, "build", "e1")
		noErr(t, "list", err)
		if diff := gocmp.Diff([]core.StageExecution{second}, got); diff != "" {
			t.Errorf("ListStages (-want +got):\n%s", diff)
		}
	})

	t.Run("list of an unknown execution is empty", func(t *testing.T) {
		s := newStore(t)
		put(t, s, stage("build", "e1", "Build", core.StageFailed, at(0)))
		got, err := s.ListStages(ctx, "build", "e2")
		noErr(t, "list", err)
		if len(got) != 0 {
			t.Errorf("got %d stages, want 0", len(got))
		}
	})

	t.Run("latest is the stage of the last execution to enter it", func(t *testing.T) {
		s := newStore(t)
		e1Source := stage("build", "e1", "Source", core.StageSucceeded, at(0))
		e1Build := stage("build", "e1", "Build", core.StageInProgress, at(1))
		e2Source := stage("build", "e2", "Source", core.StageSucceeded, at(2))
		e3Source := stage("build", "e3", "Source", core.StageInProgress, at(4))
		e1Deploy := stage("build", "e1", "Deploy", core.StageInProgress, at(5))
		put(t, s, e3Source, e1Source, e2Source, e1Build, e1Deploy,
			stage("other", "x", "Source", core.StageInProgress, at(9)))
		// An older execution's stage updated after a newer one entered it stays hidden.
		e2Late := e2Source
		e2Late.LastUpdateTime = at(8)
		put(t, s, e2Late)

		got, err := s.LatestStages(ctx, "build")
		noErr(t, "latest", err)
		want := sorted([]core.StageExecution{e3Source, e1Build, e1Deploy})
		if diff := gocmp.Diff(want, sorted(got)); diff != "" {
			t.Errorf("LatestStages (-want +got):\n%s", diff)
		}

		// A retry re-enters the stage: the retried execution is the latest again.
		e1Retry := stage("build", "e1", "Source", core.StageInProgress, at(6))
		e1Retry.Attempt = 2
		put(t, s, e1Retry)
		got, err = s.LatestStages(ctx, "build")
		noErr(t, "latest after retry", err)
		want = sorted([]core.StageExecution{e1Retry, e1Build, e1Deploy})
		if diff := gocmp.Diff(want, sorted(got)); diff != "" {
			t.Errorf("LatestStages after retry (-want +got):\n%s", diff)
		}
	})

	t.Run("latest breaks start time ties by execution id", func(t *testing.T) {
		s := newStore(t)
		b := stage("build", "e-b", "Build", core.StageInProgress, at(1))
		a := stage("build", "e-a", "Build", core.StageSucceeded, at(1))
		put(t, s, b, a)
		got, err := s.LatestStages(ctx, "build")
		noErr(t, "latest", err)
		if diff := gocmp.Diff([]core.StageExecution{b}, got); diff != "" {
			t.Errorf("LatestStages (-want +got):\n%s", diff)
		}
	})

	t.Run("latest of a pipeline without stages is empty", func(t *testing.T) {
		s := newStore(t)
		put(t, s, stage("other", "e1", "Build", core.StageFailed, at(0)))
		got, err := s.LatestStages(ctx, "build")
		noErr(t, "latest", err)
		if len(got) != 0 {
			t.Errorf("got %d stages, want 0", len(got))
		}
	})

	t.Run("empty keys are invalid", func(t *testing.T) {
		s := newStore(t)
		for _, st := range []core.StageExecution{
			stage("", "e1", "Build", core.StageInProgress, at(0)),
			stage("build", "", "Build", core.StageInProgress, at(0)),
			stage("build", "e1", "", core.StageInProgress, at(0)),
		} {
			err := s.PutStage(ctx, st)
			wantErr(t, "put "+st.PipelineName+"/"+st.ExecutionID+"/"+st.StageName, err, core.ErrInvalid)
		}
	})
}
