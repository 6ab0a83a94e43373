package sqlitestore

import (
	"context"
	"errors"
	"fmt"

	"github.com/relais-ci/relais/shared/core"
)

// PutTransition records a stage's inbound transition; see core.TransitionStore.
func (s *Store) PutTransition(ctx context.Context, t core.Transition) error {
	if err := need(t.PipelineName, t.StageName); err != nil {
		return fmt.Errorf("put transition %s/%s: %w", t.PipelineName, t.StageName, err)
	}
	data, err := encode(t)
	if err == nil {
		_, err = s.exec(ctx, `INSERT INTO transitions (pipeline, stage, data) VALUES (?, ?, ?)
			ON CONFLICT (pipeline, stage) DO UPDATE SET data = excluded.data`, t.PipelineName, t.StageName, data)
	}
	if err != nil {
		return fmt.Errorf("put transition %s/%s: %w", t.PipelineName, t.StageName, err)
	}
	return nil
}

// GetTransition returns a stage's inbound transition, enabled when never recorded; see
// core.TransitionStore.
func (s *Store) GetTransition(ctx context.Context, pipeline, stage string) (core.Transition, error) {
	var t core.Transition
	err := s.getJSON(ctx, &t, `SELECT data FROM transitions WHERE pipeline = ? AND stage = ?`, pipeline, stage)
	switch {
	case errors.Is(err, core.ErrNotFound):
		return core.Transition{PipelineName: pipeline, StageName: stage, Enabled: true}, nil
	case err != nil:
		return core.Transition{}, fmt.Errorf("get transition %s/%s: %w", pipeline, stage, err)
	}
	return t, nil
}

// ListTransitions returns the recorded transitions of a pipeline, by stage name.
func (s *Store) ListTransitions(ctx context.Context, pipeline string) ([]core.Transition, error) {
	ts, err := listJSON[core.Transition](ctx, s, `SELECT data FROM transitions WHERE pipeline = ? ORDER BY stage`, pipeline)
	if err != nil {
		return nil, fmt.Errorf("list transitions of %s: %w", pipeline, err)
	}
	return ts, nil
}
