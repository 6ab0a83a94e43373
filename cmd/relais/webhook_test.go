package main

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"flag"
	"io"
	"net/http"
	"strings"
	"testing"
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
