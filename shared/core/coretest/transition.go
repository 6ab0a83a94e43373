package coretest

import (
	"cmp"
	"slices"
	"testing"

	gocmp "github.com/google/go-cmp/cmp"

	"github.com/relais-ci/relais/shared/core"
)

// TransitionStore checks the promises of core.TransitionStore. newStore returns an
// empty store; it is called once per subtest.
func TransitionStore(t *testing.T, newStore func(t *testing.T) core.TransitionStore) {
	ctx := t.Context()
	disabled := func(pipeline, stage string) core.Transition {
		return core.Transition{
			PipelineName: pipeline, StageName: stage, Enabled: false,
			Reason: "freeze", LastChangedBy: "ann", LastChangedAt: at(1),
		}
	}
	get := func(t *testing.T, s core.TransitionStore, pipeline, stage string) core.Transition {
		t.Helper()
		got, err := s.GetTransition(ctx, pipeline, stage)
		noErr(t, "get transition", err)
		return got
	}

	t.Run("a transition never changed is enabled", func(t *testing.T) {
		s := newStore(t)
		want := core.Transition{PipelineName: "build", StageName: "Deploy", Enabled: true}
		if diff := gocmp.Diff(want, get(t, s, "build", "Deploy")); diff != "" {
			t.Errorf("GetTransition (-want +got):\n%s", diff)
		}
	})

	t.Run("put then get, disable then enable", func(t *testing.T) {
		s := newStore(t)
		off := disabled("build", "Deploy")
		noErr(t, "disable", s.PutTransition(ctx, off))
		if diff := gocmp.Diff(off, get(t, s, "build", "Deploy")); diff != "" {
			t.Errorf("after disable (-want +got):\n%s", diff)
		}
		if got := get(t, s, "build", "Test"); !got.Enabled {
			t.Errorf("another stage: got disabled, want enabled")
		}
		on := core.Transition{PipelineName: "build", StageName: "Deploy", Enabled: true, LastChangedBy: "bob", LastChangedAt: at(2)}
		noErr(t, "enable", s.PutTransition(ctx, on))
		if diff := gocmp.Diff(on, get(t, s, "build", "Deploy")); diff != "" {
			t.Errorf("after enable (-want +got):\n%s", diff)
		}
	})

	t.Run("list returns the recorded transitions of the pipeline", func(t *testing.T) {
		s := newStore(t)
		got, err := s.ListTransitions(ctx, "build")
		noErr(t, "list empty", err)
		if len(got) != 0 {
			t.Fatalf("got %d transitions, want 0", len(got))
		}
		a, b := disabled("build", "Deploy"), disabled("build", "Test")
		b.Enabled, b.Reason = true, ""
		for _, tr := range []core.Transition{a, b, disabled("other", "Deploy")} {
			noErr(t, "put", s.PutTransition(ctx, tr))
		}
		got, err = s.ListTransitions(ctx, "build")
		noErr(t, "list", err)
		slices.SortFunc(got, func(x, y core.Transition) int { return cmp.Compare(x.StageName, y.StageName) })
		if diff := gocmp.Diff([]core.Transition{a, b}, got); diff != "" {
			t.Errorf("ListTransitions (-want +got):\n%s", diff)
		}
	})

	t.Run("empty keys are invalid", func(t *testing.T) {
		s := newStore(t)
		for _, tr := range []core.Transition{disabled("", "Deploy"), disabled("build", "")} {
			wantErr(t, "put "+tr.PipelineName+"/"+tr.StageName, s.PutTransition(ctx, tr), core.ErrInvalid)
		}
	})
}
