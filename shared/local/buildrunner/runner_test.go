package buildrunner

import (
	"archive/zip"
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/relais-ci/relais/shared/buildspec"
	"github.com/relais-ci/relais/shared/core"
)

var fixedTime = time.Date(2026, 11, 25, 18, 0, 0, 123456000, time.UTC)

func testRunner() *Runner {
	return New(WithClock(core.ClockFunc(func() time.Time { return fixedTime })), WithIDs(func() string { return "0000-uuid" }))
}

// run runs a buildspec over a source directory holding files, and returns the result and
// the log with the "[Container] <time> " prefixes removed.
func run(t *testing.T, yaml string, files map[string]string, edit func(*Request)) (*Result, []string) {
	t.Helper()
	src := t.TempDir()
	writeFiles(t, src, files)
	if yaml != "" {
		writeFiles(t, src, map[string]string{"buildspec.yml": yaml})
	}
	var log bytes.Buffer
	req := Request{Workspace: t.TempDir(), Source: src, Log: &log, Timeout: time.Minute}
	if edit != nil {
		edit(&req)
	}
	res, err := testRunner().Run(context.Background(), req)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	return res, logLines(log.String())
}

func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, body := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o755); err != nil {
			t.Fatal(err)
		}
	}
}

const prefix = "[Container] 2026/11/25 18:00:00.123456 "

func logLines(s string) []string {
	lines := strings.Split(strings.TrimSuffix(s, "\n"), "\n")
	for i, l := range lines {
		lines[i] = strings.TrimPrefix(l, prefix)
	}
	return lines
}

// between returns the log lines from the first one equal to from up to (not including)
// the first one after it equal to to.
func between(lines []string, from, to string) []string {
	start := -1
	for i, l := range lines {
		if start < 0 && l == from {
			start = i
		} else if start >= 0 && l == to {
			return lines[start:i]
		}
	}
	if start < 0 {
		return nil
	}
	return lines[start:]
}

// statuses returns "PHASE STATUS" for each phase that ran.
func statuses(r *Result) []string {
	var out []string
	for _, p := range r.Phases {
		out = append(out, strings.TrimSpace(string(p.Type)+" "+string(p.Status)))
	}
	return out
}

func withStatuses(install, pre, build, post, upload string) []string {
	out := []string{"SUBMITTED SUCCEEDED", "QUEUED SUCCEEDED", "PROVISIONING SUCCEEDED", "DOWNLOAD_SOURCE SUCCEEDED"}
	for _, s := range []struct{ p, st string }{{"INSTALL", install}, {"PRE_BUILD", pre}, {"BUILD", build}, {"POST_BUILD", post}, {"UPLOAD_ARTIFACTS", upload}} {
		if s.st != "" {
			out = append(out, s.p+" "+s.st)
		}
	}
	return append(out, "FINALIZING SUCCEEDED", "COMPLETED")
}

func TestRunLogOfASucceedingBuild(t *testing.T) {
	res, lines := run(t, `version: 0.2
phases:
  build:
    commands:
      - echo hello
      - printf 'no newline'
      - echo after
`, nil, nil)
	if res.Status != StatusSucceeded {
		t.Fatalf("status: got %s, want SUCCEEDED\n%s", res.Status, strings.Join(lines, "\n"))
	}
	want := []string{
		"Entering phase BUILD",
		"Running command echo hello",
		"hello",
		"Running command printf 'no newline'",
		"no newline",
		"Running command echo after",
		"after",
		"Phase complete: BUILD State: SUCCEEDED",
		"Phase context status code:  Message: ",
	}
	if diff := cmp.Diff(want, between(lines, "Entering phase BUILD", "Entering phase POST_BUILD")); diff != "" {
		t.Errorf("log (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(withStatuses("SUCCEEDED", "SUCCEEDED", "SUCCEEDED", "SUCCEEDED", "SUCCEEDED"), statuses(res)); diff != "" {
		t.Errorf("phases (-want +got):\n%s", diff)
	}
	if got, want := res.BuildID, "relais-local:0000-uuid"; got != want {
		t.Errorf("build id: got %q, want %q", got, want)
	}
	if got, want := res.BuildARN, "arn:aws:codebuild:us-east-1:000000000000:build/relais-local:0000-uuid"; got != want {
		t.Errorf("build arn: got %q, want %q", got, want)
	}
}

// TestPhaseRules runs small shell buildspecs through CodeBuild's phase rules.
func TestPhaseRules(t *testing.T) {
	tests := []struct {
		name   string
		yaml   string
		status Status
		phases []string
		// out is the commands' output, in order ("[Container]" lines left out), less
		// lines containing drop when it is set.
		out  []string
		drop string
	}{
		{
			name: "a failing command ends its phase; post_build runs with CODEBUILD_BUILD_SUCCEEDING=0",
			yaml: `version: 0.2
phases:
  build:
    commands:
      - echo one
      - "false"
      - echo never
  post_build:
    commands:
      - echo "succeeding=$CODEBUILD_BUILD_SUCCEEDING"
`,
			status: StatusFailed,
			phases: withStatuses("SUCCEEDED", "SUCCEEDED", "FAILED", "SUCCEEDED", "SUCCEEDED"),
			out:    []string{"one", "succeeding=0"},
		},
		{
			name: "post_build sees CODEBUILD_BUILD_SUCCEEDING=1 after a good build",
			yaml: `version: 0.2
phases:
  build:
    commands: ["true"]
  post_build:
    commands: ['echo "succeeding=$CODEBUILD_BUILD_SUCCEEDING"']
`,
			status: StatusSucceeded,
			phases: withStatuses("SUCCEEDED", "SUCCEEDED", "SUCCEEDED", "SUCCEEDED", "SUCCEEDED"),
			out:    []string{"succeeding=1"},
		},
		{
			name: "install failure stops everything",
			yaml: `version: 0.2
phases:
  install:
    commands: ["exit 3"]
    finally: [echo install-finally]
  pre_build:
    commands: [echo pre]
  build:
    commands: [echo build]
  post_build:
    commands: [echo post]
artifacts:
  files: ['**/*']
`,
			status: StatusFailed,
			phases: withStatuses("FAILED", "", "", "", ""),
			out:    []string{"install-finally"},
		},
		{
			name: "pre_build failure skips build and post_build",
			yaml: `version: 0.2
phases:
  pre_build:
    commands: ["false"]
  build:
    commands: [echo build]
  post_build:
    commands: [echo post]
`,
			status: StatusFailed,
			phases: withStatuses("SUCCEEDED", "FAILED", "", "", ""),
			out:    nil,
		},
		{
			name: "on-failure CONTINUE goes on to the next phase; the build still fails",
			yaml: `version: 0.2
phases:
  pre_build:
    on-failure: CONTINUE
    commands: ["false", echo skipped]
  build:
    commands: ['echo "build succeeding=$CODEBUILD_BUILD_SUCCEEDING"']
`,
			status: StatusFailed,
			phases: withStatuses("SUCCEEDED", "FAILED", "SUCCEEDED", "SUCCEEDED", "SUCCEEDED"),
			out:    []string{"build succeeding=0"},
		},
		{
			name: "on-failure ABORT on build skips post_build and artifacts",
			yaml: `version: 0.2
phases:
  build:
    on-failure: ABORT
    commands: ["false"]
    finally: [echo build-finally]
  post_build:
    commands: [echo post]
artifacts:
  files: ['**/*']
`,
			status: StatusFailed,
			phases: withStatuses("SUCCEEDED", "SUCCEEDED", "FAILED", "", ""),
			out:    []string{"build-finally"},
		},
		{
			name: "on-failure CONTINUE on install goes on to the next phases",
			yaml: `version: 0.2
phases:
  install:
    on-failure: CONTINUE
    commands: ["exit 1"]
    finally: [echo install-finally]
  pre_build:
    commands: ['echo "pre succeeding=$CODEBUILD_BUILD_SUCCEEDING"']
  post_build:
    commands: [echo post]
`,
			status: StatusFailed,
			phases: withStatuses("FAILED", "SUCCEEDED", "SUCCEEDED", "SUCCEEDED", "SUCCEEDED"),
			out:    []string{"install-finally", "pre succeeding=0", "post"},
		},
		{
			name: "exit 0 ends the shell but not the phase",
			yaml: `version: 0.2
phases:
  build:
    commands: ["export K=kept; exit 0", 'echo "after K=$K"']
`,
			status: StatusSucceeded,
			phases: withStatuses("SUCCEEDED", "SUCCEEDED", "SUCCEEDED", "SUCCEEDED", "SUCCEEDED"),
			out:    []string{"after K=kept"},
		},
		{
			name: "finally runs after success and after failure; a failing finally fails the phase",
			yaml: `version: 0.2
phases:
  install:
    commands: [echo i]
    finally: [echo i-finally]
  pre_build:
    commands: [echo p]
    finally: ["false", echo not-reached]
  build:
    commands: [echo b]
`,
			status: StatusFailed,
			phases: withStatuses("SUCCEEDED", "FAILED", "", "", ""),
			out:    []string{"i", "i-finally", "p"},
		},
		{
			name: "cd, exported and plain variables, functions carry across commands and phases",
			yaml: `version: 0.2
phases:
  install:
    commands:
      - mkdir -p sub/dir && cd sub
      - export EXPORTED=e1
      - PLAIN=p1
      - greet() { echo "hi $1"; }
  build:
    commands:
      - cd dir
      - 'echo "$(basename "$PWD") $EXPORTED $PLAIN"'
      - greet there
      - sh -c 'echo "child sees [$EXPORTED] [$PLAIN]"'
  post_build:
    commands: [basename "$PWD"]
`,
			status: StatusSucceeded,
			phases: withStatuses("SUCCEEDED", "SUCCEEDED", "SUCCEEDED", "SUCCEEDED", "SUCCEEDED"),
			out:    []string{"dir e1 p1", "hi there", "child sees [e1] []", "dir"},
		},
		{
			name: "exit in a command fails it, and the session keeps its state",
			yaml: `version: 0.2
phases:
  build:
    on-failure: CONTINUE
    commands:
      - mkdir -p keep && cd keep && export KEPT=yes && LOCAL=also
      - exit 4
  post_build:
    commands:
      - 'echo "$(basename "$PWD") $KEPT $LOCAL"'
`,
			status: StatusFailed,
			phases: withStatuses("SUCCEEDED", "SUCCEEDED", "FAILED", "SUCCEEDED", "SUCCEEDED"),
			out:    []string{"keep yes also"},
		},
		{
			name: "set -e ends the shell on the next failure; the session goes on",
			yaml: `version: 0.2
phases:
  build:
    commands:
      - set -e
      - export A=1
      - "false; echo never"
  post_build:
    commands:
      - echo "A=$A"
      - case $- in *e*) echo errexit kept;; esac
`,
			status: StatusFailed,
			phases: withStatuses("SUCCEEDED", "SUCCEEDED", "FAILED", "SUCCEEDED", "SUCCEEDED"),
			out:    []string{"A=1", "errexit kept"},
		},
		{
			name: "a command reading stdin does not eat the next commands",
			yaml: `version: 0.2
phases:
  build:
    commands:
      - cat
      - read x || echo "read got EOF"
      - echo still here
`,
			status: StatusSucceeded,
			phases: withStatuses("SUCCEEDED", "SUCCEEDED", "SUCCEEDED", "SUCCEEDED", "SUCCEEDED"),
			out:    []string{"read got EOF", "still here"},
		},
		{
			name: "stderr is in the log",
			yaml: `version: 0.2
phases:
  build:
    commands: ["echo to-stderr >&2"]
`,
			status: StatusSucceeded,
			phases: withStatuses("SUCCEEDED", "SUCCEEDED", "SUCCEEDED", "SUCCEEDED", "SUCCEEDED"),
			out:    []string{"to-stderr"},
		},
		{
			name: "a syntax error fails the command only",
			yaml: `version: 0.2
phases:
  build:
    on-failure: CONTINUE
    commands: ["if then"]
  post_build:
    commands: [echo post]
`,
			status: StatusFailed,
			phases: withStatuses("SUCCEEDED", "SUCCEEDED", "FAILED", "SUCCEEDED", "SUCCEEDED"),
			out:    []string{"post"},
			drop:   "syntax error",
		},
		{
			name: "buildspec 0.1 runs each command in its own shell",
			yaml: `version: 0.1
phases:
  build:
    commands:
      - mkdir -p d && cd d && export V=1
      - 'echo "[$(basename "$PWD")] [$V]"'
`,
			status: StatusSucceeded,
			phases: withStatuses("SUCCEEDED", "SUCCEEDED", "SUCCEEDED", "SUCCEEDED", "SUCCEEDED"),
			out:    []string{"[src] []"},
		},
		{
			name: "env shell /bin/sh",
			yaml: `version: 0.2
env:
  shell: /bin/sh
phases:
  build:
    commands:
      - cd /tmp && export S=1
      - 'echo "$PWD $S ${BASH_VERSION:-no-bash}"'
      - exit 2
  post_build:
    commands: ['echo "$PWD $S"']
`,
			status: StatusFailed,
			phases: withStatuses("SUCCEEDED", "SUCCEEDED", "FAILED", "SUCCEEDED", "SUCCEEDED"),
			out:    []string{"/tmp 1 no-bash", "/tmp 1"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, lines := run(t, tt.yaml, nil, nil)
			if res.Status != tt.status {
				t.Errorf("status: got %s, want %s\n%s", res.Status, tt.status, strings.Join(lines, "\n"))
			}
			if diff := cmp.Diff(tt.phases, statuses(res)); diff != "" {
				t.Errorf("phases (-want +got):\n%s", diff)
			}
			out := commandOutput(lines)
			if tt.drop != "" {
				out = slices.DeleteFunc(out, func(l string) bool { return strings.Contains(l, tt.drop) || strings.Contains(l, "`if then'") })
			}
			if diff := cmp.Diff(tt.out, out); diff != "" {
				t.Errorf("output (-want +got):\n%s\nlog:\n%s", diff, strings.Join(lines, "\n"))
			}
		})
	}
}

// commandOutput keeps the log lines that commands wrote.
func commandOutput(lines []string) []string {
	var out []string
	for _, l := range lines {
		if !strings.HasPrefix(l, "[Container]") && !isAgentLine(l) && l != "" {
			out = append(out, l)
		}
	}
	return out
}

// isAgentLine tells the runner's own lines (prefix stripped) from command output.
func isAgentLine(l string) bool {
	for _, p := range []string{"Running ", "Entering phase", "Phase ", "Command did not", "CODEBUILD_SRC_DIR", "YAML location",
		"Processing environment", "No runtime", "Moving to", "Selecting shell", "Expanding", "Assembling", "Found ",
		"Build ", "Runtime ", "No artifacts", "Skipping", "Ignoring", "Exported variable", "Not exporting",
		"run-as", "git-credential", "Warning:", "cache:", "reports:", "    The following"} {
		if strings.HasPrefix(l, p) {
			return true
		}
	}
	return false
}

func TestMultiLineCommands(t *testing.T) {
	res, lines := run(t, `version: 0.2
phases:
  build:
    commands:
      - |
        if [ "a'b" = "a'b" ]; then
          echo "quoted ok"
        fi
      - |
        cat <<EOF
        heredoc $((1+2))
        EOF
      - "echo 'single: quote'"
`, nil, nil)
	if res.Status != StatusSucceeded {
		t.Fatalf("status: got %s", res.Status)
	}
	want := []string{
		"Entering phase BUILD",
		"Running command if [ \"a'b\" = \"a'b\" ]; then",
		"  echo \"quoted ok\"",
		"fi",
		"quoted ok",
		"Running command cat <<EOF",
		"heredoc $((1+2))",
		"EOF",
		"heredoc 3",
		"Running command echo 'single: quote'",
		"single: quote",
		"Phase complete: BUILD State: SUCCEEDED",
		"Phase context status code:  Message: ",
	}
	if diff := cmp.Diff(want, between(lines, "Entering phase BUILD", "Entering phase POST_BUILD")); diff != "" {
		t.Errorf("log (-want +got):\n%s", diff)
	}
}

func TestFailureContext(t *testing.T) {
	res, lines := run(t, "version: 0.2\nphases:\n  build:\n    commands: ['ls /no/such/dir']\n", nil, nil)
	got := res.Phase(PhaseBuild)
	want := []PhaseContext{{StatusCode: "COMMAND_EXECUTION_ERROR", Message: "Error while executing command: ls /no/such/dir. Reason: exit status 2"}}
	if diff := cmp.Diff(want, got.Contexts); diff != "" {
		t.Errorf("contexts (-want +got):\n%s", diff)
	}
	wantLines := []string{
		"Command did not exit successfully ls /no/such/dir exit status 2",
		"Phase complete: BUILD State: FAILED",
		"Phase context status code: COMMAND_EXECUTION_ERROR Message: Error while executing command: ls /no/such/dir. Reason: exit status 2",
	}
	if diff := cmp.Diff(wantLines, between(lines, wantLines[0], "Entering phase POST_BUILD")); diff != "" {
		t.Errorf("log (-want +got):\n%s", diff)
	}
}

func TestEnvironment(t *testing.T) {
	yaml := `version: 0.2
env:
  variables:
    FROM_SPEC: spec
    BOTH: spec
    ALL: spec
    LITERAL: $HOME/x
phases:
  build:
    commands:
      - 'for v in FROM_SPEC BOTH ALL LITERAL; do eval "echo $v=\$$v"; done'
      - 'echo "id=$CODEBUILD_BUILD_ID number=$CODEBUILD_BUILD_NUMBER initiator=$CODEBUILD_INITIATOR"'
      - 'echo "source=$CODEBUILD_SOURCE_VERSION resolved=$CODEBUILD_RESOLVED_SOURCE_VERSION arn=$CODEBUILD_BUILD_ARN"'
      - 'echo "src=$([ "$CODEBUILD_SRC_DIR" = "$PWD" ] && echo cwd) lib=$(cat "$CODEBUILD_SRC_DIR_lib/lib.txt") start=${#CODEBUILD_START_TIME}"'
      - 'echo "region=$AWS_REGION/$AWS_DEFAULT_REGION base=$BASE_ONLY"'
`
	lib := t.TempDir()
	writeFiles(t, lib, map[string]string{"lib.txt": "library"})
	res, lines := run(t, yaml, nil, func(r *Request) {
		r.Project = "proj"
		r.BuildNumber = 7
		r.Initiator = "codepipeline/demo"
		r.SourceVersion = "main"
		r.ResolvedSourceVersion = "abc123"
		r.Region = "eu-west-1"
		r.AccountID = "123456789012"
		r.SecondarySources = map[string]string{"lib": lib}
		r.BaseEnv = []string{"PATH=" + os.Getenv("PATH"), "BASE_ONLY=base", "ALL=base"}
		r.ProjectEnv = []EnvVar{{Name: "BOTH", Value: "project"}, {Name: "ALL", Value: "project"}}
		r.Overrides = []EnvVar{{Name: "ALL", Value: "override", Type: EnvPlaintext}}
	})
	if res.Status != StatusSucceeded {
		t.Fatalf("status: got %s, want SUCCEEDED\n%s", res.Status, strings.Join(lines, "\n"))
	}
	want := []string{
		"FROM_SPEC=spec", "BOTH=project", "ALL=override", "LITERAL=$HOME/x",
		"id=proj:0000-uuid number=7 initiator=codepipeline/demo",
		"source=main resolved=abc123 arn=arn:aws:codebuild:eu-west-1:123456789012:build/proj:0000-uuid",
		"src=cwd lib=library start=13",
		"region=eu-west-1/eu-west-1 base=base",
	}
	if diff := cmp.Diff(want, commandOutput(lines)); diff != "" {
		t.Errorf("output (-want +got):\n%s", diff)
	}
}

func TestExportedVariables(t *testing.T) {
	yaml := `version: 0.2
env:
  variables:
    FROM_SPEC: s
  exported-variables: [VERSION, FROM_SPEC, LATE, NEVER_SET, AWS_THING, PROJ_SECRET]
phases:
  build:
    commands:
      - export VERSION=1.2.3
      - export AWS_THING=x
  post_build:
    commands:
      - LATE="set in post_build"
`
	res, lines := run(t, yaml, nil, func(r *Request) {
		r.ProjectEnv = []EnvVar{{Name: "PROJ_SECRET", Value: "/p", Type: EnvParameterStore}}
		r.Secrets = SecretResolverFunc(func(context.Context, SecretRef) (string, error) { return "hush", nil })
	})
	if res.Status != StatusSucceeded {
		t.Fatalf("status: got %s\n%s", res.Status, strings.Join(lines, "\n"))
	}
	want := map[string]string{"VERSION": "1.2.3", "FROM_SPEC": "s", "LATE": "set in post_build"}
	if diff := cmp.Diff(want, res.ExportedVariables); diff != "" {
		t.Errorf("exported (-want +got):\n%s", diff)
	}
}

func TestExportedVariablesAfterAFailedBuild(t *testing.T) {
	res, _ := run(t, `version: 0.2
env:
  exported-variables: [STEP]
phases:
  build:
    commands: ["export STEP=build", "false"]
  post_build:
    commands: ["export STEP=post_build"]
`, nil, nil)
	if res.Status != StatusFailed {
		t.Fatalf("status: got %s, want FAILED", res.Status)
	}
	if diff := cmp.Diff(map[string]string{"STEP": "post_build"}, res.ExportedVariables); diff != "" {
		t.Errorf("exported (-want +got):\n%s", diff)
	}
}

func TestDeveloperSecretVariablesStayOutOfTheBuild(t *testing.T) {
	res, lines := run(t, "version: 0.2\nphases:\n  build:\n    commands: ['env | grep -c RELAIS_SECRET_ || true']\n", nil, func(r *Request) {
		r.BaseEnv = []string{"PATH=" + os.Getenv("PATH"), "RELAIS_SECRET_X=leak"}
	})
	if res.Status != StatusSucceeded {
		t.Fatalf("status: got %s", res.Status)
	}
	if diff := cmp.Diff([]string{"0"}, commandOutput(lines)); diff != "" {
		t.Errorf("output (-want +got):\n%s", diff)
	}
}

func TestSecrets(t *testing.T) {
	yaml := `version: 0.2
env:
  parameter-store:
    PASSWORD: /app/password
  secrets-manager:
    TOKEN: prod/api:token
phases:
  build:
    commands:
      - echo "password is $PASSWORD"
      - echo "token is $TOKEN"
`
	file := &SecretsFile{
		Parameters: map[string]string{"/app/password": "hunter22"},
		Secrets:    map[string]string{"prod/api": `{"token": "tok-secret-value"}`},
	}
	t.Run("resolved and masked", func(t *testing.T) {
		var raw bytes.Buffer
		res, lines := run(t, yaml, nil, func(r *Request) { r.Secrets = file; r.Log = &raw })
		if res.Status != StatusSucceeded {
			t.Fatalf("status: got %s\n%s", res.Status, strings.Join(lines, "\n"))
		}
		if diff := cmp.Diff([]string{"password is ***", "token is ***"}, commandOutput(logLines(raw.String()))); diff != "" {
			t.Errorf("output (-want +got):\n%s", diff)
		}
		for _, secret := range []string{"hunter22", "tok-secret-value"} {
			if strings.Contains(raw.String(), secret) {
				t.Errorf("log shows secret %q", secret)
			}
		}
	})
	t.Run("unresolved fails DOWNLOAD_SOURCE", func(t *testing.T) {
		res, lines := run(t, yaml, nil, func(r *Request) { r.Secrets = &SecretsFile{} })
		if res.Status != StatusFailed {
			t.Fatalf("status: got %s, want FAILED", res.Status)
		}
		ds := res.Phase(PhaseDownloadSource)
		want := []PhaseContext{{StatusCode: CodeParameterErr, Message: "parameter-store /app/password for PASSWORD: secret not found: parameter /app/password is not in the secrets file"}}
		if diff := cmp.Diff(want, ds.Contexts); diff != "" {
			t.Errorf("contexts (-want +got):\n%s", diff)
		}
		if res.Phase(PhaseInstall) != nil {
			t.Errorf("INSTALL ran after a failed DOWNLOAD_SOURCE\n%s", strings.Join(lines, "\n"))
		}
	})
	t.Run("no resolver fails, never empty", func(t *testing.T) {
		res, _ := run(t, yaml, nil, nil)
		if got := res.Phase(PhaseDownloadSource); got.Status != StatusFailed {
			t.Errorf("DOWNLOAD_SOURCE: got %s, want FAILED", got.Status)
		}
	})
	t.Run("environment resolver", func(t *testing.T) {
		env := map[string]string{"RELAIS_SECRET_PASSWORD": "p-from-env", "RELAIS_SECRET_TOKEN": "t-from-env"}
		res, lines := run(t, yaml, nil, func(r *Request) {
			r.Secrets = EnvSecrets(func(k string) (string, bool) { v, ok := env[k]; return v, ok })
		})
		if res.Status != StatusSucceeded {
			t.Fatalf("status: got %s\n%s", res.Status, strings.Join(lines, "\n"))
		}
	})
}

// pidGone waits until a process no longer runs (gone, or a zombie nobody reaps), or
// fails the test after a generous bound.
func pidGone(t *testing.T, pid int) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
		if err != nil {
			return
		}
		if f := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:])); len(f) > 0 && f[0] == "Z" {
			return
		}
		if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("process %d still runs", pid)
}

func readPid(t *testing.T, path string) int {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("pid file: %v", err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil {
		t.Fatalf("pid file: %v", err)
	}
	return pid
}

const grandchildSpec = `version: 0.2
phases:
  build:
    commands:
      - sh -c 'sleep 300 & echo $! > "$PIDFILE"; wait'
    finally:
      - echo finally must not run after a timeout
  post_build:
    commands: [echo post must not run]
`

func TestTimeoutKillsGrandchildren(t *testing.T) {
	pidfile := filepath.Join(t.TempDir(), "pid")
	res, lines := run(t, grandchildSpec, nil, func(r *Request) {
		r.Timeout = 2 * time.Second
		r.Overrides = []EnvVar{{Name: "PIDFILE", Value: pidfile}}
	})
	if res.Status != StatusTimedOut {
		t.Fatalf("status: got %s, want TIMED_OUT\n%s", res.Status, strings.Join(lines, "\n"))
	}
	want := []PhaseContext{{StatusCode: CodeTimedOut, Message: "Build has timed out"}}
	if diff := cmp.Diff(want, res.Phase(PhaseBuild).Contexts); diff != "" {
		t.Errorf("contexts (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(withStatuses("SUCCEEDED", "SUCCEEDED", "TIMED_OUT", "", ""), statuses(res)); diff != "" {
		t.Errorf("phases (-want +got):\n%s", diff)
	}
	if out := commandOutput(lines); len(out) != 0 {
		t.Errorf("output after timeout: got %q, want none", out)
	}
	pidGone(t, readPid(t, pidfile))
}

func TestCancelStopsAndKillsGrandchildren(t *testing.T) {
	dir := t.TempDir()
	pidfile := filepath.Join(dir, "pid")
	src := t.TempDir()
	writeFiles(t, src, map[string]string{"buildspec.yml": grandchildSpec})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// Cancel once the grandchild has written its pid: wait on the file, not on time.
	go func() {
		for {
			if data, err := os.ReadFile(pidfile); err == nil && len(bytes.TrimSpace(data)) > 0 {
				cancel()
				return
			}
			select {
			case <-ctx.Done():
				return
			case <-time.After(5 * time.Millisecond):
			}
		}
	}()
	res, err := testRunner().Run(ctx, Request{Workspace: t.TempDir(), Source: src, Timeout: time.Minute,
		Overrides: []EnvVar{{Name: "PIDFILE", Value: pidfile}}})
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != StatusStopped {
		t.Fatalf("status: got %s, want STOPPED", res.Status)
	}
	if got := res.Phase(PhaseBuild).Status; got != StatusStopped {
		t.Errorf("BUILD: got %s, want STOPPED", got)
	}
	pidGone(t, readPid(t, pidfile))
}

func TestBackgroundProcessesEndWithTheBuild(t *testing.T) {
	pidfile := filepath.Join(t.TempDir(), "pid")
	res, _ := run(t, `version: 0.2
phases:
  build:
    commands:
      - sleep 300 > /dev/null 2>&1 &
      - echo $! > "$PIDFILE"
`, nil, func(r *Request) { r.Overrides = []EnvVar{{Name: "PIDFILE", Value: pidfile}} })
	if res.Status != StatusSucceeded {
		t.Fatalf("status: got %s", res.Status)
	}
	pidGone(t, readPid(t, pidfile))
}

func TestSourceAndBuildspecProblems(t *testing.T) {
	tests := []struct {
		name  string
		yaml  string
		edit  func(*Request)
		phase PhaseType
		want  PhaseContext
	}{
		{"no buildspec", "", nil, PhaseDownloadSource, PhaseContext{StatusCode: CodeYAMLError, Message: "YAML file does not exist"}},
		{"bad yaml", "version: 0.2\n  phases:\n", nil, PhaseDownloadSource, PhaseContext{StatusCode: CodeYAMLError, Message: "line 2: invalid YAML: mapping values are not allowed in this context"}},
		{"batch refused", "version: 0.2\nbatch:\n  build-list:\n    - identifier: a\nphases:\n  build:\n    commands: [x]\n", nil, PhaseDownloadSource,
			PhaseContext{StatusCode: CodeClientError, Message: "this buildspec defines a batch build (build-list, line 3): batch builds are not available locally; run it as a plain build (relais build --ignore-batch) or run each task's buildspec on its own"}},
		{"windows shell", "version: 0.2\nenv:\n  shell: powershell.exe\nphases:\n  build:\n    commands: [x]\n", nil, PhaseDownloadSource,
			PhaseContext{StatusCode: CodeClientError, Message: "shell powershell.exe is for Windows build images: not available locally"}},
		{"missing source", "", func(r *Request) { r.Source = "/no/such/source" }, PhaseDownloadSource,
			PhaseContext{StatusCode: CodeClientError, Message: "error placing the primary source: stat /no/such/source: no such file or directory"}},
		{"no artifacts match", "version: 0.2\nphases:\n  build:\n    commands: ['true']\nartifacts:\n  files: [missing.txt]\n", nil, PhaseUploadArtifacts,
			PhaseContext{StatusCode: CodeClientError, Message: "no matching artifact paths found"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, lines := run(t, tt.yaml, nil, tt.edit)
			if res.Status != StatusFailed {
				t.Errorf("status: got %s, want FAILED\n%s", res.Status, strings.Join(lines, "\n"))
			}
			p := res.Phase(tt.phase)
			if p == nil {
				t.Fatalf("no %s phase", tt.phase)
			}
			if p.Status != StatusClientError {
				t.Errorf("%s: got %s, want CLIENT_ERROR", tt.phase, p.Status)
			}
			if diff := cmp.Diff([]PhaseContext{tt.want}, p.Contexts); diff != "" {
				t.Errorf("contexts (-want +got):\n%s", diff)
			}
		})
	}
}

func TestZipSourceAndArtifacts(t *testing.T) {
	dir := t.TempDir()
	zipPath := filepath.Join(dir, "source.zip")
	makeZip(t, zipPath, map[string]string{
		"buildspec.yml": `version: 0.2
phases:
  build:
    commands:
      - mkdir -p dist/sub && echo a > dist/a.txt && echo b > dist/sub/b.txt && echo m > dist/a.map
      - ./tool.sh > dist/tool.out
artifacts:
  base-directory: dist
  files: ['**/*']
  exclude-paths: ['**/*.map']
  name: app-$CODEBUILD_BUILD_NUMBER
  secondary-artifacts:
    flat:
      base-directory: dist
      files: ['**/*.txt']
      discard-paths: yes
`,
		"tool.sh": "#!/bin/sh\necho tool ran\n",
	})
	out := filepath.Join(dir, "out")
	res, lines := run(t, "", nil, func(r *Request) { r.Source = zipPath; r.OutDir = out; r.BuildNumber = 42 })
	if res.Status != StatusSucceeded {
		t.Fatalf("status: got %s\n%s", res.Status, strings.Join(lines, "\n"))
	}
	want := []Artifact{
		{Name: "app-42", Path: filepath.Join(out, "app-42.zip"), Files: 3},
		{Identifier: "flat", Name: "flat", Path: filepath.Join(out, "flat.zip"), Files: 2},
	}
	if diff := cmp.Diff(want, res.Artifacts); diff != "" {
		t.Errorf("artifacts (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(map[string]string{"a.txt": "a\n", "sub/b.txt": "b\n", "tool.out": "tool ran\n"}, readZip(t, want[0].Path)); diff != "" {
		t.Errorf("primary zip (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(map[string]string{"a.txt": "a\n", "b.txt": "b\n"}, readZip(t, want[1].Path)); diff != "" {
		t.Errorf("secondary zip (-want +got):\n%s", diff)
	}
}

func makeZip(t *testing.T, path string, files map[string]string) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	zw := zip.NewWriter(f)
	for _, name := range sortedKeys(files) {
		h := &zip.FileHeader{Name: name, Method: zip.Deflate}
		h.SetMode(0o755)
		w, err := zw.CreateHeader(h)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write([]byte(files[name])); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

func readZip(t *testing.T, path string) map[string]string {
	t.Helper()
	zr, err := zip.OpenReader(path)
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	out := map[string]string{}
	for _, f := range zr.File {
		rc, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		var b bytes.Buffer
		_, _ = b.ReadFrom(rc)
		rc.Close()
		out[f.Name] = b.String()
	}
	return out
}

func TestUnzipRefusesEscapingEntries(t *testing.T) {
	dir := t.TempDir()
	zipPath := filepath.Join(dir, "evil.zip")
	makeZip(t, zipPath, map[string]string{"../escape.txt": "x"})
	err := placeSource(zipPath, filepath.Join(dir, "src"))
	if err == nil || !strings.Contains(err.Error(), "leaves the source directory") {
		t.Errorf("got %v, want an error about leaving the source directory", err)
	}
}

func TestRunRejectsBadRequests(t *testing.T) {
	for name, req := range map[string]Request{
		"no workspace":        {},
		"bad secondary label": {Workspace: t.TempDir(), SecondarySources: map[string]string{"a-b": "."}},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := testRunner().Run(context.Background(), req); !errors.Is(err, ErrInvalidRequest) {
				t.Errorf("got %v, want ErrInvalidRequest", err)
			}
		})
	}
}

func TestGivenSpecAndWarnings(t *testing.T) {
	spec, err := buildspec.ParseLenient([]byte("version: 0.2\nenv:\n  variable:\n    X: y\nphases:\n  build:\n    commands: ['echo \"X=[$X]\"']\n"))
	if err != nil {
		t.Fatal(err)
	}
	res, lines := run(t, "", nil, func(r *Request) { r.Spec = spec })
	if res.Status != StatusSucceeded {
		t.Fatalf("status: got %s", res.Status)
	}
	if diff := cmp.Diff([]string{"X=[]"}, commandOutput(lines)); diff != "" {
		t.Errorf("output (-want +got):\n%s", diff)
	}
	found := false
	for _, l := range lines {
		if strings.Contains(l, "The following key cannot be identified: env.variable (line 3)") {
			found = true
		}
	}
	if !found {
		t.Errorf("log does not warn about env.variable:\n%s", strings.Join(lines, "\n"))
	}
}

func TestRuntimeVersions(t *testing.T) {
	yaml := `version: 0.2
env:
  variables:
    GO_WANTED: "1"
phases:
  install:
    runtime-versions:
      golang: $GO_WANTED
      nodejs: 1
      cobol: 85
`
	res, _ := run(t, yaml, nil, nil)
	if res.Status != StatusSucceeded {
		t.Fatalf("status: got %s, want SUCCEEDED (runtimes are reported, never fatal)", res.Status)
	}
	got := map[string]RuntimeCheck{}
	for _, r := range res.Runtimes {
		got[r.Name] = r
	}
	if g := got["golang"]; g.Requested != "1" || !g.Matches || g.Found == "" {
		t.Errorf("golang: got %+v, want requested 1, found, matching", g)
	}
	if n := got["nodejs"]; n.Matches {
		t.Errorf("nodejs: got %+v, want not matching 1", n)
	}
	if c := got["cobol"]; c.Found != "" || c.Matches {
		t.Errorf("cobol: got %+v, want not found", c)
	}
	names := make([]string, 0, len(got))
	for n := range got {
		names = append(names, n)
	}
	sort.Strings(names)
	if diff := cmp.Diff([]string{"cobol", "golang", "nodejs"}, names); diff != "" {
		t.Errorf("runtimes (-want +got):\n%s", diff)
	}
}

func TestVersionMatches(t *testing.T) {
	tests := []struct {
		requested, found string
		want             bool
	}{
		{"3.11", "3.11.7", true},
		{"3.x", "3.12.1", true},
		{"3.10", "3.1.0", false},
		{"latest", "20.1.0", true},
		{"corretto11", "11.0.2", true},
		{"openjdk8", "8.0.1", true},
		{"14", "20.20.2", false},
		{"1.26", "1.26.8", true},
		{"1.13", "1.26.8", false},
		{"3.11", "", false},
	}
	for _, tt := range tests {
		if got := versionMatches(tt.requested, tt.found); got != tt.want {
			t.Errorf("versionMatches(%q, %q): got %v, want %v", tt.requested, tt.found, got, tt.want)
		}
	}
}
