package main

import (
	"bufio"
	"context"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/relais-ci/relais/shared/api/apitest"
)

func TestWatchEndedExecutions(t *testing.T) {
	t.Run("succeeded", func(t *testing.T) {
		env := apiEnv(t)
		id := atApproval(t, env)
		env.Clock.Advance(3 * time.Second)
		if code, _, stderr := relais(t, env, "approve", "demo", "Approval", "Release", "--by", "jo"); code != 0 {
			t.Fatalf("approve: exit %d: %s", code, stderr)
		}
		env.LeaveStage(t, "demo", id, "Approval", false)
		env.Clock.Advance(2 * time.Second)
		env.RunStage(t, "demo", id, "Deploy", true)

		code, out, stderr := relais(t, env, "watch", "demo") // the newest execution
		if code != 0 {
			t.Errorf("got exit %d (%s), want 0", code, stderr)
		}
		want := `Watching demo execution ID
  Source/Checkout              Succeeded in 0s: Checkout done
Source                         Succeeded in 0s
  Build/Compile                Succeeded in 0s: Compile done
Build                          Succeeded in 0s
  Approval/Release             Succeeded in 3s: Approved by jo
Approval                       Succeeded in 3s
  Deploy/Site                  Succeeded in 0s: Site done
Deploy                         Succeeded in 0s
Execution ID Succeeded in 5s
`
		if diff := cmp.Diff(strings.ReplaceAll(want, "ID", id), out); diff != "" {
			t.Errorf("watch (-want +got):\n%s", diff)
		}
	})

	t.Run("failed", func(t *testing.T) {
		env := apiEnv(t)
		id := failedAtBuild(t, env)
		code, out, stderr := relais(t, env, "watch", "demo", id)
		if code != 1 {
			t.Errorf("got exit %d (%s), want 1", code, stderr)
		}
		want := `Watching demo execution ID
  Source/Checkout              Succeeded in 0s: Checkout done
Source                         Succeeded in 0s
  Build/Compile                Failed in 0s [BuildFailed: exit status 2]
      logs: http://127.0.0.1:8080/logs/compile
Build                          Failed in 0s
Execution ID Failed in 0s: Stage Build failed: exit status 2
`
		if diff := cmp.Diff(strings.ReplaceAll(want, "ID", id), out); diff != "" {
			t.Errorf("watch (-want +got):\n%s", diff)
		}
	})

	t.Run("stopped", func(t *testing.T) {
		env := apiEnv(t)
		id := atApproval(t, env)
		if code, _, stderr := relais(t, env, "stop", "--abandon", "--reason", "later", "demo", id); code != 0 {
			t.Fatalf("stop: exit %d: %s", code, stderr)
		}
		code, out, _ := relais(t, env, "watch", "demo", id)
		if code != 1 || !strings.HasSuffix(out, "Execution "+id+" Stopped in 0s: Stopped: later\n") {
			t.Errorf("got exit %d, %q; want 1 and the execution stopped", code, out)
		}
	})
}

func TestWatchErrors(t *testing.T) {
	env := apiEnv(t)
	for _, tc := range []struct {
		name     string
		args     []string
		wantCode int
		wantErr  string
	}{
		{"no executions", []string{"watch", "demo"}, 1, "pipeline demo has no executions"},
		{"unknown execution", []string{"watch", "demo", "00000000-0000-4000-8000-000000000000"}, 1, "PipelineExecutionNotFoundException"},
		{"missing pipeline", []string{"watch", "nope"}, 1, "PipelineNotFoundException"},
		{"too many arguments", []string{"watch", "demo", "a", "b"}, 2, "usage: relais watch"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, _, stderr := relais(t, env, tc.args...)
			if code != tc.wantCode || !strings.Contains(stderr, tc.wantErr) {
				t.Errorf("got exit %d, stderr %q; want %d and %q", code, stderr, tc.wantCode, tc.wantErr)
			}
		})
	}

	t.Run("interrupted", func(t *testing.T) {
		code, out, stderr := relais(t, env, "start", "demo")
		if code != 0 {
			t.Fatalf("start: exit %d: %s", code, stderr)
		}
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		var errOut strings.Builder
		code = run(ctx, []string{"watch", "--endpoint", env.Server.URL, "demo", strings.TrimSpace(out)}, stdio{strings.NewReader(""), io.Discard, &errOut})
		if code != 2 || !strings.Contains(errOut.String(), "interrupted") {
			t.Errorf("got exit %d, stderr %q; want 2, interrupted", code, errOut.String())
		}
	})
}

// liveCLI runs a command in the background; its output arrives line by line.
type liveCLI struct {
	lines chan string
	code  chan int
	seen  []string
}

func startCLI(t *testing.T, env *apitest.Env, args ...string) *liveCLI {
	t.Helper()
	pr, pw := io.Pipe()
	l := &liveCLI{lines: make(chan string, 1000), code: make(chan int, 1)}
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			l.lines <- sc.Text()
		}
		close(l.lines)
	}()
	args = append([]string{args[0], "--endpoint", env.Server.URL, "--interval", "1ms"}, args[1:]...)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	go func() {
		code := run(ctx, args, stdio{strings.NewReader(""), pw, io.Discard})
		pw.Close()
		l.code <- code
	}()
	return l
}

// waitFor reads output until a line contains s, and returns that line.
func (l *liveCLI) waitFor(t *testing.T, s string) string {
	t.Helper()
	// A bound so that a broken command fails the test instead of hanging it; nothing
	// is asserted about how long the command takes.
	deadline := time.After(30 * time.Second)
	for {
		select {
		case line, ok := <-l.lines:
			if !ok {
				t.Fatalf("output ended without %q:\n%s", s, strings.Join(l.seen, "\n"))
			}
			l.seen = append(l.seen, line)
			if strings.Contains(line, s) {
				return line
			}
		case <-deadline:
			t.Fatalf("no %q in the output so far:\n%s", s, strings.Join(l.seen, "\n"))
		}
	}
}

// exit waits for the command to end, reads the rest of its output, and returns its
// exit code.
func (l *liveCLI) exit(t *testing.T) int {
	t.Helper()
	code := <-l.code
	for line := range l.lines {
		l.seen = append(l.seen, line)
	}
	return code
}

func TestWatchFollowsAnExecution(t *testing.T) {
	env := apiEnv(t)
	if code, _, stderr := relais(t, env, "transition", "disable", "demo", "Build", "--reason", "Not yet", "--by", "kim"); code != 0 {
		t.Fatalf("disable: exit %d: %s", code, stderr)
	}
	code, out, stderr := relais(t, env, "start", "demo")
	if code != 0 {
		t.Fatalf("start: exit %d: %s", code, stderr)
	}
	id := strings.TrimSpace(out)
	w := startCLI(t, env, "watch", "demo", id)
	w.waitFor(t, "Watching demo execution "+id)

	env.RunStage(t, "demo", id, "Source", false)
	env.EnterStage(t, "demo", id, "Build") // waits: the transition is disabled
	w.waitFor(t, "Build                          waiting to enter (transition disabled by kim: Not yet; relais transition enable demo Build)")
	if code, _, stderr := relais(t, env, "transition", "enable", "demo", "Build"); code != 0 {
		t.Fatalf("enable: exit %d: %s", code, stderr)
	}
	w.waitFor(t, "Build                          InProgress")
	env.RunAction(t, "demo", id, "Build", "Compile")
	env.LeaveStage(t, "demo", id, "Build", false)
	env.EnterStage(t, "demo", id, "Approval")
	env.RunAction(t, "demo", id, "Approval", "Release")
	w.waitFor(t, "Approval/Release             waiting for approval: Ship c0ffee?")
	w.waitFor(t, "approve: relais approve demo Approval Release [--comment TEXT]")
	w.waitFor(t, "reject:  relais reject demo Approval Release --comment TEXT")
	if code, _, stderr := relais(t, env, "approve", "demo", "Approval", "Release", "--by", "lee"); code != 0 {
		t.Fatalf("approve: exit %d: %s", code, stderr)
	}
	w.waitFor(t, "Approval/Release             Succeeded in 0s: Approved by lee")
	env.LeaveStage(t, "demo", id, "Approval", false)
	env.RunStage(t, "demo", id, "Deploy", true)
	w.waitFor(t, "Execution "+id+" Succeeded")
	if code := w.exit(t); code != 0 {
		t.Errorf("got exit %d, want 0:\n%s", code, strings.Join(w.seen, "\n"))
	}
	// Every change is printed once however often the state is polled.
	counts := map[string]int{}
	for _, line := range w.seen {
		counts[line]++
	}
	for line, n := range counts {
		if n > 1 && strings.TrimSpace(line) != "" {
			t.Errorf("line %q printed %d times, want once", line, n)
		}
	}
}

func TestWatchParallelApprovals(t *testing.T) {
	env := apitest.New(t)
	env.Install(t, strings.Replace(apitest.Pipeline, `"SUPERSEDED"`, `"PARALLEL"`, 1))
	older := atApproval(t, env)
	env.Clock.Advance(time.Minute)
	newer := atApproval(t, env)
	w := startCLI(t, env, "watch", "demo", older)
	// The stage shows the newer execution: the older one's approval is named.
	w.waitFor(t, "approve: relais approve demo Approval Release --execution "+older+" [--comment TEXT]")
	if code, _, stderr := relais(t, env, "approve", "demo", "Approval", "Release", "--execution", older); code != 0 {
		t.Fatalf("approve: exit %d: %s", code, stderr)
	}
	w.waitFor(t, "Approval/Release             Succeeded")
	env.LeaveStage(t, "demo", older, "Approval", false)
	env.RunStage(t, "demo", older, "Deploy", true)
	w.waitFor(t, "Execution "+older+" Succeeded")
	if code := w.exit(t); code != 0 {
		t.Errorf("got exit %d, want 0", code)
	}
	code, out, _ := relais(t, env, "status", "demo")
	if code != 0 || !strings.Contains(out, "Approval        InProgress  "+newer) {
		t.Errorf("got exit %d, status:\n%s\nwant the newer execution still waiting for approval", code, out)
	}
}
