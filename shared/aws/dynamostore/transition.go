package dynamostore

import (
	"context"
	"errors"
	"fmt"

	"github.com/relais-ci/relais/shared/core"
)

func transitionPK(pipeline string) string { return key("TRANSITION", pipeline) }

// PutTransition records a stage's inbound transition; see core.TransitionStore.
func (s *Store) PutTransition(ctx context.Context, t core.Transition) error {
	if err := need(t.PipelineName, t.StageName); err != nil {
		return fmt.Errorf("put transition %s/%s: %w", t.PipelineName, t.StageName, err)
	}
	item, err := encode(t, itemKey(transitionPK(t.PipelineName), t.StageName))
	if err == nil {
		err = s.put(ctx, item, "", nil, nil)
	}
	if err != nil {
		return fmt.Errorf("put transition %s/%s: %w", t.PipelineName, t.StageName, err)
	}
	return nil
}

// GetTransition returns a stage's transition, enabled when none is recorded; see
// core.TransitionStore.
func (s *Store) GetTransition(ctx context.Context, pipeline, stage string) (core.Transition, error) {
	var t core.Transition
	err := s.get(ctx, transitionPK(pipeline), stage, &t)
	if errors.Is(err, core.ErrNotFound) {
		return core.Transition{PipelineName: pipeline, StageName: stage, Enabled: true}, nil
	}
	if err != nil {
		return core.Transition{}, fmt.Errorf("get transition %s/%s: %w", pipeline, stage, err)
	}
	return t, nil
}

// ListTransitions returns a pipeline's recorded transitions; see core.TransitionStore.
func (s *Store) ListTransitions(ctx context.Context, pipeline string) ([]core.Transition, error) {
	items, err := s.queryPrefix(ctx, transitionPK(pipeline), "")
	if err == nil {
		var ts []core.Transition
		if ts, err = decodeAll[core.Transition](items); err == nil {
			return ts, nil
		}
	}
	return nil, fmt.Errorf("list transitions of %s: %w", pipeline, err)
}
