package smtpnotify_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"math/big"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/relais-ci/relais/shared/core"
	"github.com/relais-ci/relais/shared/local/smtpnotify"
	"github.com/relais-ci/relais/shared/local/smtpnotify/mailpittest"
)

var at = time.Date(2026, 11, 25, 19, 30, 5, 0, time.FixedZone("CET", 3600))

func note() core.Notification {
	return core.Notification{
		Kind: core.NotifyApprovalRequested, PipelineName: "shop",
		Subject: "APPROVAL NEEDED: shop ✓ Größe\r\nBcc: evil@example.com",
		Text:    "Approve: https://relais.example.com/approvals/1?page=approve&to=a%40x&sig=" + strings.Repeat("s", 43) + "\nLänger als 76 Zeichen: " + strings.Repeat("x", 100) + "\n",
		HTML:    `<p>Approve <a href="https://relais.example.com/approvals/1?page=approve&amp;to=a%40x">here</a> — ✓</p>`,
	}
}

func newNotifier(t *testing.T, cfg smtpnotify.Config) *smtpnotify.Notifier {
	t.Helper()
	if cfg.From == "" {
		cfg.From = "Relais <relais@example.com>"
	}
	if cfg.Clock == nil {
		cfg.Clock = core.ClockFunc(func() time.Time { return at })
	}
	n, err := smtpnotify.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestMessage(t *testing.T) {
	n := newNotifier(t, smtpnotify.Config{Addr: "127.0.0.1:25"})
	raw, err := n.Message(note(), []*mail.Address{{Name: "Alice", Address: "alice@example.com"}})
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(bytes.ReplaceAll(raw, []byte("\r\n"), nil), []byte("\n")) {
		t.Error("a bare LF in the message")
	}
	m, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	if m.Header.Get("Bcc") != "" {
		t.Error("the subject injected a header")
	}
	subject, err := new(mime.WordDecoder).DecodeHeader(m.Header.Get("Subject"))
	if err != nil || subject != note().Subject {
		t.Errorf("subject: got %q (%v), want %q", subject, err, note().Subject)
	}
	date, err := mail.ParseDate(m.Header.Get("Date"))
	if err != nil || !date.Equal(at) {
		t.Errorf("date %q: got %v (%v), want %v", m.Header.Get("Date"), date, err, at)
	}
	for k, want := range map[string]string{"From": `"Relais" <relais@example.com>`, "To": `"Alice" <alice@example.com>`, "MIME-Version": "1.0", "Auto-Submitted": "auto-generated"} {
		if got := m.Header.Get(k); got != want {
			t.Errorf("%s: got %q, want %q", k, got, want)
		}
	}
	if id := m.Header.Get("Message-Id"); !strings.HasPrefix(id, "<") || !strings.HasSuffix(id, "@example.com>") {
		t.Errorf("Message-ID %q", id)
	}
	mt, params, err := mime.ParseMediaType(m.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/alternative" {
		t.Fatalf("content type %q: want multipart/alternative", m.Header.Get("Content-Type"))
	}
	r := multipart.NewReader(m.Body, params["boundary"])
	for _, want := range []struct{ typ, body string }{{"text/plain; charset=utf-8", note().Text}, {"text/html; charset=utf-8", note().HTML}} {
		p, err := r.NextRawPart()
		if err != nil {
			t.Fatal(err)
		}
		if p.Header.Get("Content-Type") != want.typ || p.Header.Get("Content-Transfer-Encoding") != "quoted-printable" {
			t.Errorf("part headers %v, want %s in quoted-printable", p.Header, want.typ)
		}
		body, _ := io.ReadAll(quotedprintable.NewReader(p))
		if got := strings.ReplaceAll(string(body), "\r\n", "\n"); got != want.body {
			t.Errorf("%s part: got %q, want %q", want.typ, got, want.body)
		}
	}
	if _, err := r.NextPart(); err != io.EOF {
		t.Errorf("more than two parts: %v", err)
	}
}

func TestNewRefusesBadConfig(t *testing.T) {
	for _, cfg := range []smtpnotify.Config{
		{Addr: "nohost", From: "a@x"},
		{Addr: "h:25", From: "not an address"},
		{Addr: "h:25", From: "a@x", To: []string{"bad"}},
		{Addr: "h:25", From: "a@x", Security: "maybe"},
	} {
		if _, err := smtpnotify.New(cfg); err == nil {
			t.Errorf("%+v: no error", cfg)
		}
	}
}

func TestDeliveredToMailpit(t *testing.T) {
	mp := mailpittest.Start(t)
	n := newNotifier(t, smtpnotify.Config{Addr: mp.SMTP, To: []string{"team@example.com", "ops@example.com"}})
	ctx := context.Background()
	personal := note()
	personal.Attrs = map[string]string{smtpnotify.AttrRecipient: "alice@example.com"}
	if err := n.Notify(ctx, personal); err != nil {
		t.Fatal(err)
	}
	if err := n.Notify(ctx, core.Notification{Kind: core.NotifyExecutionEnded, Subject: "shop succeeded", Text: "done"}); err != nil {
		t.Fatal(err)
	}
	ms := mp.Wait(t, 2)
	byRecipients := map[string]mailpittest.Summary{}
	for _, m := range ms {
		var to []string
		for _, a := range m.To {
			to = append(to, a.Address)
		}
		byRecipients[strings.Join(to, ",")] = m
	}
	alice, ok := byRecipients["alice@example.com"]
	if !ok {
		t.Fatalf("no message for alice alone: %+v", ms)
	}
	got := mp.Message(t, alice.ID)
	if got.Subject != personal.Subject || got.From.Address != "relais@example.com" || !got.Date.Equal(at) {
		t.Errorf("got subject %q from %s at %v", got.Subject, got.From.Address, got.Date)
	}
	if strings.TrimSpace(strings.ReplaceAll(got.Text, "\r\n", "\n")) != strings.TrimSpace(personal.Text) || !strings.Contains(got.HTML, "— ✓") {
		t.Errorf("got text %q and HTML %q", got.Text, got.HTML)
	}
	if _, ok := byRecipients["team@example.com,ops@example.com"]; !ok {
		t.Errorf("the other notification did not go to the configured recipients: %+v", ms)
	}
}

func TestAuthentication(t *testing.T) {
	mp := mailpittest.Start(t, "--smtp-auth-accept-any", "--smtp-auth-allow-insecure")
	// net/smtp sends PLAIN credentials in clear only to localhost.
	n := newNotifier(t, smtpnotify.Config{Addr: mp.SMTP, To: []string{"a@example.com"}, Username: "relais", Password: "s3cret"})
	if err := n.Notify(context.Background(), note()); err != nil {
		t.Fatal(err)
	}
	mp.Wait(t, 1)
}

func TestStartTLS(t *testing.T) {
	certFile, keyFile, pool := selfSigned(t)
	mp := mailpittest.Start(t, "--smtp-tls-cert", certFile, "--smtp-tls-key", keyFile, "--smtp-require-starttls")
	n := newNotifier(t, smtpnotify.Config{Addr: mp.SMTP, To: []string{"a@example.com"}, Security: smtpnotify.StartTLS,
		TLS: &tls.Config{RootCAs: pool}})
	if err := n.Notify(context.Background(), note()); err != nil {
		t.Fatal(err)
	}
	mp.Wait(t, 1)

	untrusted := newNotifier(t, smtpnotify.Config{Addr: mp.SMTP, To: []string{"a@example.com"}, Security: smtpnotify.StartTLS})
	if err := untrusted.Notify(context.Background(), note()); err == nil {
		t.Error("a certificate nobody trusts was accepted")
	}

	plain := mailpittest.Start(t)
	required := newNotifier(t, smtpnotify.Config{Addr: plain.SMTP, To: []string{"a@example.com"}, Security: smtpnotify.StartTLS})
	if err := required.Notify(context.Background(), note()); err == nil || !strings.Contains(err.Error(), "STARTTLS") {
		t.Errorf("a server without STARTTLS: got %v, want refused", err)
	}
	if len(plain.Messages(t)) != 0 {
		t.Error("mail went out in clear although STARTTLS was required")
	}
}

func TestUnreachableServer(t *testing.T) {
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := ln.Addr().String()
	ln.Close()
	n := newNotifier(t, smtpnotify.Config{Addr: addr, To: []string{"a@example.com"}, Password: "s3cret-password"})
	err := n.Notify(context.Background(), note())
	if err == nil || strings.Contains(err.Error(), "s3cret-password") {
		t.Errorf("got %v, want an error that does not show the password", err)
	}
}

// selfSigned writes a certificate for 127.0.0.1 and its key, and returns a pool
// trusting it.
func selfSigned(t *testing.T) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "mailpit"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, _ := x509.MarshalPKCS8PrivateKey(key)
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), 0o600)
	cert, _ := x509.ParseCertificate(der)
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}
