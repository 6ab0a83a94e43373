package core

import (
	"context"
	"errors"
	"fmt"
)

// Operations composed from the store ports that every usecase needs the same way.

// UpdateExecution applies change to the stored execution and writes it back, starting
// over (up to 20 times) when another writer got there first. change returns false to
// write nothing; the execution as stored is returned either way.
func UpdateExecution(ctx context.Context, store ExecutionStore, pipeline, id string, change func(*Execution) bool) (Execution, error) {
	for range 20 {
		e, err := store.GetExecution(ctx, pipeline, id)
		if err != nil {
			return Execution{}, fmt.Errorf("update execution %s: %w", id, err)
		}
		if !change(&e) {
			return e, nil
		}
		e, err = store.UpdateExecution(ctx, e)
		if errors.Is(err, ErrConflict) {
			continue
		}
		if err != nil {
			return Execution{}, fmt.Errorf("update execution %s: %w", id, err)
		}
		return e, nil
	}
	return Execution{}, fmt.Errorf("update execution %s: too many concurrent writers: %w", id, ErrConflict)
}

// AllActions returns every matching action execution, newest first, reading all pages.
func AllActions(ctx context.Context, store ActionStore, f ActionFilter) ([]ActionExecution, error) {
	var all []ActionExecution
	page := Page{Limit: 100}
	for {
		as, next, err := store.ListActions(ctx, f, page)
		if err != nil {
			return nil, fmt.Errorf("list actions of execution %s: %w", f.ExecutionID, err)
		}
		all = append(all, as...)
		if next == "" {
			return all, nil
		}
		page.Token = next
	}
}

// FindStage returns an execution's record of one stage; ErrNotFound when the execution
// has not entered it.
func FindStage(ctx context.Context, store StageStore, pipeline, executionID, stage string) (StageExecution, error) {
	stages, err := store.ListStages(ctx, pipeline, executionID)
	if err != nil {
		return StageExecution{}, fmt.Errorf("list stages of execution %s: %w", executionID, err)
	}
	for _, st := range stages {
		if st.StageName == stage {
			return st, nil
		}
	}
	return StageExecution{}, fmt.Errorf("stage %s of execution %s: %w", stage, executionID, ErrNotFound)
}
