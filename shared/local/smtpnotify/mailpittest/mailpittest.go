// Package mailpittest runs a real SMTP server for tests: mailpit
// (github.com/axllent/mailpit), pinned to Version, started on free loopback ports and
// read back through its HTTP API.
//
// The binary is $RELAIS_MAILPIT (what `make tools-go` installs and exports), or else
// <user cache dir>/relais/tools/mailpit-<Version>/mailpit. When it is missing the first
// test installs it there with `go install github.com/axllent/mailpit@<Version>` (about
// 30 s, up to minutes on a busy machine; it needs only the Go module proxy), under a file
// lock so that parallel test binaries install once. With -short a missing binary skips
// the test instead.
package mailpittest

import (
	"encoding/json"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Version is the mailpit release the tests use.
const Version = "v1.33.1"

// Module is what go install installs.
const Module = "github.com/axllent/mailpit"

// Binary returns the path of the mailpit binary, installing it if need be.
func Binary(t testing.TB) string {
	t.Helper()
	bin := os.Getenv("RELAIS_MAILPIT")
	if bin == "" {
		cache, err := os.UserCacheDir()
		if err != nil {
			cache = os.TempDir()
		}
		bin = filepath.Join(cache, "relais", "tools", "mailpit-"+Version, "mailpit")
		if runtime.GOOS == "windows" {
			bin += ".exe"
		}
	}
	if _, err := os.Stat(bin); err == nil {
		return bin
	}
	if testing.Short() {
		t.Skipf("mailpit is not installed at %s (make tools-go) and -short is set", bin)
	}
	dir := filepath.Dir(bin)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatalf("install mailpit: %v", err)
	}
	// Test binaries of several packages may install at once: one does, the others wait.
	lock, err := os.OpenFile(filepath.Join(dir, ".lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		t.Fatalf("install mailpit: %v", err)
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		t.Fatalf("install mailpit: lock: %v", err)
	}
	defer syscall.Flock(int(lock.Fd()), syscall.LOCK_UN)
	if _, err := os.Stat(bin); err == nil {
		return bin
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		goBin = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	cmd := exec.Command(goBin, "install", Module+"@"+Version)
	cmd.Env = append(os.Environ(), "GOBIN="+dir, "GOFLAGS=", "CGO_ENABLED=0")
	cmd.Dir = dir // outside any module: go install pkg@version ignores the caller's go.mod anyway
	t.Logf("installing mailpit %s into %s (go install, about 30 s)", Version, dir)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go install %s@%s: %v\n%s", Module, Version, err, out)
	}
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("go install %s@%s did not make %s: %v", Module, Version, bin, err)
	}
	return bin
}

// Server is a running mailpit.
type Server struct {
	// SMTP is the host:port of its SMTP server.
	SMTP string
	// API is the base URL of its web UI and API.
	API string
}

// Start starts mailpit on free loopback ports, with extra flags if any (authentication,
// STARTTLS); it stops when the test ends.
func Start(t testing.TB, flags ...string) *Server {
	t.Helper()
	bin := Binary(t)
	smtpAddr, httpAddr := freeAddr(t), freeAddr(t)
	args := append([]string{"-l", httpAddr, "-s", smtpAddr, "--disable-version-check",
		"--database", filepath.Join(t.TempDir(), "mailpit.db")}, flags...)
	cmd := exec.Command(bin, args...)
	out := &lockedBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatalf("start mailpit: %v", err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	s := &Server{SMTP: smtpAddr, API: "http://" + httpAddr}
	deadline := time.Now().Add(15 * time.Second)
	for {
		resp, err := http.Get(s.API + "/api/v1/messages")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				if c, err := net.DialTimeout("tcp", smtpAddr, time.Second); err == nil {
					c.Close()
					return s
				}
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("mailpit did not start: %v\n%s", err, out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Address is a mail address as mailpit reports it.
type Address struct {
	Name    string `json:"Name"`
	Address string `json:"Address"`
}

// Summary is a message in mailpit's list.
type Summary struct {
	ID      string    `json:"ID"`
	From    Address   `json:"From"`
	To      []Address `json:"To"`
	Subject string    `json:"Subject"`
}

// Message is one message as mailpit's message endpoint reports it.
type Message struct {
	ID      string    `json:"ID"`
	From    Address   `json:"From"`
	To      []Address `json:"To"`
	Subject string    `json:"Subject"`
	Date    time.Time `json:"Date"`
	Text    string    `json:"Text"`
	HTML    string    `json:"HTML"`
}

// Messages returns the messages received so far, newest first.
func (s *Server) Messages(t testing.TB) []Summary {
	t.Helper()
	var list struct {
		Messages []Summary `json:"messages"`
	}
	s.get(t, "/api/v1/messages", &list)
	return list.Messages
}

// Wait returns the messages once there are at least n, or fails the test.
func (s *Server) Wait(t testing.TB, n int) []Summary {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		ms := s.Messages(t)
		if len(ms) >= n {
			return ms
		}
		if time.Now().After(deadline) {
			t.Fatalf("mailpit has %d message(s), want %d", len(ms), n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Message returns one message, its text and HTML parts decoded.
func (s *Server) Message(t testing.TB, id string) Message {
	t.Helper()
	var m Message
	s.get(t, "/api/v1/message/"+id, &m)
	return m
}

// Headers returns one message's headers.
func (s *Server) Headers(t testing.TB, id string) map[string][]string {
	t.Helper()
	var h map[string][]string
	s.get(t, "/api/v1/message/"+id+"/headers", &h)
	return h
}

func (s *Server) get(t testing.TB, path string, v any) {
	t.Helper()
	resp, err := http.Get(s.API + path)
	if err != nil {
		t.Fatalf("mailpit GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("mailpit GET %s: %s", path, resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatalf("mailpit GET %s: %v", path, err)
	}
}

func freeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return "127.0.0.1:" + strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
}

type lockedBuffer struct {
	mu  sync.Mutex
	buf []byte
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf = append(b.buf, p...)
	return len(p), nil
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return string(b.buf)
}
