package dynamostore

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/relais-ci/relais/shared/core"
)

func gatePK(pipeline, stage string) string { return key("GATE", pipeline, stage) }

const (
	waiterPrefix = "W#"
	skCounter    = "SEQ"
	attrNext     = "next"
)

func waiterSK(executionID string) string { return waiterPrefix + key(executionID) }

// Enqueue adds a waiter with the next Seq of its stage, or replaces the token of one
// already waiting; see core.GateQueue.
func (s *Store) Enqueue(ctx context.Context, w core.Waiter) (core.Waiter, error) {
	if err := need(w.PipelineName, w.StageName, w.ExecutionID); err != nil {
		return core.Waiter{}, fmt.Errorf("enqueue %s at %s/%s: %w", w.ExecutionID, w.PipelineName, w.StageName, err)
	}
	pk, sk := gatePK(w.PipelineName, w.StageName), waiterSK(w.ExecutionID)
	// Each round either finds the waiter (and replaces its token) or adds it; a round is
	// only repeated when a concurrent Enqueue or Dequeue of the same execution got in
	// between, so this ends quickly.
	for range 10 {
		got, err := s.replaceToken(ctx, pk, sk, w.TaskToken)
		if err == nil {
			return got, nil
		}
		if !errors.Is(err, core.ErrNotFound) {
			return core.Waiter{}, fmt.Errorf("enqueue %s at %s/%s: %w", w.ExecutionID, w.PipelineName, w.StageName, err)
		}
		seq, err := s.nextSeq(ctx, pk)
		if err != nil {
			return core.Waiter{}, fmt.Errorf("enqueue %s at %s/%s: %w", w.ExecutionID, w.PipelineName, w.StageName, err)
		}
		w.Seq = seq
		keys := itemKey(pk, sk)
		if !w.ArrivedAt.IsZero() {
			keys[TTLAttribute] = num(w.ArrivedAt.Add(s.waiterTTL).Unix())
		}
		item, err := encode(w, keys)
		if err == nil {
			err = s.put(ctx, item, "attribute_not_exists(#pk)", map[string]string{"#pk": attrPK}, nil)
		}
		if err == nil {
			return w, nil
		}
		if !errors.Is(err, core.ErrConflict) {
			return core.Waiter{}, fmt.Errorf("enqueue %s at %s/%s: %w", w.ExecutionID, w.PipelineName, w.StageName, err)
		}
		// Another Enqueue of this execution added it first: its Seq is burnt (Seqs only
		// need to grow), and the next round replaces the token.
	}
	return core.Waiter{}, fmt.Errorf("enqueue %s at %s/%s: too many concurrent writers: %w", w.ExecutionID, w.PipelineName, w.StageName, core.ErrConflict)
}

// replaceToken sets the token of a waiting execution and returns the waiter;
// ErrNotFound when it is not waiting.
func (s *Store) replaceToken(ctx context.Context, pk, sk, token string) (core.Waiter, error) {
	out, err := s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: s.table, Key: itemKey(pk, sk),
		UpdateExpression:          aws.String("SET #token = :token"),
		ConditionExpression:       aws.String("attribute_exists(#pk)"),
		ExpressionAttributeNames:  map[string]string{"#pk": attrPK, "#token": "taskToken"},
		ExpressionAttributeValues: map[string]types.AttributeValue{":token": str(token)},
		ReturnValues:              types.ReturnValueAllNew,
	})
	if err = mapErr(err); errors.Is(err, core.ErrConflict) {
		return core.Waiter{}, core.ErrNotFound
	}
	if err != nil {
		return core.Waiter{}, err
	}
	var w core.Waiter
	err = decode(out.Attributes, &w)
	return w, err
}

// nextSeq increments the stage's counter and returns its new value: an atomic counter,
// so no two Enqueues get the same number.
func (s *Store) nextSeq(ctx context.Context, pk string) (int64, error) {
	out, err := s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: s.table, Key: itemKey(pk, skCounter),
		UpdateExpression:          aws.String("ADD #next :one"),
		ExpressionAttributeNames:  map[string]string{"#next": attrNext},
		ExpressionAttributeValues: map[string]types.AttributeValue{":one": num(1)},
		ReturnValues:              types.ReturnValueUpdatedNew,
	})
	if err != nil {
		return 0, fmt.Errorf("next seq: %w", mapErr(err))
	}
	n, ok := out.Attributes[attrNext].(*types.AttributeValueMemberN)
	if !ok {
		return 0, fmt.Errorf("next seq: counter is %T", out.Attributes[attrNext])
	}
	seq, err := strconv.ParseInt(n.Value, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("next seq: %w", err)
	}
	return seq, nil
}

// Waiters returns a stage's waiters in arrival order; see core.GateQueue.
func (s *Store) Waiters(ctx context.Context, pipeline, stage string) ([]core.Waiter, error) {
	items, err := s.queryPrefix(ctx, gatePK(pipeline, stage), waiterPrefix)
	if err != nil {
		return nil, fmt.Errorf("waiters at %s/%s: %w", pipeline, stage, err)
	}
	ws, err := decodeAll[core.Waiter](items)
	if err != nil {
		return nil, fmt.Errorf("waiters at %s/%s: %w", pipeline, stage, err)
	}
	slices.SortFunc(ws, func(a, b core.Waiter) int {
		return cmp.Or(a.ArrivedAt.Compare(b.ArrivedAt), cmp.Compare(a.Seq, b.Seq))
	})
	return ws, nil
}

// Dequeue removes a waiter and returns it; see core.GateQueue. The delete is conditional,
// so of concurrent Dequeues exactly one gets the waiter.
func (s *Store) Dequeue(ctx context.Context, pipeline, stage, executionID string) (core.Waiter, error) {
	out, err := s.db.DeleteItem(ctx, &dynamodb.DeleteItemInput{
		TableName: s.table, Key: itemKey(gatePK(pipeline, stage), waiterSK(executionID)),
		ConditionExpression:      aws.String("attribute_exists(#pk)"),
		ExpressionAttributeNames: map[string]string{"#pk": attrPK},
		ReturnValues:             types.ReturnValueAllOld,
	})
	if err = mapErr(err); errors.Is(err, core.ErrConflict) {
		err = core.ErrNotFound
	}
	var w core.Waiter
	if err == nil {
		err = decode(out.Attributes, &w)
	}
	if err != nil {
		return core.Waiter{}, fmt.Errorf("dequeue %s at %s/%s: %w", executionID, pipeline, stage, err)
	}
	return w, nil
}
