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

func lockPK(pipeline string) string { return key("LOCK", pipeline) }

const attrHolder = "holder"

// AcquireStage makes executionID the holder of a free stage, or keeps it the holder;
// see core.StageLocks.
func (s *Store) AcquireStage(ctx context.Context, pipeline, stage, executionID string) error {
	if err := need(pipeline, stage, executionID); err != nil {
		return fmt.Errorf("acquire stage %s/%s for %s: %w", pipeline, stage, executionID, err)
	}
	item := itemKey(lockPK(pipeline), stage)
	item[attrHolder] = str(executionID)
	err := s.put(ctx, item, "attribute_not_exists(#pk) OR #holder = :me",
		map[string]string{"#pk": attrPK, "#holder": attrHolder},
		map[string]types.AttributeValue{":me": str(executionID)})
	if err != nil {
		return fmt.Errorf("acquire stage %s/%s for %s: %w", pipeline, stage, executionID, err)
	}
	return nil
}

// ReleaseStage frees the stage if executionID holds it; see core.StageLocks.
func (s *Store) ReleaseStage(ctx context.Context, pipeline, stage, executionID string) error {
	if stage == "" || executionID == "" {
		return nil // no stage is held by nobody, nor is an unnamed stage held
	}
	_, err := s.db.DeleteItem(ctx, &dynamodb.DeleteItemInput{
		TableName: s.table, Key: itemKey(lockPK(pipeline), stage),
		ConditionExpression:       aws.String("#holder = :me"),
		ExpressionAttributeNames:  map[string]string{"#holder": attrHolder},
		ExpressionAttributeValues: map[string]types.AttributeValue{":me": str(executionID)},
	})
	if err = mapErr(err); err != nil && !errors.Is(err, core.ErrConflict) {
		return fmt.Errorf("release stage %s/%s for %s: %w", pipeline, stage, executionID, err)
	}
	return nil
}

// StageHolder returns the execution holding the stage; see core.StageLocks.
func (s *Store) StageHolder(ctx context.Context, pipeline, stage string) (string, error) {
	var lock struct {
		Holder string `json:"holder"`
	}
	if err := s.get(ctx, lockPK(pipeline), stage, &lock); err != nil {
		return "", fmt.Errorf("holder of stage %s/%s: %w", pipeline, stage, err)
	}
	return lock.Holder, nil
}
