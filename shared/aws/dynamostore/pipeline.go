package dynamostore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/relais-ci/relais/shared/core"
)

const pkPipelines = "PIPELINES"

// PutPipeline creates a pipeline (Version 0) or replaces the stored version; see
// core.PipelineStore.
func (s *Store) PutPipeline(ctx context.Context, p core.Pipeline) (core.Pipeline, error) {
	if err := need(p.Name); err != nil {
		return core.Pipeline{}, fmt.Errorf("put pipeline %s: %w", p.Name, err)
	}
	if p.Version < 0 {
		return core.Pipeline{}, fmt.Errorf("put pipeline %s: version %d: %w", p.Name, p.Version, core.ErrInvalid)
	}
	if len(p.Declaration) > 0 && !json.Valid(p.Declaration) {
		return core.Pipeline{}, fmt.Errorf("put pipeline %s: declaration is not JSON: %w", p.Name, core.ErrInvalid)
	}
	stored := p
	stored.Version = p.Version + 1
	item, err := encode(stored, itemKey(pkPipelines, p.Name))
	if err != nil {
		return core.Pipeline{}, fmt.Errorf("put pipeline %s: %w", p.Name, err)
	}
	if p.Version == 0 {
		err = s.put(ctx, item, "attribute_not_exists(#pk)", map[string]string{"#pk": attrPK}, nil)
	} else {
		err = s.put(ctx, item, "#v = :v", map[string]string{"#v": "version"},
			map[string]types.AttributeValue{":v": num(int64(p.Version))})
		if errors.Is(err, core.ErrConflict) {
			err = s.conflictOrMissing(ctx, pkPipelines, p.Name, err)
		}
	}
	if err != nil {
		return core.Pipeline{}, fmt.Errorf("put pipeline %s version %d: %w", p.Name, p.Version, err)
	}
	return stored, nil
}

// conflictOrMissing tells a lost condition on an existing item (conflict, err) from one
// on a missing item (ErrNotFound).
func (s *Store) conflictOrMissing(ctx context.Context, pk, sk string, conflict error) error {
	ok, err := s.exists(ctx, pk, sk)
	switch {
	case err != nil:
		return err
	case !ok:
		return core.ErrNotFound
	}
	return conflict
}

// GetPipeline returns a pipeline; see core.PipelineStore.
func (s *Store) GetPipeline(ctx context.Context, name string) (core.Pipeline, error) {
	var p core.Pipeline
	if err := s.get(ctx, pkPipelines, name, &p); err != nil {
		return core.Pipeline{}, fmt.Errorf("get pipeline %s: %w", name, err)
	}
	return p, nil
}

// ListPipelines returns every pipeline in name order; see core.PipelineStore.
func (s *Store) ListPipelines(ctx context.Context) ([]core.Pipeline, error) {
	items, err := s.queryPrefix(ctx, pkPipelines, "")
	if err != nil {
		return nil, fmt.Errorf("list pipelines: %w", err)
	}
	ps, err := decodeAll[core.Pipeline](items)
	if err != nil {
		return nil, fmt.Errorf("list pipelines: %w", err)
	}
	return ps, nil
}

// DeletePipeline removes a pipeline's record; see core.PipelineStore. Its executions
// and other records stay.
func (s *Store) DeletePipeline(ctx context.Context, name string) error {
	if name == "" {
		return nil
	}
	_, err := s.db.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: s.table, Key: itemKey(pkPipelines, name)})
	if err != nil {
		return fmt.Errorf("delete pipeline %s: %w", name, mapErr(err))
	}
	return nil
}
