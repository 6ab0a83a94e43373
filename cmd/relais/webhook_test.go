package main

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"flag"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/go-git/go-git/v5"

	"github.com/relais-ci/relais/shared/approval"
	"github.com/relais-ci/relais/shared/core"
)

// TestServeWebhookRoute: relais serve answers GitHub at /webhooks/github, checking the
// signature with the configured secret.
func TestServeWebhookRoute(t *testing.T) {
	t.Setenv("RELAIS_WEBHOOK_SECRET", "It's a Secret to Everybody")
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	f := addServerFlags(fs, "127.0.0.1:0")
	if err := fs.Parse([]string{"--data", t.TempDir()}); err != nil {
		t.Fatal(err)
	}
	srv, err := startServer(context.Background(), f, []string{"../../pipelines/hello.json"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.stop()

	body := `{"zen":"Keep it logically awesome.","hook_id":42,"hook":{"type":"Repository","id":42}}`
	mac := hmac.New(sha256.New, []byte("It's a Secret to Everybody"))
	mac.Write([]byte(body))
	tests := []struct {
		name, signature string
		want            int
	}{
		{"signed ping", "sha256=" + hex.EncodeToString(mac.Sum(nil)), http.StatusOK},
		{"forged", "sha256=" + strings.Repeat("0", 64), http.StatusUnauthorized},
		{"unsigned", "", http.StatusUnauthorized},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodPost, srv.URL()+"/webhooks/github", strings.NewReader(body))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("X-GitHub-Event", "ping")
			req.Header.Set("X-GitHub-Delivery", "d-"+tt.name)
			if tt.signature != "" {
				req.Header.Set("X-Hub-Signature-256", tt.signature)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tt.want {
				t.Errorf("got %d (%s), want %d", resp.StatusCode, b, tt.want)
			}
		})
	}
}

// TestServeSignedPushRunsPipeline: a signed push to relais serve starts the hello
// pipeline on the pushed commit, which builds, waits for approval and deploys.
func TestServeSignedPushRunsPipeline(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a Go program")
	}
	const secret = "push secret"
	t.Setenv("RELAIS_WEBHOOK_SECRET", secret)
	repo := demoRepo(t)
	r, err := git.PlainOpen(repo)
	if err != nil {
		t.Fatal(err)
	}
	head, err := r.Head()
	if err != nil {
		t.Fatal(err)
	}
	sha := head.Hash().String()

	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	f := addServerFlags(fs, "127.0.0.1:0")
	if err := fs.Parse([]string{"--data", t.TempDir(), "--repo", "relais-ci/hello=" + repo}); err != nil {
		t.Fatal(err)
	}
	srv, err := startServer(context.Background(), f, []string{"../../pipelines/hello.json"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.stop()

	body, _ := json.Marshal(map[string]any{
		"ref": "refs/heads/main", "before": strings.Repeat("0", 40), "after": sha,
		"commits":     []map[string]any{{"id": sha, "message": "Say hello", "modified": []string{"main.go"}, "author": map[string]string{"name": "Demo", "username": "demo"}}},
		"head_commit": map[string]any{"id": sha, "message": "Say hello", "author": map[string]string{"name": "Demo"}},
		"repository":  map[string]string{"full_name": "relais-ci/hello"},
		"pusher":      map[string]string{"name": "demo"},
	})
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	req, _ := http.NewRequest(http.MethodPost, srv.URL()+"/webhooks/github", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-GitHub-Event", "push")
	req.Header.Set("X-GitHub-Delivery", "push-1")
	req.Header.Set("X-Hub-Signature-256", "sha256="+hex.EncodeToString(mac.Sum(nil)))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var dec struct {
		Executions []struct {
			Pipeline string `json:"pipeline"`
			ID       string `json:"pipelineExecutionId"`
		} `json:"executions"`
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	json.Unmarshal(raw, &dec)
	if resp.StatusCode != http.StatusOK || len(dec.Executions) != 1 {
		t.Fatalf("push: got %d %s, want 200 and one execution", resp.StatusCode, raw)
	}
	id := dec.Executions[0].ID
	if id == "" {
		t.Fatalf("push answer names no execution id: %s", raw)
	}
	ctx := context.Background()
	deadline := time.Now().Add(3 * time.Minute)
	for {
		pending, _ := srv.rt.Store.PendingApprovals(ctx, "hello", id)
		if len(pending) == 1 {
			if _, err := srv.rt.Approvals.Decide(ctx, approval.Decision{ID: pending[0].ID, Status: core.Approved, By: "test"}); err != nil {
				t.Fatal(err)
			}
			break
		}
		if x, err := srv.rt.Store.GetExecution(ctx, "hello", id); err == nil && x.Status.Terminal() {
			t.Fatalf("execution ended %s before its approval: %s", x.Status, x.StatusSummary)
		}
		if time.Now().After(deadline) {
			t.Fatal("no approval requested in time")
		}
		time.Sleep(20 * time.Millisecond)
	}
	for {
		x, err := srv.rt.Store.GetExecution(ctx, "hello", id)
		if err != nil {
			t.Fatal(err)
		}
		if x.Status.Terminal() {
			if x.Status != core.ExecutionSucceeded {
				t.Fatalf("got %s (%s), want Succeeded", x.Status, x.StatusSummary)
			}
			if len(x.SourceRevisions) != 1 || x.SourceRevisions[0].RevisionID != sha || x.Trigger.Type == core.TriggerStartPipelineExecution {
				t.Errorf("execution: got revisions %+v and trigger %+v, want the pushed commit %s and a webhook trigger", x.SourceRevisions, x.Trigger, sha)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("execution did not end in time")
		}
		time.Sleep(20 * time.Millisecond)
	}
}
