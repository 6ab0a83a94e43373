package web_test

import (
	"context"
	"html"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/relais-ci/relais/shared/action"
	"github.com/relais-ci/relais/shared/approval"
	"github.com/relais-ci/relais/shared/approval/web"
	"github.com/relais-ci/relais/shared/asl"
	"github.com/relais-ci/relais/shared/core"
	"github.com/relais-ci/relais/shared/execution"
	"github.com/relais-ci/relais/shared/local/serve"
	"github.com/relais-ci/relais/shared/local/smtpnotify"
	"github.com/relais-ci/relais/shared/local/smtpnotify/mailpittest"
)

// provider stands in for the source and deploy providers: the source yields a revision
// and an artifact, the deploy records that it ran.
type provider struct {
	rt       *serve.Runtime
	ready    chan struct{}
	deployed chan string
}

func (p *provider) Run(ctx context.Context, job action.Job) (action.Result, error) {
	<-p.ready
	res := action.Result{Status: core.ActionSucceeded, OutputVariables: map[string]string{"CommitId": "c0ffee"}}
	for _, out := range job.Declared.OutputArtifacts {
		loc, err := p.rt.Artifacts.PutArtifact(ctx, job.Record.PipelineName, job.Record.ExecutionID, out.Name, strings.NewReader("code"))
		if err != nil {
			return action.Result{}, err
		}
		res.OutputArtifacts = append(res.OutputArtifacts, core.Artifact{Name: out.Name, Location: loc})
	}
	switch job.Declared.ActionTypeID.Category {
	case "Source":
		res.Revision = &core.SourceRevision{RevisionID: "c0ffee", RevisionSummary: "Add <b>checkout</b>", RevisionURL: "https://git.example.com/shop/commit/c0ffee"}
	case "Deploy":
		p.deployed <- job.Record.ExecutionID
	}
	return res, nil
}

const shop = `{"pipeline": {
  "name": "shop", "roleArn": "arn:aws:iam::123456789012:role/r", "version": 1,
  "artifactStore": {"type": "S3", "location": "bucket"}, "pipelineType": "V2", "executionMode": "QUEUED",
  "stages": [
    {"name": "Source", "actions": [{"name": "Src", "runOrder": 1, "namespace": "SourceVariables",
      "actionTypeId": {"category": "Source", "owner": "AWS", "provider": "CodeStarSourceConnection", "version": "1"},
      "configuration": {"ConnectionArn": "arn:aws:codeconnections:us-east-1:123456789012:connection/x", "FullRepositoryId": "o/shop", "BranchName": "main"},
      "outputArtifacts": [{"name": "Code"}]}]},
    {"name": "Approve", "actions": [{"name": "Release", "runOrder": 1,
      "actionTypeId": {"category": "Approval", "owner": "AWS", "provider": "Manual", "version": "1"},
      "configuration": {"CustomData": "Check #{SourceVariables.CommitId} on <i>staging</i>", "ExternalEntityLink": "https://staging.example.com/shop"}}]},
    {"name": "Deploy", "actions": [{"name": "Ship", "runOrder": 1,
      "actionTypeId": {"category": "Deploy", "owner": "AWS", "provider": "S3", "version": "1"},
      "configuration": {"BucketName": "site", "Extract": "true"},
      "inputArtifacts": [{"name": "Code"}]}]}
  ]}}`

// TestApprovalByMail runs a pipeline on the local runtime whose approval request goes
// by SMTP to a real server (mailpit); the approver follows the link in the mail, confirms
// on the page, and the pipeline deploys.
func TestApprovalByMail(t *testing.T) {
	mp := mailpittest.Start(t)
	ctx := context.Background()
	logger := slog.New(slog.DiscardHandler)

	var pages http.Handler
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { pages.ServeHTTP(w, r) }))
	defer srv.Close()
	keys, err := approval.KeyFile(t.TempDir() + "/approval.key")
	if err != nil {
		t.Fatal(err)
	}
	links, err := approval.NewLinks(srv.URL, keys...)
	if err != nil {
		t.Fatal(err)
	}
	mailer, err := smtpnotify.New(smtpnotify.Config{Addr: mp.SMTP, From: "Relais <relais@example.com>"})
	if err != nil {
		t.Fatal(err)
	}
	p := &provider{ready: make(chan struct{}), deployed: make(chan string, 1)}
	rt, err := serve.Open(ctx, serve.Config{
		DataDir:   t.TempDir(),
		Providers: map[string]action.Provider{"Source/AWS/CodeStarSourceConnection": p, "Deploy/AWS/S3": p},
		Notifier:  mailer, ApprovalLinks: links, Approvers: []string{"alice@example.com", "bob@example.com"},
		Logger: logger,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close()
	p.rt = rt
	close(p.ready)
	mux := http.NewServeMux()
	mux.Handle("/approvals/", web.New(web.Deps{Service: rt.Approvals, Logger: logger}))
	pages = mux

	if _, err := rt.Executions.Install(ctx, []byte(shop)); err != nil {
		t.Fatal(err)
	}
	x, err := rt.Executions.Start(ctx, execution.StartRequest{Pipeline: "shop"})
	if err != nil {
		t.Fatal(err)
	}

	// One request per approver, each with their own two links.
	msgs := mp.Wait(t, 2)
	var mail mailpittest.Message
	for _, s := range msgs {
		if len(s.To) == 1 && s.To[0].Address == "alice@example.com" {
			mail = mp.Message(t, s.ID)
		}
	}
	if mail.ID == "" {
		t.Fatalf("no message for alice alone among %+v", msgs)
	}
	if mail.Subject != "APPROVAL NEEDED: shop / Approve / Release" {
		t.Errorf("subject %q", mail.Subject)
	}
	if ct := mp.Headers(t, mail.ID)["Content-Type"]; len(ct) != 1 || !strings.HasPrefix(ct[0], "multipart/alternative") {
		t.Errorf("Content-Type %v, want multipart/alternative", ct)
	}
	for _, want := range []string{"shop", "Approve / Release", "c0ffee", "Add <b>checkout</b>", "https://git.example.com/shop/commit/c0ffee", "Check c0ffee on <i>staging</i>", "https://staging.example.com/shop"} {
		if !strings.Contains(mail.Text, want) {
			t.Errorf("the text part lacks %q:\n%s", want, mail.Text)
		}
	}
	found := map[string]string{}
	for _, m := range regexp.MustCompile(`(?m)^(Approve|Reject): +(\S+)\s*$`).FindAllStringSubmatch(mail.Text, -1) {
		found[m[1]] = m[2]
	}
	approveURL, rejectURL := found["Approve"], found["Reject"]
	if !strings.HasPrefix(approveURL, srv.URL+"/approvals/") || !strings.HasPrefix(rejectURL, srv.URL+"/approvals/") {
		t.Fatalf("links %v: want approve and reject links under %s", found, srv.URL)
	}
	for _, l := range []string{approveURL, rejectURL} {
		if !strings.Contains(html.UnescapeString(mail.HTML), l) {
			t.Errorf("the HTML part lacks %s", l)
		}
		if !strings.Contains(l, "to=alice%40example.com") {
			t.Errorf("link %s is not alice's", l)
		}
	}
	if strings.Contains(mail.HTML, "<b>checkout</b>") || strings.Contains(mail.HTML, "<i>staging</i>") {
		t.Error("the HTML part holds the commit message or CustomData unescaped")
	}

	// Follow the approve link as a browser would: the page, then its form.
	jar, _ := cookiejar.New(nil)
	browser := &http.Client{Jar: jar}
	resp, err := browser.Get(approveURL)
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET approve link: %s\n%s", resp.Status, page)
	}
	if got, _ := rt.Store.GetExecution(ctx, "shop", x.ID); got.Status != core.ExecutionInProgress {
		t.Fatalf("after the GET the execution is %s, want still InProgress", got.Status)
	}
	form := url.Values{}
	for _, m := range regexp.MustCompile(`<input type="hidden" name="(\w+)" value="([^"]*)">`).FindAllStringSubmatch(string(page), -1) {
		form.Set(m[1], html.UnescapeString(m[2]))
	}
	form.Set("comment", "checked on staging")
	req, _ := http.NewRequest(http.MethodPost, approveURL, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", srv.URL)
	resp, err = browser.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	done, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(done), "Approved") {
		t.Fatalf("POST approve: %s\n%s", resp.Status, done)
	}

	select {
	case id := <-p.deployed:
		if id != x.ID {
			t.Errorf("deployed %s, want %s", id, x.ID)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the pipeline did not go on to deploy")
	}
	deadline := time.Now().Add(2 * time.Minute)
	for {
		got, _ := rt.Store.GetExecution(ctx, "shop", x.ID)
		if got.Status == core.ExecutionSucceeded {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("execution %s, want Succeeded", got.Status)
		}
		time.Sleep(10 * time.Millisecond)
	}
	acts, _ := core.AllActions(ctx, rt.Store, core.ActionFilter{PipelineName: "shop", ExecutionID: x.ID, StageName: "Approve"})
	if len(acts) != 1 || acts[0].Status != core.ActionSucceeded || acts[0].Summary != "Approved by alice@example.com: checked on staging" {
		t.Errorf("approval action %+v: want Succeeded, approved by alice with her comment", acts)
	}

	// Bob's link now does nothing.
	resp, err = http.Get(strings.Replace(approveURL, "alice%40example.com", "bob%40example.com", 1))
	if err == nil {
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			t.Error("a forged link for bob shows a form")
		}
	}
}

// TestApprovalTimeoutStopsLinks: the engine times the approval out (timeoutInMinutes);
// the action fails with "Approval timed out", the approval is Expired, and neither its
// link nor the API-side Decide can decide it any more.
func TestApprovalTimeoutStopsLinks(t *testing.T) {
	ctx := context.Background()
	logger := slog.New(slog.DiscardHandler)
	clock := asl.NewFakeClock(time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC))
	var pages http.Handler
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { pages.ServeHTTP(w, r) }))
	defer srv.Close()
	links, err := approval.NewLinks(srv.URL, []byte(strings.Repeat("k", 32)))
	if err != nil {
		t.Fatal(err)
	}
	texts := make(chan string, 10)
	p := &provider{ready: make(chan struct{}), deployed: make(chan string, 1)}
	rt, err := serve.Open(ctx, serve.Config{
		DataDir:   t.TempDir(),
		Providers: map[string]action.Provider{"Source/AWS/CodeStarSourceConnection": p, "Deploy/AWS/S3": p},
		Notifier: core.NotifierFunc(func(ctx context.Context, n core.Notification) error {
			texts <- n.Text
			return nil
		}),
		ApprovalLinks: links, Approvers: []string{"alice@example.com"},
		Clock: core.ClockFunc(clock.Now), EngineClock: clock, Logger: logger,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close()
	p.rt = rt
	close(p.ready)
	pages = web.New(web.Deps{Service: rt.Approvals, Clock: core.ClockFunc(clock.Now), Logger: logger})

	decl := strings.Replace(shop, `"name": "Release", "runOrder": 1,`, `"name": "Release", "runOrder": 1, "timeoutInMinutes": 5,`, 1)
	if _, err := rt.Executions.Install(ctx, []byte(decl)); err != nil {
		t.Fatal(err)
	}
	x, err := rt.Executions.Start(ctx, execution.StartRequest{Pipeline: "shop"})
	if err != nil {
		t.Fatal(err)
	}
	var text string
	select {
	case text = <-texts:
	case <-time.After(30 * time.Second):
		t.Fatal("no approval request")
	}
	m := regexp.MustCompile(`(?m)^Approve: +(\S+)$`).FindStringSubmatch(text)
	if m == nil {
		t.Fatalf("no approve link in:\n%s", text)
	}
	if resp, err := http.Get(m[1]); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET before the timeout: %v, %v", resp, err)
	}
	pending, _ := rt.Store.PendingApprovals(ctx, "shop", x.ID)
	if len(pending) != 1 || !pending[0].ExpiresAt.Equal(clock.Now().Add(5*time.Minute)) {
		t.Fatalf("pending approvals %+v: want one expiring in 5 minutes", pending)
	}

	deadline := time.Now().Add(2 * time.Minute)
	for {
		clock.Advance(time.Minute)
		got, _ := rt.Store.GetExecution(ctx, "shop", x.ID)
		if got.Status == core.ExecutionFailed {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("execution %s, want Failed by the approval's timeout", got.Status)
		}
		time.Sleep(20 * time.Millisecond)
	}
	acts, _ := core.AllActions(ctx, rt.Store, core.ActionFilter{PipelineName: "shop", ExecutionID: x.ID, StageName: "Approve"})
	if len(acts) != 1 || acts[0].Error == nil || acts[0].Error.Message != "Approval timed out" {
		t.Fatalf("approval action %+v: want failed with Approval timed out", acts)
	}
	resp, err := http.Get(m[1])
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusGone || strings.Contains(string(body), "<form") {
		t.Errorf("GET after the timeout: %s, want 410 without a form\n%s", resp.Status, body)
	}
	if _, err := rt.Approvals.Decide(ctx, approval.Decision{ID: pending[0].ID, Status: core.Approved, By: "api"}); err == nil {
		t.Error("Decide after the timeout succeeded")
	}
	if a, _ := rt.Store.GetApproval(ctx, pending[0].ID); a.Status != core.ApprovalExpired {
		t.Errorf("approval %s, want Expired", a.Status)
	}
}
