package sqlitestore

import (
	"path/filepath"
	"testing"

	"github.com/relais-ci/relais/shared/core"
	"github.com/relais-ci/relais/shared/core/coretest"
)

// open returns a Store on a new file in t's temporary directory, closed when t ends.
func open(t testing.TB, opts ...Option) *Store {
	t.Helper()
	s, err := Open(t.Context(), filepath.Join(t.TempDir(), "relais.db"), opts...)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return s
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
