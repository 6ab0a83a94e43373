package dynamostore

import (
	"errors"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/relais-ci/relais/shared/core"
)

// Tests of what the contract suites cannot see: the table's definition, the items'
// time-to-live attributes, key escaping and page tokens.

var t0 = time.Date(2026, time.March, 1, 12, 0, 0, 123_000_000, time.UTC)

func TestTableDefinition(t *testing.T) {
	def := TableDefinition("relais")
	// DynamoDB refuses an attribute definition that no key uses, and a key attribute
	// without a definition.
	var used []string
	addKeys := func(ks []types.KeySchemaElement) {
		for _, k := range ks {
			used = append(used, aws.ToString(k.AttributeName))
		}
	}
	addKeys(def.KeySchema)
	for _, i := range def.LocalSecondaryIndexes {
		addKeys(i.KeySchema)
		if aws.ToString(i.KeySchema[0].AttributeName) != attrPK {
			t.Errorf("local index %s: hash key %s, want the table's %s", aws.ToString(i.IndexName), aws.ToString(i.KeySchema[0].AttributeName), attrPK)
		}
	}
	for _, i := range def.GlobalSecondaryIndexes {
		addKeys(i.KeySchema)
	}
	slices.Sort(used)
	used = slices.Compact(used)
	var defined []string
	for _, a := range def.AttributeDefinitions {
		defined = append(defined, aws.ToString(a.AttributeName))
	}
	slices.Sort(defined)
	if diff := cmp.Diff(used, defined); diff != "" {
		t.Errorf("attribute definitions vs key attributes (-used +defined):\n%s", diff)
	}
	if got := aws.ToString(def.TableName); got != "relais" {
		t.Errorf("table name: got %q, want %q", got, "relais")
	}
}

// rawItem reads an item as stored.
func rawItem(t *testing.T, s *Store, pk, sk string) map[string]types.AttributeValue {
	t.Helper()
	out, err := s.db.GetItem(t.Context(), &dynamodb.GetItemInput{TableName: s.table, Key: itemKey(pk, sk), ConsistentRead: aws.Bool(true)})
	if err != nil || out.Item == nil {
		t.Fatalf("get item %s %s: %v (found: %v)", pk, sk, err, out != nil && out.Item != nil)
	}
	return out.Item
}

func numAttr(t *testing.T, item map[string]types.AttributeValue, name string) int64 {
	t.Helper()
	v, ok := item[name].(*types.AttributeValueMemberN)
	if !ok {
		t.Fatalf("attribute %s: got %T, want a number", name, item[name])
	}
	n, err := strconv.ParseInt(v.Value, 10, 64)
	if err != nil {
		t.Fatalf("attribute %s: %v", name, err)
	}
	return n
}

func TestTimeToLive(t *testing.T) {
	ctx := t.Context()
	s := open(t, WithClock(core.ClockFunc(func() time.Time { return t0 })), WithWaiterTTL(48*time.Hour))

	expires := t0.Add(time.Hour) // t0 has milliseconds: the ttl rounds up
	if err := s.RecordDelivery(ctx, "d1", expires); err != nil {
		t.Fatal(err)
	}
	item := rawItem(t, s, key("DELIVERY", "d1"), skDelivery)
	if got, want := numAttr(t, item, TTLAttribute), expires.Unix()+1; got != want {
		t.Errorf("delivery ttl: got %d, want %d (expiry rounded up to the second)", got, want)
	}
	if got, want := numAttr(t, item, attrExpiresAtMs), expires.UnixMilli(); got != want {
		t.Errorf("delivery expiresAtMs: got %d, want %d", got, want)
	}

	w := core.Waiter{PipelineName: "build", StageName: "Deploy", ExecutionID: "e1", TaskToken: "t", ArrivedAt: t0}
	if _, err := s.Enqueue(ctx, w); err != nil {
		t.Fatal(err)
	}
	item = rawItem(t, s, gatePK("build", "Deploy"), waiterSK("e1"))
	if got, want := numAttr(t, item, TTLAttribute), t0.Add(48*time.Hour).Unix(); got != want {
		t.Errorf("waiter ttl: got %d, want %d", got, want)
	}
}

func TestKeysAreEscaped(t *testing.T) {
	ctx := t.Context()
	s := open(t)
	// Key parts holding the separator must not run into each other.
	a := core.StageExecution{PipelineName: "p", ExecutionID: "a", StageName: "b#c", Status: core.StageInProgress, StartTime: t0}
	b := core.StageExecution{PipelineName: "p", ExecutionID: "a#b", StageName: "c", Status: core.StageInProgress, StartTime: t0}
	for _, st := range []core.StageExecution{a, b} {
		if err := s.PutStage(ctx, st); err != nil {
			t.Fatal(err)
		}
	}
	for exec, want := range map[string][]core.StageExecution{"a": {a}, "a#b": {b}, "a%23b": nil} {
		got, err := s.ListStages(ctx, "p", exec)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(want, got, cmpopts.EquateEmpty()); diff != "" {
			t.Errorf("stages of %q (-want +got):\n%s", exec, diff)
		}
	}
	ap := core.Approval{ID: "x", PipelineName: "p", ExecutionID: "a#b", Status: core.ApprovalPending, RequestedAt: t0, ExpiresAt: t0}
	if err := s.CreateApproval(ctx, ap); err != nil {
		t.Fatal(err)
	}
	if got, err := s.PendingApprovals(ctx, "p", "a"); err != nil || len(got) != 0 {
		t.Errorf("pending approvals of %q: got %v (%v), want none", "a", got, err)
	}
}

func TestEmptyKeysOnReads(t *testing.T) {
	ctx := t.Context()
	s := open(t)
	if _, err := s.GetExecution(ctx, "build", ""); !errors.Is(err, core.ErrNotFound) {
		t.Errorf("get execution with no id: got %v, want ErrNotFound", err)
	}
	if _, err := s.StageHolder(ctx, "build", ""); !errors.Is(err, core.ErrNotFound) {
		t.Errorf("holder of an unnamed stage: got %v, want ErrNotFound", err)
	}
	if _, err := s.GetPipeline(ctx, ""); !errors.Is(err, core.ErrNotFound) {
		t.Errorf("get pipeline with no name: got %v, want ErrNotFound", err)
	}
	if err := s.ReleaseStage(ctx, "build", "", ""); err != nil {
		t.Errorf("release an unnamed stage: %v", err)
	}
	if err := s.DeletePipeline(ctx, ""); err != nil {
		t.Errorf("delete a pipeline with no name: %v", err)
	}
}

func TestActionPageTokens(t *testing.T) {
	ctx := t.Context()
	s := open(t)
	for i, exec := range []string{"e1", "e1", "e2", "e2"} {
		a := core.ActionExecution{ID: "a" + strconv.Itoa(i), PipelineName: "build", ExecutionID: exec, Status: core.ActionInProgress, StartTime: t0.Add(time.Duration(i) * time.Minute)}
		if err := s.PutAction(ctx, a); err != nil {
			t.Fatal(err)
		}
	}
	_, next, err := s.ListActions(ctx, core.ActionFilter{PipelineName: "build", ExecutionID: "e1"}, core.Page{Limit: 1})
	if err != nil || next == "" {
		t.Fatalf("first page of e1: next %q, err %v; want a next page", next, err)
	}
	for _, f := range []core.ActionFilter{
		{PipelineName: "build", ExecutionID: "e2"}, // another execution's list
		{PipelineName: "build"},                    // the pipeline's list (another index)
	} {
		if _, _, err := s.ListActions(ctx, f, core.Page{Limit: 1, Token: next}); !errors.Is(err, core.ErrInvalid) {
			t.Errorf("list %+v with a token of e1's list: got %v, want ErrInvalid", f, err)
		}
	}
}
