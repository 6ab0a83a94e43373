package webhook_test

import (
	"context"
	"encoding/json"
	"fmt"
	"github.com/relais-ci/relais/shared/webhook"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/relais-ci/relais/shared/core"
)

const testToken = "ghp_test_token_never_logged"

// fakeGitHub answers the two REST endpoints Relais calls, checking what GitHub checks.
type fakeGitHub struct {
	t *testing.T

	mu       sync.Mutex
	files    map[string][]string // "base...head" → files
	statuses []postedStatus
	fail     []int // status codes to answer, in turn, before succeeding
	compares int
}

type postedStatus struct {
	Repo, SHA string
	Status    webhook.CommitStatus
}

func (f *fakeGitHub) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if got := r.Header.Get("Authorization"); got != "Bearer "+testToken {
		http.Error(w, `{"message":"Bad credentials"}`, http.StatusUnauthorized)
		return
	}
	if got := r.Header.Get("Accept"); got != "application/vnd.github+json" {
		f.t.Errorf("Accept: got %q", got)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.fail) > 0 {
		code := f.fail[0]
		f.fail = f.fail[1:]
		w.WriteHeader(code)
		fmt.Fprintf(w, `{"message":"scripted %d"}`, code)
		return
	}
	parts := strings.Split(strings.TrimPrefix(r.URL.Path, "/repos/"), "/")
	switch {
	case r.Method == http.MethodGet && len(parts) == 4 && parts[2] == "compare":
		f.compares++
		files, ok := f.files[parts[3]]
		if !ok {
			http.Error(w, `{"message":"Not Found"}`, http.StatusNotFound)
			return
		}
		var out struct {
			Files []map[string]string `json:"files"`
		}
		for _, name := range files {
			out.Files = append(out.Files, map[string]string{"filename": name, "status": "modified"})
		}
		json.NewEncoder(w).Encode(out)
	case r.Method == http.MethodPost && len(parts) == 4 && parts[2] == "statuses":
		if ct := r.Header.Get("Content-Type"); ct != "application/json" {
			f.t.Errorf("status Content-Type: got %q", ct)
		}
		var st webhook.CommitStatus
		dec := json.NewDecoder(r.Body)
		dec.DisallowUnknownFields()
		if err := dec.Decode(&st); err != nil {
			http.Error(w, `{"message":"Problems parsing JSON"}`, http.StatusBadRequest)
			return
		}
		switch st.State {
		case "pending", "success", "failure", "error":
		default:
			http.Error(w, `{"message":"Validation Failed"}`, http.StatusUnprocessableEntity)
			return
		}
		f.statuses = append(f.statuses, postedStatus{parts[0] + "/" + parts[1], parts[3], st})
		w.WriteHeader(http.StatusCreated)
		io.WriteString(w, `{"id":1}`)
	default:
		http.Error(w, `{"message":"Not Found"}`, http.StatusNotFound)
	}
}

func (f *fakeGitHub) posted() []postedStatus {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]postedStatus(nil), f.statuses...)
}

func newFakeGitHub(t *testing.T) (*fakeGitHub, *webhook.GitHub) {
	f := &fakeGitHub{t: t, files: map[string][]string{}}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	return f, webhook.NewGitHub(srv.URL, testToken, srv.Client())
}

// truncatedPush is a push whose commit list is at GitHub's limit: its changed files
// must come from the compare API.
func truncatedPush(files ...string) []byte {
	var commits []map[string]any
	for i := range 20 { // GitHub's limit: the list may be truncated
		commits = append(commits, map[string]any{"id": fmt.Sprintf("%040x", i+1), "message": "m", "modified": []string{"README.md"}})
	}
	commits[0]["modified"] = files
	b, _ := json.Marshal(map[string]any{
		"ref": "refs/heads/master", "before": strings.Repeat("b", 40), "after": strings.Repeat("a", 40),
		"commits": commits, "head_commit": commits[len(commits)-1],
		"repository": map[string]string{"full_name": "ailisp/gcbapp-buildconfig-example"},
		"pusher":     map[string]string{"name": "p"},
	})
	return b
}

func TestChangedFilesOfTruncatedPushes(t *testing.T) {
	compare := strings.Repeat("b", 40) + "..." + strings.Repeat("a", 40)
	t.Run("compare API decides", func(t *testing.T) {
		fake, gh := newFakeGitHub(t)
		fake.files[compare] = []string{"src/main.go"}
		e := newEnv(t, func(d *webhook.Deps) { d.Files = gh })
		e.installAll(t)
		d := e.svc.Handle(context.Background(), e.signed("push", "t1", truncatedPush()))
		var got []string
		for _, s := range d.Executions {
			got = append(got, s.Pipeline)
		}
		// The listed README.md would start gcb; the compare API says only src/main.go changed.
		if diff := cmp.Diff([]string{"gcb-src"}, got); diff != "" {
			t.Errorf("started (-want +got):\n%s", diff)
		}
		x, _ := e.Store.GetExecution(context.Background(), "gcb-src", webhook.ExecutionID("t1", "gcb-src"))
		if det, _ := webhook.ParseTriggerDetail(x.Trigger); det.Note != "" || x.Trigger.Type != core.TriggerWebhookV2 {
			t.Errorf("trigger: got %s %+v, want WebhookV2 without a note", x.Trigger.Type, det)
		}
	})
	t.Run("no token: fire and say so", func(t *testing.T) {
		e := newEnv(t)
		e.installAll(t)
		d := e.svc.Handle(context.Background(), e.signed("push", "t2", truncatedPush()))
		if len(d.Executions) != 2 {
			t.Fatalf("got %+v, want gcb and gcb-src started", d)
		}
		x, _ := e.Store.GetExecution(context.Background(), "gcb-src", webhook.ExecutionID("t2", "gcb-src"))
		det, _ := webhook.ParseTriggerDetail(x.Trigger)
		if !strings.Contains(det.Note, "no GitHub token") {
			t.Errorf("note: got %q, want it to say no token is configured", det.Note)
		}
	})
	t.Run("3000 files listed: fire and say so", func(t *testing.T) {
		e := newEnv(t)
		e.installAll(t)
		var files []string
		for i := range 3000 {
			files = append(files, fmt.Sprintf("docs/page-%d.txt", i))
		}
		var p map[string]any
		json.Unmarshal(truncatedPush(files...), &p)
		p["commits"] = p["commits"].([]any)[:1] // one commit: only the file count is at the limit
		body, _ := json.Marshal(p)
		d := e.svc.Handle(context.Background(), e.signed("push", "t5", body))
		if len(d.Executions) != 2 {
			t.Fatalf("got %+v, want gcb and gcb-src started", d)
		}
		x, _ := e.Store.GetExecution(context.Background(), "gcb-src", webhook.ExecutionID("t5", "gcb-src"))
		if det, _ := webhook.ParseTriggerDetail(x.Trigger); !strings.Contains(det.Note, "3000 changed files") {
			t.Errorf("note: got %q", det.Note)
		}
	})
	t.Run("compare API fails: fire and say so", func(t *testing.T) {
		_, gh := newFakeGitHub(t) // knows no comparison: 404
		e := newEnv(t, func(d *webhook.Deps) { d.Files = gh })
		e.installAll(t)
		d := e.svc.Handle(context.Background(), e.signed("push", "t3", truncatedPush()))
		if len(d.Executions) != 2 {
			t.Fatalf("got %+v, want both started", d)
		}
	})
	t.Run("complete lists need no API", func(t *testing.T) {
		fake, gh := newFakeGitHub(t)
		e := newEnv(t, func(d *webhook.Deps) { d.Files = gh })
		e.installAll(t)
		e.svc.Handle(context.Background(), e.signed("push", "t4", readReal(t, "reallyfastci-push-branch.json")))
		if fake.compares != 0 {
			t.Errorf("compare calls: got %d, want 0", fake.compares)
		}
	})
}

func TestReporterPostsStatuses(t *testing.T) {
	fake, gh := newFakeGitHub(t)
	var r *webhook.Reporter
	e := newEnv(t, func(d *webhook.Deps) {
		r = webhook.NewReporter(webhook.ReporterDeps{GitHub: gh, Executions: d.Executions, BaseURL: "http://relais.example/", Backoff: time.Millisecond, Logger: quiet})
		d.OnStart = r.Track
	})
	e.installAll(t)
	ctx := context.Background()
	d := e.svc.Handle(ctx, e.signed("push", "rep", readReal(t, "goscm-push-branch.json")))
	id := d.Executions[0].ExecutionID
	if r.Tracked() != 1 {
		t.Fatalf("tracked: got %d, want 1", r.Tracked())
	}
	r.Poll(ctx)
	r.Poll(ctx) // nothing changed: nothing posted
	sha := "199eddf46df50de8d02e99bf1c5fdb4101338224"
	want := []postedStatus{{"Codertocat/Hello-World", sha, webhook.CommitStatus{State: "pending", Context: "relais/hello-master",
		TargetURL: "http://relais.example/pipelines/hello-master/executions/" + id, Description: "Relais: execution in progress"}}}
	if diff := cmp.Diff(want, fake.posted()); diff != "" {
		t.Errorf("after start (-want +got):\n%s", diff)
	}
	// The execution ends; GitHub fails twice, then takes it.
	if _, err := core.UpdateExecution(ctx, e.Store, "hello-master", id, func(x *core.Execution) bool {
		x.Status = core.ExecutionSucceeded
		return true
	}); err != nil {
		t.Fatal(err)
	}
	fake.mu.Lock()
	fake.fail = []int{502, 500}
	fake.mu.Unlock()
	r.Poll(ctx)
	got := fake.posted()
	if len(got) != 2 || got[1].Status.State != "success" {
		t.Fatalf("after success: got %+v, want a success status", got)
	}
	if r.Tracked() != 0 {
		t.Errorf("tracked after the end: got %d, want 0", r.Tracked())
	}
}

func TestReporterGivesUpWithoutFailing(t *testing.T) {
	fake, gh := newFakeGitHub(t)
	r := webhook.NewReporter(webhook.ReporterDeps{GitHub: gh, Backoff: time.Millisecond, Logger: quiet})
	detail := webhook.TriggerDetail{Provider: "GitHub", Delivery: "d", Event: "push", Repository: "o/r", Ref: "refs/heads/main", Commit: strings.Repeat("c", 40)}
	e := core.Execution{PipelineName: "p", ID: "x", Status: core.ExecutionFailed, Trigger: core.Trigger{Type: core.TriggerWebhook, Detail: detail.String()}}

	fake.fail = []int{500, 500, 500}
	if err := r.Report(context.Background(), e); err == nil {
		t.Error("three failures: got no error")
	}
	if len(fake.posted()) != 0 || len(fake.fail) != 0 {
		t.Errorf("attempts: %d failures left, want all 3 used", len(fake.fail))
	}
	fake.fail = []int{422} // not worth retrying
	r.Report(context.Background(), e)
	if len(fake.fail) != 0 || len(fake.posted()) != 0 {
		t.Errorf("422: got %d posted", len(fake.posted()))
	}
	if err := r.Report(context.Background(), e); err != nil {
		t.Errorf("a later report: %v", err)
	}
	if got := fake.posted(); len(got) != 1 || got[0].Status.State != "failure" || got[0].Status.TargetURL != "" {
		t.Errorf("got %+v, want one failure status without a link", got)
	}
	// Executions not started by a delivery are not reported.
	if err := r.Report(context.Background(), core.Execution{PipelineName: "p", ID: "y", Trigger: core.Trigger{Type: core.TriggerStartPipelineExecution}}); err != nil || len(fake.posted()) != 1 {
		t.Errorf("manual execution: posted %d, err %v", len(fake.posted()), err)
	}
}

func TestGitHubClientHidesToken(t *testing.T) {
	gh := webhook.NewGitHub("http://127.0.0.1:1", testToken, nil)
	if strings.Contains(fmt.Sprint(gh), testToken) {
		t.Error("String shows the token")
	}
	err := gh.PostStatus(context.Background(), "o/r", strings.Repeat("a", 40), webhook.CommitStatus{State: "pending", Context: "c"})
	if err == nil || strings.Contains(err.Error(), testToken) {
		t.Errorf("error: %v", err)
	}
}

func TestReporterAsNotifier(t *testing.T) {
	fake, gh := newFakeGitHub(t)
	e := newEnv(t)
	e.installAll(t)
	r := webhook.NewReporter(webhook.ReporterDeps{GitHub: gh, Executions: e.Store, Logger: quiet})
	d := e.svc.Handle(context.Background(), e.signed("push", "notified", readReal(t, "goscm-push-branch.json")))
	id := d.Executions[0].ExecutionID
	core.UpdateExecution(context.Background(), e.Store, "hello-master", id, func(x *core.Execution) bool {
		x.Status = core.ExecutionFailed
		return true
	})
	ctx := context.Background()
	r.Notify(ctx, core.Notification{Kind: core.NotifyApprovalRequested, PipelineName: "hello-master", ExecutionID: id})
	if err := r.Notify(ctx, core.Notification{Kind: core.NotifyExecutionEnded, PipelineName: "hello-master", ExecutionID: id}); err != nil {
		t.Fatal(err)
	}
	if got := fake.posted(); len(got) != 1 || got[0].Status.State != "failure" || got[0].Status.Context != "relais/hello-master" {
		t.Errorf("got %+v, want one failure status", got)
	}
}

// GitHub keeps the latest status of a context: a stale snapshot of an execution is
// never posted after a newer one, while a retry (Failed, then InProgress again) is.
func TestReporterKeepsOrder(t *testing.T) {
	fake, gh := newFakeGitHub(t)
	r := webhook.NewReporter(webhook.ReporterDeps{GitHub: gh, Logger: quiet})
	detail := webhook.TriggerDetail{Provider: "GitHub", Delivery: "d", Event: "push", Repository: "o/r", Ref: "refs/heads/main", Commit: strings.Repeat("c", 40)}
	at := func(s core.ExecutionStatus, sec int) core.Execution {
		return core.Execution{PipelineName: "p", ID: "x", Status: s, LastUpdateTime: time.Unix(int64(sec), 0),
			Trigger: core.Trigger{Type: core.TriggerWebhookV2, Detail: detail.String()}}
	}
	ctx := context.Background()
	for _, e := range []core.Execution{
		at(core.ExecutionFailed, 2),
		at(core.ExecutionInProgress, 1), // stale: not posted
		at(core.ExecutionFailed, 2),     // posted already
		at(core.ExecutionInProgress, 3), // a retry
		at(core.ExecutionSucceeded, 4),
	} {
		if err := r.Report(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	var states []string
	for _, p := range fake.posted() {
		states = append(states, p.Status.State)
	}
	if diff := cmp.Diff([]string{"failure", "pending", "success"}, states); diff != "" {
		t.Errorf("states posted (-want +got):\n%s", diff)
	}
}
