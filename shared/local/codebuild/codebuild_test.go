package codebuild

import (
	"archive/zip"
	"bytes"
	"context"
	"errors"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/relais-ci/relais/shared/action"
	"github.com/relais-ci/relais/shared/core"
	"github.com/relais-ci/relais/shared/local/buildrunner"
	"github.com/relais-ci/relais/shared/local/fileartifact"
	"github.com/relais-ci/relais/shared/pipeline"
)

const okSpec = `version: 0.2
env:
  exported-variables:
    - GREETING
phases:
  build:
    commands:
      - mkdir -p out docs
      - echo "hello $WHO" > out/hello.txt
      - printf '%s' "$TOKEN" > out/token.txt
      - cp "$CODEBUILD_SRC_DIR_Extra/extra.txt" out/extra.txt
      - echo "$CODEBUILD_RESOLVED_SOURCE_VERSION" > out/commit.txt
      - echo "$CODEBUILD_INITIATOR" > out/initiator.txt
      - echo "the token is $TOKEN"
      - echo doc > docs/readme.txt
      - export GREETING="hi $WHO"
artifacts:
  files:
    - out/**/*
  secondary-artifacts:
    Docs:
      files:
        - docs/*
`

// harness is a Builder over a folder store, with a job whose Complete reports on a
// channel.
type harness struct {
	store    *fileartifact.Store
	b        *Builder
	complete chan action.Result
}

func newHarness(t *testing.T, projects map[string]Project) *harness {
	t.Helper()
	h := &harness{store: newStore(t), complete: make(chan action.Result, 1)}
	secrets := buildrunner.SecretResolverFunc(func(_ context.Context, ref buildrunner.SecretRef) (string, error) {
		if ref.Name == "/app/token" {
			return "s3cret-value", nil
		}
		return "", buildrunner.ErrSecretNotFound
	})
	h.b = New(Deps{Artifacts: h.store, Projects: projects, Secrets: secrets, DataDir: t.TempDir()})
	t.Cleanup(func() {
		if err := h.b.Shutdown(context.WithoutCancel(t.Context())); err != nil {
			t.Errorf("shutdown: %v", err)
		}
	})
	return h
}

// put stores a zip of files as an input artifact.
func (h *harness) put(t *testing.T, name string, files map[string]string) core.Artifact {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for n, c := range files {
		w, err := zw.Create(n)
		must(t, err)
		_, err = io.WriteString(w, c)
		must(t, err)
	}
	must(t, zw.Close())
	loc, err := h.store.PutArtifact(t.Context(), "app", "e1", name, &buf)
	must(t, err)
	return core.Artifact{Name: name, Location: loc}
}

func (h *harness) job(cfg map[string]string, inputs []core.Artifact, outputs ...string) action.Job {
	d := pipeline.Action{Name: "Build", ActionTypeID: pipeline.ActionTypeID{Category: "Build", Owner: "AWS", Provider: "CodeBuild", Version: "1"},
		Configuration: cfg}
	for _, in := range inputs {
		d.InputArtifacts = append(d.InputArtifacts, pipeline.Artifact{Name: in.Name})
	}
	for _, o := range outputs {
		d.OutputArtifacts = append(d.OutputArtifacts, pipeline.Artifact{Name: o})
	}
	return action.Job{
		Execution: core.Execution{PipelineName: "app", ID: "e1",
			SourceRevisions: []core.SourceRevision{{ActionName: "Source", RevisionID: "0123456789abcdef0123456789abcdef01234567"}}},
		Stage:    "Build",
		Declared: d,
		Record: core.ActionExecution{ID: "act-" + core.NewID(), PipelineName: "app", ExecutionID: "e1", StageName: "Build",
			ActionName: "Build", Configuration: cfg, InputArtifacts: inputs},
		Complete: func(_ context.Context, res action.Result) error {
			h.complete <- res
			return nil
		},
	}
}

// start runs the job and checks that it went on asynchronously.
func (h *harness) start(t *testing.T, job action.Job) action.Result {
	t.Helper()
	res, err := h.b.Run(t.Context(), job)
	must(t, err)
	if res.Status != core.ActionInProgress {
		t.Fatalf("Run: got status %s (%+v), want InProgress", res.Status, res.Error)
	}
	project := job.Record.Configuration["ProjectName"]
	if !strings.HasPrefix(res.ExternalID, project+":") {
		t.Errorf("got external id %q, want %s:<uuid>", res.ExternalID, project)
	}
	if !strings.HasPrefix(res.ExternalURL, "file://") {
		t.Errorf("got external URL %q, want a link to the log", res.ExternalURL)
	}
	return res
}

func (h *harness) read(t *testing.T, a core.Artifact) map[string]string {
	t.Helper()
	rc, err := h.store.OpenArtifact(t.Context(), a.Location)
	must(t, err)
	defer rc.Close()
	b, err := io.ReadAll(rc)
	must(t, err)
	zr, err := zip.NewReader(bytes.NewReader(b), int64(len(b)))
	must(t, err)
	out := map[string]string{}
	for _, f := range zr.File {
		r, err := f.Open()
		must(t, err)
		c, err := io.ReadAll(r)
		must(t, err)
		r.Close()
		out[f.Name] = string(c)
	}
	return out
}

// logText reads the stored build log through the action's link.
func logText(t *testing.T, link string) string {
	t.Helper()
	u, err := url.Parse(link)
	must(t, err)
	zr, err := zip.OpenReader(u.Path)
	must(t, err)
	defer zr.Close()
	r, err := zr.Open(LogFile)
	must(t, err)
	defer r.Close()
	b, err := io.ReadAll(r)
	must(t, err)
	return string(b)
}

func newStore(t *testing.T) *fileartifact.Store {
	t.Helper()
	s, err := fileartifact.New(t.TempDir())
	must(t, err)
	t.Cleanup(func() { s.Close() })
	return s
}

func TestBuildSucceeds(t *testing.T) {
	tests := []struct {
		name     string
		projects map[string]Project
		source   map[string]string
	}{
		{"buildspec.yml at the source root", nil, map[string]string{"buildspec.yml": okSpec}},
		{"buildspec named by the project", map[string]Project{"app-build": {Buildspec: "ci/build.yml", Image: "aws/codebuild/standard:7.0"}},
			map[string]string{"ci/build.yml": okSpec}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, tc.projects)
			src := h.put(t, "SourceOutput", tc.source)
			extra := h.put(t, "Extra", map[string]string{"extra.txt": "from the secondary source\n"})
			env := `[{"name":"WHO","value":"world","type":"PLAINTEXT"},{"name":"TOKEN","value":"/app/token","type":"PARAMETER_STORE"}]`
			started := h.start(t, h.job(map[string]string{"ProjectName": "app-build", "EnvironmentVariables": env},
				[]core.Artifact{src, extra}, "BuildOutput", "Docs"))
			res := <-h.complete
			if res.Status != core.ActionSucceeded {
				t.Fatalf("got %s (%+v), want Succeeded; log:\n%s", res.Status, res.Error, logText(t, res.ExternalURL))
			}
			if res.ExternalID != started.ExternalID {
				t.Errorf("completed with external id %q, started with %q", res.ExternalID, started.ExternalID)
			}
			if diff := cmp.Diff(map[string]string{"GREETING": "hi world"}, res.OutputVariables); diff != "" {
				t.Errorf("output variables (-want +got):\n%s", diff)
			}
			if len(res.OutputArtifacts) != 2 || res.OutputArtifacts[0].Name != "BuildOutput" || res.OutputArtifacts[1].Name != "Docs" {
				t.Fatalf("got output artifacts %+v, want BuildOutput and Docs", res.OutputArtifacts)
			}
			wantPrimary := map[string]string{
				"out/hello.txt":     "hello world\n",
				"out/token.txt":     "s3cret-value",
				"out/extra.txt":     "from the secondary source\n",
				"out/commit.txt":    "0123456789abcdef0123456789abcdef01234567\n",
				"out/initiator.txt": "codepipeline/app\n",
			}
			if diff := cmp.Diff(wantPrimary, h.read(t, res.OutputArtifacts[0])); diff != "" {
				t.Errorf("primary artifact (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(map[string]string{"docs/readme.txt": "doc\n"}, h.read(t, res.OutputArtifacts[1])); diff != "" {
				t.Errorf("secondary artifact (-want +got):\n%s", diff)
			}
			log := logText(t, res.ExternalURL)
			if !strings.Contains(log, "the token is ***") || strings.Contains(log, "s3cret-value") {
				t.Errorf("log should show the masked token and never its value; got:\n%s", log)
			}
			if !strings.Contains(res.Summary, "SUCCEEDED") {
				t.Errorf("got summary %q, want it to say SUCCEEDED", res.Summary)
			}
		})
	}
}

func TestBuildFails(t *testing.T) {
	h := newHarness(t, nil)
	src := h.put(t, "SourceOutput", map[string]string{"buildspec.yml": "version: 0.2\nphases:\n  build:\n    commands:\n      - echo failing\n      - exit 3\nartifacts:\n  files: ['**/*']\n"})
	h.start(t, h.job(map[string]string{"ProjectName": "app-build"}, []core.Artifact{src}, "BuildOutput"))
	res := <-h.complete
	if res.Status != core.ActionFailed || res.Error == nil {
		t.Fatalf("got %s (%+v), want Failed", res.Status, res.Error)
	}
	for _, want := range []string{"FAILED", "Phase: BUILD", "COMMAND_EXECUTION_ERROR"} {
		if !strings.Contains(res.Error.Message, want) {
			t.Errorf("got error message %q, want it to contain %q", res.Error.Message, want)
		}
	}
	if len(res.OutputArtifacts) != 0 {
		t.Errorf("a failed build delivered artifacts %+v", res.OutputArtifacts)
	}
	if log := logText(t, res.ExternalURL); !strings.Contains(log, "failing") {
		t.Errorf("stored log lacks the command's output:\n%s", log)
	}
}

func TestMissingOutputArtifactFails(t *testing.T) {
	h := newHarness(t, nil)
	src := h.put(t, "SourceOutput", map[string]string{"buildspec.yml": "version: 0.2\nphases:\n  build:\n    commands:\n      - echo ok\nartifacts:\n  files: ['**/*']\n"})
	h.start(t, h.job(map[string]string{"ProjectName": "app-build"}, []core.Artifact{src}, "BuildOutput", "Reports"))
	res := <-h.complete
	if res.Status != core.ActionFailed || res.Error == nil || !strings.Contains(res.Error.Message, "identifier Reports") {
		t.Fatalf("got %s (%+v), want Failed naming the missing secondary artifact", res.Status, res.Error)
	}
}

func TestRefusedAtStart(t *testing.T) {
	h := newHarness(t, nil)
	src := h.put(t, "SourceOutput", map[string]string{"buildspec.yml": okSpec})
	other := h.put(t, "other-src", map[string]string{"a": "b"})
	tests := []struct {
		name    string
		cfg     map[string]string
		inputs  []core.Artifact
		wantMsg string
	}{
		{"batch", map[string]string{"ProjectName": "p", "BatchEnabled": "true"}, []core.Artifact{src}, "batch builds are not available locally"},
		{"env not JSON", map[string]string{"ProjectName": "p", "EnvironmentVariables": "WHO=world"}, []core.Artifact{src}, "EnvironmentVariables"},
		{"env type", map[string]string{"ProjectName": "p", "EnvironmentVariables": `[{"name":"A","value":"b","type":"SSM"}]`}, []core.Artifact{src}, `type "SSM"`},
		{"primary source unknown", map[string]string{"ProjectName": "p", "PrimarySource": "Nope"}, []core.Artifact{src}, "PrimarySource Nope"},
		{"secondary name not an identifier", map[string]string{"ProjectName": "p"}, []core.Artifact{src, other}, "CODEBUILD_SRC_DIR_other-src"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res, err := h.b.Run(t.Context(), h.job(tc.cfg, tc.inputs))
			must(t, err)
			if res.Status != core.ActionFailed || res.Error == nil || !strings.Contains(res.Error.Message, tc.wantMsg) {
				t.Errorf("got %s (%+v), want Failed containing %q", res.Status, res.Error, tc.wantMsg)
			}
		})
	}
}

// TestPrimarySource: the artifact PrimarySource names is CODEBUILD_SRC_DIR.
func TestPrimarySource(t *testing.T) {
	h := newHarness(t, nil)
	first := h.put(t, "First", map[string]string{"buildspec.yml": "version: 0.2\nphases:\n  build:\n    commands:\n      - exit 1\n"})
	second := h.put(t, "Second", map[string]string{"buildspec.yml": "version: 0.2\nphases:\n  build:\n    commands:\n      - ls \"$CODEBUILD_SRC_DIR_First\" > listing.txt\nartifacts:\n  files: [listing.txt]\n"})
	h.start(t, h.job(map[string]string{"ProjectName": "p", "PrimarySource": "Second"}, []core.Artifact{first, second}, "Out"))
	res := <-h.complete
	if res.Status != core.ActionSucceeded {
		t.Fatalf("got %s (%+v), want Succeeded", res.Status, res.Error)
	}
	if got := h.read(t, res.OutputArtifacts[0])["listing.txt"]; got != "buildspec.yml\n" {
		t.Errorf("got listing %q of the secondary source, want buildspec.yml", got)
	}
}

// longBuild is a buildspec whose build starts a grandchild (a process of a process the
// shell started), tells its pid through the fifo $PIDFIFO, and waits for it.
const longBuild = `version: 0.2
phases:
  build:
    commands:
      - sh -c 'sleep 300 & echo $! > "$PIDFIFO"; wait'
`

func startLong(t *testing.T, h *harness) (action.Job, int) {
	t.Helper()
	fifo := filepath.Join(t.TempDir(), "pid")
	must(t, syscall.Mkfifo(fifo, 0o600))
	src := h.put(t, "SourceOutput", map[string]string{"buildspec.yml": longBuild})
	env := `[{"name":"PIDFIFO","value":"` + fifo + `"}]`
	job := h.job(map[string]string{"ProjectName": "p", "EnvironmentVariables": env}, []core.Artifact{src})
	started := h.start(t, job)
	// Running it again while the build runs gives the same build.
	again, err := h.b.Run(t.Context(), job)
	must(t, err)
	if again.ExternalID != started.ExternalID {
		t.Errorf("second Run started build %s, want the running %s", again.ExternalID, started.ExternalID)
	}
	got := make(chan string, 1)
	go func() {
		b, _ := os.ReadFile(fifo) // blocks until a writer opens the fifo
		got <- string(b)
	}()
	select {
	case s := <-got:
		pid, err := strconv.Atoi(strings.TrimSpace(s))
		must(t, err)
		return job, pid
	case res := <-h.complete:
		// Unblock the reader: open the fifo for writing, then close it.
		if f, err := os.OpenFile(fifo, os.O_WRONLY|syscall.O_NONBLOCK, 0); err == nil {
			f.Close()
		}
		t.Fatalf("the build ended before its grandchild ran: %s %+v", res.Status, res.Error)
		return job, 0
	}
}

func TestCancelKillsTheBuild(t *testing.T) {
	h := newHarness(t, nil)
	job, pid := startLong(t, h)
	if !alive(pid) {
		t.Fatalf("grandchild %d is not running before the cancel", pid)
	}
	must(t, h.b.CancelAction(t.Context(), job.Record))
	res := <-h.complete
	if res.Status != core.ActionFailed || res.Error == nil || !strings.Contains(res.Error.Message, "STOPPED") {
		t.Errorf("got %s (%+v), want Failed, STOPPED", res.Status, res.Error)
	}
	waitDead(t, pid)
	// Cancelling an action that runs nothing here is not an error.
	must(t, h.b.CancelAction(t.Context(), job.Record))
}

// TestShutdownStopsBuilds: a shutdown kills running builds but leaves their actions
// InProgress — the engine runs them again after the restart, as after a crash.
func TestShutdownStopsBuilds(t *testing.T) {
	h := newHarness(t, nil)
	_, pid := startLong(t, h)
	must(t, h.b.Shutdown(t.Context()))
	waitDead(t, pid)
	select {
	case res := <-h.complete:
		t.Errorf("shutdown ended the action %s (%+v); it must stay InProgress for the restart", res.Status, res.Error)
	default:
	}
	src := h.put(t, "SourceOutput", map[string]string{"buildspec.yml": okSpec})
	res, err := h.b.Run(t.Context(), h.job(map[string]string{"ProjectName": "p"}, []core.Artifact{src}))
	must(t, err)
	if res.Status != core.ActionFailed {
		t.Errorf("a build started after Shutdown: got %s, want Failed", res.Status)
	}
}

// alive reports whether pid runs (a zombie, killed but not yet reaped, does not).
func alive(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return syscall.Kill(pid, 0) == nil && !errors.Is(err, os.ErrNotExist)
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || i+2 >= len(s) || s[i+2] != 'Z'
}

// waitDead waits for the kernel to finish a killed process: the signal is sent before
// CancelAction returns, but delivery is not synchronous.
func waitDead(t *testing.T, pid int) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for alive(pid) {
		if time.Now().After(deadline) {
			syscall.Kill(pid, syscall.SIGKILL)
			t.Fatalf("grandchild %d still runs after the build was stopped", pid)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
