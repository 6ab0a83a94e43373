package dynamostore

import (
	"fmt"
	"net/http/httptest"
	"os"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/truora/minidyn/server"

	"github.com/relais-ci/relais/shared/core"
	"github.com/relais-ci/relais/shared/core/coretest"
)

// endpoint is the URL of the minidyn server (the stand-in for DynamoDB) that every test
// of the package shares, each on tables of its own. One server for the whole run:
// closing httptest servers between tests now and then broke a later client's connection
// in the middle of a response ("use of closed network connection").
var endpoint string

func TestMain(m *testing.M) {
	srv := httptest.NewServer(server.NewServer())
	endpoint = srv.URL
	code := m.Run()
	srv.Close()
	os.Exit(code)
}

// client returns an SDK client of the shared minidyn server: the real SDK builds and
// parses every request.
func client() *dynamodb.Client {
	return dynamodb.New(dynamodb.Options{
		Region:                          "us-east-1",
		BaseEndpoint:                    aws.String(endpoint),
		Credentials:                     credentials.NewStaticCredentialsProvider("AKIDEXAMPLE", "secret", ""),
		DisableValidateResponseChecksum: true,
		RetryMaxAttempts:                1,
	})
}

var tables atomic.Int64

// open returns a Store on a new table, for one test.
func open(t *testing.T, opts ...Option) *Store {
	t.Helper()
	c := client()
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
