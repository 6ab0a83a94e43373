package webhook_test

import (
	"bytes"
	"context"
	"encoding/json"
	"github.com/relais-ci/relais/shared/webhook"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestHTTPHandler(t *testing.T) {
	e := newEnv(t)
	e.installAll(t)
	mux := http.NewServeMux()
	mux.Handle("POST "+webhook.Path, webhook.HTTPHandler(e.svc))
	mux.Handle(webhook.Path, webhook.HTTPHandler(e.svc)) // other methods reach the handler too
	srv := httptest.NewServer(mux)
	defer srv.Close()

	post := func(body io.Reader, headers map[string]string) (int, webhook.Decision) {
		t.Helper()
		req, _ := http.NewRequestWithContext(context.Background(), http.MethodPost, srv.URL+webhook.Path, body)
		for k, v := range headers {
			req.Header.Set(k, v)
		}
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
			t.Errorf("Content-Type: got %q", ct)
		}
		var d webhook.Decision
		if err := json.NewDecoder(resp.Body).Decode(&d); err != nil {
			t.Fatalf("answer is not JSON: %v", err)
		}
		return resp.StatusCode, d
	}
	push := readReal(t, "goscm-push-branch.json")
	headers := map[string]string{
		"Content-Type": "application/json", "X-GitHub-Event": "push", "X-GitHub-Delivery": "http-1",
		"x-hub-signature-256": e.secrets.Sign(push), // header names are case-insensitive
	}
	code, d := post(bytes.NewReader(push), headers)
	if code != 200 || d.Message != "started 1 executions" || len(d.Executions) != 1 {
		t.Errorf("push: got %d %+v", code, d)
	}
	code, d = post(bytes.NewReader(push), headers)
	if code != 200 || d.Message != "duplicate" {
		t.Errorf("again: got %d %+v", code, d)
	}
	ping := readReal(t, "octokit-ping-repository.json")
	code, d = post(bytes.NewReader(ping), map[string]string{"X-GitHub-Event": "ping", "X-Hub-Signature-256": e.secrets.Sign(ping), "Content-Type": "application/json"})
	if code != 200 || d.HookID != 109948940 {
		t.Errorf("ping: got %d %+v, want 200 and hook 109948940", code, d)
	}
	// Over 25 MB: 413 without reading it all, and without a signature check.
	big := io.MultiReader(strings.NewReader(`{"zen":"`), strings.NewReader(strings.Repeat("a", webhook.MaxBody)))
	code, d = post(big, map[string]string{"X-GitHub-Event": "push", "X-Hub-Signature-256": "sha256=00"})
	if code != 413 {
		t.Errorf("oversized: got %d %+v, want 413", code, d)
	}
	resp, err := srv.Client().Get(srv.URL + webhook.Path)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 405 {
		t.Errorf("GET: got %d, want 405", resp.StatusCode)
	}
}
