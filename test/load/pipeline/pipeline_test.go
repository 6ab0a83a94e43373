// Package pipeline measures the orchestration overhead of the local runtime: how long
// Relais itself takes per action — gates, compiled machine, interpreter checkpoints in
// SQLite, action records — when the actions' own work is nothing.
//
//	go test -run '^$' -bench . -benchtime 3x ./test/load/pipeline
//
// Actions are run by servetest's fake provider, which does no work (the action time is
// that of writing a tiny artifact), so wall time per action is the overhead. Peak RSS is
// the process's high-water mark (VmHWM) after the benchmark.
package pipeline

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/relais-ci/relais/shared/core"
	"github.com/relais-ci/relais/shared/local/serve/servetest"
)

// fiveByFour is 5 stages × 4 actions: a stage of four sources, then four stages of two
// runOrder groups of two actions each.
func fiveByFour(name, mode string) []byte {
	var src []servetest.Act
	for i := range 4 {
		src = append(src, servetest.Act{Name: fmt.Sprintf("Src%d", i), Category: "Source", Out: []string{fmt.Sprintf("Code%d", i)}})
	}
	stages := []servetest.Stage{{Name: "Source", Actions: src}}
	for s := range 4 {
		var acts []servetest.Act
		for a := range 4 {
			acts = append(acts, servetest.Act{Name: fmt.Sprintf("Step%d", a), Category: "Build", RunOrder: 1 + a/2, In: []string{"Code0"}})
		}
		stages = append(stages, servetest.Stage{Name: fmt.Sprintf("Stage%d", s), Actions: acts})
	}
	return servetest.Declaration(name, mode, stages...)
}

const actionsPerExecution = 20

func BenchmarkOneExecution(b *testing.B) {
	e := servetest.New(b)
	e.Install(b, fiveByFour("bench", "QUEUED"))
	b.ResetTimer()
	start := time.Now()
	for range b.N {
		id := e.Start(b, "bench")
		e.Expect(b, "bench", id, core.ExecutionSucceeded)
	}
	elapsed := time.Since(start)
	b.ReportMetric(float64(elapsed.Microseconds())/1000/float64(b.N*actionsPerExecution), "ms/action")
	reportRSS(b)
}

func BenchmarkHundredQueued(b *testing.B)   { hundred(b, "QUEUED") }
func BenchmarkHundredParallel(b *testing.B) { hundred(b, "PARALLEL") }

// hundred starts 100 executions at once and waits for all of them.
func hundred(b *testing.B, mode string) {
	e := servetest.New(b)
	e.Install(b, fiveByFour("bench", mode))
	b.ResetTimer()
	start := time.Now()
	for range b.N {
		ids := make([]string, 100)
		for i := range ids {
			ids[i] = e.Start(b, "bench")
		}
		var wg sync.WaitGroup
		for _, id := range ids {
			wg.Add(1)
			go func() {
				defer wg.Done()
				e.Expect(b, "bench", id, core.ExecutionSucceeded)
			}()
		}
		wg.Wait()
	}
	elapsed := time.Since(start)
	n := float64(b.N * 100)
	b.ReportMetric(n/elapsed.Seconds(), "executions/s")
	b.ReportMetric(float64(elapsed.Microseconds())/1000/(n*actionsPerExecution), "ms/action")
	reportRSS(b)
}

func reportRSS(b *testing.B) {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return
	}
	for _, line := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, _ := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")))
			b.ReportMetric(float64(kb)/1024, "peak-RSS-MB")
		}
	}
}

// TestFiveByFourRuns keeps the benchmark's pipeline honest: it is valid and runs.
func TestFiveByFourRuns(t *testing.T) {
	e := servetest.New(t)
	e.Install(t, fiveByFour("bench", "PARALLEL"))
	id := e.Start(t, "bench")
	e.Expect(t, "bench", id, core.ExecutionSucceeded)
	if n := len(e.Actions(t, "bench", id)); n != actionsPerExecution {
		t.Errorf("got %d actions, want %d", n, actionsPerExecution)
	}
}
