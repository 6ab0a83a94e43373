package sqlitestore

import (
	"context"
	"fmt"

	"github.com/relais-ci/relais/shared/core"
)

// AcquireStage makes executionID the holder of a free stage, or confirms it holds it;
// see core.StageLocks.
func (s *Store) AcquireStage(ctx context.Context, pipeline, stage, executionID string) error {
	if err := need(pipeline, stage, executionID); err != nil {
		return fmt.Errorf("acquire stage %s/%s for %s: %w", pipeline, stage, executionID, err)
	}
	// The no-op update when the holder asks again makes the statement change a row, so
	// "no row changed" means exactly "someone else holds it".
	ok, err := s.changed(ctx, `INSERT INTO stage_locks (pipeline, stage, execution) VALUES (?, ?, ?)
		ON CONFLICT (pipeline, stage) DO UPDATE SET execution = excluded.execution
		WHERE stage_locks.execution = excluded.execution`, pipeline, stage, executionID)
	switch {
	case err != nil:
		return fmt.Errorf("acquire stage %s/%s for %s: %w", pipeline, stage, executionID, err)
	case !ok:
		return fmt.Errorf("acquire stage %s/%s for %s: held by another execution: %w", pipeline, stage, executionID, core.ErrConflict)
	}
	return nil
}

// ReleaseStage frees the stage if executionID holds it; see core.StageLocks.
func (s *Store) ReleaseStage(ctx context.Context, pipeline, stage, executionID string) error {
	if _, err := s.exec(ctx, `DELETE FROM stage_locks WHERE pipeline = ? AND stage = ? AND execution = ?`,
		pipeline, stage, executionID); err != nil {
		return fmt.Errorf("release stage %s/%s for %s: %w", pipeline, stage, executionID, err)
	}
	return nil
}

// StageHolder returns the execution holding the stage; see core.StageLocks.
func (s *Store) StageHolder(ctx context.Context, pipeline, stage string) (string, error) {
	var holder string
	err := s.queryRow(ctx, `SELECT execution FROM stage_locks WHERE pipeline = ? AND stage = ?`,
		[]any{pipeline, stage}, &holder)
	if err != nil {
		return "", fmt.Errorf("get holder of stage %s/%s: %w", pipeline, stage, err)
	}
	return holder, nil
}

// Enqueue adds a waiter at a stage's gate, or replaces the token of one already there;
// see core.GateQueue.
func (s *Store) Enqueue(ctx context.Context, w core.Waiter) (core.Waiter, error) {
	if err := need(w.PipelineName, w.StageName, w.ExecutionID); err != nil {
		return core.Waiter{}, fmt.Errorf("enqueue %s at %s/%s: %w", w.ExecutionID, w.PipelineName, w.StageName, err)
	}
	var arrived string
	err := s.writeRow(ctx, `INSERT INTO waiters (pipeline, stage, execution, token, arrived_at)
		VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (pipeline, stage, execution) DO UPDATE SET token = excluded.token
		RETURNING seq, arrived_at`,
		[]any{w.PipelineName, w.StageName, w.ExecutionID, w.TaskToken, timeKey(w.ArrivedAt)},
		&w.Seq, &arrived)
	if err == nil {
		w.ArrivedAt, err = parseTimeKey(arrived)
	}
	if err != nil {
		return core.Waiter{}, fmt.Errorf("enqueue %s at %s/%s: %w", w.ExecutionID, w.PipelineName, w.StageName, err)
	}
	return w, nil
}

// Waiters returns a stage's waiters in arrival order; see core.GateQueue.
func (s *Store) Waiters(ctx context.Context, pipeline, stage string) ([]core.Waiter, error) {
	st, err := s.stmt(ctx, `SELECT execution, token, arrived_at, seq FROM waiters
		WHERE pipeline = ? AND stage = ? ORDER BY arrived_at, seq`)
	if err != nil {
		return nil, fmt.Errorf("list waiters at %s/%s: %w", pipeline, stage, err)
	}
	rows, err := st.QueryContext(ctx, pipeline, stage)
	if err != nil {
		return nil, fmt.Errorf("list waiters at %s/%s: %w", pipeline, stage, mapErr(err))
	}
	defer rows.Close()
	var ws []core.Waiter
	for rows.Next() {
		w := core.Waiter{PipelineName: pipeline, StageName: stage}
		var arrived string
		err := rows.Scan(&w.ExecutionID, &w.TaskToken, &arrived, &w.Seq)
		if err == nil {
			w.ArrivedAt, err = parseTimeKey(arrived)
		}
		if err != nil {
			return nil, fmt.Errorf("list waiters at %s/%s: %w", pipeline, stage, err)
		}
		ws = append(ws, w)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list waiters at %s/%s: %w", pipeline, stage, mapErr(err))
	}
	return ws, nil
}

// Dequeue removes a waiter and returns it; of concurrent calls for one waiter only one
// finds it. See core.GateQueue.
func (s *Store) Dequeue(ctx context.Context, pipeline, stage, executionID string) (core.Waiter, error) {
	w := core.Waiter{PipelineName: pipeline, StageName: stage, ExecutionID: executionID}
	var arrived string
	err := s.writeRow(ctx, `DELETE FROM waiters WHERE pipeline = ? AND stage = ? AND execution = ?
		RETURNING token, arrived_at, seq`, []any{pipeline, stage, executionID}, &w.TaskToken, &arrived, &w.Seq)
	if err == nil {
		w.ArrivedAt, err = parseTimeKey(arrived)
	}
	if err != nil {
		return core.Waiter{}, fmt.Errorf("dequeue %s at %s/%s: %w", executionID, pipeline, stage, err)
	}
	return w, nil
}
