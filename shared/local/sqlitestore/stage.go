package sqlitestore

import (
	"context"
	"fmt"

	"github.com/relais-ci/relais/shared/core"
)

// PutStage creates or replaces the state of one stage of one execution, last writer
// wins; see core.StageStore.
func (s *Store) PutStage(ctx context.Context, st core.StageExecution) error {
	if err := need(st.PipelineName, st.ExecutionID, st.StageName); err != nil {
		return fmt.Errorf("put stage %s/%s/%s: %w", st.PipelineName, st.ExecutionID, st.StageName, err)
	}
	data, err := encode(st)
	if err == nil {
		_, err = s.exec(ctx, `INSERT INTO stages (pipeline, execution, stage, status, start_time, data)
			VALUES (?, ?, ?, ?, ?, ?)
			ON CONFLICT (pipeline, execution, stage) DO UPDATE SET
				status = excluded.status, start_time = excluded.start_time, data = excluded.data`,
			st.PipelineName, st.ExecutionID, st.StageName, string(st.Status), timeKey(st.StartTime), data)
	}
	if err != nil {
		return fmt.Errorf("put stage %s/%s/%s: %w", st.PipelineName, st.ExecutionID, st.StageName, err)
	}
	return nil
}

// ListStages returns the stages an execution has entered; see core.StageStore.
func (s *Store) ListStages(ctx context.Context, pipeline, executionID string) ([]core.StageExecution, error) {
	st, err := listJSON[core.StageExecution](ctx, s,
		`SELECT data FROM stages WHERE pipeline = ? AND execution = ?`, pipeline, executionID)
	if err != nil {
		return nil, fmt.Errorf("list stages of %s/%s: %w", pipeline, executionID, err)
	}
	return st, nil
}

// LatestStages returns, per stage, the state of the execution that entered it last; see
// core.StageStore.
func (s *Store) LatestStages(ctx context.Context, pipeline string) ([]core.StageExecution, error) {
	st, err := listJSON[core.StageExecution](ctx, s, `SELECT data FROM (
			SELECT data, ROW_NUMBER() OVER (
				PARTITION BY stage ORDER BY start_time DESC, execution DESC) AS n
			FROM stages WHERE pipeline = ?)
		WHERE n = 1`, pipeline)
	if err != nil {
		return nil, fmt.Errorf("list latest stages of %s: %w", pipeline, err)
	}
	return st, nil
}
