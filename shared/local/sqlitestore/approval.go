package sqlitestore

import (
	"context"
	"encoding/json"
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
	decidedAt, err := json.Marshal(d.DecidedAt)
	if err != nil {
		return fmt.Errorf("decide approval %s: %w", d.ID, err)
	}
	// One statement both checks that the approval is still Pending and records the
	// decision, so no other decision can slip in between. The JSON paths are the json
	// tags of core.Approval; the decide tests compare whole records, so a renamed tag
	// fails them.
	ok, err := s.changed(ctx, `UPDATE approvals SET status = ?,
			data = json_set(data, '$.status', ?, '$.decidedBy', ?, '$.comment', ?, '$.decidedAt', json(?))
		WHERE id = ? AND status = ?`,
		string(d.Status), string(d.Status), d.DecidedBy, d.Comment, string(decidedAt), d.ID, string(core.ApprovalPending))
	if err != nil {
		return fmt.Errorf("decide approval %s: %w", d.ID, err)
	}
	if ok {
		return nil
	}
	found, err := s.exists(ctx, `SELECT 1 FROM approvals WHERE id = ?`, d.ID)
	switch {
	case err != nil:
		return fmt.Errorf("decide approval %s: %w", d.ID, err)
	case !found:
		return fmt.Errorf("decide approval %s: %w", d.ID, core.ErrNotFound)
	}
	return fmt.Errorf("decide approval %s: decided already: %w", d.ID, core.ErrConflict)
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
	as, err := listJSON[core.Approval](ctx, s, query+` ORDER BY id`, args...)
	if err != nil {
		return nil, fmt.Errorf("list pending approvals of %s/%s: %w", pipeline, executionID, err)
	}
	return as, nil
}
