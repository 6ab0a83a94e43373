package main

import (
	"context"

	"github.com/relais-ci/relais/shared/core"
)

// Gate runs gate tasks (*gate.Service).
type Gate interface {
	Handle(ctx context.Context, t core.GateTask) error
}

// Handler answers the gate tasks of compiled state machines: enter (a callback task,
// answered later through the engine), leave and fail.
type Handler struct{ gate Gate }

// NewHandler returns a handler over g.
func NewHandler(g Gate) *Handler { return &Handler{gate: g} }

// Output is what a gate task returns; the machines discard it (ResultPath null).
type Output struct{}

// Invoke runs one gate task. An error the machine matches (SupersededError,
// StoppedError) is returned as its core type, whose name the Lambda runtime reports as
// the error name.
func (h *Handler) Invoke(ctx context.Context, t core.GateTask) (Output, error) {
	if err := h.gate.Handle(ctx, t); err != nil {
		return Output{}, core.StateMachineError(err)
	}
	return Output{}, nil
}
