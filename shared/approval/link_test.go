package approval

import (
	"errors"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestLinks(t *testing.T) {
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	oldKey, newKey := []byte(strings.Repeat("o", 32)), []byte(strings.Repeat("n", 32))
	link := Link{ApprovalID: "a1", Page: PageApprove, Recipient: "alice@example.com", Expires: now.Add(time.Hour)}
	signer := func(keys ...[]byte) *Links {
		l, err := NewLinks("https://relais.example.com", keys...)
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	query := func(l *Links, k Link) url.Values { return l.Query(k) }
	change := func(q url.Values, k, v string) url.Values {
		c := url.Values{}
		for key, vs := range q {
			c[key] = append([]string(nil), vs...)
		}
		c.Set(k, v)
		return c
	}
	good := query(signer(newKey), link)
	for _, tc := range []struct {
		name     string
		verifier *Links
		id       string
		q        url.Values
		at       time.Time
		want     error
	}{
		{"valid", signer(newKey), "a1", good, now, nil},
		{"tampered id", signer(newKey), "a2", good, now, ErrLinkInvalid},
		{"tampered page", signer(newKey), "a1", change(good, "page", PageReject), now, ErrLinkInvalid},
		{"tampered recipient", signer(newKey), "a1", change(good, "to", "mallory@example.com"), now, ErrLinkInvalid},
		{"tampered expiry", signer(newKey), "a1", change(good, "exp", "4102444800"), now, ErrLinkInvalid},
		{"tampered signature", signer(newKey), "a1", change(good, "sig", strings.Repeat("A", 43)), now, ErrLinkInvalid},
		{"no signature", signer(newKey), "a1", change(good, "sig", ""), now, ErrLinkInvalid},
		{"unknown page", signer(newKey), "a1", change(good, "page", "decide"), now, ErrLinkInvalid},
		{"repeated parameter", signer(newKey), "a1", func() url.Values { q := change(good, "to", "alice@example.com"); q.Add("to", "x"); return q }(), now, ErrLinkInvalid},
		{"wrong key", signer(oldKey), "a1", good, now, ErrLinkInvalid},
		{"rotation: old link, new key first", signer(newKey, oldKey), "a1", query(signer(oldKey), link), now, nil},
		{"rotation: new link", signer(newKey, oldKey), "a1", query(signer(newKey, oldKey), link), now, nil},
		{"rotation over: old key removed", signer(newKey), "a1", query(signer(oldKey, newKey), link), now, ErrLinkInvalid},
		{"expired", signer(newKey), "a1", good, now.Add(time.Hour), ErrLinkExpired},
		{"expired and forged", signer(oldKey), "a1", good, now.Add(2 * time.Hour), ErrLinkInvalid},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.verifier.Verify(tc.id, tc.q, tc.at)
			if !errors.Is(err, tc.want) || (tc.want == nil && err != nil) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
			if tc.want == nil && got != link {
				t.Errorf("got %+v, want %+v", got, link)
			}
		})
	}

	l := signer(newKey)
	u, err := url.Parse(l.URL(link))
	if err != nil || u.Path != "/approvals/a1" || u.Query().Get("sig") == "" {
		t.Fatalf("URL %s: want /approvals/a1?…&sig=…", l.URL(link))
	}
	if _, err := l.Verify("a1", u.Query(), now); err != nil {
		t.Errorf("the URL's own query does not verify: %v", err)
	}

	t.Run("form token", func(t *testing.T) {
		sig := good.Get("sig")
		tok := l.FormToken(sig, "nonce", now)
		if !signer(newKey, oldKey).CheckFormToken(tok, sig, "nonce", now) {
			t.Error("a genuine token is refused")
		}
		for name, ok := range map[string]bool{
			"other link":   l.CheckFormToken(tok, query(l, Link{ApprovalID: "a2", Page: PageApprove, Recipient: "x", Expires: now}).Get("sig"), "nonce", now),
			"other nonce":  l.CheckFormToken(tok, sig, "other", now),
			"other issued": l.CheckFormToken(tok, sig, "nonce", now.Add(time.Second)),
			"empty":        l.CheckFormToken("", sig, "nonce", now),
			"wrong key":    signer(oldKey).CheckFormToken(tok, sig, "nonce", now),
		} {
			if ok {
				t.Errorf("%s: token accepted", name)
			}
		}
	})

	for _, bad := range []string{"", "relais.example.com", "ftp://x", "https://x/?q=1"} {
		if _, err := NewLinks(bad, newKey); err == nil {
			t.Errorf("NewLinks(%q): no error", bad)
		}
	}
	if _, err := NewLinks("https://x", []byte("short")); err == nil {
		t.Error("a short key is accepted")
	}
}

func TestKeyFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "approval.key")
	first, err := KeyFile(path)
	if err != nil || len(first) != 1 || len(first[0]) != 32 {
		t.Fatalf("create: got %d keys, %v; want one of 32 bytes", len(first), err)
	}
	st, _ := os.Stat(path)
	if st.Mode().Perm() != 0o600 {
		t.Errorf("mode %04o, want 0600", st.Mode().Perm())
	}
	again, err := KeyFile(path)
	if err != nil || string(again[0]) != string(first[0]) {
		t.Fatalf("second start: got %v, want the same key", err)
	}

	data, _ := os.ReadFile(path)
	rotated := "# new key first\nbmV3LWtleS1uZXcta2V5LW5ldy1rZXktbmV3LWtleS0=\n\n" + string(data)
	if err := os.WriteFile(path, []byte(rotated), 0o600); err != nil {
		t.Fatal(err)
	}
	keys, err := KeyFile(path)
	if err != nil || len(keys) != 2 || string(keys[1]) != string(first[0]) || !strings.HasPrefix(string(keys[0]), "new-key") {
		t.Fatalf("rotation: got %d keys, %v; want the new then the old", len(keys), err)
	}

	os.Chmod(path, 0o644)
	if _, err := KeyFile(path); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Errorf("a world-readable key file: got %v, want refused", err)
	}
	secret := "c2VjcmV0!!"
	os.WriteFile(path, []byte(secret+"\n"), 0o600)
	if _, err := KeyFile(path); err == nil || strings.Contains(err.Error(), secret) {
		t.Errorf("a bad line: got %v, want an error that does not echo it", err)
	}
}

// FuzzVerify: whatever a link's query holds, Verify does not panic, and accepts only
// what the signer made.
func FuzzVerify(f *testing.F) {
	l, err := NewLinks("https://relais.example.com", []byte(strings.Repeat("k", 32)))
	if err != nil {
		f.Fatal(err)
	}
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	good := l.Query(Link{ApprovalID: "a1", Page: PageApprove, Recipient: "alice@example.com", Expires: now.Add(time.Hour)})
	f.Add("a1", good.Encode())
	f.Add("a1", "page=reject&to=x&exp=99999999999&sig=")
	f.Add("", "page=approve&page=approve")
	f.Fuzz(func(t *testing.T, id, rawQuery string) {
		q, err := url.ParseQuery(rawQuery)
		if err != nil {
			return
		}
		k, err := l.Verify(id, q, now)
		if err != nil {
			return
		}
		if l.Signature(k) != q.Get("sig") || k.ApprovalID != id {
			t.Fatalf("accepted %q %q as %+v", id, rawQuery, k)
		}
	})
}
