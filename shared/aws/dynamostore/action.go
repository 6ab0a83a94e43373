package dynamostore

import (
	"context"
	"fmt"
	"slices"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/relais-ci/relais/shared/core"
)

func actionPK(pipeline string) string { return key("ACTION", pipeline) }

// PutAction creates an action execution or moves it to a.Status when its stored status
// may (core.ActionStatus.CanBecome); see core.ActionStore.
func (s *Store) PutAction(ctx context.Context, a core.ActionExecution) error {
	if err := need(a.PipelineName, a.ID); err != nil {
		return fmt.Errorf("put action %s/%s: %w", a.PipelineName, a.ID, err)
	}
	if !a.Status.Valid() {
		return fmt.Errorf("put action %s/%s: status %q: %w", a.PipelineName, a.ID, a.Status, core.ErrInvalid)
	}
	start := timeKey(a.StartTime)
	keys := itemKey(actionPK(a.PipelineName), a.ID)
	keys[attrLSI1SK] = str(key(start, a.ID))
	keys[attrLSI2SK] = str(key(a.ExecutionID, start, a.ID))
	if a.ExternalExecutionID != "" {
		keys[attrGSI1PK] = str(key("EXT", a.ExternalExecutionID))
		keys[attrGSI1SK] = str(key(start, a.PipelineName, a.ID))
	}
	item, err := encode(a, keys)
	if err != nil {
		return fmt.Errorf("put action %s/%s: %w", a.PipelineName, a.ID, err)
	}
	// The condition is CanBecome: only InProgress moves, and the same status may be
	// written again.
	err = s.put(ctx, item, "attribute_not_exists(#pk) OR #status = :running OR #status = :next",
		map[string]string{"#pk": attrPK, "#status": "status"},
		map[string]types.AttributeValue{":running": str(string(core.ActionInProgress)), ":next": str(string(a.Status))})
	if err != nil {
		return fmt.Errorf("put action %s/%s as %s: %w", a.PipelineName, a.ID, a.Status, err)
	}
	return nil
}

// GetAction returns one action execution; see core.ActionStore.
func (s *Store) GetAction(ctx context.Context, pipeline, actionExecutionID string) (core.ActionExecution, error) {
	var a core.ActionExecution
	if err := s.get(ctx, actionPK(pipeline), actionExecutionID, &a); err != nil {
		return core.ActionExecution{}, fmt.Errorf("get action %s/%s: %w", pipeline, actionExecutionID, err)
	}
	return a, nil
}

// FindActionByExternalID returns the newest action execution with that external id; see
// core.ActionStore. It reads the global index, which lags writes by up to about a second,
// then the action itself, strongly consistent.
func (s *Store) FindActionByExternalID(ctx context.Context, externalID string) (core.ActionExecution, error) {
	if externalID == "" {
		return core.ActionExecution{}, fmt.Errorf("find action by external id %q: %w", externalID, core.ErrNotFound)
	}
	out, err := s.db.Query(ctx, &dynamodb.QueryInput{
		TableName: s.table, IndexName: aws.String(indexGSI1),
		KeyConditionExpression:    aws.String("#pk = :pk"),
		ExpressionAttributeNames:  map[string]string{"#pk": attrGSI1PK},
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": str(key("EXT", externalID))},
		ScanIndexForward:          aws.Bool(false),
		Limit:                     aws.Int32(1),
	})
	if err != nil {
		return core.ActionExecution{}, fmt.Errorf("find action by external id %q: %w", externalID, mapErr(err))
	}
	if len(out.Items) == 0 {
		return core.ActionExecution{}, fmt.Errorf("find action by external id %q: %w", externalID, core.ErrNotFound)
	}
	var a core.ActionExecution
	if err := decode(out.Items[0], &a); err != nil {
		return core.ActionExecution{}, fmt.Errorf("find action by external id %q: %w", externalID, err)
	}
	return s.GetAction(ctx, a.PipelineName, a.ID)
}

// ListActions returns one page of the matching action executions, newest first; see
// core.ActionStore. With an execution id it reads that execution's actions only
// (lsi2); otherwise every action of the pipeline (lsi1). Stage and action names filter
// the page after it is read, so a page may hold fewer items than asked for. The filter
// runs here rather than as a FilterExpression: DynamoDB bills the items read either way,
// and minidyn, the stand-in the tests use, pages filtered index queries wrongly.
func (s *Store) ListActions(ctx context.Context, f core.ActionFilter, page core.Page) ([]core.ActionExecution, string, error) {
	if err := need(f.PipelineName); err != nil {
		return nil, "", fmt.Errorf("list actions: pipeline: %w", err)
	}
	pk := actionPK(f.PipelineName)
	in := &dynamodb.QueryInput{
		ConsistentRead:            aws.Bool(true),
		ExpressionAttributeNames:  map[string]string{"#pk": attrPK},
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": str(pk)},
	}
	sortAttr, prefix := attrLSI1SK, ""
	if f.ExecutionID == "" {
		in.IndexName = aws.String(indexLSI1)
		in.KeyConditionExpression = aws.String("#pk = :pk")
	} else {
		sortAttr = attrLSI2SK
		prefix = key(f.ExecutionID) + "#"
		in.IndexName = aws.String(indexLSI2)
		in.KeyConditionExpression = aws.String("#pk = :pk AND begins_with(#sk, :prefix)")
		in.ExpressionAttributeNames["#sk"] = attrLSI2SK
		in.ExpressionAttributeValues[":prefix"] = str(prefix)
	}
	items, next, err := s.queryPage(ctx, in, pk, page, sortAttr, prefix)
	if err != nil {
		return nil, "", fmt.Errorf("list actions of %s: %w", f.PipelineName, err)
	}
	as, err := decodeAll[core.ActionExecution](items)
	if err != nil {
		return nil, "", fmt.Errorf("list actions of %s: %w", f.PipelineName, err)
	}
	as = slices.DeleteFunc(as, func(a core.ActionExecution) bool {
		return (f.StageName != "" && a.StageName != f.StageName) || (f.ActionName != "" && a.ActionName != f.ActionName)
	})
	return as, next, nil
}
