package buildrunner

import (
	"io"
	"sort"
	"strings"
	"sync"

	"github.com/relais-ci/relais/shared/core"
)

// logTime is the time format of CodeBuild's "[Container]" lines.
const logTime = "2006/01/02 15:04:05.000000"

// mask is what a secret's value is replaced with in the log.
const mask = "***"

// buildLog writes a build's log: the agent's own "[Container] <time> …" lines and the
// commands' output, line by line, with secret values masked. Both the runner and the
// shell's output reader write to it, so it is locked.
type buildLog struct {
	mu      sync.Mutex
	w       io.Writer
	clock   core.Clock
	secrets []string // longest first
	err     error    // the first write error; the build goes on without a log
	closed  bool     // Run has returned: the caller's writer is no longer ours
}

// close stops all writing: output still draining from killed processes is dropped.
func (l *buildLog) close() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.closed = true
}

func newBuildLog(w io.Writer, clock core.Clock) *buildLog {
	if w == nil {
		w = io.Discard
	}
	return &buildLog{w: w, clock: clock}
}

// addSecret makes every later line hide value, and each line of a multi-line value.
func (l *buildLog) addSecret(value string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	add := func(s string) {
		if strings.TrimSpace(s) != "" {
			l.secrets = append(l.secrets, s)
		}
	}
	add(value)
	if strings.Contains(value, "\n") {
		for _, line := range strings.Split(value, "\n") {
			if len(strings.TrimSpace(line)) >= 4 {
				add(strings.TrimRight(line, "\r"))
			}
		}
	}
	sort.Slice(l.secrets, func(i, j int) bool { return len(l.secrets[i]) > len(l.secrets[j]) })
}

func (l *buildLog) masked(s string) string {
	for _, v := range l.secrets {
		if strings.Contains(s, v) {
			s = strings.ReplaceAll(s, v, mask)
		}
	}
	return s
}

// agent writes a "[Container]" line (several, if msg has newlines).
func (l *buildLog) agent(msg string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	prefix := "[Container] " + l.clock.Now().UTC().Format(logTime) + " "
	l.write(prefix + l.masked(msg) + "\n")
}

// output writes one line of a command's output.
func (l *buildLog) output(line string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.write(l.masked(line) + "\n")
}

func (l *buildLog) write(s string) {
	if l.err != nil || l.closed {
		return
	}
	if _, err := io.WriteString(l.w, s); err != nil {
		l.err = err
	}
}
