package lambdainvoke

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
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
	"github.com/relais-ci/relais/shared/local/fileartifact"
	"github.com/relais-ci/relais/shared/pipeline"
)

// copyScript saves its event to $dir/event.json, copies its first input artifact to its
// first output artifact's location, and answers with variables taken from the event.
const copyScript = `#!/bin/sh
set -e
cat > "$DIR/event.json"
echo "reading the event" >&2
in=$(sed 's/.*"inputArtifacts":\[{"name":"[^"]*","revision":null,"location":{"type":"S3","s3Location":{"bucketName":"\([^"]*\)","objectKey":"\([^"]*\)"}.*/\1\/\2/' "$DIR/event.json")
out=$(sed 's/.*"outputArtifacts":\[{"name":"[^"]*","revision":null,"location":{"type":"S3","s3Location":{"bucketName":"\([^"]*\)","objectKey":"\([^"]*\)"}.*/\1\/\2/' "$DIR/event.json")
params=$(sed 's/.*"UserParameters":"\([^"]*\)".*/\1/' "$DIR/event.json")
cp "$in" "$out"
printf '{"outputVariables": {"greeting": "hello", "params": "%s"}, "summary": "copied"}\n' "$params"
`

type harness struct {
	dir   string
	store core.ArtifactStore
	fs    *fileartifact.Store
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	s, err := fileartifact.New(t.TempDir())
	must(t, err)
	t.Cleanup(func() { s.Close() })
	return &harness{dir: t.TempDir(), store: s, fs: s}
}

// script writes an executable shell script; $DIR in it is the harness's folder.
func (h *harness) script(t *testing.T, name, body string) string {
	t.Helper()
	p := filepath.Join(h.dir, name)
	body = strings.Replace(body, "#!/bin/sh\n", "#!/bin/sh\nDIR='"+h.dir+"'; export DIR\n", 1)
	must(t, os.WriteFile(p, []byte(body), 0o755))
	return p
}

func (h *harness) invoker(t *testing.T, fns map[string]string, timeout time.Duration) *Invoker {
	return New(Deps{Artifacts: h.store, Functions: fns, DataDir: t.TempDir(), Timeout: timeout})
}

func (h *harness) job(t *testing.T, cfg map[string]string, withInput bool, outputs ...string) action.Job {
	t.Helper()
	d := pipeline.Action{Name: "Invoke", ActionTypeID: pipeline.ActionTypeID{Category: "Invoke", Owner: "AWS", Provider: "Lambda", Version: "1"},
		Configuration: cfg}
	rec := core.ActionExecution{ID: core.NewID(), PipelineName: "app", ExecutionID: "e1", StageName: "Invoke", ActionName: "Invoke", Configuration: cfg}
	if withInput {
		loc, err := h.fs.PutArtifact(t.Context(), "app", "e1", "BuildOutput", strings.NewReader("PK zip bytes"))
		must(t, err)
		d.InputArtifacts = []pipeline.Artifact{{Name: "BuildOutput"}}
		rec.InputArtifacts = []core.Artifact{{Name: "BuildOutput", Location: loc}}
	}
	for _, o := range outputs {
		d.OutputArtifacts = append(d.OutputArtifacts, pipeline.Artifact{Name: o})
	}
	return action.Job{Execution: core.Execution{PipelineName: "app", ID: "e1"}, Stage: "Invoke", Declared: d, Record: rec}
}

func (h *harness) read(t *testing.T, a core.Artifact) string {
	t.Helper()
	rc, err := h.store.OpenArtifact(t.Context(), a.Location)
	must(t, err)
	defer rc.Close()
	b, err := io.ReadAll(rc)
	must(t, err)
	return string(b)
}

// opaqueStore hides that the store is a folder: input artifacts are then copied.
type opaqueStore struct{ core.ArtifactStore }

func TestInvokeSucceeds(t *testing.T) {
	for _, folder := range []bool{true, false} {
		t.Run("folder store "+strconv.FormatBool(folder), func(t *testing.T) {
			h := newHarness(t)
			if !folder {
				h.store = opaqueStore{h.fs}
			}
			fn := h.script(t, "copy.sh", copyScript)
			job := h.job(t, map[string]string{"FunctionName": "copier", "UserParameters": "v1"}, true, "Copied")
			res, err := h.invoker(t, map[string]string{"copier": fn}, 0).Run(t.Context(), job)
			must(t, err)
			if res.Status != core.ActionSucceeded {
				t.Fatalf("got %s (%+v), want Succeeded", res.Status, res.Error)
			}
			if diff := cmp.Diff(map[string]string{"greeting": "hello", "params": "v1"}, res.OutputVariables); diff != "" {
				t.Errorf("output variables (-want +got):\n%s", diff)
			}
			if res.Summary != "copied" {
				t.Errorf("got summary %q, want copied", res.Summary)
			}
			if len(res.OutputArtifacts) != 1 || res.OutputArtifacts[0].Name != "Copied" {
				t.Fatalf("got output artifacts %+v, want Copied", res.OutputArtifacts)
			}
			if got := h.read(t, res.OutputArtifacts[0]); got != "PK zip bytes" {
				t.Errorf("got output artifact %q, want the input's bytes", got)
			}

			// The event as the function saw it.
			raw, err := os.ReadFile(filepath.Join(h.dir, "event.json"))
			must(t, err)
			var ev Event
			dec := json.NewDecoder(bytes.NewReader(raw))
			dec.DisallowUnknownFields()
			must(t, dec.Decode(&ev))
			if ev.Job.ID != job.Record.ID || ev.Job.AccountID != AccountID {
				t.Errorf("got job id %q account %q, want %q and %q", ev.Job.ID, ev.Job.AccountID, job.Record.ID, AccountID)
			}
			if diff := cmp.Diff(map[string]string{"FunctionName": "copier", "UserParameters": "v1"}, ev.Job.Data.ActionConfiguration.Configuration); diff != "" {
				t.Errorf("event configuration (-want +got):\n%s", diff)
			}
			in := ev.Job.Data.InputArtifacts
			if len(in) != 1 || in[0].Name != "BuildOutput" || in[0].Location.Type != "S3" {
				t.Fatalf("got input artifacts %+v, want BuildOutput in S3 form", in)
			}
			if folder && in[0].Location.S3Location != (S3Location{BucketName: h.fs.Dir(), ObjectKey: job.Record.InputArtifacts[0].Location.Key}) {
				t.Errorf("got input location %+v, want the store's own file", in[0].Location.S3Location)
			}
			if ev.Job.Data.ArtifactCredentials.ExpirationTime == 0 {
				t.Error("artifactCredentials.expirationTime is not set")
			}
			for _, key := range []string{`"CodePipeline.job"`, `"inputArtifacts"`, `"outputArtifacts"`, `"artifactCredentials"`, `"revision":null`, `"s3Location"`, `"bucketName"`, `"objectKey"`} {
				if !bytes.Contains(raw, []byte(key)) {
					t.Errorf("event lacks %s: %s", key, raw)
				}
			}
		})
	}
}

func TestInvokeReplies(t *testing.T) {
	tests := []struct {
		name        string
		body        string
		wantStatus  core.ActionStatus
		wantVars    map[string]string
		wantSummary string
		wantExtID   string
		wantMsg     []string
		notMsg      string
	}{
		{name: "nothing printed", body: "#!/bin/sh\ncat >/dev/null\n", wantStatus: core.ActionSucceeded, wantSummary: "Function fn (", wantExtID: "job"},
		{name: "executionDetails", body: "#!/bin/sh\ncat >/dev/null\necho '{\"executionDetails\": {\"summary\": \"deployed v2\", \"externalExecutionId\": \"dep-7\"}, \"outputVariables\": {\"v\": \"2\"}}'\n",
			wantStatus: core.ActionSucceeded, wantVars: map[string]string{"v": "2"}, wantSummary: "deployed v2", wantExtID: "dep-7"},
		{name: "fails with the end of stderr", body: "#!/bin/sh\ncat >/dev/null\nfor i in $(seq 1 40); do echo \"line $i\" >&2; done\nexit 3\n",
			wantStatus: core.ActionFailed, wantMsg: []string{"exit status 3", "line 40", "line 21"}, notMsg: "line 20\n"},
		{name: "stdout not JSON", body: "#!/bin/sh\ncat >/dev/null\necho 'all good'\n",
			wantStatus: core.ActionFailed, wantMsg: []string{"not the JSON result", "standard error"}},
		{name: "variable not a string", body: "#!/bin/sh\ncat >/dev/null\necho '{\"outputVariables\": {\"n\": 1}}'\n",
			wantStatus: core.ActionFailed, wantMsg: []string{"not the JSON result"}},
		{name: "unknown field", body: "#!/bin/sh\ncat >/dev/null\necho '{\"outputVariable\": {\"n\": \"1\"}}'\n",
			wantStatus: core.ActionFailed, wantMsg: []string{"outputVariable"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			fn := h.script(t, "fn.sh", tc.body)
			job := h.job(t, map[string]string{"FunctionName": "fn"}, false)
			res, err := h.invoker(t, map[string]string{"fn": fn}, 0).Run(t.Context(), job)
			must(t, err)
			if res.Status != tc.wantStatus {
				t.Fatalf("got %s (%+v), want %s", res.Status, res.Error, tc.wantStatus)
			}
			if tc.wantStatus == core.ActionSucceeded {
				if diff := cmp.Diff(tc.wantVars, res.OutputVariables); diff != "" {
					t.Errorf("output variables (-want +got):\n%s", diff)
				}
				if !strings.Contains(res.Summary, tc.wantSummary) {
					t.Errorf("got summary %q, want it to contain %q", res.Summary, tc.wantSummary)
				}
				want := tc.wantExtID
				if want == "job" {
					want = job.Record.ID
				}
				if res.ExternalID != want {
					t.Errorf("got external id %q, want %q", res.ExternalID, want)
				}
				return
			}
			for _, w := range tc.wantMsg {
				if !strings.Contains(res.Error.Message, w) {
					t.Errorf("got message %q, want it to contain %q", res.Error.Message, w)
				}
			}
			if tc.notMsg != "" && strings.Contains(res.Error.Message+"\n", tc.notMsg) {
				t.Errorf("got message %q, want it without %q", res.Error.Message, tc.notMsg)
			}
		})
	}
}

func TestInvokeFailsBeforeRunning(t *testing.T) {
	h := newHarness(t)
	fn := h.script(t, "fn.sh", "#!/bin/sh\ncat >/dev/null\n")
	tests := []struct {
		name    string
		job     action.Job
		wantMsg string
	}{
		{"unmapped function", h.job(t, map[string]string{"FunctionName": "other"}, false), "--lambda other=PATH"},
		{"executable missing", h.job(t, map[string]string{"FunctionName": "gone"}, false), "run function gone (" + filepath.Join(h.dir, "gone.sh") + ")"},
		{"no function", h.job(t, map[string]string{}, false), "FunctionName is required"},
		{"output artifact not written", h.job(t, map[string]string{"FunctionName": "fn"}, false, "Out"), "output artifact Out was not written"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res, err := h.invoker(t, map[string]string{"fn": fn, "gone": filepath.Join(h.dir, "gone.sh")}, 0).Run(t.Context(), tc.job)
			must(t, err)
			if res.Status != core.ActionFailed || res.Error == nil || !strings.Contains(res.Error.Message, tc.wantMsg) {
				t.Errorf("got %s (%+v), want Failed containing %q", res.Status, res.Error, tc.wantMsg)
			}
		})
	}
}

func TestTimeout(t *testing.T) {
	h := newHarness(t)
	fn := h.script(t, "slow.sh", "#!/bin/sh\ncat >/dev/null\necho started >&2\nsleep 300\n")
	res, err := h.invoker(t, map[string]string{"slow": fn}, 300*time.Millisecond).Run(t.Context(), h.job(t, map[string]string{"FunctionName": "slow"}, false))
	must(t, err)
	if res.Status != core.ActionFailed || res.Error == nil || !strings.Contains(res.Error.Message, "timed out after 300ms") {
		t.Errorf("got %s (%+v), want Failed, timed out", res.Status, res.Error)
	}
}

// TestCancelKillsTheGroup: CancelAction ends the invocation and the processes it
// started, grandchildren too.
func TestCancelKillsTheGroup(t *testing.T) {
	h := newHarness(t)
	fifo := filepath.Join(h.dir, "pid")
	must(t, syscall.Mkfifo(fifo, 0o600))
	fn := h.script(t, "long.sh", "#!/bin/sh\ncat >/dev/null\nsh -c 'sleep 300 & echo $! > \"$DIR/pid\"; wait'\n")
	inv := h.invoker(t, map[string]string{"long": fn}, 0)
	job := h.job(t, map[string]string{"FunctionName": "long"}, false)
	done := make(chan action.Result, 1)
	go func() {
		res, err := inv.Run(context.WithoutCancel(t.Context()), job)
		if err != nil {
			res = action.Failed("test", err)
		}
		done <- res
	}()
	pid := readPID(t, fifo, done)
	must(t, inv.CancelAction(t.Context(), job.Record))
	res := <-done
	if res.Status != core.ActionFailed || res.Error == nil || !strings.Contains(res.Error.Message, "cancelled") {
		t.Errorf("got %s (%+v), want Failed, cancelled", res.Status, res.Error)
	}
	waitDead(t, pid)
}

// readPID reads the pid a script writes to fifo, or fails the test when the invocation
// ends (on done) before it does.
func readPID(t *testing.T, fifo string, done <-chan action.Result) int {
	t.Helper()
	got := make(chan string, 1)
	go func() {
		b, _ := os.ReadFile(fifo) // blocks until a writer opens the fifo
		got <- string(b)
	}()
	select {
	case s := <-got:
		pid, err := strconv.Atoi(strings.TrimSpace(s))
		must(t, err)
		return pid
	case res := <-done:
		// Unblock the reader: open the fifo for writing, then close it.
		if f, err := os.OpenFile(fifo, os.O_WRONLY|syscall.O_NONBLOCK, 0); err == nil {
			f.Close()
		}
		t.Fatalf("the invocation ended before its grandchild ran: %s %+v", res.Status, res.Error)
		return 0
	}
}

// alive reports whether pid runs (a zombie, killed but not yet reaped, does not).
func alive(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || i+2 >= len(s) || s[i+2] != 'Z'
}

// waitDead waits for the kernel to finish a killed process: delivery of the signal is
// not synchronous with the kill.
func waitDead(t *testing.T, pid int) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for alive(pid) {
		if time.Now().After(deadline) {
			syscall.Kill(pid, syscall.SIGKILL)
			t.Fatalf("grandchild %d still runs after the cancel", pid)
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
