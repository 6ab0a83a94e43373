package sqlitestore

import (
	"context"
	"fmt"

	"github.com/relais-ci/relais/shared/core"
)

// CreateExecution stores a new execution at revision 1; see core.ExecutionStore.
func (s *Store) CreateExecution(ctx context.Context, e core.Execution) (core.Execution, error) {
	if err := need(e.PipelineName, e.ID); err != nil {
		return core.Execution{}, fmt.Errorf("create execution %s/%s: %w", e.PipelineName, e.ID, err)
	}
	e.Revision = 1
	data, err := encode(e)
	if err != nil {
		return core.Execution{}, fmt.Errorf("create execution %s/%s: %w", e.PipelineName, e.ID, err)
	}
	ok, err := s.changed(ctx, `INSERT INTO executions (pipeline, id, status, start_time, revision, data)
		VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (pipeline, id) DO NOTHING`,
		e.PipelineName, e.ID, string(e.Status), timeKey(e.StartTime), e.Revision, data)
	switch {
	case err != nil:
		return core.Execution{}, fmt.Errorf("create execution %s/%s: %w", e.PipelineName, e.ID, err)
	case !ok:
		return core.Execution{}, fmt.Errorf("create execution %s/%s: exists already: %w", e.PipelineName, e.ID, core.ErrConflict)
	}
	return e, nil
}

// GetExecution returns one execution; see core.ExecutionStore.
func (s *Store) GetExecution(ctx context.Context, pipeline, id string) (core.Execution, error) {
	var e core.Execution
	if err := s.getJSON(ctx, &e, `SELECT data FROM executions WHERE pipeline = ? AND id = ?`, pipeline, id); err != nil {
		return core.Execution{}, fmt.Errorf("get execution %s/%s: %w", pipeline, id, err)
	}
	return e, nil
}

// UpdateExecution writes e if its revision is the stored one; see core.ExecutionStore.
func (s *Store) UpdateExecution(ctx context.Context, e core.Execution) (core.Execution, error) {
	if err := need(e.PipelineName, e.ID); err != nil {
		return core.Execution{}, fmt.Errorf("update execution %s/%s: %w", e.PipelineName, e.ID, err)
	}
	expected := e.Revision
	e.Revision++
	data, err := encode(e)
	if err != nil {
		return core.Execution{}, fmt.Errorf("update execution %s/%s: %w", e.PipelineName, e.ID, err)
	}
	ok, err := s.changed(ctx, `UPDATE executions SET status = ?, start_time = ?, revision = ?, data = ?
		WHERE pipeline = ? AND id = ? AND revision = ?`,
		string(e.Status), timeKey(e.StartTime), e.Revision, data, e.PipelineName, e.ID, expected)
	if err != nil {
		return core.Execution{}, fmt.Errorf("update execution %s/%s: %w", e.PipelineName, e.ID, err)
	}
	if ok {
		return e, nil
	}
	found, err := s.exists(ctx, `SELECT 1 FROM executions WHERE pipeline = ? AND id = ?`, e.PipelineName, e.ID)
	switch {
	case err != nil:
		return core.Execution{}, fmt.Errorf("update execution %s/%s: %w", e.PipelineName, e.ID, err)
	case !found:
		return core.Execution{}, fmt.Errorf("update execution %s/%s: %w", e.PipelineName, e.ID, core.ErrNotFound)
	}
	return core.Execution{}, fmt.Errorf("update execution %s/%s: revision %d is not the stored one: %w",
		e.PipelineName, e.ID, expected, core.ErrConflict)
}

// ListExecutions returns a pipeline's executions, newest first; see core.ExecutionStore.
func (s *Store) ListExecutions(ctx context.Context, pipeline string, page core.Page) ([]core.Execution, string, error) {
	list := "executions/" + pipeline
	after, err := parseToken(page.Token, list)
	if err != nil {
		return nil, "", fmt.Errorf("list executions of %s: %w", pipeline, err)
	}
	n := limit(page)
	query := `SELECT data FROM executions WHERE pipeline = ?`
	args := []any{pipeline}
	if after.ID != "" {
		query += ` AND (start_time < ? OR (start_time = ? AND id < ?))`
		args = append(args, after.Start, after.Start, after.ID)
	}
	query += ` ORDER BY start_time DESC, id DESC LIMIT ?`
	// One more than the page holds tells whether another page follows.
	es, err := listJSON[core.Execution](ctx, s, query, append(args, n+1)...)
	if err != nil {
		return nil, "", fmt.Errorf("list executions of %s: %w", pipeline, err)
	}
	if len(es) <= n {
		return es, "", nil
	}
	es = es[:n]
	last := es[n-1]
	return es, cursor{List: list, Start: timeKey(last.StartTime), ID: last.ID}.token(), nil
}
