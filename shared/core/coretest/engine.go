package coretest

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/relais-ci/relais/shared/core"
)

// EngineTasks are the task functions that machines deployed on an engine invoke for the
// compiler's placeholders ${GateFunction} and ${ActionFunction}: on AWS the gate and
// action Lambdas, locally in-process handlers. An error is reported to the machine under
// core.ErrorName's name, as the Lambda Go runtime names it after the error's type.
type EngineTasks struct {
	Gate   func(ctx context.Context, t core.GateTask) error
	Action func(ctx context.Context, t core.ActionTask) error
}

// engineMachine is a one-stage machine in the compiled machines' protocol (see
// statemachines): a gate enter and an action, both callback tasks, then a gate leave, or
// a gate fail when the action fails with ActionFailedError. STAGE is replaced per test.
const engineMachine = `{
  "StartAt": "Enter",
  "States": {
    "Enter": {
      "Type": "Task", "Resource": "arn:aws:states:::lambda:invoke.waitForTaskToken",
      "Parameters": {"FunctionName": "${GateFunction}", "Payload": {"op": "enter", "pipeline.$": "$.pipeline",
        "executionId.$": "$.executionId", "stage": "STAGE", "token.$": "$$.Task.Token"}},
      "ResultPath": null, "Next": "Act"
    },
    "Act": {
      "Type": "Task", "Resource": "arn:aws:states:::lambda:invoke.waitForTaskToken",
      "Parameters": {"FunctionName": "${ActionFunction}", "Payload": {"pipeline.$": "$.pipeline",
        "executionId.$": "$.executionId", "stage": "STAGE", "action": "Compile", "token.$": "$$.Task.Token"}},
      "ResultPath": null, "Next": "Leave",
      "Catch": [{"ErrorEquals": ["ActionFailedError"], "ResultPath": "$.failure", "Next": "Fail"}]
    },
    "Leave": {
      "Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
      "Parameters": {"FunctionName": "${GateFunction}", "Payload": {"op": "leave", "pipeline.$": "$.pipeline",
        "executionId.$": "$.executionId", "stage": "STAGE", "last": true}},
      "ResultPath": null, "End": true
    },
    "Fail": {
      "Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
      "Parameters": {"FunctionName": "${GateFunction}", "Payload": {"op": "fail", "pipeline.$": "$.pipeline",
        "executionId.$": "$.executionId", "stage": "STAGE", "failure.$": "$.failure"}},
      "ResultPath": null, "End": true
    }
  }
}`

// engineCall is one invocation of a task function.
type engineCall struct {
	Gate   *core.GateTask
	Action *core.ActionTask
}

func (c engineCall) String() string {
	if c.Gate != nil {
		return fmt.Sprintf("gate %s %s/%s/%s", c.Gate.Op, c.Gate.Pipeline, c.Gate.ExecutionID, c.Gate.Stage)
	}
	return fmt.Sprintf("action %s/%s/%s/%s", c.Action.Pipeline, c.Action.ExecutionID, c.Action.Stage, c.Action.Action)
}

// Engine checks the promises of core.Engine. newEngine returns an engine with no
// machines whose deployed machines invoke tasks; it is called once per subtest.
func Engine(t *testing.T, newEngine func(t *testing.T, tasks EngineTasks) core.Engine) {
	ctx := t.Context()
	type fixture struct {
		eng   core.Engine
		calls chan engineCall
	}
	setup := func(t *testing.T) *fixture {
		f := &fixture{calls: make(chan engineCall, 100)}
		f.eng = newEngine(t, EngineTasks{
			Gate: func(_ context.Context, g core.GateTask) error {
				f.calls <- engineCall{Gate: &g}
				return nil
			},
			Action: func(_ context.Context, a core.ActionTask) error {
				f.calls <- engineCall{Action: &a}
				return nil
			},
		})
		return f
	}
	// next returns the next task invocation; machines run in the background, so it
	// waits for it (bounded by the test's deadline, never by a timer).
	next := func(t *testing.T, f *fixture) engineCall {
		t.Helper()
		select {
		case c := <-f.calls:
			return c
		case <-t.Context().Done():
			t.Fatal("test ended before the next task invocation")
			return engineCall{}
		}
	}
	gate := func(t *testing.T, f *fixture, op, execution string) core.GateTask {
		t.Helper()
		c := next(t, f)
		if c.Gate == nil || c.Gate.Op != op || c.Gate.ExecutionID != execution {
			t.Fatalf("got %v, want gate %s of %s", c, op, execution)
		}
		return *c.Gate
	}
	action := func(t *testing.T, f *fixture, execution string) core.ActionTask {
		t.Helper()
		c := next(t, f)
		if c.Action == nil || c.Action.ExecutionID != execution {
			t.Fatalf("got %v, want the action of %s", c, execution)
		}
		return *c.Action
	}
	deploy := func(t *testing.T, f *fixture, pipeline, stage string) {
		t.Helper()
		noErr(t, "deploy "+pipeline, f.eng.Deploy(ctx, pipeline, []byte(strings.ReplaceAll(engineMachine, "STAGE", stage))))
	}
	input := func(pipeline, execution string) []byte {
		b, _ := json.Marshal(core.MachineInput{Pipeline: pipeline, ExecutionID: execution})
		return b
	}
	start := func(t *testing.T, f *fixture, pipeline, execution string) {
		t.Helper()
		noErr(t, "start "+execution, f.eng.StartExecution(ctx, pipeline, execution, input(pipeline, execution)))
	}
	succeed := func(t *testing.T, f *fixture, token, output string) {
		t.Helper()
		if token == "" {
			t.Fatal("task invoked without a token")
		}
		noErr(t, "send task success", f.eng.SendTaskSuccess(ctx, token, []byte(output)))
	}

	t.Run("a started execution runs the deployed machine", func(t *testing.T) {
		f := setup(t)
		deploy(t, f, "build", "Build")
		deploy(t, f, "build", "Build") // idempotent
		start(t, f, "build", "e1")
		enter := gate(t, f, core.GateEnter, "e1")
		want := core.GateTask{Op: core.GateEnter, Pipeline: "build", ExecutionID: "e1", Stage: "Build", Token: enter.Token}
		if diff := cmp.Diff(want, enter); diff != "" {
			t.Errorf("gate enter task (-want +got):\n%s", diff)
		}
		noErr(t, "heartbeat", f.eng.SendTaskHeartbeat(ctx, enter.Token))
		succeed(t, f, enter.Token, `{}`)
		act := action(t, f, "e1")
		if diff := cmp.Diff(core.ActionTask{Pipeline: "build", ExecutionID: "e1", Stage: "Build", Action: "Compile", Token: act.Token}, act); diff != "" {
			t.Errorf("action task (-want +got):\n%s", diff)
		}
		succeed(t, f, act.Token, `{"status":"Succeeded"}`)
		if leave := gate(t, f, core.GateLeave, "e1"); !leave.Last {
			t.Errorf("leave: got Last false, want true")
		}
		wantErr(t, "success of an ended task", f.eng.SendTaskSuccess(ctx, enter.Token, []byte(`{}`)), core.ErrNotFound)
		wantErr(t, "heartbeat of an ended task", f.eng.SendTaskHeartbeat(ctx, act.Token), core.ErrNotFound)
	})

	t.Run("a failed task takes the machine's catch", func(t *testing.T) {
		f := setup(t)
		deploy(t, f, "build", "Build")
		start(t, f, "build", "e1")
		succeed(t, f, gate(t, f, core.GateEnter, "e1").Token, `{}`)
		act := action(t, f, "e1")
		noErr(t, "send task failure", f.eng.SendTaskFailure(ctx, act.Token, core.ErrorActionFailed, "exit status 1"))
		fail := gate(t, f, core.GateFail, "e1")
		if diff := cmp.Diff(&core.TaskFailure{Error: core.ErrorActionFailed, Cause: "exit status 1"}, fail.Failure); diff != "" {
			t.Errorf("failure passed to the gate (-want +got):\n%s", diff)
		}
		wantErr(t, "failure of an ended task", f.eng.SendTaskFailure(ctx, act.Token, core.ErrorActionFailed, "again"), core.ErrNotFound)
	})

	t.Run("deploy replaces the machine", func(t *testing.T) {
		f := setup(t)
		deploy(t, f, "build", "Build")
		deploy(t, f, "build", "Test")
		start(t, f, "build", "e1")
		if got := gate(t, f, core.GateEnter, "e1").Stage; got != "Test" {
			t.Errorf("stage of the redeployed machine: got %q, want %q", got, "Test")
		}
	})

	t.Run("pipelines have their own machines", func(t *testing.T) {
		f := setup(t)
		deploy(t, f, "build", "Build")
		deploy(t, f, "deploy", "Deploy")
		start(t, f, "deploy", "e1")
		if got := gate(t, f, core.GateEnter, "e1"); got.Pipeline != "deploy" || got.Stage != "Deploy" {
			t.Errorf("got gate of %s/%s, want deploy/Deploy", got.Pipeline, got.Stage)
		}
	})

	t.Run("an execution is started once", func(t *testing.T) {
		f := setup(t)
		deploy(t, f, "build", "Build")
		start(t, f, "build", "e1")
		enter := gate(t, f, core.GateEnter, "e1")
		start(t, f, "build", "e1") // same input: a no-op
		other := input("build", "e1")
		other = append(other[:len(other)-1], []byte(`,"note":"other"}`)...)
		wantErr(t, "start with another input", f.eng.StartExecution(ctx, "build", "e1", other), core.ErrConflict)

		// Run e1 to its end; a second run of e1 would show up as a second enter.
		succeed(t, f, enter.Token, `{}`)
		succeed(t, f, action(t, f, "e1").Token, `{"status":"Succeeded"}`)
		gate(t, f, core.GateLeave, "e1")
		start(t, f, "build", "e1") // after it ended: still a no-op
		wantErr(t, "start an ended execution with another input", f.eng.StartExecution(ctx, "build", "e1", other), core.ErrConflict)
		start(t, f, "build", "e2")
		gate(t, f, core.GateEnter, "e2")
	})

	t.Run("stop ends a running execution; stopping again does nothing", func(t *testing.T) {
		f := setup(t)
		deploy(t, f, "build", "Build")
		start(t, f, "build", "e1")
		enter := gate(t, f, core.GateEnter, "e1")
		noErr(t, "stop", f.eng.StopExecution(ctx, "build", "e1", "stopped by ann"))
		wantErr(t, "success of a stopped execution's task", f.eng.SendTaskSuccess(ctx, enter.Token, []byte(`{}`)), core.ErrNotFound)
		noErr(t, "stop again", f.eng.StopExecution(ctx, "build", "e1", "again"))
	})

	t.Run("unknown tokens are not found", func(t *testing.T) {
		f := setup(t)
		deploy(t, f, "build", "Build")
		for _, token := range []string{"not-a-token", strings.Repeat("x", 64)} {
			wantErr(t, "success", f.eng.SendTaskSuccess(ctx, token, []byte(`{}`)), core.ErrNotFound)
			wantErr(t, "failure", f.eng.SendTaskFailure(ctx, token, core.ErrorActionFailed, "x"), core.ErrNotFound)
			wantErr(t, "heartbeat", f.eng.SendTaskHeartbeat(ctx, token), core.ErrNotFound)
		}
	})
}

// Answers is an engine that only records the answers to callback tokens, each as
// "<token> success" or "<token> <error name>: <cause>". Make it with room for the
// answers a test expects (make(coretest.Answers, n)): an answer beyond that blocks.
type Answers chan string

func (a Answers) Deploy(context.Context, string, []byte) error                 { return nil }
func (a Answers) StartExecution(context.Context, string, string, []byte) error { return nil }
func (a Answers) StopExecution(context.Context, string, string, string) error  { return nil }
func (a Answers) SendTaskHeartbeat(context.Context, string) error              { return nil }
func (a Answers) SendTaskSuccess(_ context.Context, token string, _ []byte) error {
	a <- token + " success"
	return nil
}
func (a Answers) SendTaskFailure(_ context.Context, token, name, cause string) error {
	a <- fmt.Sprintf("%s %s: %s", token, name, cause)
	return nil
}
