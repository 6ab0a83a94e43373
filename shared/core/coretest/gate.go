package coretest

import (
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/relais-ci/relais/shared/core"
)

// GateQueue checks the promises of core.GateQueue. newStore returns an empty store; it
// is called once per subtest.
func GateQueue(t *testing.T, newStore func(t *testing.T) core.GateQueue) {
	ctx := t.Context()
	waiter := func(pipeline, stage, execution string, arrived time.Time) core.Waiter {
		return core.Waiter{
			PipelineName: pipeline, StageName: stage, ExecutionID: execution,
			TaskToken: "token-" + execution, ArrivedAt: arrived,
		}
	}
	enqueue := func(t *testing.T, s core.GateQueue, w core.Waiter) core.Waiter {
		t.Helper()
		got, err := s.Enqueue(ctx, w)
		noErr(t, "enqueue "+w.ExecutionID, err)
		return got
	}
	waiters := func(t *testing.T, s core.GateQueue, pipeline, stage string) []core.Waiter {
		t.Helper()
		got, err := s.Waiters(ctx, pipeline, stage)
		noErr(t, "waiters", err)
		return got
	}

	t.Run("enqueue assigns growing seqs and returns the waiter", func(t *testing.T) {
		s := newStore(t)
		var last int64
		for i := range 3 {
			in := waiter("build", "Deploy", id("e", i), at(0))
			in.Seq = 99 // stores assign Seq
			got := enqueue(t, s, in)
			if got.Seq <= last {
				t.Errorf("waiter %d: got seq %d, want more than %d", i, got.Seq, last)
			}
			last = got.Seq
			in.Seq = got.Seq
			if diff := cmp.Diff(in, got); diff != "" {
				t.Errorf("Enqueue returned (-want +got):\n%s", diff)
			}
		}
	})

	t.Run("waiters are in arrival order, then seq", func(t *testing.T) {
		s := newStore(t)
		w1 := enqueue(t, s, waiter("build", "Deploy", "e1", at(2)))
		w2 := enqueue(t, s, waiter("build", "Deploy", "e2", at(1)))
		w3 := enqueue(t, s, waiter("build", "Deploy", "e3", at(2)))
		w4 := enqueue(t, s, waiter("build", "Deploy", "e4", at(2)))
		w5 := enqueue(t, s, waiter("build", "Deploy", "e5", at(0)))
		enqueue(t, s, waiter("build", "Test", "e6", at(0)))
		enqueue(t, s, waiter("other", "Deploy", "e7", at(0)))
		want := []core.Waiter{w5, w2, w1, w3, w4}
		if diff := cmp.Diff(want, waiters(t, s, "build", "Deploy")); diff != "" {
			t.Errorf("Waiters (-want +got):\n%s", diff)
		}
	})

	t.Run("enqueue again replaces the token and keeps the place", func(t *testing.T) {
		s := newStore(t)
		w1 := enqueue(t, s, waiter("build", "Deploy", "e1", at(0)))
		w2 := enqueue(t, s, waiter("build", "Deploy", "e2", at(1)))
		again := waiter("build", "Deploy", "e1", at(5))
		again.TaskToken = "token-e1-second"
		got := enqueue(t, s, again)
		want := w1
		want.TaskToken = "token-e1-second"
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("Enqueue again returned (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff([]core.Waiter{want, w2}, waiters(t, s, "build", "Deploy")); diff != "" {
			t.Errorf("Waiters (-want +got):\n%s", diff)
		}
	})

	t.Run("dequeue removes once", func(t *testing.T) {
		s := newStore(t)
		w1 := enqueue(t, s, waiter("build", "Deploy", "e1", at(0)))
		w2 := enqueue(t, s, waiter("build", "Deploy", "e2", at(1)))
		got, err := s.Dequeue(ctx, "build", "Deploy", "e1")
		noErr(t, "dequeue", err)
		if diff := cmp.Diff(w1, got); diff != "" {
			t.Errorf("Dequeue returned (-want +got):\n%s", diff)
		}
		_, err = s.Dequeue(ctx, "build", "Deploy", "e1")
		wantErr(t, "dequeue again", err, core.ErrNotFound)
		if diff := cmp.Diff([]core.Waiter{w2}, waiters(t, s, "build", "Deploy")); diff != "" {
			t.Errorf("Waiters (-want +got):\n%s", diff)
		}
	})

	t.Run("dequeue of a waiter elsewhere is not found", func(t *testing.T) {
		s := newStore(t)
		enqueue(t, s, waiter("build", "Deploy", "e1", at(0)))
		for _, k := range [][3]string{{"build", "Test", "e1"}, {"other", "Deploy", "e1"}, {"build", "Deploy", "e2"}} {
			_, err := s.Dequeue(ctx, k[0], k[1], k[2])
			wantErr(t, "dequeue "+k[0]+"/"+k[1]+"/"+k[2], err, core.ErrNotFound)
		}
		if got := waiters(t, s, "build", "Deploy"); len(got) != 1 {
			t.Errorf("got %d waiters, want 1", len(got))
		}
	})

	t.Run("a stage without waiters has none", func(t *testing.T) {
		s := newStore(t)
		if got := waiters(t, s, "build", "Deploy"); len(got) != 0 {
			t.Errorf("got %d waiters, want 0", len(got))
		}
	})

	t.Run("a dequeued execution enqueued again goes last", func(t *testing.T) {
		s := newStore(t)
		enqueue(t, s, waiter("build", "Deploy", "e1", at(0)))
		w2 := enqueue(t, s, waiter("build", "Deploy", "e2", at(0)))
		_, err := s.Dequeue(ctx, "build", "Deploy", "e1")
		noErr(t, "dequeue", err)
		w1 := enqueue(t, s, waiter("build", "Deploy", "e1", at(0)))
		if diff := cmp.Diff([]core.Waiter{w2, w1}, waiters(t, s, "build", "Deploy")); diff != "" {
			t.Errorf("Waiters (-want +got):\n%s", diff)
		}
		// Seq grows even when the newest waiter left: a number is never given twice.
		_, err = s.Dequeue(ctx, "build", "Deploy", "e1")
		noErr(t, "dequeue the newest", err)
		w3 := enqueue(t, s, waiter("build", "Deploy", "e3", at(0)))
		if w3.Seq <= w1.Seq {
			t.Errorf("enqueue after the newest left: got seq %d, want more than %d", w3.Seq, w1.Seq)
		}
	})

	t.Run("empty keys are invalid", func(t *testing.T) {
		s := newStore(t)
		for _, w := range []core.Waiter{
			waiter("", "Deploy", "e1", at(0)), waiter("build", "", "e1", at(0)), waiter("build", "Deploy", "", at(0)),
		} {
			_, err := s.Enqueue(ctx, w)
			wantErr(t, fmt.Sprintf("enqueue %q/%q/%q", w.PipelineName, w.StageName, w.ExecutionID), err, core.ErrInvalid)
		}
	})

	t.Run("concurrent dequeues of one waiter: exactly one wins", func(t *testing.T) {
		s := newStore(t)
		w := enqueue(t, s, waiter("build", "Deploy", "e1", at(0)))
		got := make([]core.Waiter, 20)
		errs := race(20, func(i int) (err error) {
			got[i], err = s.Dequeue(ctx, "build", "Deploy", "e1")
			return err
		})
		i := exactlyOne(t, errs, core.ErrNotFound)
		if diff := cmp.Diff(w, got[i]); diff != "" {
			t.Errorf("winning Dequeue returned (-want +got):\n%s", diff)
		}
	})

	t.Run("concurrent enqueues all get a place", func(t *testing.T) {
		s := newStore(t)
		errs := race(20, func(i int) error {
			_, err := s.Enqueue(ctx, waiter("build", "Deploy", id("e", i), at(0)))
			return err
		})
		if won := winners(t, errs, core.ErrConflict); len(won) != len(errs) {
			t.Fatalf("got %d successful enqueues, want %d", len(won), len(errs))
		}
		got := waiters(t, s, "build", "Deploy")
		seen := map[int64]bool{}
		for _, w := range got {
			if seen[w.Seq] {
				t.Errorf("seq %d given twice", w.Seq)
			}
			seen[w.Seq] = true
		}
		if len(got) != len(errs) {
			t.Errorf("got %d waiters, want %d", len(got), len(errs))
		}
	})
}
