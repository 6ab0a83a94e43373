package buildrunner

import (
	"context"
	"io"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// BenchmarkOverhead measures the runner on a buildspec of 4 phases × 5 "true" commands
// against the same 20 commands in one "bash -c", alternating the two in one run, and
// reports both and their ratio (wall-clock time).
func BenchmarkOverhead(b *testing.B) {
	var spec strings.Builder
	spec.WriteString("version: 0.2\nphases:\n")
	for _, p := range []string{"install", "pre_build", "build", "post_build"} {
		spec.WriteString("  " + p + ":\n    commands:\n")
		for range 5 {
			spec.WriteString("      - \"true\"\n")
		}
	}
	script := strings.TrimSuffix(strings.Repeat("true; ", 20), "; ")
	r := New()
	ws := b.TempDir()
	var runner, bash time.Duration
	b.ResetTimer()
	for b.Loop() {
		start := time.Now()
		res, err := r.Run(context.Background(), Request{Workspace: ws, Buildspec: spec.String(), Log: io.Discard})
		if err != nil || res.Status != StatusSucceeded {
			b.Fatalf("runner: %v %v", err, res.Status)
		}
		runner += time.Since(start)

		start = time.Now()
		if err := exec.Command("bash", "-c", script).Run(); err != nil {
			b.Fatal(err)
		}
		bash += time.Since(start)
	}
	n := float64(b.N)
	b.ReportMetric(float64(runner.Nanoseconds())/n, "runner-ns/build")
	b.ReportMetric(float64(bash.Nanoseconds())/n, "bash-ns/build")
	b.ReportMetric(float64(runner)/float64(bash), "ratio")
}
