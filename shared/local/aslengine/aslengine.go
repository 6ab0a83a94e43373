// Package aslengine is the local core.Engine: compiled pipeline machines run on Relais's
// own ASL interpreter (shared/asl), with the gate and action tasks answered in process
// by the same services the AWS Lambdas run.
package aslengine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/relais-ci/relais/shared/asl"
	"github.com/relais-ci/relais/shared/core"
	"github.com/relais-ci/relais/statemachines"
)

// Function names the placeholders of compiled machines are replaced with locally.
const (
	GateFunction   = "relais-gate"
	ActionFunction = "relais-action"
)

// Handlers are the task functions of compiled machines.
type Handlers struct {
	Gate   func(ctx context.Context, t core.GateTask) error
	Action func(ctx context.Context, t core.ActionTask) error
}

// Engine adapts an *asl.Engine to core.Engine.
type Engine struct {
	eng *asl.Engine
}

var _ core.Engine = (*Engine)(nil)

// New returns the adapter over eng. Register the task functions with Serve before
// eng.Resume, so that resumed executions find them.
func New(eng *asl.Engine) *Engine { return &Engine{eng: eng} }

// Serve registers h as the local Lambda functions the compiled machines invoke. The
// services behind h use the Engine themselves, hence the separate step.
func (e *Engine) Serve(h Handlers) {
	eng := e.eng
	eng.Tasks().HandleLambda(GateFunction, func(ctx context.Context, payload any) (any, error) {
		var t core.GateTask
		if err := decode(payload, &t); err != nil {
			return nil, err
		}
		return map[string]any{}, named(h.Gate(ctx, t))
	})
	eng.Tasks().HandleLambda(ActionFunction, func(ctx context.Context, payload any) (any, error) {
		var t core.ActionTask
		if err := decode(payload, &t); err != nil {
			return nil, err
		}
		return map[string]any{}, named(h.Action(ctx, t))
	})
}

// ASL returns the interpreter, for history and tests.
func (e *Engine) ASL() *asl.Engine { return e.eng }

func decode(payload any, v any) error {
	b, err := json.Marshal(payload)
	if err != nil {
		return fmt.Errorf("encode task payload: %w", err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		return asl.NewError("States.Runtime", "decode task payload: %v", err)
	}
	return nil
}

// named gives an error the name the compiled machine matches: on AWS the Lambda runtime
// names an error after its Go type; here the interpreter is told the same name.
func named(err error) error {
	if err == nil {
		return nil
	}
	if name := core.ErrorName(err); name != "" {
		return asl.NewError(name, "%s", err.Error())
	}
	return err
}

// Deploy creates or updates the pipeline's state machine, with the local function names
// in place of the placeholders.
func (e *Engine) Deploy(ctx context.Context, pipeline string, definition []byte) error {
	def := strings.NewReplacer(
		statemachines.GateFunction, GateFunction,
		statemachines.ActionFunction, ActionFunction,
	).Replace(string(definition))
	_, err := e.eng.UpdateStateMachine(ctx, pipeline, []byte(def), "")
	if errors.Is(err, asl.ErrNotFound) {
		_, err = e.eng.CreateStateMachine(ctx, pipeline, []byte(def), "")
	}
	if err != nil {
		return fmt.Errorf("deploy state machine of %s: %w", pipeline, err)
	}
	return nil
}

// StartExecution starts a run named name; the same name and input again is a no-op.
func (e *Engine) StartExecution(ctx context.Context, pipeline, name string, input []byte) error {
	_, err := e.eng.StartExecution(ctx, asl.StartInput{StateMachine: pipeline, Name: name, Input: string(input)})
	switch {
	case errors.Is(err, asl.ErrExecutionAlreadyExists):
		return fmt.Errorf("start %s of %s: %w", name, pipeline, core.ErrConflict)
	case errors.Is(err, asl.ErrNotFound):
		return fmt.Errorf("start %s of %s: %w", name, pipeline, core.ErrNotFound)
	case err != nil:
		return fmt.Errorf("start %s of %s: %w", name, pipeline, err)
	}
	return nil
}

// StopExecution aborts a run; stopping one that has ended does nothing.
func (e *Engine) StopExecution(ctx context.Context, pipeline, name, cause string) error {
	_, err := e.eng.StopExecution(ctx, e.eng.ExecutionARN(pipeline, name), "", cause)
	if err == nil || errors.Is(err, asl.ErrExecutionNotRunning) {
		return nil
	}
	if errors.Is(err, asl.ErrNotFound) {
		return fmt.Errorf("stop %s of %s: %w", name, pipeline, core.ErrNotFound)
	}
	return fmt.Errorf("stop %s of %s: %w", name, pipeline, err)
}

// SendTaskSuccess answers a callback task.
func (e *Engine) SendTaskSuccess(ctx context.Context, token string, output []byte) error {
	return taskErr(e.eng.SendTaskSuccess(ctx, token, string(output)))
}

// SendTaskFailure fails a callback task.
func (e *Engine) SendTaskFailure(ctx context.Context, token, errorName, cause string) error {
	return taskErr(e.eng.SendTaskFailure(ctx, token, errorName, cause))
}

// SendTaskHeartbeat records a heartbeat.
func (e *Engine) SendTaskHeartbeat(ctx context.Context, token string) error {
	return taskErr(e.eng.SendTaskHeartbeat(ctx, token))
}

func taskErr(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, asl.ErrTaskTimedOut) || errors.Is(err, asl.ErrInvalidToken) || errors.Is(err, asl.ErrNotFound) {
		return fmt.Errorf("task token: %w", errors.Join(err, core.ErrNotFound))
	}
	return err
}
