// Package apitest runs Relais's API for tests: the API handler behind an httptest
// server, over the real services and a SQLite store, with an Engine fake in place of a
// state machine interpreter. Nothing runs executions forward by itself; a test plays
// the state machine's part with EnterStage, RunAction, LeaveStage and FailStage, which
// call the real gate and action services as a compiled machine would.
package apitest

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/codepipeline"
	"github.com/aws/smithy-go/middleware"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/relais-ci/relais/shared/action"
	"github.com/relais-ci/relais/shared/api"
	"github.com/relais-ci/relais/shared/approval"
	"github.com/relais-ci/relais/shared/core"
	"github.com/relais-ci/relais/shared/execution"
	"github.com/relais-ci/relais/shared/gate"
	"github.com/relais-ci/relais/shared/local/sqlitestore"
	"github.com/relais-ci/relais/shared/pipeline"
)

// Pipeline is a declaration every test can install: Source → Build → Approval →
// Deploy, runnable locally, SUPERSEDED, with one variable.
const Pipeline = `{
  "pipeline": {
    "name": "demo",
    "roleArn": "arn:aws:iam::123456789012:role/relais",
    "artifactStore": {"type": "S3", "location": "relais-artifacts"},
    "pipelineType": "V2",
    "executionMode": "SUPERSEDED",
    "variables": [{"name": "greeting", "defaultValue": "hello"}],
    "stages": [
      {"name": "Source", "actions": [{
        "name": "Checkout",
        "actionTypeId": {"category": "Source", "owner": "AWS", "provider": "CodeStarSourceConnection", "version": "1"},
        "configuration": {
          "ConnectionArn": "arn:aws:codeconnections:us-east-1:123456789012:connection/00000000-0000-0000-0000-000000000000",
          "FullRepositoryId": "relais-ci/hello", "BranchName": "main"
        },
        "outputArtifacts": [{"name": "SourceOutput"}],
        "namespace": "SourceVariables"
      }]},
      {"name": "Build", "actions": [{
        "name": "Compile",
        "actionTypeId": {"category": "Build", "owner": "AWS", "provider": "CodeBuild", "version": "1"},
        "configuration": {"ProjectName": "hello-#{variables.greeting}"},
        "inputArtifacts": [{"name": "SourceOutput"}],
        "outputArtifacts": [{"name": "BuildOutput"}],
        "namespace": "BuildVariables"
      }]},
      {"name": "Approval", "actions": [{
        "name": "Release",
        "actionTypeId": {"category": "Approval", "owner": "AWS", "provider": "Manual", "version": "1"},
        "configuration": {"CustomData": "Ship #{SourceVariables.CommitId}?"}
      }]},
      {"name": "Deploy", "actions": [{
        "name": "Site",
        "actionTypeId": {"category": "Deploy", "owner": "AWS", "provider": "S3", "version": "1"},
        "configuration": {"BucketName": "site", "Extract": "true"},
        "inputArtifacts": [{"name": "BuildOutput"}]
      }]}
    ]
  }
}`

// Env is a running API with everything behind it.
type Env struct {
	Store     *sqlitestore.Store
	Engine    *Engine
	Clock     *Clock
	Gate      *gate.Service
	Actions   *action.Service
	Approval  *approval.Service
	Execution *execution.Service
	Handler   *api.Handler
	Server    *httptest.Server

	mu      sync.Mutex
	results map[string]action.Result
	tokens  int
}

// New starts an Env; the test's cleanup stops it.
func New(t testing.TB, opts ...api.Option) *Env {
	t.Helper()
	ctx := context.Background()
	clock := &Clock{now: time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)}
	store, err := sqlitestore.Open(ctx, filepath.Join(t.TempDir(), "relais.db"), sqlitestore.WithClock(clock))
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() { store.Close() })
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	env := &Env{Store: store, Engine: &Engine{}, Clock: clock, results: map[string]action.Result{}}
	env.Gate = gate.New(gate.Deps{
		Executions: store, Stages: store, Actions: store, Locks: store, Queue: store, Transitions: store,
		Engine: env.Engine, Clock: clock, Logger: logger,
	})
	env.Approval = approval.New(approval.Deps{Approvals: store, Clock: clock, Logger: logger})
	other := action.ProviderFunc(env.run)
	env.Actions = action.New(action.Deps{
		Pipelines: store, Executions: store, Stages: store, Actions: store, Engine: env.Engine,
		Providers: map[string]action.Provider{
			"Source/AWS/CodeStarSourceConnection": other,
			"Build/AWS/CodeBuild":                 other,
			"Test/AWS/CodeBuild":                  other,
			"Deploy/AWS/S3":                       other,
			"Approval/AWS/Manual":                 env.Approval,
		},
		Clock: clock, Logger: logger,
	})
	env.Approval.Completer = env.Actions
	env.Execution = execution.New(execution.Deps{
		Pipelines: store, Executions: store, Stages: store, Actions: store, Transitions: store,
		Engine: env.Engine, Gate: env.Gate, Target: pipeline.TargetLocal, Clock: clock, Logger: logger,
	})
	env.Handler = api.New(api.Deps{
		Service: env.Execution, Approval: env.Approval,
		Pipelines: store, Executions: store, Stages: store, Actions: store, Transitions: store,
		Approvals: store, Queue: store, Clock: clock, Logger: logger,
	}, opts...)
	env.Server = httptest.NewServer(env.Handler)
	t.Cleanup(env.Server.Close)
	return env
}

// Install installs a declaration.
func (e *Env) Install(t testing.TB, decl string) core.Pipeline {
	t.Helper()
	p, err := e.Execution.Install(context.Background(), []byte(decl))
	if err != nil {
		t.Fatalf("install pipeline: %v", err)
	}
	return p
}

// Client returns the official CodePipeline client pointed at the server, with static
// credentials and no retries.
func (e *Env) Client(optFns ...func(*codepipeline.Options)) *codepipeline.Client {
	return codepipeline.New(codepipeline.Options{
		BaseEndpoint:     aws.String(e.Server.URL),
		Region:           "us-east-1",
		Credentials:      credentials.NewStaticCredentialsProvider("AKIDRELAIS", "secret", ""),
		RetryMaxAttempts: 1,
	}, optFns...)
}

// SetResult makes the (non-approval) action named actionName end with res. By default
// an action succeeds, producing its declared output artifacts (and a source action the
// variable CommitId).
func (e *Env) SetResult(actionName string, res action.Result) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.results[actionName] = res
}

func (e *Env) run(ctx context.Context, job action.Job) (action.Result, error) {
	e.mu.Lock()
	res, ok := e.results[job.Record.ActionName]
	e.mu.Unlock()
	if ok {
		return res, nil
	}
	res = action.Result{Status: core.ActionSucceeded, Summary: job.Record.ActionName + " done"}
	if job.Declared.ActionTypeID.Category == pipeline.CategorySource {
		res.OutputVariables = map[string]string{"CommitId": "c0ffee"}
	}
	for _, a := range job.Declared.OutputArtifacts {
		res.OutputArtifacts = append(res.OutputArtifacts, core.Artifact{Name: a.Name, Location: core.ArtifactLocation{
			Store: "relais-artifacts", Key: fmt.Sprintf("%s/%s/%s.zip", job.Record.PipelineName, job.Record.ExecutionID, a.Name),
		}})
	}
	return res, nil
}

func (e *Env) token(kind string) string {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.tokens++
	return fmt.Sprintf("%s-token-%d", kind, e.tokens)
}

// EnterStage runs the gate's enter task of an execution at a stage.
func (e *Env) EnterStage(t testing.TB, pipelineName, executionID, stage string) {
	t.Helper()
	if err := e.Gate.Handle(context.Background(), core.GateTask{
		Op: core.GateEnter, Pipeline: pipelineName, ExecutionID: executionID, Stage: stage, Token: e.token("gate"),
	}); err != nil {
		t.Fatalf("enter stage %s: %v", stage, err)
	}
}

// RunAction runs an action task of an execution.
func (e *Env) RunAction(t testing.TB, pipelineName, executionID, stage, actionName string) {
	t.Helper()
	if err := e.Actions.Handle(context.Background(), core.ActionTask{
		Pipeline: pipelineName, ExecutionID: executionID, Stage: stage, Action: actionName, Token: e.token("action"),
	}); err != nil {
		t.Fatalf("run action %s/%s: %v", stage, actionName, err)
	}
}

// LeaveStage runs the gate's leave task; last ends the execution Succeeded.
func (e *Env) LeaveStage(t testing.TB, pipelineName, executionID, stage string, last bool) {
	t.Helper()
	if err := e.Gate.Handle(context.Background(), core.GateTask{
		Op: core.GateLeave, Pipeline: pipelineName, ExecutionID: executionID, Stage: stage, Last: last,
	}); err != nil {
		t.Fatalf("leave stage %s: %v", stage, err)
	}
}

// FailStage runs the gate's fail task, as the machine's stage-failed path does.
func (e *Env) FailStage(t testing.TB, pipelineName, executionID, stage, cause string) {
	t.Helper()
	if err := e.Gate.Handle(context.Background(), core.GateTask{
		Op: core.GateFail, Pipeline: pipelineName, ExecutionID: executionID, Stage: stage,
		Failure: &core.TaskFailure{Error: core.ErrorActionFailed, Cause: cause},
	}); err != nil {
		t.Fatalf("fail stage %s: %v", stage, err)
	}
}

// Start starts an execution through the service (not the API).
func (e *Env) Start(t testing.TB, pipelineName string) core.Execution {
	t.Helper()
	x, err := e.Execution.Start(context.Background(), execution.StartRequest{Pipeline: pipelineName})
	if err != nil {
		t.Fatalf("start %s: %v", pipelineName, err)
	}
	return x
}

// RunStage enters a stage, runs all its actions and leaves it (last: the execution
// succeeds), as a machine does when every action succeeds.
func (e *Env) RunStage(t testing.TB, pipelineName, executionID, stage string, last bool) {
	t.Helper()
	d, _, err := e.Execution.Declaration(context.Background(), pipelineName)
	if err != nil {
		t.Fatalf("declaration of %s: %v", pipelineName, err)
	}
	e.EnterStage(t, pipelineName, executionID, stage)
	for _, st := range d.Stages {
		if st.Name != stage {
			continue
		}
		for _, a := range st.Actions {
			e.RunAction(t, pipelineName, executionID, stage, a.Name)
		}
	}
	e.LeaveStage(t, pipelineName, executionID, stage, last)
}

// Clock is a clock that moves only when told.
type Clock struct {
	mu  sync.Mutex
	now time.Time
}

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves the clock forward.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// Engine is a core.Engine that runs nothing and records every call.
type Engine struct {
	mu       sync.Mutex
	calls    []Call
	StartErr error
}

// Call is one recorded engine call.
type Call struct {
	Op        string // Deploy, StartExecution, StopExecution, SendTaskSuccess, SendTaskFailure, SendTaskHeartbeat
	Pipeline  string
	Execution string
	Token     string
	// Detail is the machine input of a start, the cause of a stop, the output of a task
	// success, "error: cause" of a task failure.
	Detail string
}

var _ core.Engine = (*Engine)(nil)

// Calls returns the calls so far, in order.
func (e *Engine) Calls() []Call {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]Call(nil), e.calls...)
}

// CallsOf returns the calls of one operation.
func (e *Engine) CallsOf(op string) []Call {
	var out []Call
	for _, c := range e.Calls() {
		if c.Op == op {
			out = append(out, c)
		}
	}
	return out
}

func (e *Engine) record(c Call) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.calls = append(e.calls, c)
}

// Deploy records the deployment.
func (e *Engine) Deploy(ctx context.Context, pipelineName string, definition []byte) error {
	if !json.Valid(definition) {
		return fmt.Errorf("deploy %s: definition is not JSON: %w", pipelineName, core.ErrInvalid)
	}
	e.record(Call{Op: "Deploy", Pipeline: pipelineName})
	return nil
}

// StartExecution records the start; it fails with StartErr when set.
func (e *Engine) StartExecution(ctx context.Context, pipelineName, executionID string, input []byte) error {
	e.mu.Lock()
	err := e.StartErr
	e.mu.Unlock()
	if err != nil {
		return err
	}
	e.record(Call{Op: "StartExecution", Pipeline: pipelineName, Execution: executionID, Detail: string(input)})
	return nil
}

// StopExecution records the stop.
func (e *Engine) StopExecution(ctx context.Context, pipelineName, executionID, cause string) error {
	e.record(Call{Op: "StopExecution", Pipeline: pipelineName, Execution: executionID, Detail: cause})
	return nil
}

// SendTaskSuccess records the answer.
func (e *Engine) SendTaskSuccess(ctx context.Context, token string, output []byte) error {
	e.record(Call{Op: "SendTaskSuccess", Token: token, Detail: string(output)})
	return nil
}

// SendTaskFailure records the answer.
func (e *Engine) SendTaskFailure(ctx context.Context, token, errorName, cause string) error {
	e.record(Call{Op: "SendTaskFailure", Token: token, Detail: errorName + ": " + cause})
	return nil
}

// SendTaskHeartbeat records the heartbeat.
func (e *Engine) SendTaskHeartbeat(ctx context.Context, token string) error {
	e.record(Call{Op: "SendTaskHeartbeat", Token: token})
	return nil
}

// WithHeader is an SDK API option that sets a header on every request (the caller's
// name, the API token).
func WithHeader(name, value string) func(*middleware.Stack) error {
	return func(s *middleware.Stack) error {
		return s.Build.Add(middleware.BuildMiddlewareFunc("apitest.Header."+name,
			func(ctx context.Context, in middleware.BuildInput, next middleware.BuildHandler) (middleware.BuildOutput, middleware.Metadata, error) {
				if req, ok := in.Request.(*smithyhttp.Request); ok {
					req.Header.Set(name, value)
				}
				return next.HandleBuild(ctx, in)
			}), middleware.After)
	}
}
