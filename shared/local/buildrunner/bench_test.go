package buildrunner

import (
	"context"
	"io"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

// BenchmarkOverhead measures the runner on a buildspec of 4 phases × 5 "true" commands
// against the same 20 commands in one "bash -c", alternating the two in one run, and
// reports both and their ratio: in wall-clock time, and in CPU time (this process and
// its children, user and system), which a machine shared with other work disturbs less.
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
	var runner, bash, runnerCPU, bashCPU time.Duration
	b.ResetTimer()
	for b.Loop() {
		cpu0 := cpuTime()
		start := time.Now()
		res, err := r.Run(context.Background(), Request{Workspace: ws, Buildspec: spec.String(), Log: io.Discard})
		if err != nil || res.Status != StatusSucceeded {
			b.Fatalf("runner: %v %v", err, res.Status)
		}
		runner += time.Since(start)
		cpu1 := cpuTime()
		runnerCPU += cpu1 - cpu0

		start = time.Now()
		if err := exec.Command("bash", "-c", script).Run(); err != nil {
			b.Fatal(err)
		}
		bash += time.Since(start)
		bashCPU += cpuTime() - cpu1
	}
	n := float64(b.N)
	b.ReportMetric(float64(runner.Nanoseconds())/n, "runner-ns/build")
	b.ReportMetric(float64(bash.Nanoseconds())/n, "bash-ns/build")
	b.ReportMetric(float64(runner)/float64(bash), "ratio")
	b.ReportMetric(float64(runnerCPU)/float64(bashCPU), "cpu-ratio")
}

// cpuTime is the CPU time used so far by this process and its waited-for children.
func cpuTime() time.Duration {
	var self, children syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &self)
	_ = syscall.Getrusage(syscall.RUSAGE_CHILDREN, &children)
	tv := func(t syscall.Timeval) time.Duration { return time.Duration(t.Nano()) }
	return tv(self.Utime) + tv(self.Stime) + tv(children.Utime) + tv(children.Stime)
}
