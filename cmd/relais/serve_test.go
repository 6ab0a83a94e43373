package main

import (
	"context"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/relais-ci/relais/shared/core"
	"github.com/relais-ci/relais/shared/execution"
	"github.com/relais-ci/relais/shared/local/smtpnotify/mailpittest"
)

const approveThenDeploy = `{"pipeline": {
  "name": "hello-approval", "roleArn": "arn:aws:iam::123456789012:role/r", "version": 1,
  "artifactStore": {"type": "S3", "location": "bucket"}, "pipelineType": "V2", "executionMode": "QUEUED",
  "stages": [
    {"name": "Source", "actions": [{"name": "Src", "runOrder": 1, "namespace": "SourceVariables",
      "actionTypeId": {"category": "Source", "owner": "AWS", "provider": "CodeStarSourceConnection", "version": "1"},
      "configuration": {"ConnectionArn": "arn:aws:codeconnections:us-east-1:123456789012:connection/x", "FullRepositoryId": "relais-ci/hello", "BranchName": "main"},
      "outputArtifacts": [{"name": "Code"}]}]},
    {"name": "Approve", "actions": [{"name": "Release", "runOrder": 1,
      "actionTypeId": {"category": "Approval", "owner": "AWS", "provider": "Manual", "version": "1"},
      "configuration": {"CustomData": "Deploy #{SourceVariables.CommitId}?"}}]},
    {"name": "Deploy", "actions": [{"name": "Site", "runOrder": 1,
      "actionTypeId": {"category": "Deploy", "owner": "AWS", "provider": "S3", "version": "1"},
      "configuration": {"BucketName": "hello-site", "Extract": "true"},
      "inputArtifacts": [{"name": "Code"}]}]}
  ]}}`

// TestServeMailsApprovalLinks is `relais serve --smtp … --approvers …` with the real local
// providers: the approval request reaches a real SMTP server (mailpit), its approve link
// is followed on the server's own HTTP listener, and the pipeline deploys.
func TestServeMailsApprovalLinks(t *testing.T) {
	mp := mailpittest.Start(t)
	dir := t.TempDir()
	decl := filepath.Join(dir, "pipeline.json")
	if err := os.WriteFile(decl, []byte(approveThenDeploy), 0o644); err != nil {
		t.Fatal(err)
	}
	f := &serverFlags{data: filepath.Join(dir, "data"), listen: "127.0.0.1:0", repos: mapFlag{"relais-ci/hello": demoRepo(t)}, lambdas: mapFlag{},
		smtp: mp.SMTP, smtpFrom: "relais@example.com", smtpSecurity: "none", approvers: "alice@example.com"}
	ctx := context.Background()
	log := &lockedWriter{}
	srv, err := startServer(ctx, f, []string{decl}, log)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.stop()

	st, err := os.Stat(filepath.Join(f.data, approvalKeyFile))
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("approval key file: %v, %v; want mode 0600", st, err)
	}
	x, err := srv.rt.Executions.Start(ctx, execution.StartRequest{Pipeline: "hello-approval"})
	if err != nil {
		t.Fatal(err)
	}
	msgs := mp.Wait(t, 1)
	mail := mp.Message(t, msgs[0].ID)
	if len(mail.To) != 1 || mail.To[0].Address != "alice@example.com" {
		t.Fatalf("mail to %+v, want alice", mail.To)
	}
	m := regexp.MustCompile(`(?m)^Approve: +(\S+)\s*$`).FindStringSubmatch(mail.Text)
	if m == nil || !strings.HasPrefix(m[1], srv.URL()+"/approvals/") {
		t.Fatalf("no approve link to %s in:\n%s", srv.URL(), mail.Text)
	}
	link := m[1]

	jar, _ := cookiejar.New(nil)
	browser := &http.Client{Jar: jar}
	resp, err := browser.Get(link)
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s\n%s", link, resp.Status, page)
	}
	form := url.Values{}
	for _, m := range regexp.MustCompile(`<input type="hidden" name="(\w+)" value="([^"]*)">`).FindAllStringSubmatch(string(page), -1) {
		form.Set(m[1], html.UnescapeString(m[2]))
	}
	form.Set("comment", "looks good")
	req, _ := http.NewRequest(http.MethodPost, link, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", srv.URL())
	resp, err = browser.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("POST: %s", resp.Status)
	}
	deadline := time.Now().Add(3 * time.Minute)
	for {
		got, _ := srv.rt.Store.GetExecution(ctx, "hello-approval", x.ID)
		if got.Status == core.ExecutionSucceeded {
			break
		}
		if got.Status.Terminal() || time.Now().After(deadline) {
			t.Fatalf("execution %s (%s), want Succeeded\n%s", got.Status, got.StatusSummary, log.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if _, err := os.Stat(filepath.Join(f.data, "buckets", "hello-site")); err != nil {
		t.Errorf("nothing deployed: %v", err)
	}
	if !strings.Contains(log.String(), "mailed to alice@example.com") || strings.Contains(log.String(), link) {
		t.Errorf("the console should say the request was mailed, without alice's link:\n%s", log.String())
	}
}

func TestServeFlagsRefused(t *testing.T) {
	for name, f := range map[string]*serverFlags{
		"smtp without approvers": {smtp: "127.0.0.1:1025", smtpFrom: "r@example.com"},
		"smtp without sender":    {smtp: "127.0.0.1:1025", approvers: "a@example.com"},
		"bad public url":         {publicURL: "relais.example.com"},
	} {
		t.Run(name, func(t *testing.T) {
			f.data, f.listen = t.TempDir(), "127.0.0.1:0"
			if srv, err := startServer(context.Background(), f, nil, io.Discard); err == nil {
				srv.stop()
				t.Fatal("no error")
			}
		})
	}
}

// lockedWriter collects what the server writes from several goroutines.
type lockedWriter struct {
	mu sync.Mutex
	b  strings.Builder
}

func (w *lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

func (w *lockedWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.String()
}
