package webhook_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"github.com/relais-ci/relais/shared/webhook"
	"log/slog"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/relais-ci/relais/shared/core"
	"github.com/relais-ci/relais/shared/execution"
)

// Every real delivery, with the X-GitHub-Event header SOURCES.md gives it, gets the
// right decision and starts the right pipelines.
func TestRealDeliveries(t *testing.T) {
	tests := []struct {
		file, event string
		status      int
		message     string   // prefix
		started     []string // pipelines, in name order
	}{
		{"argocd-push-branch-forced.json", "push", 200, "started 2", []string{"argo", "argo-legacy"}},
		{"goscm-pull_request-closed-not-merged.json", "pull_request", 200, "ignored: pull_request closed without merge", nil},
		{"goscm-pull_request-opened.json", "pull_request", 200, "started 1", []string{"drone"}},
		{"goscm-pull_request-synchronize.json", "pull_request", 200, "started 1", []string{"drone"}},
		{"goscm-push-branch-created.json", "push", 200, "started 1", []string{"drone"}},
		{"goscm-push-branch-deleted.json", "push", 200, "ignored: ref refs/heads/feature-branch was deleted", nil},
		{"goscm-push-branch.json", "push", 200, "started 1", []string{"hello-master"}},
		{"goscm-push-tag-created.json", "push", 200, "started 1", []string{"drone"}},
		{"goscm-push-tag-deleted.json", "push", 200, "ignored: ref refs/tags/v0.0.1 was deleted", nil},
		{"octokit-create-tag.json", "create", 202, "ignored: event create", nil},
		{"octokit-delete-tag.json", "delete", 202, "ignored: event delete", nil},
		{"octokit-ping-organization.json", "ping", 200, "pong", nil},
		{"octokit-ping-repository.json", "ping", 200, "pong", nil},
		{"octokit-pull_request-closed-not-merged.json", "pull_request", 200, "ignored: pull_request closed without merge", nil},
		{"octokit-pull_request-opened.json", "pull_request", 200, "started 1", []string{"hello-v2"}},
		{"octokit-pull_request-synchronize.json", "pull_request", 200, "started 1", []string{"hello-v2"}},
		{"octokit-push-branch-created.json", "push", 200, "started 1", []string{"hello-master"}},
		{"octokit-push-tag-created.json", "push", 200, "started 1", []string{"hello-v2"}},
		{"octokit-push-tag-deleted.json", "push", 200, "ignored: ref refs/tags/simple-tag was deleted", nil},
		{"reallyfastci-ping-repository.json", "ping", 200, "pong", nil},
		{"reallyfastci-pull_request-closed-merged.json", "pull_request", 200, "started 1", []string{"gcb"}},
		{"reallyfastci-push-branch.json", "push", 200, "started 1", []string{"gcb"}},
	}
	e := newEnv(t)
	e.installAll(t)
	for i, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			body := readReal(t, tc.file)
			delivery := fmt.Sprintf("delivery-%d", i)
			before := len(e.executions(t))
			d := e.svc.Handle(context.Background(), e.signed(tc.event, delivery, body))
			if d.Status != tc.status || !strings.HasPrefix(d.Message, tc.message) {
				t.Fatalf("got %d %q, want %d %q…", d.Status, d.Message, tc.status, tc.message)
			}
			var got []string
			for _, s := range d.Executions {
				got = append(got, s.Pipeline)
				if s.ExecutionID != webhook.ExecutionID(delivery, s.Pipeline) {
					t.Errorf("execution id of %s: got %s, want the one derived from the delivery", s.Pipeline, s.ExecutionID)
				}
			}
			if diff := cmp.Diff(tc.started, got); diff != "" {
				t.Errorf("started pipelines (-want +got):\n%s", diff)
			}
			if n := len(e.executions(t)) - before; n != len(tc.started) {
				t.Errorf("executions recorded: got %d, want %d", n, len(tc.started))
			}
			if tc.event == "ping" && d.HookID == 0 {
				t.Errorf("ping: got no hook id")
			}
		})
	}
}

// The execution records what started it: trigger type and detail, and the revision.
func TestExecutionRecordsTriggerAndRevision(t *testing.T) {
	e := newEnv(t)
	e.installAll(t)
	ctx := context.Background()

	d := e.svc.Handle(ctx, e.signed("push", "d-push", readReal(t, "goscm-push-branch.json")))
	if len(d.Executions) != 1 {
		t.Fatalf("got %+v, want one execution", d)
	}
	x, err := e.Store.GetExecution(ctx, "hello-master", d.Executions[0].ExecutionID)
	if err != nil {
		t.Fatal(err)
	}
	if x.Trigger.Type != core.TriggerWebhook {
		t.Errorf("trigger type: got %s, want Webhook (the source action's default fired)", x.Trigger.Type)
	}
	det, ok := webhook.ParseTriggerDetail(x.Trigger)
	if !ok {
		t.Fatalf("trigger detail %q does not parse", x.Trigger.Detail)
	}
	want := webhook.TriggerDetail{Provider: "GitHub", Delivery: "d-push", Event: "push", Repository: "Codertocat/Hello-World",
		Ref: "refs/heads/master", Branch: "master", Commit: "199eddf46df50de8d02e99bf1c5fdb4101338224", Author: "Codertocat", CommitAuthor: "Codertocat"}
	if diff := cmp.Diff(want, det); diff != "" {
		t.Errorf("trigger detail (-want +got):\n%s", diff)
	}
	wantRev := []core.SourceRevision{{ActionName: "Checkout", RevisionID: "199eddf46df50de8d02e99bf1c5fdb4101338224",
		RevisionSummary: "Update README", RevisionURL: "https://github.com/Codertocat/Hello-World/commit/199eddf46df50de8d02e99bf1c5fdb4101338224"}}
	if diff := cmp.Diff(wantRev, x.SourceRevisions); diff != "" {
		t.Errorf("source revisions (-want +got):\n%s", diff)
	}

	// A pull request builds the head commit of its source branch, through a V2 trigger.
	d = e.svc.Handle(ctx, e.signed("pull_request", "d-pr", readReal(t, "octokit-pull_request-opened.json")))
	x, err = e.Store.GetExecution(ctx, "hello-v2", d.Executions[0].ExecutionID)
	if err != nil {
		t.Fatal(err)
	}
	det, _ = webhook.ParseTriggerDetail(x.Trigger)
	if x.Trigger.Type != core.TriggerWebhookV2 || det.Action != "opened" || det.PullRequest != 2 || det.Branch != "changes" || det.Base != "master" ||
		det.Commit != "ec26c3e57ca3a959ca5aad62de7213c562f8c821" || det.Author != "Codertocat" {
		t.Errorf("pull request trigger: got %s %+v", x.Trigger.Type, det)
	}
	if x.SourceRevisions[0].RevisionID != det.Commit {
		t.Errorf("pull request revision: got %s, want the head commit %s", x.SourceRevisions[0].RevisionID, det.Commit)
	}
}

// Bad inputs get their status and start nothing.
func TestBadInputs(t *testing.T) {
	push := readReal(t, "goscm-push-branch.json")
	e := newEnv(t)
	e.installAll(t)
	ok := e.signed("push", "good", push)
	with := func(f func(r *webhook.Request)) webhook.Request {
		r := ok
		r.Body = bytes.Clone(ok.Body)
		f(&r)
		return r
	}
	huge := make([]byte, webhook.MaxBody+1)
	copy(huge, push)
	form := "payload=" + url.QueryEscape(string(push))
	tests := []struct {
		name   string
		req    webhook.Request
		status int
		msg    string
	}{
		{"no signature", with(func(r *webhook.Request) { r.Signature = "" }), 401, "missing X-Hub-Signature-256"},
		{"forged body", with(func(r *webhook.Request) { r.Body = bytes.Replace(r.Body, []byte("master"), []byte("mister"), 1) }), 401, "X-Hub-Signature-256 does not match"},
		{"wrong secret", with(func(r *webhook.Request) { r.Signature = webhook.Sign([]byte("guess"), r.Body) }), 401, "X-Hub-Signature-256 does not match"},
		{"sha1 signature only", with(func(r *webhook.Request) { r.Signature = "sha1=" + strings.Repeat("a", 40) }), 401, "X-Hub-Signature-256 does not match"},
		{"signature not hex", with(func(r *webhook.Request) { r.Signature = "sha256=" + strings.Repeat("z", 64) }), 401, "X-Hub-Signature-256 does not match"},
		{"truncated body", with(func(r *webhook.Request) { r.Body = r.Body[:len(r.Body)/2]; r.Signature = e.secrets.Sign(r.Body) }), 400, "payload is not valid JSON"},
		{"wrong content type", with(func(r *webhook.Request) { r.ContentType = "text/plain" }), 415, "content type text/plain"},
		{"form without payload", with(func(r *webhook.Request) {
			r.ContentType, r.Body = "application/x-www-form-urlencoded", []byte("other=1")
			r.Signature = e.secrets.Sign(r.Body)
		}), 400, "form body has no payload field"},
		{"oversized", with(func(r *webhook.Request) { r.Body = huge; r.Signature = e.secrets.Sign(huge) }), 413, "body over"},
		{"bad base64", with(func(r *webhook.Request) { r.Base64 = true; r.Body = []byte("!!") }), 400, "body is not valid base64"},
		{"unknown event", with(func(r *webhook.Request) { r.Event = "issues" }), 202, "ignored: event issues"},
		{"no event", with(func(r *webhook.Request) { r.Event = "" }), 400, "missing X-GitHub-Event"},
		{"no delivery id", with(func(r *webhook.Request) { r.Delivery = "" }), 400, "missing X-GitHub-Delivery"},
		{"deleted branch", e.signed("push", "del", readReal(t, "goscm-push-branch-deleted.json")), 200, "ignored: ref refs/heads/feature-branch was deleted"},
		{"deleted tag", e.signed("push", "delt", readReal(t, "octokit-push-tag-deleted.json")), 200, "ignored: ref refs/tags/simple-tag was deleted"},
		{"push without repository", with(func(r *webhook.Request) {
			r.Body = []byte(`{"ref":"refs/heads/master"}`)
			r.Signature = e.secrets.Sign(r.Body)
		}), 400, "push payload has no repository"},
		{"payload not an object", with(func(r *webhook.Request) { r.Body = []byte(`[1]`); r.Signature = e.secrets.Sign(r.Body) }), 400, "payload is not a JSON object"},
		{"field of the wrong type", with(func(r *webhook.Request) { r.Body = []byte(`{"ref": 1}`); r.Signature = e.secrets.Sign(r.Body) }), 400, "payload field ref has the wrong type"},
		// Valid requests, for contrast: JSON, form and base64 bodies each start one.
		{"form body", with(func(r *webhook.Request) {
			r.ContentType, r.Body, r.Delivery = "application/x-www-form-urlencoded", []byte(form), "form"
			r.Signature = e.secrets.Sign(r.Body)
		}), 200, "started 1"},
		{"base64 body", with(func(r *webhook.Request) {
			r.Base64, r.Delivery = true, "b64"
			r.Body = []byte(base64.StdEncoding.EncodeToString(push))
		}), 200, "started 1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := len(e.executions(t))
			d := e.svc.Handle(context.Background(), tc.req)
			if d.Status != tc.status || !strings.HasPrefix(d.Message, tc.msg) {
				t.Fatalf("got %d %q, want %d %q…", d.Status, d.Message, tc.status, tc.msg)
			}
			if tc.status != 200 || !strings.HasPrefix(tc.msg, "started") {
				if n := len(e.executions(t)) - before; n != 0 {
					t.Errorf("started %d executions, want none", n)
				}
			}
		})
	}

	t.Run("replay", func(t *testing.T) {
		first := e.svc.Handle(context.Background(), ok)
		if first.Status != 200 || len(first.Executions) != 1 {
			t.Fatalf("first delivery: got %+v", first)
		}
		before := len(e.executions(t))
		again := e.svc.Handle(context.Background(), ok)
		if again.Status != 200 || again.Message != "duplicate" {
			t.Fatalf("replay: got %d %q, want 200 duplicate", again.Status, again.Message)
		}
		if diff := cmp.Diff(first.Executions, again.Executions); diff != "" {
			t.Errorf("replay names other executions (-first +replay):\n%s", diff)
		}
		if n := len(e.executions(t)) - before; n != 0 {
			t.Errorf("replay started %d executions", n)
		}
	})

	t.Run("no secret configured", func(t *testing.T) {
		none := newEnv(t, func(d *webhook.Deps) { d.Secrets = webhook.Secrets{} })
		if none.svc.Ready() == nil {
			t.Error("Ready: got nil, want webhook.ErrNoSecret")
		}
		d := none.svc.Handle(context.Background(), ok)
		if d.Status != 401 || !strings.Contains(d.Message, "no webhook secret is configured") {
			t.Errorf("got %d %q, want 401 saying no secret is configured", d.Status, d.Message)
		}
	})
}

// 100 identical deliveries at once start one execution.
func TestConcurrentDuplicatesStartOnce(t *testing.T) {
	e := newEnv(t)
	e.installAll(t)
	req := e.signed("push", "same-delivery", readReal(t, "goscm-push-branch.json"))
	var wg sync.WaitGroup
	decisions := make([]webhook.Decision, 100)
	for i := range decisions {
		wg.Add(1)
		go func() {
			defer wg.Done()
			decisions[i] = e.svc.Handle(context.Background(), req)
		}()
	}
	wg.Wait()
	fresh := 0
	for _, d := range decisions {
		if d.Status != 200 {
			t.Fatalf("got %d %q", d.Status, d.Message)
		}
		if d.Message != "duplicate" {
			fresh++
		}
	}
	if fresh != 1 {
		t.Errorf("deliveries answered as new: got %d, want 1", fresh)
	}
	if xs := e.executions(t); len(xs) != 1 {
		t.Errorf("executions: got %d, want 1", len(xs))
	}
	if starts := e.Engine.CallsOf("StartExecution"); len(starts) != 1 {
		t.Errorf("engine runs started: got %d, want 1", len(starts))
	}
}

// A crash after the delivery was recorded and before the execution started: GitHub's
// redelivery is a duplicate, and starts the missing execution — once.
func TestRedeliveryCompletesAnInterruptedDelivery(t *testing.T) {
	e := newEnv(t)
	e.installAll(t)
	ctx := context.Background()
	if err := e.Store.RecordDelivery(ctx, "interrupted", e.Clock.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	req := e.signed("push", "interrupted", readReal(t, "goscm-push-branch.json"))
	d := e.svc.Handle(ctx, req)
	if d.Status != 200 || d.Message != "duplicate" || len(d.Executions) != 1 {
		t.Fatalf("redelivery: got %+v, want a duplicate naming the execution it started", d)
	}
	if _, err := e.Store.GetExecution(ctx, "hello-master", webhook.ExecutionID("interrupted", "hello-master")); err != nil {
		t.Fatalf("execution: %v", err)
	}
	e.svc.Handle(ctx, req)
	if xs := e.executions(t); len(xs) != 1 {
		t.Errorf("executions after two redeliveries: got %d, want 1", len(xs))
	}
}

// A store failure while starting is a 500 (no internal detail), and the redelivery
// completes what the first attempt could not.
func TestStartFailureAsksForRedelivery(t *testing.T) {
	failing := &flakyStarter{fail: true}
	e := newEnv(t, func(d *webhook.Deps) { failing.next = d.Starter; d.Starter = failing })
	e.installAll(t)
	req := e.signed("push", "flaky", readReal(t, "goscm-push-branch.json"))
	d := e.svc.Handle(context.Background(), req)
	if d.Status != 500 || !strings.Contains(d.Message, "redeliver") || strings.Contains(d.Message, "disk") {
		t.Fatalf("got %d %q, want 500 asking for a redelivery, without the internal error", d.Status, d.Message)
	}
	failing.mu.Lock()
	failing.fail = false
	failing.mu.Unlock()
	d = e.svc.Handle(context.Background(), req)
	if d.Status != 200 || d.Message != "duplicate" || len(d.Executions) != 1 {
		t.Fatalf("redelivery: got %+v", d)
	}
}

type flakyStarter struct {
	mu   sync.Mutex
	fail bool
	next webhook.Starter
}

func (f *flakyStarter) Start(ctx context.Context, r execution.StartRequest) (core.Execution, error) {
	f.mu.Lock()
	fail := f.fail
	f.mu.Unlock()
	if fail {
		return core.Execution{}, fmt.Errorf("record execution: disk on fire")
	}
	return f.next.Start(ctx, r)
}

func TestExecutionID(t *testing.T) {
	a := webhook.ExecutionID("88f41318-101a-11ea-99ad-ec7586fcd78e", "p")
	if a != webhook.ExecutionID("88f41318-101a-11ea-99ad-ec7586fcd78e", "p") {
		t.Error("not deterministic")
	}
	if !regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`).MatchString(a) {
		t.Errorf("got %s, want a version 5 UUID", a)
	}
	others := []string{webhook.ExecutionID("88f41318-101a-11ea-99ad-ec7586fcd78e", "q"), webhook.ExecutionID("88f41318-101a-11ea-99ad-ec7586fcd78f", "p"), webhook.ExecutionID("88f41318-101a-11ea-99ad-ec7586fcd78e\x00p", "")}
	if slices.Contains(others, a) {
		t.Errorf("id collides: %s in %v", a, others)
	}
}

func TestTriggerDetailFitsCodePipelineLimit(t *testing.T) {
	long := webhook.TriggerDetail{Provider: "GitHub", Delivery: strings.Repeat("d", 200), Event: "push", Repository: "o/r",
		Ref: "refs/heads/" + strings.Repeat("<é>", 300), Branch: strings.Repeat("<é>", 300), Base: strings.Repeat("&", 300), Commit: strings.Repeat("a", 40),
		Author: strings.Repeat("x", 100), CommitAuthor: strings.Repeat("\"", 100), Note: strings.Repeat("why ", 300)}
	s := long.String()
	if len(s) > 1024 || !json.Valid([]byte(s)) {
		t.Errorf("detail of %d bytes (valid JSON: %v), want ≤ %d", len(s), json.Valid([]byte(s)), 1024)
	}
}

// Pull-request actions map to CodePipeline's events: opened and reopened are OPEN,
// synchronize and a change of base are UPDATED, a merge is CLOSED; the rest start nothing.
func TestPullRequestActions(t *testing.T) {
	e := newEnv(t)
	for _, ev := range []string{"OPEN", "UPDATED", "CLOSED"} {
		e.Install(t, decl("pr-"+ev, source{repo: "Codertocat/Hello-World", branch: "master",
			triggers: `{"pullRequest": [{"events": ["` + ev + `"], "branches": {"includes": ["master"]}}]}`}))
	}
	base := readReal(t, "octokit-pull_request-opened.json")
	tests := []struct {
		action  string
		changes string // JSON of the changes object, "" for none
		merged  bool
		want    string // PullRequestEvent, "" when ignored
	}{
		{"opened", "", false, "OPEN"},
		{"reopened", "", false, "OPEN"},
		{"synchronize", "", false, "UPDATED"},
		{"edited", `{"base": {"ref": {"from": "develop"}, "sha": {"from": "abc"}}}`, false, "UPDATED"},
		{"edited", `{"title": {"from": "Old title"}}`, false, ""},
		{"closed", "", true, "CLOSED"},
		{"closed", "", false, ""},
		{"labeled", "", false, ""},
		{"ready_for_review", "", false, ""},
	}
	for i, tc := range tests {
		t.Run(fmt.Sprintf("%s %s merged=%v", tc.action, tc.changes, tc.merged), func(t *testing.T) {
			var p map[string]any
			if err := json.Unmarshal(base, &p); err != nil {
				t.Fatal(err)
			}
			p["action"] = tc.action
			p["pull_request"].(map[string]any)["merged"] = tc.merged
			if tc.changes != "" {
				var c any
				json.Unmarshal([]byte(tc.changes), &c)
				p["changes"] = c
			}
			body, _ := json.Marshal(p)
			delivery := fmt.Sprintf("pr-%d", i)
			d := e.svc.Handle(context.Background(), e.signed("pull_request", delivery, body))
			if tc.want == "" {
				if d.Status != 200 || !strings.HasPrefix(d.Message, "ignored: pull_request") || len(d.Executions) != 0 {
					t.Errorf("got %d %q, want it ignored", d.Status, d.Message)
				}
				return
			}
			if d.Status != 200 || len(d.Executions) != 1 || d.Executions[0].Pipeline != "pr-"+tc.want {
				t.Fatalf("got %+v, want pr-%s started", d, tc.want)
			}
			x, err := e.Store.GetExecution(context.Background(), d.Executions[0].Pipeline, d.Executions[0].ExecutionID)
			if err != nil {
				t.Fatal(err)
			}
			if det, _ := webhook.ParseTriggerDetail(x.Trigger); det.Action != tc.action || det.Event != "pull_request" {
				t.Errorf("detail: got %+v", det)
			}
		})
	}
}

// Deliveries are logged once each, without the secret, the signature or the body.
func TestLogsHoldNoSecret(t *testing.T) {
	var buf bytes.Buffer
	e := newEnv(t, func(d *webhook.Deps) {
		d.Logger = slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	})
	e.installAll(t)
	ok := e.signed("push", "logged", readReal(t, "goscm-push-branch.json"))
	bad := ok
	bad.Signature = webhook.Sign([]byte("wrong"), ok.Body)
	for _, r := range []webhook.Request{ok, bad, ok} {
		e.svc.Handle(context.Background(), r)
	}
	out := buf.String()
	for _, secret := range []string{testSecret, ok.Signature[7:], bad.Signature[7:], "Update README"} {
		if strings.Contains(out, secret) {
			t.Errorf("log holds %q:\n%s", secret, out)
		}
	}
	if n := strings.Count(out, "msg=\"webhook delivery\""); n != 3 {
		t.Errorf("got %d delivery log lines, want 3:\n%s", n, out)
	}
}

// TestMatchesTheInstalledDeclaration: declarations are parsed once, yet every delivery
// is matched against the declaration installed now — a new version, or a pipeline
// deleted and installed anew (its version starts again at 1).
func TestMatchesTheInstalledDeclaration(t *testing.T) {
	svc, m := newMemService(t, map[string]string{"app": decl("app", source{repo: "org/app", branch: "main"})})
	sig := webhook.NewSecrets(testSecret)
	n := 0
	push := func() int {
		t.Helper()
		n++
		body := pushBody("org/app", "main")
		d := svc.Handle(context.Background(), webhook.Request{Event: "push", Delivery: fmt.Sprint("d-", n),
			Signature: sig.Sign(body), ContentType: "application/json", Body: body})
		if d.Status != 200 {
			t.Fatalf("got %d %s", d.Status, d.Message)
		}
		return len(d.Executions)
	}
	install := func(version int, branch string) {
		m.pipelines = []core.Pipeline{{Name: "app", Version: version, Declaration: []byte(decl("app", source{repo: "org/app", branch: branch}))}}
	}
	steps := []struct {
		name    string
		version int
		branch  string
		want    int
	}{
		{"first version, on main", 1, "main", 1},
		{"new version, on release", 2, "release", 0},
		{"deleted and installed anew, on main", 1, "main", 1},
		{"deleted and installed anew, on release", 1, "release", 0},
	}
	for _, st := range steps {
		install(st.version, st.branch)
		if got := push(); got != st.want {
			t.Errorf("%s: a push to main started %d executions, want %d", st.name, got, st.want)
		}
	}
}

// pushBody is a push of one commit to branch of repo, as GitHub sends it.
func pushBody(repo, branch string) []byte {
	sha := strings.Repeat("c", 40)
	b, _ := json.Marshal(map[string]any{
		"ref": "refs/heads/" + branch, "before": strings.Repeat("b", 40), "after": sha,
		"commits":     []map[string]any{{"id": sha, "message": "Change", "modified": []string{"README.md"}, "author": map[string]string{"name": "Ada"}}},
		"head_commit": map[string]any{"id": sha, "message": "Change", "author": map[string]string{"name": "Ada"}},
		"repository":  map[string]string{"full_name": repo},
		"pusher":      map[string]string{"name": "ada"},
	})
	return b
}
