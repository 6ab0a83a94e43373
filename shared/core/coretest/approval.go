package coretest

import (
	"cmp"
	"fmt"
	"slices"
	"testing"

	gocmp "github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/relais-ci/relais/shared/core"
)

// ApprovalStore checks the promises of core.ApprovalStore. newStore returns an empty
// store; it is called once per subtest.
func ApprovalStore(t *testing.T, newStore func(t *testing.T) core.ApprovalStore) {
	ctx := t.Context()
	approval := func(id, pipeline, execution string) core.Approval {
		return core.Approval{
			ID: id, PipelineName: pipeline, ExecutionID: execution, StageName: "Approve",
			ActionName: "Manual", ActionExecutionID: "act-" + id, Status: core.ApprovalPending,
			TaskToken: "token-" + id, CustomData: "please look", ExternalEntityLink: "https://example.com",
			Revision:    &core.SourceRevision{ActionName: "Source", RevisionID: "9f1c2d"},
			RequestedAt: at(0), ExpiresAt: at(7 * 24 * 60),
		}
	}
	decision := func(id string, status core.ApprovalStatus, by string) core.Approval {
		return core.Approval{ID: id, Status: status, DecidedBy: by, Comment: "by " + by, DecidedAt: at(30)}
	}
	create := func(t *testing.T, s core.ApprovalStore, as ...core.Approval) {
		t.Helper()
		for _, a := range as {
			noErr(t, "create approval "+a.ID, s.CreateApproval(ctx, a))
		}
	}
	mustGet := func(t *testing.T, s core.ApprovalStore, id string) core.Approval {
		t.Helper()
		got, err := s.GetApproval(ctx, id)
		noErr(t, "get approval "+id, err)
		return got
	}
	// decided returns a as DecideApproval with d must leave it.
	decided := func(a, d core.Approval) core.Approval {
		a.Status, a.DecidedBy, a.Comment, a.DecidedAt = d.Status, d.DecidedBy, d.Comment, d.DecidedAt
		return a
	}

	t.Run("create then get", func(t *testing.T) {
		s := newStore(t)
		a := approval("ap1", "build", "e1")
		create(t, s, a)
		if diff := gocmp.Diff(a, mustGet(t, s, "ap1")); diff != "" {
			t.Errorf("GetApproval (-want +got):\n%s", diff)
		}
		_, err := s.GetApproval(ctx, "ap2")
		wantErr(t, "get missing", err, core.ErrNotFound)
	})

	t.Run("create of an existing id conflicts and changes nothing", func(t *testing.T) {
		s := newStore(t)
		a := approval("ap1", "build", "e1")
		create(t, s, a)
		wantErr(t, "create again", s.CreateApproval(ctx, approval("ap1", "build", "e2")), core.ErrConflict)
		if diff := gocmp.Diff(a, mustGet(t, s, "ap1")); diff != "" {
			t.Errorf("stored approval (-want +got):\n%s", diff)
		}
	})

	t.Run("create needs a pending approval with an id", func(t *testing.T) {
		s := newStore(t)
		for _, st := range []core.ApprovalStatus{"", core.ApprovalApproved, core.ApprovalExpired} {
			a := approval("ap1", "build", "e1")
			a.Status = st
			wantErr(t, fmt.Sprintf("create with status %q", st), s.CreateApproval(ctx, a), core.ErrInvalid)
		}
		wantErr(t, "create without id", s.CreateApproval(ctx, approval("", "build", "e1")), core.ErrInvalid)
		_, err := s.GetApproval(ctx, "ap1")
		wantErr(t, "get after refused creates", err, core.ErrNotFound)
	})

	t.Run("decide records the decision and nothing else", func(t *testing.T) {
		for _, st := range []core.ApprovalStatus{core.ApprovalApproved, core.ApprovalRejected, core.ApprovalExpired, core.ApprovalSuperseded} {
			t.Run(string(st), func(t *testing.T) {
				s := newStore(t)
				a := approval("ap1", "build", "e1")
				create(t, s, a)
				d := decision("ap1", st, "ann")
				d.TaskToken, d.PipelineName, d.ExpiresAt = "forged", "elsewhere", at(1) // ignored
				noErr(t, "decide", s.DecideApproval(ctx, d))
				if diff := gocmp.Diff(decided(a, d), mustGet(t, s, "ap1")); diff != "" {
					t.Errorf("stored approval (-want +got):\n%s", diff)
				}
			})
		}
	})

	t.Run("a second decision conflicts and changes nothing", func(t *testing.T) {
		s := newStore(t)
		a := approval("ap1", "build", "e1")
		create(t, s, a)
		first := decision("ap1", core.ApprovalRejected, "ann")
		noErr(t, "decide", s.DecideApproval(ctx, first))
		for _, st := range []core.ApprovalStatus{core.ApprovalApproved, core.ApprovalRejected} {
			wantErr(t, "decide again", s.DecideApproval(ctx, decision("ap1", st, "bob")), core.ErrConflict)
		}
		if diff := gocmp.Diff(decided(a, first), mustGet(t, s, "ap1")); diff != "" {
			t.Errorf("stored approval (-want +got):\n%s", diff)
		}
	})

	t.Run("decide of a missing approval is not found", func(t *testing.T) {
		s := newStore(t)
		wantErr(t, "decide", s.DecideApproval(ctx, decision("ap1", core.ApprovalApproved, "ann")), core.ErrNotFound)
		_, err := s.GetApproval(ctx, "ap1")
		wantErr(t, "get after decide", err, core.ErrNotFound)
	})

	t.Run("a decision must be a decided status", func(t *testing.T) {
		s := newStore(t)
		a := approval("ap1", "build", "e1")
		create(t, s, a)
		for _, st := range []core.ApprovalStatus{core.ApprovalPending, "", "Maybe"} {
			err := s.DecideApproval(ctx, decision("ap1", st, "ann"))
			wantErr(t, fmt.Sprintf("decide %q", st), err, core.ErrInvalid)
		}
		if diff := gocmp.Diff(a, mustGet(t, s, "ap1")); diff != "" {
			t.Errorf("stored approval (-want +got):\n%s", diff)
		}
	})

	t.Run("pending approvals of an execution or a pipeline", func(t *testing.T) {
		s := newStore(t)
		a1, a2, a3 := approval("ap1", "build", "e1"), approval("ap2", "build", "e1"), approval("ap3", "build", "e2")
		a4, a5 := approval("ap4", "build", "e2"), approval("ap5", "other", "e1")
		a3.ExpiresAt = at(-1) // expired but undecided: still pending
		create(t, s, a1, a2, a3, a4, a5)
		noErr(t, "decide", s.DecideApproval(ctx, decision("ap2", core.ApprovalApproved, "ann")))
		noErr(t, "decide", s.DecideApproval(ctx, decision("ap4", core.ApprovalExpired, "relais")))
		for _, tt := range []struct {
			pipeline, execution string
			want                []core.Approval
		}{
			{"build", "e1", []core.Approval{a1}},
			{"build", "e2", []core.Approval{a3}},
			{"build", "", []core.Approval{a1, a3}},
			{"other", "", []core.Approval{a5}},
			{"build", "e9", nil},
			{"nope", "", nil},
		} {
			t.Run(tt.pipeline+"/"+tt.execution, func(t *testing.T) {
				got, err := s.PendingApprovals(ctx, tt.pipeline, tt.execution)
				noErr(t, "pending", err)
				slices.SortFunc(got, func(x, y core.Approval) int { return cmp.Compare(x.ID, y.ID) })
				if diff := gocmp.Diff(tt.want, got, cmpopts.EquateEmpty()); diff != "" {
					t.Errorf("PendingApprovals (-want +got):\n%s", diff)
				}
			})
		}
	})

	t.Run("concurrent decisions: exactly one wins", func(t *testing.T) {
		s := newStore(t)
		a := approval("ap1", "build", "e1")
		create(t, s, a)
		statuses := []core.ApprovalStatus{core.ApprovalApproved, core.ApprovalRejected}
		ds := make([]core.Approval, 20)
		for i := range ds {
			ds[i] = decision("ap1", statuses[i%2], id("user", i))
		}
		errs := race(len(ds), func(i int) error { return s.DecideApproval(ctx, ds[i]) })
		w := exactlyOne(t, errs, core.ErrConflict)
		if diff := gocmp.Diff(decided(a, ds[w]), mustGet(t, s, "ap1")); diff != "" {
			t.Errorf("stored approval is not the winner's decision (-want +got):\n%s", diff)
		}
	})
}
