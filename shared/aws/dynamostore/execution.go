package dynamostore

import (
	"context"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/relais-ci/relais/shared/core"
)

func execPK(pipeline string) string { return key("EXEC", pipeline) }

// executionItem returns e as an item.
func executionItem(e core.Execution) (map[string]types.AttributeValue, error) {
	keys := itemKey(execPK(e.PipelineName), e.ID)
	keys[attrLSI1SK] = str(key(timeKey(e.StartTime), e.ID))
	return encode(e, keys)
}

// CreateExecution stores a new execution at revision 1; see core.ExecutionStore.
func (s *Store) CreateExecution(ctx context.Context, e core.Execution) (core.Execution, error) {
	if err := need(e.PipelineName, e.ID); err != nil {
		return core.Execution{}, fmt.Errorf("create execution %s/%s: %w", e.PipelineName, e.ID, err)
	}
	e.Revision = 1
	item, err := executionItem(e)
	if err != nil {
		return core.Execution{}, fmt.Errorf("create execution %s/%s: %w", e.PipelineName, e.ID, err)
	}
	if err := s.put(ctx, item, "attribute_not_exists(#pk)", map[string]string{"#pk": attrPK}, nil); err != nil {
		return core.Execution{}, fmt.Errorf("create execution %s/%s: %w", e.PipelineName, e.ID, err)
	}
	return e, nil
}

// GetExecution returns one execution; see core.ExecutionStore.
func (s *Store) GetExecution(ctx context.Context, pipeline, id string) (core.Execution, error) {
	var e core.Execution
	if err := s.get(ctx, execPK(pipeline), id, &e); err != nil {
		return core.Execution{}, fmt.Errorf("get execution %s/%s: %w", pipeline, id, err)
	}
	return e, nil
}

// UpdateExecution writes e over the stored revision e.Revision; see core.ExecutionStore.
func (s *Store) UpdateExecution(ctx context.Context, e core.Execution) (core.Execution, error) {
	if err := need(e.PipelineName, e.ID); err != nil {
		return core.Execution{}, fmt.Errorf("update execution %s/%s: %w", e.PipelineName, e.ID, err)
	}
	rev := e.Revision
	e.Revision++
	item, err := executionItem(e)
	if err != nil {
		return core.Execution{}, fmt.Errorf("update execution %s/%s: %w", e.PipelineName, e.ID, err)
	}
	err = s.put(ctx, item, "#rev = :rev", map[string]string{"#rev": "revision"},
		map[string]types.AttributeValue{":rev": num(rev)})
	if errors.Is(err, core.ErrConflict) {
		err = s.conflictOrMissing(ctx, execPK(e.PipelineName), e.ID, err)
	}
	if err != nil {
		return core.Execution{}, fmt.Errorf("update execution %s/%s at revision %d: %w", e.PipelineName, e.ID, rev, err)
	}
	return e, nil
}

// ListExecutions returns one page of a pipeline's executions, newest first; see
// core.ExecutionStore.
func (s *Store) ListExecutions(ctx context.Context, pipeline string, page core.Page) ([]core.Execution, string, error) {
	pk := execPK(pipeline)
	items, next, err := s.queryPage(ctx, &dynamodb.QueryInput{
		IndexName: aws.String(indexLSI1), ConsistentRead: aws.Bool(true),
		KeyConditionExpression:    aws.String("#pk = :pk"),
		ExpressionAttributeNames:  map[string]string{"#pk": attrPK},
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": str(pk)},
	}, pk, page, attrLSI1SK, "")
	if err != nil {
		return nil, "", fmt.Errorf("list executions of %s: %w", pipeline, err)
	}
	es, err := decodeAll[core.Execution](items)
	if err != nil {
		return nil, "", fmt.Errorf("list executions of %s: %w", pipeline, err)
	}
	return es, next, nil
}
