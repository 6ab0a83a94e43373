package webhook_test

import (
	"bufio"
	"fmt"
	"github.com/relais-ci/relais/shared/webhook"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// signatureVector reads the documented vector from SIGNATURE.md: the secret, the
// payload and the header, from its table.
func signatureVector(t *testing.T) (secret, payload, header string) {
	t.Helper()
	f, err := os.Open(filepath.Join(realDir(t, "webhooks"), "SIGNATURE.md"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		cells := strings.Split(sc.Text(), "|")
		if len(cells) < 3 {
			continue
		}
		field, value := strings.TrimSpace(cells[1]), strings.Trim(strings.TrimSpace(cells[2]), "`")
		switch field {
		case "secret":
			secret = value
		case "payload":
			payload = value
		case "X-Hub-Signature-256 header":
			header = value
		}
	}
	if secret == "" || payload == "" || header == "" {
		t.Fatalf("SIGNATURE.md: vector not found (secret %q, payload %q, header %q)", secret, payload, header)
	}
	return secret, payload, header
}

func TestGitHubDocumentedVector(t *testing.T) {
	secret, payload, header := signatureVector(t)
	if secret != "It's a Secret to Everybody" || payload != "Hello, World!" {
		t.Fatalf("vector read as %q / %q", secret, payload)
	}
	if got := webhook.Sign([]byte(secret), []byte(payload)); got != header {
		t.Errorf("Sign: got %s, want %s", got, header)
	}
	if !webhook.NewSecrets(secret).Verify(header, []byte(payload)) {
		t.Error("Verify: the documented signature is refused")
	}
	// Rotation: any configured secret may have signed it.
	if !webhook.NewSecrets("old secret", secret).Verify(header, []byte(payload)) {
		t.Error("Verify with two secrets: refused")
	}
	for name, tc := range map[string]struct {
		secrets webhook.Secrets
		header  string
		payload string
	}{
		"other secret":        {webhook.NewSecrets("It's a Secret to Somebody"), header, payload},
		"other payload":       {webhook.NewSecrets(secret), header, payload + " "},
		"no prefix":           {webhook.NewSecrets(secret), strings.TrimPrefix(header, "sha256="), payload},
		"upper-case prefix":   {webhook.NewSecrets(secret), "SHA256=" + strings.TrimPrefix(header, "sha256="), payload},
		"short":               {webhook.NewSecrets(secret), header[:len(header)-2], payload},
		"long":                {webhook.NewSecrets(secret), header + "00", payload},
		"no secret":           {webhook.Secrets{}, header, payload},
		"empty":               {webhook.NewSecrets(secret), "", payload},
		"secret with newline": {webhook.NewSecrets(secret + "\n"), header, payload},
	} {
		if tc.secrets.Verify(tc.header, []byte(tc.payload)) {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestSecretsFromFileAndEnvironment(t *testing.T) {
	secret, payload, header := signatureVector(t)
	path := filepath.Join(t.TempDir(), "secrets")
	if err := os.WriteFile(path, []byte("retired one\r\n\n"+secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	s, err := webhook.LoadSecrets(path)
	if err != nil {
		t.Fatal(err)
	}
	if s.Len() != 2 || !s.Verify(header, []byte(payload)) {
		t.Errorf("file: got %d secrets (verifies: %v), want 2 that verify", s.Len(), s.Verify(header, []byte(payload)))
	}
	t.Setenv(webhook.EnvSecret, secret)
	s, err = webhook.LoadSecrets("")
	if err != nil || s.Len() != 1 || !s.Verify(header, []byte(payload)) {
		t.Errorf("environment: got %d secrets, err %v", s.Len(), err)
	}
	if _, err := webhook.LoadSecrets(filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Error("missing file: got no error")
	}
	// Printing secrets shows none of them.
	for _, out := range []string{fmt.Sprint(s), fmt.Sprintf("%v %+v %#v %s", s, s, s, s)} {
		if strings.Contains(out, "Secret") && strings.Contains(out, "Everybody") {
			t.Errorf("printed secrets: %s", out)
		}
	}
}

func TestLoadToken(t *testing.T) {
	path := filepath.Join(t.TempDir(), "token")
	os.WriteFile(path, []byte("  ghp_x\n"), 0o600)
	if tok, err := webhook.LoadToken(path); err != nil || tok != "ghp_x" {
		t.Errorf("file: got %q, %v", tok, err)
	}
	t.Setenv(webhook.EnvGitHubToken, "ghp_y")
	if tok, err := webhook.LoadToken(""); err != nil || tok != "ghp_y" {
		t.Errorf("environment: got %q, %v", tok, err)
	}
	var none *webhook.GitHub
	svc := webhook.New(webhook.Deps{Files: none, Secrets: webhook.NewSecrets("s")})
	if svc.Ready() != nil {
		t.Error("Ready with a secret: got an error")
	}
}
