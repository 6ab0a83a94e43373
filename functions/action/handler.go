package main

import (
	"context"

	"github.com/relais-ci/relais/shared/core"
)

// Runner runs action tasks (*action.Service).
type Runner interface {
	Handle(ctx context.Context, t core.ActionTask) error
}

// Handler answers the action tasks of compiled state machines. Each is a callback task:
// the action's outcome reaches the machine through the engine (at once for inline
// actions, later for builds and approvals), not through this invocation's result.
type Handler struct{ runner Runner }

// NewHandler returns a handler over r.
func NewHandler(r Runner) *Handler { return &Handler{runner: r} }

// Output is what an action task returns; Step Functions ignores the result of a
// waitForTaskToken invocation.
type Output struct{}

// Invoke runs one action task. An error the machine matches (StoppedError when the
// execution was stopped before the action started) is returned as its core type, whose
// name the Lambda runtime reports as the error name.
func (h *Handler) Invoke(ctx context.Context, t core.ActionTask) (Output, error) {
	if err := h.runner.Handle(ctx, t); err != nil {
		return Output{}, core.StateMachineError(err)
	}
	return Output{}, nil
}
