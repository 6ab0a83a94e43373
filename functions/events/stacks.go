package main

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/relais-ci/relais/shared/action"
)

// StackEventer reads a CloudFormation Stack Status Change event (the whole EventBridge
// event) and says which action it ends and how (*cfnaction.Deployer).
type StackEventer interface {
	StackEvent(ctx context.Context, raw json.RawMessage) (externalID string, res action.Result, done bool, err error)
}

// stack completes the CloudFormation action whose stack operation ended. Any error,
// not-found included (the action's external id may not be readable yet a moment after
// it was recorded), fails the invocation so that EventBridge delivers the event again;
// handling it twice does no harm.
func (h *Handler) stack(ctx context.Context, e Event) (Output, error) {
	ext, res, done, err := h.d.Stacks.StackEvent(ctx, e.Raw)
	if err != nil {
		return Output{}, fmt.Errorf("stack status change %s: %w", e.ID, err)
	}
	if !done {
		return Output{Outcome: outcomeIgnored}, nil
	}
	if err := h.d.Builds.CompleteExternal(ctx, ext, res); err != nil {
		return Output{}, fmt.Errorf("complete stack operation %s: %w", ext, err)
	}
	return Output{Outcome: outcomeCompleted}, nil
}
