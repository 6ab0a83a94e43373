package dynamostore

import (
	"context"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/relais-ci/relais/shared/core"
)

func stagePK(pipeline string) string { return key("STAGE", pipeline) }

const (
	stagePrefix  = "E#"
	latestPrefix = "L#"
	attrLatest   = "latestKey"
)

// PutStage writes an execution's stage, then the stage's latest copy unless a later
// execution entered the stage; see core.StageStore. The two writes are not atomic: when
// the second fails PutStage returns the error, and calling it again (it is idempotent)
// completes it.
func (s *Store) PutStage(ctx context.Context, st core.StageExecution) error {
	if err := need(st.PipelineName, st.ExecutionID, st.StageName); err != nil {
		return fmt.Errorf("put stage %s/%s/%s: %w", st.PipelineName, st.ExecutionID, st.StageName, err)
	}
	pk := stagePK(st.PipelineName)
	item, err := encode(st, itemKey(pk, stagePrefix+key(st.ExecutionID, st.StageName)))
	if err == nil {
		err = s.put(ctx, item, "", nil, nil)
	}
	if err != nil {
		return fmt.Errorf("put stage %s/%s/%s: %w", st.PipelineName, st.ExecutionID, st.StageName, err)
	}
	// The latest copy moves to whoever entered last (greatest StartTime, then execution
	// id); the same execution may rewrite it, so "<=".
	entered := key(timeKey(st.StartTime), st.ExecutionID)
	keys := itemKey(pk, latestPrefix+key(st.StageName))
	keys[attrLatest] = str(entered)
	item, err = encode(st, keys)
	if err == nil {
		err = s.put(ctx, item, "attribute_not_exists(#pk) OR #latest <= :entered",
			map[string]string{"#pk": attrPK, "#latest": attrLatest},
			map[string]types.AttributeValue{":entered": str(entered)})
	}
	if err != nil && !errors.Is(err, core.ErrConflict) {
		return fmt.Errorf("put latest stage %s/%s of %s: %w", st.PipelineName, st.StageName, st.ExecutionID, err)
	}
	return nil
}

// ListStages returns the stages an execution has entered; see core.StageStore.
func (s *Store) ListStages(ctx context.Context, pipeline, executionID string) ([]core.StageExecution, error) {
	items, err := s.queryPrefix(ctx, stagePK(pipeline), stagePrefix+key(executionID)+"#")
	if err == nil {
		var st []core.StageExecution
		if st, err = decodeAll[core.StageExecution](items); err == nil {
			return st, nil
		}
	}
	return nil, fmt.Errorf("list stages of execution %s/%s: %w", pipeline, executionID, err)
}

// LatestStages returns, per stage, the state of the execution that entered it last; see
// core.StageStore.
func (s *Store) LatestStages(ctx context.Context, pipeline string) ([]core.StageExecution, error) {
	items, err := s.queryPrefix(ctx, stagePK(pipeline), latestPrefix)
	if err == nil {
		var st []core.StageExecution
		if st, err = decodeAll[core.StageExecution](items); err == nil {
			return st, nil
		}
	}
	return nil, fmt.Errorf("list latest stages of %s: %w", pipeline, err)
}
