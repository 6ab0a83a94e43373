package buildrunner

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"github.com/relais-ci/relais/shared/local/proc"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// session is the shell a build's commands run in: one long-lived process, so that cd,
// exported and plain variables, functions and shell options carry over from command to
// command and from phase to phase, as in CodeBuild's buildspec 0.2.
//
// A block of commands (a phase's commands, or its finally) is written to a script file
// that the shell sources, one line on its standard input: each command is evaluated in
// the shell itself (a subshell for buildspec 0.1) with /dev/null as its input, between
// a start and an end marker; the first failure ends the block. Sourcing a file, which
// the shell reads in blocks, costs one round trip per block instead of one per command,
// and spares bash from reading its input pipe a byte at a time.
//
// The commands' standard output and error go, merged, into one pipe that a reader turns
// into log lines. Markers are printed on a duplicate of that pipe's descriptor (so
// "exec >file" in a command does not hide them), after the command's own output, and
// each is made of two halves so that no trace (set -x) contains one. The reader logs
// "Running command …" when it meets a start marker, so the log keeps the shell's order.
//
// A command that ends the shell (exit, or a failure under set -e) fires the shell's EXIT
// trap, which saves the shell's state to a file and prints a marker; the session then
// starts a new shell that restores that state, and the build goes on.
//
// Every shell runs in its own process group; kill ends those groups, grandchildren too.
type session struct {
	path    string // bash or /bin/sh
	bash    bool
	dir     string
	env     []string
	tmp     string // directory for the session's files
	onLine  func(string)
	perCmd  bool // buildspec 0.1: each command in its own subshell
	tokA    string
	tokB    string
	fd      int // the descriptor markers go to
	r, w    *os.File
	markers chan marker // block ends and shell exits
	readEnd chan struct{}
	quit    chan struct{} // closed by close: nobody waits for markers any more

	mu      sync.Mutex // guards the block state the reader updates
	onStart func(i int)
	cur     int  // index of the command last started in the block, -1 before any
	curDone bool // the command at cur has ended
	curRC   int

	cmd    *exec.Cmd
	stdin  io.WriteCloser
	exited chan error
	pgids  []int
}

// marker reports the end of a block (or of an internal script) or of the shell.
type marker struct {
	exited  bool // the shell is ending (EXIT trap)
	status  int  // the exit status (exited), or the status of the sourced block
	cur     int  // the block's state when the marker came
	curDone bool
	curRC   int
}

func newSession(path string, bash bool, dir string, env []string, tmp string, perCmd bool, onLine func(string)) *session {
	fd := 9
	if bash {
		fd = 47
	}
	return &session{path: path, bash: bash, dir: dir, env: env, tmp: tmp, perCmd: perCmd,
		onLine: onLine, tokA: randomToken(), tokB: randomToken(), fd: fd,
		markers: make(chan marker, 4), readEnd: make(chan struct{}), quit: make(chan struct{}), cur: -1}
}

func randomToken() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return "relais" + hex.EncodeToString(b)
}

// start opens the output pipe, starts its reader and the first shell.
func (s *session) start() error {
	r, w, err := os.Pipe()
	if err != nil {
		return fmt.Errorf("open build output pipe: %w", err)
	}
	s.r, s.w = r, w
	go s.read()
	return s.spawn(false)
}

func (s *session) stateFile() string    { return s.tmp + "/shell-state" }
func (s *session) preambleFile() string { return s.tmp + "/shell-preamble" }
func (s *session) blockFile() string    { return s.tmp + "/shell-block" }

// spawn starts a shell, restoring the state the previous one saved when restore is set.
func (s *session) spawn(restore bool) error {
	var args []string
	if s.bash {
		args = []string{"--noprofile", "--norc"}
	}
	cmd := exec.Command(s.path, args...)
	cmd.Dir = s.dir
	cmd.Env = s.env
	cmd.Stdout = s.w
	cmd.Stderr = s.w
	cmd.SysProcAttr = proc.Attr()
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return fmt.Errorf("start build shell: %w", err)
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start build shell %s: %w", s.path, err)
	}
	s.cmd, s.stdin = cmd, stdin
	s.pgids = append(s.pgids, cmd.Process.Pid)
	exited := make(chan error, 1)
	s.exited = exited
	go func() { exited <- cmd.Wait() }()

	var pre strings.Builder
	if restore {
		fmt.Fprintf(&pre, ". %s 2>/dev/null; rm -f %s\n", quote(s.stateFile()), quote(s.stateFile()))
	}
	// The state dump: variables, functions, options and the directory. dash has no
	// declare, so only exported variables survive an exit there.
	dump := `{ export -p; set +o; printf 'cd -- %s\n' "'$PWD'"; }`
	if s.bash {
		dump = `{ declare -p; declare -f; set +o; shopt -p; printf 'cd -- %q\n' "$PWD"; }`
	}
	fmt.Fprintf(&pre, "exec %d>&1\n", s.fd)
	fmt.Fprintf(&pre, "__relais_a=%s; __relais_b=%s\n", s.tokA, s.tokB)
	fmt.Fprintf(&pre, "__relais_m() { printf '%%s%%s %%s %%d\\n' \"$__relais_a\" \"$__relais_b\" \"$1\" \"$2\" >&%d; }\n", s.fd)
	pre.WriteString("__relais_c() { __relais_rc=$1; __relais_m C \"$1\"; }\n")
	fmt.Fprintf(&pre, "__relais_exit() { __relais_rc=$?; %s >%s 2>/dev/null; __relais_m X \"$__relais_rc\"; }\n", dump, quote(s.stateFile()))
	pre.WriteString("trap __relais_exit EXIT\n")
	if err := os.WriteFile(s.preambleFile(), []byte(pre.String()), 0o600); err != nil {
		return fmt.Errorf("start build shell: %w", err)
	}
	if _, err := fmt.Fprintf(s.stdin, ". %s\n", quote(s.preambleFile())); err != nil {
		return fmt.Errorf("start build shell: %w", err)
	}
	return nil
}

// quote makes s one single-quoted shell word.
func quote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// read turns the pipe into log lines and markers until the pipe closes.
func (s *session) read() {
	defer close(s.readEnd)
	br := bufio.NewReaderSize(s.r, 64*1024)
	token := []byte(s.tokA + s.tokB)
	var partial []byte
	for {
		chunk, err := br.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			// A very long line: log it in pieces rather than hold it all.
			partial = append(partial, chunk...)
			if len(partial) >= 1<<20 {
				s.onLine(string(partial))
				partial = partial[:0]
			}
			continue
		}
		line := chunk
		if len(partial) > 0 {
			line = append(partial, chunk...)
			partial = partial[:0]
		}
		if len(line) > 0 {
			s.handle(bytes.TrimSuffix(bytes.TrimSuffix(line, []byte("\n")), []byte("\r")), token)
		}
		if err != nil {
			return
		}
	}
}

func (s *session) handle(line, token []byte) {
	i := bytes.Index(line, token)
	if i < 0 {
		s.onLine(string(line))
		return
	}
	if i > 0 {
		// Output that did not end with a newline before the marker.
		s.onLine(string(line[:i]))
	}
	fields := strings.Fields(string(line[i+len(token):]))
	if len(fields) != 2 {
		return
	}
	n, err := strconv.Atoi(fields[1])
	if err != nil {
		return
	}
	s.mu.Lock()
	switch fields[0] {
	case "S":
		s.cur, s.curDone, s.curRC = n, false, 0
		onStart := s.onStart
		s.mu.Unlock()
		if onStart != nil {
			onStart(n)
		}
		return
	case "C":
		s.curDone, s.curRC = true, n
		s.mu.Unlock()
		return
	}
	m := marker{exited: fields[0] == "X", status: n, cur: s.cur, curDone: s.curDone, curRC: s.curRC}
	s.mu.Unlock()
	select {
	case s.markers <- m:
	case <-s.quit:
	}
}

// stopped is returned when done closed before the commands ended.
type stopped struct{}

func (stopped) Error() string { return "stopped" }

// runBlock runs cmds in order until one fails, calling onStart (from another goroutine)
// as each starts. It returns the index of the command that failed and its exit status,
// or len(cmds) and 0. It returns a stopped error when done closes first (the caller then
// kills the session), and errShellGone when a shell that ended cannot be replaced.
func (s *session) runBlock(cmds []string, onStart func(i int), done <-chan struct{}) (int, int, error) {
	base := 0
	for base < len(cmds) {
		rest := cmds[base:]
		offset := base
		m, err := s.block(rest, func(i int) { onStart(offset + i) }, done)
		if err != nil {
			return base, 0, err
		}
		switch {
		case m.cur < 0:
			// The shell ended before the first command started (a killed shell).
			return base, m.status, nil
		case !m.curDone:
			// The command ended the shell (exit, set -e) or returned from the block.
			if m.status != 0 {
				return base + m.cur, m.status, nil
			}
			base += m.cur + 1 // exit 0: a success; the rest of the block goes on
		case m.curRC != 0:
			return base + m.cur, m.curRC, nil
		default:
			return len(cmds), 0, nil
		}
	}
	return len(cmds), 0, nil
}

// block sources one block script and waits for its end (or the shell's).
func (s *session) block(cmds []string, onStart func(i int), done <-chan struct{}) (marker, error) {
	open, close := "{", "}"
	if s.perCmd {
		open, close = "(", ")"
	}
	var sb strings.Builder
	for i, c := range cmds {
		fmt.Fprintf(&sb, "__relais_m S %d; %s eval %s\n%s </dev/null; __relais_c $?; [ \"$__relais_rc\" -eq 0 ] || return 0\n", i, open, quote(c), close)
	}
	if err := os.WriteFile(s.blockFile(), []byte(sb.String()), 0o600); err != nil {
		return marker{}, fmt.Errorf("write commands: %w", err)
	}
	s.mu.Lock()
	s.onStart, s.cur, s.curDone, s.curRC = onStart, -1, false, 0
	s.mu.Unlock()
	return s.send(fmt.Sprintf(". %s; __relais_m E $?\n", quote(s.blockFile())), done)
}

// internal runs a script of Relais's own (not logged) in the session and returns its
// status.
func (s *session) internal(script string, done <-chan struct{}) (int, error) {
	s.mu.Lock()
	s.onStart, s.cur, s.curDone, s.curRC = nil, -1, false, 0
	s.mu.Unlock()
	m, err := s.send(script+"\n__relais_m E $?\n", done)
	return m.status, err
}

func (s *session) send(script string, done <-chan struct{}) (marker, error) {
	if s.cmd == nil {
		return marker{}, errShellGone
	}
	if _, err := io.WriteString(s.stdin, script); err != nil {
		// The shell is gone: what it said on its way out decides the status.
		return s.afterExit(nil, done)
	}
	select {
	case m := <-s.markers:
		if m.exited {
			return s.afterExit(&m, done)
		}
		return m, nil
	case err := <-s.exited:
		s.exited <- err
		return s.afterExit(nil, done)
	case <-done:
		return marker{}, stopped{}
	}
}

// errShellGone is returned when the shell cannot be restarted.
var errShellGone = errors.New("build shell is gone")

// afterExit handles a shell that ended during a script: it waits for the shell to be
// gone, takes the status from the EXIT trap's marker (or from the process when it was
// killed before it could print one), and starts a shell that restores the saved state.
func (s *session) afterExit(m *marker, done <-chan struct{}) (marker, error) {
	var waitErr error
	select {
	case waitErr = <-s.exited:
	case <-done:
		return marker{}, stopped{}
	}
	if m == nil {
		// The trap's marker, if any, was written before the shell ended; the reader may
		// not have passed it on yet.
		select {
		case mm := <-s.markers:
			m = &mm
		case <-time.After(500 * time.Millisecond):
		}
	}
	if m == nil {
		s.mu.Lock()
		m = &marker{status: exitCode(waitErr), cur: s.cur, curDone: s.curDone, curRC: s.curRC}
		s.mu.Unlock()
		if m.status == 0 {
			m.status = 1 // killed without a word: not a success
		}
		_ = os.Remove(s.stateFile()) // not this shell's
	}
	s.cmd = nil
	if err := s.spawn(m.exited); err != nil {
		return *m, errors.Join(errShellGone, err)
	}
	return *m, nil
}

func exitCode(err error) int {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if st, ok := ee.Sys().(syscall.WaitStatus); ok && st.Signaled() {
			return 128 + int(st.Signal())
		}
		return ee.ExitCode()
	}
	if err != nil {
		return -1
	}
	return 0
}

// kill ends every process group the session started, grandchildren included.
func (s *session) kill() {
	for _, pg := range s.pgids {
		_ = syscall.Kill(-pg, syscall.SIGKILL)
	}
}

// close ends the shell and kills what it left running, as a finished CodeBuild
// container does. The commands' output is complete by then (every block's end marker
// follows its output), so the pipe is closed without waiting for it to drain; a
// process that left the groups (setsid) and still holds it does not hold the build.
func (s *session) close() {
	close(s.quit)
	if s.cmd != nil {
		_ = s.stdin.Close()
	}
	s.kill()
	s.cmd = nil
	if s.w != nil {
		_ = s.w.Close()
	}
	if s.r != nil {
		_ = s.r.Close()
	}
}
