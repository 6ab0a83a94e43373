package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func runBuildCLI(args ...string) (code int, stdout, stderr string) {
	var out, errOut bytes.Buffer
	code = run(context.Background(), append([]string{"build"}, args...), stdio{strings.NewReader(""), &out, &errOut})
	return code, out.String(), errOut.String()
}

// buildSource makes a source directory holding a buildspec (and files).
func buildSource(t *testing.T, spec string, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	if spec != "" {
		files = buildMergeFiles(files, map[string]string{"buildspec.yml": spec})
	}
	for name, body := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func buildMergeFiles(a, b map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range a {
		out[k] = v
	}
	for k, v := range b {
		out[k] = v
	}
	return out
}

func TestBuildCommand(t *testing.T) {
	good := `version: 0.2
env:
  exported-variables: [GREETING]
phases:
  build:
    commands:
      - export GREETING="hello $WHO"
      - mkdir -p out && echo "$GREETING" > out/greeting.txt
artifacts:
  base-directory: out
  files: ['**/*']
`
	failing := "version: 0.2\nphases:\n  build:\n    commands: ['echo before', 'exit 3']\n"
	unknownKey := "version: 0.2\nenv:\n  variable:\n    A: b\nphases:\n  build:\n    commands: ['echo ran']\n"
	batch := "version: 0.2\nbatch:\n  build-list:\n    - identifier: a\nphases:\n  build:\n    commands: ['echo batch ran']\n"
	secret := "version: 0.2\nenv:\n  parameter-store:\n    PW: /app/pw\nphases:\n  build:\n    commands: ['echo \"pw=$PW\"']\n"
	secretsFile := filepath.Join(t.TempDir(), "secrets.json")
	if err := os.WriteFile(secretsFile, []byte(`{"parameter-store": {"/app/pw": "s3cr3t-value"}}`), 0o600); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name    string
		spec    string
		args    func(src, out string) []string
		code    int
		stdout  []string // substrings
		stderr  []string
		absent  []string // substrings stdout must not have
		outFile string   // a file --out must hold
	}{
		{
			name:    "a succeeding build",
			spec:    good,
			args:    func(src, out string) []string { return []string{"--src", src, "--out", out, "--env", "WHO=world"} },
			code:    0,
			stdout:  []string{"Running command export GREETING=\"hello $WHO\"", "SUCCEEDED in", "GREETING=hello world", "relais-local.zip (1 files)"},
			outFile: "relais-local.zip",
		},
		{
			name:   "a failing build",
			spec:   failing,
			args:   func(src, out string) []string { return []string{"--src", src, "--out", out} },
			code:   1,
			stdout: []string{"before", "Command did not exit successfully exit 3 exit status 3", "BUILD             FAILED", "COMMAND_EXECUTION_ERROR: Error while executing command: exit 3. Reason: exit status 3"},
		},
		{
			name: "an invalid buildspec",
			spec: "version: 0.2\nphases:\n  build:\n    commands:\n      - echo FATAL: x\n",
			args: func(src, out string) []string { return []string{"--src", src} },
			code: 1,
			stderr: []string{"is not a valid buildspec:",
				`line 5: phases.build.commands[0]: expected a command (a string), found a mapping: quote a command that contains ": "`},
		},
		{
			name:   "an unknown key is a warning, as on CodeBuild",
			spec:   unknownKey,
			args:   func(src, out string) []string { return []string{"--src", src, "--out", out} },
			code:   0,
			stdout: []string{"The following key cannot be identified: env.variable (line 3)", "ran"},
		},
		{
			name:   "--strict refuses an unknown key",
			spec:   unknownKey,
			args:   func(src, out string) []string { return []string{"--src", src, "--strict"} },
			code:   1,
			stderr: []string{"line 3: env.variable: unknown key"},
		},
		{
			name:   "a batch buildspec is refused",
			spec:   batch,
			args:   func(src, out string) []string { return []string{"--src", src, "--out", out} },
			code:   1,
			stdout: []string{"batch builds are not available locally"},
			absent: []string{"batch ran"},
		},
		{
			name:   "--ignore-batch runs it as one build",
			spec:   batch,
			args:   func(src, out string) []string { return []string{"--src", src, "--out", out, "--ignore-batch"} },
			code:   0,
			stdout: []string{"batch ran"},
		},
		{
			name:   "a secret from --secrets, masked",
			spec:   secret,
			args:   func(src, out string) []string { return []string{"--src", src, "--out", out, "--secrets", secretsFile} },
			code:   0,
			stdout: []string{"pw=***"},
			absent: []string{"s3cr3t-value"},
		},
		{
			name:   "an unresolved secret fails the build",
			spec:   secret,
			args:   func(src, out string) []string { return []string{"--src", src, "--out", out} },
			code:   1,
			stdout: []string{"DOWNLOAD_SOURCE   FAILED", "set RELAIS_SECRET_PW"},
		},
		{
			name: "--buildspec names another file",
			spec: "",
			args: func(src, out string) []string {
				return []string{"--src", src, "--out", out, "--buildspec", buildWriteTemp(t, failing)}
			},
			code:   1,
			stdout: []string{"before"},
		},
		{name: "an unknown flag", spec: good, args: func(src, out string) []string { return []string{"--src", src, "--nope"} }, code: 2, stderr: []string{"usage: relais build"}},
		{name: "an argument", spec: good, args: func(src, out string) []string { return []string{"--src", src, "extra"} }, code: 2, stderr: []string{`unexpected argument "extra"`}},
		{name: "a bad --env", spec: good, args: func(src, out string) []string { return []string{"--src", src, "--env", "NOEQUALS"} }, code: 2, stderr: []string{`want K=V, got "NOEQUALS"`}},
		{name: "a missing source", spec: good, args: func(src, out string) []string { return []string{"--src", filepath.Join(src, "nope")} }, code: 2, stderr: []string{"source:"}},
		{name: "no buildspec", spec: "", args: func(src, out string) []string { return []string{"--src", src} }, code: 2, stderr: []string{"buildspec.yml: no such file"}},
		{name: "a bad timeout", spec: good, args: func(src, out string) []string { return []string{"--src", src, "--timeout", "0s"} }, code: 2, stderr: []string{"--timeout must be positive"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := buildSource(t, tt.spec, nil)
			out := t.TempDir()
			code, stdout, stderr := runBuildCLI(tt.args(src, out)...)
			if code != tt.code {
				t.Errorf("exit code: got %d, want %d\nstdout:\n%s\nstderr:\n%s", code, tt.code, stdout, stderr)
			}
			for _, want := range tt.stdout {
				if !strings.Contains(stdout, want) {
					t.Errorf("stdout: got\n%s\nwant it to contain %q", stdout, want)
				}
			}
			for _, want := range tt.stderr {
				if !strings.Contains(stderr, want) {
					t.Errorf("stderr: got\n%s\nwant it to contain %q", stderr, want)
				}
			}
			for _, bad := range tt.absent {
				if strings.Contains(stdout, bad) {
					t.Errorf("stdout: got %q in\n%s", bad, stdout)
				}
			}
			if tt.outFile != "" {
				if _, err := os.Stat(filepath.Join(out, tt.outFile)); err != nil {
					t.Errorf("artifact: %v", err)
				}
			}
		})
	}
}

func buildWriteTemp(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "other-buildspec.yml")
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestBuildExampleHello builds examples/hello with its own buildspec, as the hello
// pipeline's Build action does.
func TestBuildExampleHello(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("needs go")
	}
	if testing.Short() {
		t.Skip("runs go vet, test and build")
	}
	root, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for !buildPathExists(filepath.Join(root, "go.mod")) {
		root = filepath.Dir(root)
	}
	out := t.TempDir()
	code, stdout, stderr := runBuildCLI("--src", filepath.Join(root, "examples", "hello"), "--out", out, "--env", "COMMIT=0123456789abcdef")
	if code != 0 {
		t.Fatalf("exit code: got %d, want 0\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	for _, want := range []string{"Runtime golang 1.26 requested", "version 0123456", "VERSION=0123456", "relais-local.zip (2 files)"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("stdout lacks %q:\n%s", want, stdout)
		}
	}
}

func buildPathExists(p string) bool { _, err := os.Stat(p); return err == nil }
