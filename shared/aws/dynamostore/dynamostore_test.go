package dynamostore

import (
	"fmt"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/truora/minidyn/server"

	"github.com/relais-ci/relais/shared/core"
	"github.com/relais-ci/relais/shared/core/coretest"
)

// client returns an SDK client of a minidyn server (the stand-in for DynamoDB) that
// lives as long as t: the real SDK builds and parses every request.
func client(t *testing.T) *dynamodb.Client {
	t.Helper()
	srv := httptest.NewServer(server.NewServer())
	t.Cleanup(srv.Close)
	return dynamodb.New(dynamodb.Options{
		Region:                          "us-east-1",
		BaseEndpoint:                    aws.String(srv.URL),
		Credentials:                     credentials.NewStaticCredentialsProvider("AKIDEXAMPLE", "secret", ""),
		DisableValidateResponseChecksum: true,
		// The SDK's standard retries, as in production: on this shared machine a
		// response is now and then cut off ("use of closed network connection").
	})
}

var tables atomic.Int64

// open returns a Store on a new table of a minidyn server, for one test.
func open(t *testing.T, opts ...Option) *Store {
	t.Helper()
	c := client(t)
	name := fmt.Sprintf("relais-%d", tables.Add(1))
	if err := CreateTable(t.Context(), c, name); err != nil {
		t.Fatalf("create table: %v", err)
	}
	return New(c, name, opts...)
}

func TestPipelineStore(t *testing.T) {
	coretest.PipelineStore(t, func(t *testing.T) core.PipelineStore { return open(t) })
}

func TestExecutionStore(t *testing.T) {
	coretest.ExecutionStore(t, func(t *testing.T) core.ExecutionStore { return open(t) })
}

func TestStageStore(t *testing.T) {
	coretest.StageStore(t, func(t *testing.T) core.StageStore { return open(t) })
}

func TestActionStore(t *testing.T) {
	coretest.ActionStore(t, func(t *testing.T) core.ActionStore { return open(t) })
}

func TestStageLocks(t *testing.T) {
	coretest.StageLocks(t, func(t *testing.T) core.StageLocks { return open(t) })
}

func TestGateQueue(t *testing.T) {
	coretest.GateQueue(t, func(t *testing.T) core.GateQueue { return open(t) })
}

func TestTransitionStore(t *testing.T) {
	coretest.TransitionStore(t, func(t *testing.T) core.TransitionStore { return open(t) })
}

func TestApprovalStore(t *testing.T) {
	coretest.ApprovalStore(t, func(t *testing.T) core.ApprovalStore { return open(t) })
}

func TestDeliveryStore(t *testing.T) {
	coretest.DeliveryStore(t, func(t *testing.T, clock core.Clock) core.DeliveryStore {
		return open(t, WithClock(clock))
	})
}
