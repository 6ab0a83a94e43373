package sqlitestore

import (
	"context"
	"fmt"

	"github.com/relais-ci/relais/shared/core"
)

// CreateApproval stores a pending approval; see core.ApprovalStore.
func (s *Store) CreateApproval(ctx context.Context, a core.Approval) error {
	if err := need(a.ID); err != nil {
		return fmt.Errorf("create approval: %w", err)
	}
	if a.Status != core.ApprovalPending {
		return fmt.Errorf("create approval %s: status %q, want %s: %w", a.ID, a.Status, core.ApprovalPending, core.ErrInvalid)
	}
	data, err := encode(a)
	if err != nil {
		return fmt.Errorf("create approval %s: %w", a.ID, err)
	}
	ok, err := s.changed(ctx, `INSERT INTO approvals (id, pipeline, execution, status, data) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (id) DO NOTHING`, a.ID, a.PipelineName, a.ExecutionID, string(a.Status), data)
	switch {
	case err != nil:
		return fmt.Errorf("create approval %s: %w", a.ID, err)
	case !ok:
		return fmt.Errorf("create approval %s: exists already: %w", a.ID, core.ErrConflict)
	}
	return nil
}

// GetApproval returns one approval; see core.ApprovalStore.
func (s *Store) GetApproval(ctx context.Context, id string) (core.Approval, error) {
	var a core.Approval
	if err := s.getJSON(ctx, &a, `SELECT data FROM approvals WHERE id = ?`, id); err != nil {
		return core.Approval{}, fmt.Errorf("get approval %s: %w", id, err)
	}
	return a, nil
}

// decisions are the statuses an approval may be decided to.
var decisions = map[core.ApprovalStatus]bool{
	core.ApprovalApproved: true, core.ApprovalRejected: true, core.ApprovalExpired: true, core.ApprovalSuperseded: true,
}

// DecideApproval moves a pending approval to its decision; of concurrent decisions
// exactly one wins. See core.ApprovalStore.
func (s *Store) DecideApproval(ctx context.Context, d core.Approval) error {
	if !decisions[d.Status] {
		return fmt.Errorf("decide approval %s: %q is not a decision: %w", d.ID, d.Status, core.ErrInvalid)
	}
	a, err := s.GetApproval(ctx, d.ID)
	if err != nil {
		return fmt.Errorf("decide approval %s: %w", d.ID, err)
	}
	if a.Status != core.ApprovalPending {
		return fmt.Errorf("decide approval %s: already %s: %w", d.ID, a.Status, core.ErrConflict)
	}
	a.Status, a.DecidedBy, a.Comment, a.DecidedAt = d.Status, d.DecidedBy, d.Comment, d.DecidedAt
	data, err := encode(a)
	if err != nil {
		return fmt.Errorf("decide approval %s: %w", d.ID, err)
	}
	// Only the status changes after creation, and only away from Pending, so "still
	// Pending" proves that the record read above is the one being replaced.
	ok, err := s.changed(ctx, `UPDATE approvals SET status = ?, data = ? WHERE id = ? AND status = ?`,
		string(a.Status), data, a.ID, string(core.ApprovalPending))
	switch {
	case err != nil:
		return fmt.Errorf("decide approval %s: %w", d.ID, err)
	case !ok:
		return fmt.Errorf("decide approval %s: decided meanwhile: %w", d.ID, core.ErrConflict)
	}
	return nil
}

// PendingApprovals returns the pending approvals of an execution, or of the pipeline for
// ""; see core.ApprovalStore.
func (s *Store) PendingApprovals(ctx context.Context, pipeline, executionID string) ([]core.Approval, error) {
	query := `SELECT data FROM approvals WHERE status = 'Pending' AND pipeline = ?`
	args := []any{pipeline}
	if executionID != "" {
		query += ` AND execution = ?`
		args = append(args, executionID)
	}
	as, err := listJSON[core.Approval](ctx, s.db, query+` ORDER BY id`, args...)
	if err != nil {
		return nil, fmt.Errorf("list pending approvals of %s/%s: %w", pipeline, executionID, err)
	}
	return as, nil
}
