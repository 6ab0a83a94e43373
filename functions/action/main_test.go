package main

import (
	"path/filepath"
	"testing"

	"github.com/relais-ci/relais/functions/api/lambdaenv/tasktest"
	"github.com/relais-ci/relais/shared/core"
)

// TestTasks checks the function's handler against the samples in events/action.
func TestTasks(t *testing.T) {
	tasktest.Check[core.ActionTask](t, filepath.Join("..", "..", "events", "action"))
}
