package coretest

import (
	"testing"

	"github.com/relais-ci/relais/shared/core"
)

// StageLocks checks the promises of core.StageLocks. newStore returns an empty store;
// it is called once per subtest.
func StageLocks(t *testing.T, newStore func(t *testing.T) core.StageLocks) {
	ctx := t.Context()
	wantHolder := func(t *testing.T, s core.StageLocks, pipeline, stage, want string) {
		t.Helper()
		got, err := s.StageHolder(ctx, pipeline, stage)
		if want == "" {
			wantErr(t, "holder of a free stage", err, core.ErrNotFound)
			return
		}
		noErr(t, "holder", err)
		if got != want {
			t.Errorf("holder of %s/%s: got %q, want %q", pipeline, stage, got, want)
		}
	}

	t.Run("a free stage has no holder", func(t *testing.T) {
		s := newStore(t)
		wantHolder(t, s, "build", "Deploy", "")
	})

	t.Run("acquire, re-acquire, release", func(t *testing.T) {
		s := newStore(t)
		noErr(t, "acquire", s.AcquireStage(ctx, "build", "Deploy", "e1"))
		wantHolder(t, s, "build", "Deploy", "e1")
		noErr(t, "acquire again by the holder", s.AcquireStage(ctx, "build", "Deploy", "e1"))
		wantHolder(t, s, "build", "Deploy", "e1")
		noErr(t, "release", s.ReleaseStage(ctx, "build", "Deploy", "e1"))
		wantHolder(t, s, "build", "Deploy", "")
		noErr(t, "release a free stage", s.ReleaseStage(ctx, "build", "Deploy", "e1"))
		noErr(t, "acquire after release", s.AcquireStage(ctx, "build", "Deploy", "e2"))
		wantHolder(t, s, "build", "Deploy", "e2")
	})

	t.Run("another execution cannot acquire or release a held stage", func(t *testing.T) {
		s := newStore(t)
		noErr(t, "acquire", s.AcquireStage(ctx, "build", "Deploy", "e1"))
		wantErr(t, "acquire by another", s.AcquireStage(ctx, "build", "Deploy", "e2"), core.ErrConflict)
		wantHolder(t, s, "build", "Deploy", "e1")
		noErr(t, "release by another", s.ReleaseStage(ctx, "build", "Deploy", "e2"))
		wantHolder(t, s, "build", "Deploy", "e1")
	})

	t.Run("stages and pipelines are locked apart", func(t *testing.T) {
		s := newStore(t)
		noErr(t, "acquire build/Deploy", s.AcquireStage(ctx, "build", "Deploy", "e1"))
		noErr(t, "acquire build/Test", s.AcquireStage(ctx, "build", "Test", "e2"))
		noErr(t, "acquire other/Deploy", s.AcquireStage(ctx, "other", "Deploy", "e3"))
		wantHolder(t, s, "build", "Deploy", "e1")
		wantHolder(t, s, "build", "Test", "e2")
		wantHolder(t, s, "other", "Deploy", "e3")
		noErr(t, "release", s.ReleaseStage(ctx, "build", "Deploy", "e1"))
		wantHolder(t, s, "build", "Test", "e2")
		wantHolder(t, s, "other", "Deploy", "e3")
	})

	t.Run("empty keys are invalid", func(t *testing.T) {
		s := newStore(t)
		for _, k := range [][3]string{{"", "Deploy", "e1"}, {"build", "", "e1"}, {"build", "Deploy", ""}} {
			wantErr(t, "acquire "+k[0]+"/"+k[1]+"/"+k[2], s.AcquireStage(ctx, k[0], k[1], k[2]), core.ErrInvalid)
		}
	})

	t.Run("concurrent acquires: exactly one holder", func(t *testing.T) {
		s := newStore(t)
		errs := race(50, func(i int) error { return s.AcquireStage(ctx, "build", "Deploy", id("e", i)) })
		w := exactlyOne(t, errs, core.ErrConflict)
		wantHolder(t, s, "build", "Deploy", id("e", w))
	})

	t.Run("concurrent acquires by the holder all succeed", func(t *testing.T) {
		s := newStore(t)
		errs := race(20, func(int) error { return s.AcquireStage(ctx, "build", "Deploy", "e1") })
		if won := winners(t, errs, core.ErrConflict); len(won) != len(errs) {
			t.Errorf("got %d successful re-acquires, want %d", len(won), len(errs))
		}
		wantHolder(t, s, "build", "Deploy", "e1")
	})
}
