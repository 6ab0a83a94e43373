// Package dynamostore keeps Relais's state on AWS: one DynamoDB table implements every
// store port of shared/core — pipelines, executions, stages, actions, stage locks, gate
// queues, transitions, approvals and webhook deliveries.
//
// # Table
//
// One table (single-table design), string keys pk and sk, two local secondary indexes
// (strongly consistent, so lists see every write that returned) and one global secondary
// index (eventually consistent: only FindActionByExternalID, whose port allows a lag,
// reads it). Each item holds its record's fields as native attributes (named as the
// record's JSON fields) beside the key attributes below. Key parts are escaped ('%' and
// '#' become %25 and %23) so that '#' only ever separates them.
//
//	entity           pk                          sk                       other keys / attributes
//	pipeline         PIPELINES                   <name>                   version (condition)
//	execution        EXEC#<pipeline>             <id>                     lsi1sk = <startTime>#<id>; revision (condition)
//	stage            STAGE#<pipeline>            E#<execution>#<stage>
//	latest stage     STAGE#<pipeline>            L#<stage>                latestKey = <startTime>#<execution> (condition)
//	action           ACTION#<pipeline>           <actionExecutionId>      lsi1sk = <startTime>#<id>;
//	                                                                      lsi2sk = <execution>#<startTime>#<id>;
//	                                                                      gsi1pk = EXT#<externalId>, gsi1sk = <startTime>#<pipeline>#<id>
//	                                                                      (only with an external id); status (condition)
//	stage lock       LOCK#<pipeline>             <stage>                  holder (condition)
//	gate waiter      GATE#<pipeline>#<stage>     W#<execution>            ttl = arrival + WaiterTTL
//	gate counter     GATE#<pipeline>#<stage>     SEQ                      next (ADD 1 per Enqueue)
//	transition       TRANSITION#<pipeline>       <stage>
//	approval         APPROVAL#<id>               APPROVAL                 status (condition)
//	pending approval PENDING#<pipeline>          <execution>#<id>         a copy of the pending approval
//	delivery         DELIVERY#<id>               DELIVERY                 expiresAtMs (condition); ttl
//
// Times in keys are UTC with nine fractional digits (fixed width), so string order is
// time order. ttl is the table's TTL attribute (epoch seconds, see TTLAttribute).
//
// # Access patterns
//
//	GetPipeline, DeletePipeline      GetItem / DeleteItem PIPELINES, <name>
//	ListPipelines                    Query pk = PIPELINES (sk is the name: name order)
//	PutPipeline                      PutItem if attribute_not_exists(pk) (create) or version = :v
//	Create/Get/UpdateExecution       PutItem if attribute_not_exists(pk) / GetItem / PutItem if revision = :r
//	ListExecutions                   Query lsi1 pk = EXEC#<p>, descending, Limit, ExclusiveStartKey
//	PutStage                         PutItem E#…; then PutItem L#<stage> if attribute_not_exists(pk) OR latestKey <= :k
//	ListStages                       Query pk = STAGE#<p>, begins_with(sk, E#<execution>#)
//	LatestStages                     Query pk = STAGE#<p>, begins_with(sk, L#)
//	PutAction                        PutItem if attribute_not_exists(pk) OR status = InProgress OR status = :new
//	GetAction                        GetItem ACTION#<p>, <id>
//	ListActions (pipeline)           Query lsi1 pk = ACTION#<p>, descending (stage and action names filtered by the Store)
//	ListActions (execution)          Query lsi2 pk = ACTION#<p>, begins_with(lsi2sk, <execution>#), descending
//	FindActionByExternalID           Query gsi1 gsi1pk = EXT#<id>, descending, Limit 1; then GetItem
//	Acquire/Release/StageHolder      PutItem if attribute_not_exists(pk) OR holder = :me / DeleteItem if holder = :me / GetItem
//	Enqueue                          UpdateItem W# SET taskToken if attribute_exists(pk) (waiting: keep its place);
//	                                 else UpdateItem SEQ ADD next 1, then PutItem W# if attribute_not_exists(pk)
//	Waiters, Dequeue                 Query pk = GATE#…, begins_with(sk, W#) / DeleteItem W# if attribute_exists(pk), ALL_OLD
//	Put/Get/ListTransitions          PutItem / GetItem / Query pk = TRANSITION#<p>
//	CreateApproval                   TransactWriteItems: Put APPROVAL if absent + Put PENDING
//	DecideApproval                   GetItem; TransactWriteItems: Put APPROVAL if status = Pending + Delete PENDING
//	PendingApprovals                 Query pk = PENDING#<p> (begins_with(sk, <execution>#))
//	RecordDelivery                   PutItem if attribute_not_exists(pk) OR expiresAtMs < :now
//
// Every read is strongly consistent except the GSI query. The lists that page (executions
// and actions) read local secondary indexes rather than global ones because their ports
// promise to show every write that returned, and only a local index can be read with
// ConsistentRead; pending approvals and the latest stages are kept as items of their own
// for the same reason. Pipelines share one partition (PIPELINES), which suits the few
// hundred pipelines of an installation. Pages are capped at 100 items
// and their tokens are the query's LastEvaluatedKey, base64url-encoded JSON; a token is
// only accepted by the list whose partition it names.
//
// The item collection of one partition key is limited to 10 GB on a table with local
// secondary indexes: EXEC#<p> and ACTION#<p> (with their index copies) hold one
// pipeline's executions and action executions, about a million action executions per
// pipeline.
//
// The Store calls dynamodb:GetItem, PutItem, UpdateItem, DeleteItem, Query (on the table
// and its indexes) and TransactWriteItems (which needs PutItem and DeleteItem on the
// table); nothing else.
package dynamostore

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/relais-ci/relais/shared/core"
)

var (
	_ core.PipelineStore   = (*Store)(nil)
	_ core.ExecutionStore  = (*Store)(nil)
	_ core.StageStore      = (*Store)(nil)
	_ core.ActionStore     = (*Store)(nil)
	_ core.StageLocks      = (*Store)(nil)
	_ core.GateQueue       = (*Store)(nil)
	_ core.TransitionStore = (*Store)(nil)
	_ core.ApprovalStore   = (*Store)(nil)
	_ core.DeliveryStore   = (*Store)(nil)
)

// Client is the part of *dynamodb.Client the Store calls.
type Client interface {
	GetItem(ctx context.Context, in *dynamodb.GetItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
	PutItem(ctx context.Context, in *dynamodb.PutItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error)
	UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error)
	DeleteItem(ctx context.Context, in *dynamodb.DeleteItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.DeleteItemOutput, error)
	Query(ctx context.Context, in *dynamodb.QueryInput, optFns ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error)
	TransactWriteItems(ctx context.Context, in *dynamodb.TransactWriteItemsInput, optFns ...func(*dynamodb.Options)) (*dynamodb.TransactWriteItemsOutput, error)
}

// Store is a DynamoDB table that implements the store ports. It is safe for concurrent
// use, also by many processes (Lambdas) sharing the table.
type Store struct {
	db        Client
	table     *string
	clock     core.Clock
	waiterTTL time.Duration
}

// Option changes how New sets up a Store.
type Option func(*Store)

// WithClock sets the clock that decides whether a recorded delivery has expired. The
// default is core.SystemClock.
func WithClock(c core.Clock) Option { return func(s *Store) { s.clock = c } }

// WithWaiterTTL sets how long after its arrival a gate waiter may be deleted by the
// table's TTL. The default, a year and a day, outlives any Step Functions standard
// execution (at most a year), so only waiters whose execution has surely ended go.
func WithWaiterTTL(d time.Duration) Option { return func(s *Store) { s.waiterTTL = d } }

// New returns a Store on the table named table, which must have the definition
// TableDefinition returns.
func New(client Client, table string, opts ...Option) *Store {
	s := &Store{db: client, table: aws.String(table), clock: core.SystemClock, waiterTTL: 366 * 24 * time.Hour}
	for _, opt := range opts {
		opt(s)
	}
	return s
}

// Attribute and index names of the table.
const (
	attrPK     = "pk"
	attrSK     = "sk"
	attrLSI1SK = "lsi1sk"
	attrLSI2SK = "lsi2sk"
	attrGSI1PK = "gsi1pk"
	attrGSI1SK = "gsi1sk"
	// TTLAttribute is the table's time-to-live attribute (epoch seconds): enable TTL on
	// it so that expired deliveries and stale gate waiters are deleted.
	TTLAttribute = "ttl"

	indexLSI1 = "lsi1"
	indexLSI2 = "lsi2"
	indexGSI1 = "gsi1"
)

// maxPage is the most items one page of a list holds (core.Page).
const maxPage = 100

// key escapes one part of a key, so that '#' only separates parts.
func key(parts ...string) string {
	esc := make([]string, len(parts))
	for i, p := range parts {
		esc[i] = keyEscaper.Replace(p)
	}
	return strings.Join(esc, "#")
}

var keyEscaper = strings.NewReplacer("%", "%25", "#", "%23")

// timeKey formats t for a sort key: fixed width, so string order is time order.
func timeKey(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000000000Z") }

func str(s string) types.AttributeValue { return &types.AttributeValueMemberS{Value: s} }

func num(n int64) types.AttributeValue { return &types.AttributeValueMemberN{Value: fmt.Sprint(n)} }

func itemKey(pk, sk string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{attrPK: str(pk), attrSK: str(sk)}
}

// need returns ErrInvalid when one of the key fields is empty.
func need(fields ...string) error {
	for _, f := range fields {
		if f == "" {
			return fmt.Errorf("missing key: %w", core.ErrInvalid)
		}
	}
	return nil
}

// encode returns rec's attributes (named as its JSON fields) with the given key
// attributes added.
func encode(rec any, keys map[string]types.AttributeValue) (map[string]types.AttributeValue, error) {
	item, err := attributevalue.MarshalMapWithOptions(rec, func(o *attributevalue.EncoderOptions) { o.TagKey = "json" })
	if err != nil {
		return nil, fmt.Errorf("encode record: %w: %w", core.ErrInvalid, err)
	}
	for k, v := range keys {
		item[k] = v
	}
	return item, nil
}

// decode reads an item into rec; key attributes are ignored.
func decode(item map[string]types.AttributeValue, rec any) error {
	if err := attributevalue.UnmarshalMapWithOptions(item, rec, func(o *attributevalue.DecoderOptions) { o.TagKey = "json" }); err != nil {
		return fmt.Errorf("decode item: %w", err)
	}
	return nil
}

// mapErr turns a lost condition (or a transaction cancelled by one) into ErrConflict,
// keeping the SDK error in the chain.
func mapErr(err error) error {
	var ccf *types.ConditionalCheckFailedException
	var tce *types.TransactionCanceledException
	switch {
	case err == nil:
		return nil
	case errors.As(err, &ccf):
		return fmt.Errorf("%w: %w", core.ErrConflict, err)
	case errors.As(err, &tce):
		return fmt.Errorf("%w: %w", core.ErrConflict, err)
	}
	return err
}

// get reads one item, strongly consistent; ErrNotFound when there is none.
func (s *Store) get(ctx context.Context, pk, sk string, rec any) error {
	if sk == "" {
		return core.ErrNotFound // DynamoDB refuses empty keys; no record has one
	}
	out, err := s.db.GetItem(ctx, &dynamodb.GetItemInput{TableName: s.table, Key: itemKey(pk, sk), ConsistentRead: aws.Bool(true)})
	if err != nil {
		return mapErr(err)
	}
	if out.Item == nil {
		return core.ErrNotFound
	}
	return decode(out.Item, rec)
}

// exists reports whether an item is stored.
func (s *Store) exists(ctx context.Context, pk, sk string) (bool, error) {
	out, err := s.db.GetItem(ctx, &dynamodb.GetItemInput{
		TableName: s.table, Key: itemKey(pk, sk), ConsistentRead: aws.Bool(true),
		ProjectionExpression: aws.String("#pk"), ExpressionAttributeNames: map[string]string{"#pk": attrPK},
	})
	if err != nil {
		return false, mapErr(err)
	}
	return out.Item != nil, nil
}

// put writes an item, under cond when it is not empty.
func (s *Store) put(ctx context.Context, item map[string]types.AttributeValue, cond string, names map[string]string, values map[string]types.AttributeValue) error {
	in := &dynamodb.PutItemInput{TableName: s.table, Item: item}
	if cond != "" {
		in.ConditionExpression = aws.String(cond)
		in.ExpressionAttributeNames = names
		in.ExpressionAttributeValues = values
	}
	_, err := s.db.PutItem(ctx, in)
	return mapErr(err)
}

// queryAll reads every item of a query, page after page.
func (s *Store) queryAll(ctx context.Context, in *dynamodb.QueryInput) ([]map[string]types.AttributeValue, error) {
	var items []map[string]types.AttributeValue
	for {
		out, err := s.db.Query(ctx, in)
		if err != nil {
			return nil, mapErr(err)
		}
		items = append(items, out.Items...)
		if len(out.LastEvaluatedKey) == 0 {
			return items, nil
		}
		in.ExclusiveStartKey = out.LastEvaluatedKey
	}
}

// queryPrefix reads every item of a partition whose sort key starts with prefix ("" for
// all), strongly consistent.
func (s *Store) queryPrefix(ctx context.Context, pk, prefix string) ([]map[string]types.AttributeValue, error) {
	in := &dynamodb.QueryInput{
		TableName: s.table, ConsistentRead: aws.Bool(true),
		KeyConditionExpression:    aws.String("#pk = :pk"),
		ExpressionAttributeNames:  map[string]string{"#pk": attrPK},
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": str(pk)},
	}
	if prefix != "" {
		in.KeyConditionExpression = aws.String("#pk = :pk AND begins_with(#sk, :prefix)")
		in.ExpressionAttributeNames["#sk"] = attrSK
		in.ExpressionAttributeValues[":prefix"] = str(prefix)
	}
	return s.queryAll(ctx, in)
}

// decodeAll decodes items into records of type T.
func decodeAll[T any](items []map[string]types.AttributeValue) ([]T, error) {
	out := make([]T, 0, len(items))
	for _, it := range items {
		var rec T
		if err := decode(it, &rec); err != nil {
			return nil, err
		}
		out = append(out, rec)
	}
	return out, nil
}

// pageLimit is the number of items a page asks for.
func pageLimit(p core.Page) int32 {
	if p.Limit <= 0 || p.Limit > maxPage {
		return maxPage
	}
	return int32(p.Limit)
}

// encodeToken makes the page token of a query's LastEvaluatedKey ("" at the end). All the
// table's key attributes are strings.
func encodeToken(last map[string]types.AttributeValue) (string, error) {
	if len(last) == 0 {
		return "", nil
	}
	k := make(map[string]string, len(last))
	for name, v := range last {
		s, ok := v.(*types.AttributeValueMemberS)
		if !ok {
			return "", fmt.Errorf("encode page token: key attribute %s is %T, not a string", name, v)
		}
		k[name] = s.Value
	}
	b, err := json.Marshal(k)
	if err != nil {
		return "", fmt.Errorf("encode page token: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// decodeToken reads a page token back into the ExclusiveStartKey of a query on a local
// index whose sort key is sortAttr ("" is the first page). A token that is malformed,
// or names another partition than pk, or another index, or a sort key outside
// sortPrefix, is ErrInvalid.
func decodeToken(token, pk, sortAttr, sortPrefix string) (map[string]types.AttributeValue, error) {
	if token == "" {
		return nil, nil
	}
	b, err := base64.RawURLEncoding.DecodeString(token)
	if err != nil {
		return nil, fmt.Errorf("page token: %w", core.ErrInvalid)
	}
	var k map[string]string
	if err := json.Unmarshal(b, &k); err != nil {
		return nil, fmt.Errorf("page token: %w", core.ErrInvalid)
	}
	sk, hasSK := k[attrSK]
	pos, hasPos := k[sortAttr]
	if len(k) != 3 || k[attrPK] != pk || !hasSK || !hasPos || !strings.HasPrefix(pos, sortPrefix) {
		return nil, fmt.Errorf("page token of another list: %w", core.ErrInvalid)
	}
	return map[string]types.AttributeValue{attrPK: str(pk), attrSK: str(sk), sortAttr: str(pos)}, nil
}

// queryPage reads one page of a descending query on a local index (sort key sortAttr,
// within sortPrefix) and returns the items and the next page's token.
func (s *Store) queryPage(ctx context.Context, in *dynamodb.QueryInput, pk string, page core.Page, sortAttr, sortPrefix string) ([]map[string]types.AttributeValue, string, error) {
	start, err := decodeToken(page.Token, pk, sortAttr, sortPrefix)
	if err != nil {
		return nil, "", err
	}
	in.TableName = s.table
	in.ExclusiveStartKey = start
	in.Limit = aws.Int32(pageLimit(page))
	in.ScanIndexForward = aws.Bool(false)
	out, err := s.db.Query(ctx, in)
	if err != nil {
		return nil, "", mapErr(err)
	}
	next, err := encodeToken(out.LastEvaluatedKey)
	if err != nil {
		return nil, "", err
	}
	return out.Items, next, nil
}
