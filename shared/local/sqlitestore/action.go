package sqlitestore

import (
	"context"
	"fmt"
	"strings"

	"github.com/relais-ci/relais/shared/core"
)

// PutAction creates an action execution or moves it to a.Status when its stored status
// may (core.ActionStatus.CanBecome); see core.ActionStore.
func (s *Store) PutAction(ctx context.Context, a core.ActionExecution) error {
	if err := need(a.PipelineName, a.ID); err != nil {
		return fmt.Errorf("put action %s/%s: %w", a.PipelineName, a.ID, err)
	}
	if !a.Status.Valid() {
		return fmt.Errorf("put action %s/%s: status %q: %w", a.PipelineName, a.ID, a.Status, core.ErrInvalid)
	}
	data, err := encode(a)
	if err != nil {
		return fmt.Errorf("put action %s/%s: %w", a.PipelineName, a.ID, err)
	}
	// The WHERE of the upsert is CanBecome: only InProgress moves, and the same status
	// may be written again. With a valid new status nothing else can pass.
	ok, err := s.changed(ctx, `INSERT INTO actions
			(pipeline, id, execution, stage, action, status, external_id, start_time, data)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (pipeline, id) DO UPDATE SET
			execution = excluded.execution, stage = excluded.stage, action = excluded.action,
			status = excluded.status, external_id = excluded.external_id,
			start_time = excluded.start_time, data = excluded.data
		WHERE actions.status = ? OR actions.status = excluded.status`,
		a.PipelineName, a.ID, a.ExecutionID, a.StageName, a.ActionName, string(a.Status),
		a.ExternalExecutionID, timeKey(a.StartTime), data, string(core.ActionInProgress))
	switch {
	case err != nil:
		return fmt.Errorf("put action %s/%s: %w", a.PipelineName, a.ID, err)
	case !ok:
		return fmt.Errorf("put action %s/%s: an ended action cannot become %s: %w", a.PipelineName, a.ID, a.Status, core.ErrConflict)
	}
	return nil
}

// GetAction returns one action execution; see core.ActionStore.
func (s *Store) GetAction(ctx context.Context, pipeline, actionExecutionID string) (core.ActionExecution, error) {
	var a core.ActionExecution
	if err := s.getJSON(ctx, &a, `SELECT data FROM actions WHERE pipeline = ? AND id = ?`, pipeline, actionExecutionID); err != nil {
		return core.ActionExecution{}, fmt.Errorf("get action %s/%s: %w", pipeline, actionExecutionID, err)
	}
	return a, nil
}

// FindActionByExternalID returns the newest action execution with that external id;
// see core.ActionStore.
func (s *Store) FindActionByExternalID(ctx context.Context, externalID string) (core.ActionExecution, error) {
	var a core.ActionExecution
	err := s.getJSON(ctx, &a, `SELECT data FROM actions WHERE external_id = ? AND external_id <> ''
		ORDER BY start_time DESC, id DESC LIMIT 1`, externalID)
	if err != nil {
		return core.ActionExecution{}, fmt.Errorf("find action by external id %q: %w", externalID, err)
	}
	return a, nil
}

// ListActions returns the matching action executions, newest first; see
// core.ActionStore.
func (s *Store) ListActions(ctx context.Context, f core.ActionFilter, page core.Page) ([]core.ActionExecution, string, error) {
	if err := need(f.PipelineName); err != nil {
		return nil, "", fmt.Errorf("list actions: pipeline: %w", err)
	}
	// The token names the filter too: a position is only meaningful in its own list.
	list := strings.Join([]string{"actions", f.PipelineName, f.ExecutionID, f.StageName, f.ActionName}, "/")
	after, err := parseToken(page.Token, list)
	if err != nil {
		return nil, "", fmt.Errorf("list actions of %s: %w", f.PipelineName, err)
	}
	n := limit(page)
	query := `SELECT data FROM actions WHERE pipeline = ?`
	args := []any{f.PipelineName}
	for _, c := range []struct{ column, value string }{
		{"execution", f.ExecutionID}, {"stage", f.StageName}, {"action", f.ActionName},
	} {
		if c.value != "" {
			query += ` AND ` + c.column + ` = ?`
			args = append(args, c.value)
		}
	}
	if after.ID != "" {
		query += ` AND (start_time < ? OR (start_time = ? AND id < ?))`
		args = append(args, after.Start, after.Start, after.ID)
	}
	query += ` ORDER BY start_time DESC, id DESC LIMIT ?`
	as, err := listJSON[core.ActionExecution](ctx, s, query, append(args, n+1)...)
	if err != nil {
		return nil, "", fmt.Errorf("list actions of %s: %w", f.PipelineName, err)
	}
	if len(as) <= n {
		return as, "", nil
	}
	as = as[:n]
	last := as[n-1]
	return as, cursor{List: list, Start: timeKey(last.StartTime), ID: last.ID}.token(), nil
}
