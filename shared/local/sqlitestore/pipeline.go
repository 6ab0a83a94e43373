package sqlitestore

import (
	"context"
	"fmt"

	"github.com/relais-ci/relais/shared/core"
)

// PutPipeline creates or replaces a pipeline; see core.PipelineStore.
func (s *Store) PutPipeline(ctx context.Context, p core.Pipeline) (core.Pipeline, error) {
	if err := need(p.Name); err != nil {
		return core.Pipeline{}, fmt.Errorf("put pipeline: %w", err)
	}
	if p.Version < 0 {
		return core.Pipeline{}, fmt.Errorf("put pipeline %s: version %d: %w", p.Name, p.Version, core.ErrInvalid)
	}
	expected := p.Version
	p.Version++
	data, err := encode(p)
	if err != nil {
		return core.Pipeline{}, fmt.Errorf("put pipeline %s: %w", p.Name, err)
	}
	var ok bool
	if expected == 0 {
		ok, err = s.changed(ctx, `INSERT INTO pipelines (name, version, data) VALUES (?, ?, ?)
			ON CONFLICT (name) DO NOTHING`, p.Name, p.Version, data)
	} else {
		ok, err = s.changed(ctx, `UPDATE pipelines SET version = ?, data = ? WHERE name = ? AND version = ?`,
			p.Version, data, p.Name, expected)
	}
	if err != nil {
		return core.Pipeline{}, fmt.Errorf("put pipeline %s: %w", p.Name, err)
	}
	if ok {
		return p, nil
	}
	if expected == 0 {
		return core.Pipeline{}, fmt.Errorf("create pipeline %s: exists already: %w", p.Name, core.ErrConflict)
	}
	found, err := s.exists(ctx, `SELECT 1 FROM pipelines WHERE name = ?`, p.Name)
	switch {
	case err != nil:
		return core.Pipeline{}, fmt.Errorf("update pipeline %s: %w", p.Name, err)
	case !found:
		return core.Pipeline{}, fmt.Errorf("update pipeline %s: %w", p.Name, core.ErrNotFound)
	}
	return core.Pipeline{}, fmt.Errorf("update pipeline %s: version %d is not the stored one: %w", p.Name, expected, core.ErrConflict)
}

// GetPipeline returns a pipeline; see core.PipelineStore.
func (s *Store) GetPipeline(ctx context.Context, name string) (core.Pipeline, error) {
	var p core.Pipeline
	if err := s.getJSON(ctx, &p, `SELECT data FROM pipelines WHERE name = ?`, name); err != nil {
		return core.Pipeline{}, fmt.Errorf("get pipeline %s: %w", name, err)
	}
	return p, nil
}

// ListPipelines returns every pipeline in name order.
func (s *Store) ListPipelines(ctx context.Context) ([]core.Pipeline, error) {
	ps, err := listJSON[core.Pipeline](ctx, s, `SELECT data FROM pipelines ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("list pipelines: %w", err)
	}
	return ps, nil
}

// DeletePipeline removes a pipeline; see core.PipelineStore. Its executions and other
// records stay: they are history, and an execution may still be finishing.
func (s *Store) DeletePipeline(ctx context.Context, name string) error {
	if _, err := s.exec(ctx, `DELETE FROM pipelines WHERE name = ?`, name); err != nil {
		return fmt.Errorf("delete pipeline %s: %w", name, err)
	}
	return nil
}
