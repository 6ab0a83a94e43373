package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strings"
)

// EnvSecret is the environment variable that may hold the webhook secret (several,
// one a line, while one is being rotated).
const EnvSecret = "RELAIS_WEBHOOK_SECRET"

// ErrNoSecret says that no webhook secret is configured: every delivery is refused.
var ErrNoSecret = errors.New("no webhook secret is configured: every GitHub delivery is refused with 401 " +
	"(set " + EnvSecret + " or pass a secret file)")

// Secrets are the webhook secrets a delivery may be signed with. More than one is valid
// while a secret is rotated: add the new one, change it on GitHub, remove the old one.
// Its String and GoString never show a secret, so logging one leaks nothing.
type Secrets struct{ keys [][]byte }

// NewSecrets returns the given secrets; empty ones are dropped.
func NewSecrets(secrets ...string) Secrets {
	var s Secrets
	for _, k := range secrets {
		if k != "" {
			s.keys = append(s.keys, []byte(k))
		}
	}
	return s
}

// ParseSecrets reads secrets one a line (LF or CRLF); blank lines are skipped. Nothing
// else is trimmed: a secret may hold spaces.
func ParseSecrets(text string) Secrets {
	var out []string
	for _, line := range strings.Split(text, "\n") {
		out = append(out, strings.TrimSuffix(line, "\r"))
	}
	return NewSecrets(out...)
}

// LoadSecrets reads the secrets of a file (one a line) or, when path is "", of the
// RELAIS_WEBHOOK_SECRET environment variable. No secret found is not an error here:
// Service.Ready reports it.
func LoadSecrets(path string) (Secrets, error) {
	if path == "" {
		return ParseSecrets(os.Getenv(EnvSecret)), nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		// The error names the file, never its content.
		return Secrets{}, fmt.Errorf("read webhook secret file: %w", err)
	}
	return ParseSecrets(string(b)), nil
}

// Len returns how many secrets there are.
func (s Secrets) Len() int { return len(s.keys) }

// String hides the secrets.
func (s Secrets) String() string { return fmt.Sprintf("webhook.Secrets(%d, hidden)", len(s.keys)) }

// GoString hides the secrets from %#v.
func (s Secrets) GoString() string { return s.String() }

// Sign returns the X-Hub-Signature-256 value GitHub sends for body signed with the
// first secret ("" when there is none). Tests and sample generators use it.
func (s Secrets) Sign(body []byte) string {
	if len(s.keys) == 0 {
		return ""
	}
	return Sign(s.keys[0], body)
}

// Sign returns "sha256=" and the hex HMAC-SHA256 of body under secret, as GitHub
// computes X-Hub-Signature-256.
func Sign(secret, body []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// Verify reports whether header is a valid X-Hub-Signature-256 of body under one of
// the secrets. Each comparison takes constant time, and every secret is tried, so the
// time taken tells nothing about which secret (or how much of a signature) matched.
func (s Secrets) Verify(header string, body []byte) bool {
	hexSig, ok := strings.CutPrefix(header, "sha256=")
	if !ok || len(hexSig) != 2*sha256.Size {
		return false
	}
	var want [sha256.Size]byte
	if _, err := hex.Decode(want[:], []byte(hexSig)); err != nil {
		return false
	}
	valid := 0
	for _, k := range s.keys {
		m := hmac.New(sha256.New, k)
		m.Write(body)
		valid |= boolInt(hmac.Equal(m.Sum(nil), want[:]))
	}
	return valid == 1
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
