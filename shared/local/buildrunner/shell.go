package buildrunner

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// session is the shell a build's commands run in: one long-lived process fed commands on
// its standard input, each followed by a status marker, so that cd, exported and plain
// variables, functions and shell options carry over from command to command and from
// phase to phase, as in CodeBuild's buildspec 0.2.
//
// A command's standard input is /dev/null; its standard output and error go, merged,
// into one pipe that a reader turns into log lines. The marker is printed on a duplicate
// of that pipe's descriptor (so "exec >file" in a command does not hide it), after the
// command's own output, and is made of two halves so that no trace (set -x) contains it.
//
// A command that ends the shell (exit, or a failure under set -e) fires the shell's EXIT
// trap, which saves the shell's state to a file and prints the marker; the session then
// starts a new shell that restores that state, and the build goes on.
//
// Every shell runs in its own process group; kill ends those groups, grandchildren too.
type session struct {
	path    string // bash or /bin/sh
	bash    bool
	dir     string
	env     []string
	tmp     string // directory for state files
	onLine  func(string)
	perCmd  bool // buildspec 0.1: each command in its own subshell
	tokA    string
	tokB    string
	fd      int // the descriptor markers go to
	r, w    *os.File
	markers chan marker
	readEnd chan struct{}

	cmd    *exec.Cmd
	stdin  io.WriteCloser
	exited chan error
	pgids  []int
}

type marker struct {
	rc     int
	exited bool // printed by the EXIT trap: the shell is ending
}

// errShellGone is returned when the shell cannot be restarted.
var errShellGone = errors.New("build shell is gone")

func newSession(path string, bash bool, dir string, env []string, tmp string, perCmd bool, onLine func(string)) *session {
	fd := 9
	if bash {
		fd = 47
	}
	return &session{path: path, bash: bash, dir: dir, env: env, tmp: tmp, perCmd: perCmd,
		onLine: onLine, tokA: randomToken(), tokB: randomToken(), fd: fd,
		markers: make(chan marker, 4), readEnd: make(chan struct{})}
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

func (s *session) stateFile() string { return s.tmp + "/shell-state" }

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
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
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
	fmt.Fprintf(&pre, "__relais_mark() { printf '%%s%%s %%d%%s\\n' \"$__relais_a\" \"$__relais_b\" \"$1\" \"$2\" >&%d; }\n", s.fd)
	fmt.Fprintf(&pre, "__relais_exit() { __relais_rc=$?; %s >%s 2>/dev/null; __relais_mark \"$__relais_rc\" ' x'; }\n", dump, quote(s.stateFile()))
	pre.WriteString("trap __relais_exit EXIT\n")
	if _, err := io.WriteString(s.stdin, pre.String()); err != nil {
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
	if len(fields) == 0 {
		return
	}
	rc, err := strconv.Atoi(fields[0])
	if err != nil {
		return
	}
	s.markers <- marker{rc: rc, exited: len(fields) > 1 && fields[1] == "x"}
}

// stopped is returned by run when done closed before the command ended.
type stopped struct{}

func (stopped) Error() string { return "stopped" }

// run runs one command and returns its exit status. It returns a stopped error when done
// closes first (the caller then kills the session), and errShellGone when a shell that
// ended could not be replaced.
func (s *session) run(text string, done <-chan struct{}) (int, error) {
	open, close := "{", "}"
	if s.perCmd {
		open, close = "(", ")"
	}
	script := fmt.Sprintf("%s eval %s\n%s </dev/null; __relais_mark $? ''\n", open, quote(text), close)
	return s.send(script, done)
}

// internal runs a line of Relais's own (not logged) in the session.
func (s *session) internal(script string, done <-chan struct{}) (int, error) {
	return s.send(script+"\n__relais_mark $? ''\n", done)
}

func (s *session) send(script string, done <-chan struct{}) (int, error) {
	if s.cmd == nil {
		return 0, errShellGone
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
		return m.rc, nil
	case err := <-s.exited:
		s.exited <- err
		return s.afterExit(nil, done)
	case <-done:
		return 0, stopped{}
	}
}

// afterExit handles a shell that ended during a command: it waits for the shell to be
// gone, takes the status from the EXIT trap's marker (or from the process when it was
// killed before it could print one), and starts a shell that restores the saved state.
func (s *session) afterExit(m *marker, done <-chan struct{}) (int, error) {
	var waitErr error
	select {
	case waitErr = <-s.exited:
	case <-done:
		return 0, stopped{}
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
	rc := exitCode(waitErr)
	restore := false
	if m != nil {
		rc, restore = m.rc, m.exited
	}
	s.cmd = nil
	if !restore {
		_ = os.Remove(s.stateFile()) // not this shell's
	}
	if err := s.spawn(restore); err != nil {
		return rc, errors.Join(errShellGone, err)
	}
	return rc, nil
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

// close ends the shell, kills what it left running (as a finished CodeBuild container
// does), and waits for the output to drain. A process that left the groups (setsid)
// and still holds the pipe is not waited for.
func (s *session) close() {
	if s.cmd != nil {
		_, _ = io.WriteString(s.stdin, "trap - EXIT\nexit 0\n")
		_ = s.stdin.Close()
		select {
		case err := <-s.exited:
			s.exited <- err
		case <-time.After(5 * time.Second):
		}
	}
	s.kill()
	if s.cmd != nil {
		<-s.exited // killed: Wait returns
	}
	s.cmd = nil
	if s.w != nil {
		_ = s.w.Close()
	}
	if s.r != nil {
		select {
		case <-s.readEnd:
		case <-time.After(2 * time.Second):
		}
		_ = s.r.Close()
		<-s.readEnd
	}
}
