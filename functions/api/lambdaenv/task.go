package lambdaenv

import (
	"context"

	"github.com/relais-ci/relais/shared/core"
)

// TaskHandler answers one kind of Lambda task of the compiled state machines — gate
// tasks (enter, a callback task answered later through the engine; leave; fail) or
// action tasks (callback tasks whose outcome reaches the machine through the engine) —
// with the service that handles them.
type TaskHandler[T any] struct {
	handle func(ctx context.Context, task T) error
}

// NewTaskHandler returns a handler of the tasks handle takes (gate.Service.Handle,
// action.Service.Handle).
func NewTaskHandler[T any](handle func(ctx context.Context, task T) error) *TaskHandler[T] {
	return &TaskHandler[T]{handle: handle}
}

// TaskOutput is what a task returns: the machines discard it (ResultPath null, or the
// ignored result of a waitForTaskToken invocation).
type TaskOutput struct{}

// Invoke runs one task. An error the machine matches (SupersededError, StoppedError) is
// returned as its core type, whose name the Lambda runtime reports as the error name.
func (h *TaskHandler[T]) Invoke(ctx context.Context, task T) (TaskOutput, error) {
	if err := h.handle(ctx, task); err != nil {
		return TaskOutput{}, core.StateMachineError(err)
	}
	return TaskOutput{}, nil
}
