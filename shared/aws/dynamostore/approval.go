package dynamostore

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/relais-ci/relais/shared/core"
)

const skApproval = "APPROVAL"

func approvalPK(id string) string { return key("APPROVAL", id) }

func pendingPK(pipeline string) string { return key("PENDING", pipeline) }

func pendingSK(executionID, id string) string { return key(executionID, id) }

// CreateApproval stores a pending approval and its entry in the pipeline's pending list,
// in one transaction; see core.ApprovalStore.
func (s *Store) CreateApproval(ctx context.Context, a core.Approval) error {
	if err := need(a.ID); err != nil {
		return fmt.Errorf("create approval %s: %w", a.ID, err)
	}
	if a.Status != core.ApprovalPending {
		return fmt.Errorf("create approval %s: status %q, want %s: %w", a.ID, a.Status, core.ApprovalPending, core.ErrInvalid)
	}
	item, err := encode(a, itemKey(approvalPK(a.ID), skApproval))
	if err != nil {
		return fmt.Errorf("create approval %s: %w", a.ID, err)
	}
	pending, err := encode(a, itemKey(pendingPK(a.PipelineName), pendingSK(a.ExecutionID, a.ID)))
	if err != nil {
		return fmt.Errorf("create approval %s: %w", a.ID, err)
	}
	_, err = s.db.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: []types.TransactWriteItem{
		{Put: &types.Put{
			TableName: s.table, Item: item,
			ConditionExpression:      aws.String("attribute_not_exists(#pk)"),
			ExpressionAttributeNames: map[string]string{"#pk": attrPK},
		}},
		{Put: &types.Put{TableName: s.table, Item: pending}},
	}})
	if err != nil {
		return fmt.Errorf("create approval %s: %w", a.ID, mapErr(err))
	}
	return nil
}

// GetApproval returns one approval; see core.ApprovalStore.
func (s *Store) GetApproval(ctx context.Context, id string) (core.Approval, error) {
	var a core.Approval
	if err := s.get(ctx, approvalPK(id), skApproval, &a); err != nil {
		return core.Approval{}, fmt.Errorf("get approval %s: %w", id, err)
	}
	return a, nil
}

// DecideApproval moves a pending approval to its decision and drops it from the pending
// list, in one transaction conditioned on the status still being Pending; see
// core.ApprovalStore.
func (s *Store) DecideApproval(ctx context.Context, d core.Approval) error {
	switch d.Status {
	case core.ApprovalApproved, core.ApprovalRejected, core.ApprovalExpired, core.ApprovalSuperseded:
	default:
		return fmt.Errorf("decide approval %s: %q is not a decision: %w", d.ID, d.Status, core.ErrInvalid)
	}
	a, err := s.GetApproval(ctx, d.ID)
	if err != nil {
		return fmt.Errorf("decide approval %s: %w", d.ID, err)
	}
	if a.Status != core.ApprovalPending {
		return fmt.Errorf("decide approval %s: already %s: %w", d.ID, a.Status, core.ErrConflict)
	}
	// A pending approval never changes but by this transaction, so what was read is what
	// the condition protects.
	a.Status, a.DecidedBy, a.Comment, a.DecidedAt = d.Status, d.DecidedBy, d.Comment, d.DecidedAt
	item, err := encode(a, itemKey(approvalPK(a.ID), skApproval))
	if err != nil {
		return fmt.Errorf("decide approval %s: %w", d.ID, err)
	}
	_, err = s.db.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: []types.TransactWriteItem{
		{Put: &types.Put{
			TableName: s.table, Item: item,
			ConditionExpression:       aws.String("#status = :pending"),
			ExpressionAttributeNames:  map[string]string{"#status": "status"},
			ExpressionAttributeValues: map[string]types.AttributeValue{":pending": str(string(core.ApprovalPending))},
		}},
		{Delete: &types.Delete{TableName: s.table, Key: itemKey(pendingPK(a.PipelineName), pendingSK(a.ExecutionID, a.ID))}},
	}})
	if err != nil {
		return fmt.Errorf("decide approval %s: %w", d.ID, mapErr(err))
	}
	return nil
}

// PendingApprovals returns the pending approvals of an execution, or of the whole
// pipeline; see core.ApprovalStore.
func (s *Store) PendingApprovals(ctx context.Context, pipeline, executionID string) ([]core.Approval, error) {
	prefix := ""
	if executionID != "" {
		prefix = key(executionID) + "#"
	}
	items, err := s.queryPrefix(ctx, pendingPK(pipeline), prefix)
	if err == nil {
		var as []core.Approval
		if as, err = decodeAll[core.Approval](items); err == nil {
			return as, nil
		}
	}
	return nil, fmt.Errorf("pending approvals of %s/%s: %w", pipeline, executionID, err)
}
