package sqlitestore

import (
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/relais-ci/relais/shared/core"
)

// The benchmarks run on a file database in WAL mode, as `relais serve` does; every write
// is a committed transaction (synchronous=NORMAL: no fsync per commit under WAL).

func BenchmarkCreateUpdateExecution(b *testing.B) {
	s, ctx := open(b), b.Context()
	i := 0
	for b.Loop() {
		i++
		e, err := s.CreateExecution(ctx, core.Execution{
			PipelineName: "build", ID: fmt.Sprintf("e%d", i), Status: core.ExecutionInProgress,
			Mode: core.ModeQueued, StartTime: t0.Add(time.Duration(i)), LastUpdateTime: t0,
		})
		if err != nil {
			b.Fatal(err)
		}
		e.Status = core.ExecutionSucceeded
		if _, err := s.UpdateExecution(ctx, e); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCreateExecutionParallel: 16 goroutines record executions at once, as
// concurrent webhook deliveries do.
func BenchmarkCreateExecutionParallel(b *testing.B) {
	s, ctx := open(b), b.Context()
	var n atomic.Int64
	b.SetParallelism(8) // 16 goroutines on 2 cores
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := n.Add(1)
			if _, err := s.CreateExecution(ctx, core.Execution{
				PipelineName: "build", ID: fmt.Sprintf("e%d", i), Status: core.ExecutionInProgress,
				Mode: core.ModeQueued, StartTime: t0.Add(time.Duration(i)), LastUpdateTime: t0,
			}); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

func BenchmarkPutAction(b *testing.B) {
	action := func(i int) core.ActionExecution {
		return core.ActionExecution{
			ID: fmt.Sprintf("a%d", i), PipelineName: "build", ExecutionID: "e1", StageName: "Build",
			ActionName: "Compile", Status: core.ActionInProgress,
			Type:          core.ActionType{Category: "Build", Owner: "AWS", Provider: "CodeBuild", Version: "1"},
			Configuration: map[string]string{"ProjectName": "relais"}, StartTime: t0.Add(time.Duration(i)),
		}
	}
	b.Run("create", func(b *testing.B) {
		s, ctx := open(b), b.Context()
		i := 0
		for b.Loop() {
			i++
			if err := s.PutAction(ctx, action(i)); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("create and succeed", func(b *testing.B) {
		s, ctx := open(b), b.Context()
		i := 0
		for b.Loop() {
			i++
			a := action(i)
			if err := s.PutAction(ctx, a); err != nil {
				b.Fatal(err)
			}
			a.Status, a.ExternalExecutionID = core.ActionSucceeded, fmt.Sprintf("build:%d", i)
			if err := s.PutAction(ctx, a); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkAcquireReleaseStage(b *testing.B) {
	s, ctx := open(b), b.Context()
	for b.Loop() {
		if err := s.AcquireStage(ctx, "build", "Deploy", "e1"); err != nil {
			b.Fatal(err)
		}
		if err := s.ReleaseStage(ctx, "build", "Deploy", "e1"); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkAcquireReleaseStageParallel: writers from every goroutine, each on its own
// stage, meet at the one write lock.
func BenchmarkAcquireReleaseStageParallel(b *testing.B) {
	s, ctx := open(b), b.Context()
	var n atomic.Int64
	b.RunParallel(func(pb *testing.PB) {
		stage := fmt.Sprintf("Stage%d", n.Add(1))
		for pb.Next() {
			if err := s.AcquireStage(ctx, "build", stage, "e1"); err != nil {
				b.Error(err)
				return
			}
			if err := s.ReleaseStage(ctx, "build", stage, "e1"); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

func BenchmarkGetExecution(b *testing.B) {
	s, ctx := open(b), b.Context()
	if _, err := s.CreateExecution(ctx, core.Execution{PipelineName: "build", ID: "e1", StartTime: t0}); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := s.GetExecution(ctx, "build", "e1"); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkListExecutions(b *testing.B) {
	s, ctx := open(b), b.Context()
	for i := range 1000 {
		if _, err := s.CreateExecution(ctx, core.Execution{
			PipelineName: "build", ID: fmt.Sprintf("e%04d", i), StartTime: t0.Add(time.Duration(i) * time.Second),
		}); err != nil {
			b.Fatal(err)
		}
	}
	for b.Loop() {
		if _, _, err := s.ListExecutions(ctx, "build", core.Page{Limit: 50}); err != nil {
			b.Fatal(err)
		}
	}
}
