// Package smtpnotify is the local runtime's core.Notifier by e-mail: each notification is
// one message, sent over SMTP (net/smtp) as multipart/alternative with a plain text and,
// when the notification has one, an HTML part. A notification for one person (attribute
// "recipient", as approval requests with personal links are) goes to that address only;
// others go to the configured recipients.
package smtpnotify

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"net/smtp"
	"net/textproto"
	"strings"
	"time"

	"github.com/relais-ci/relais/shared/core"
)

// AttrRecipient is the notification attribute naming its only recipient (the approval
// service's approval.AttrRecipient).
const AttrRecipient = "recipient"

// Security says how the connection to the SMTP server is protected.
type Security string

// Security modes.
const (
	// Opportunistic upgrades with STARTTLS when the server offers it (the default).
	Opportunistic Security = "auto"
	// StartTLS requires STARTTLS: a server that does not offer it gets nothing.
	StartTLS Security = "starttls"
	// ImplicitTLS connects with TLS from the start (SMTPS, port 465).
	ImplicitTLS Security = "tls"
	// Plain never encrypts (a local test server).
	Plain Security = "none"
)

// Config configures the notifier.
type Config struct {
	// Addr is the server's host:port.
	Addr string
	// From is the sender, an address with or without a display name.
	From string
	// To are the recipients of notifications not addressed to one person.
	To       []string
	Security Security
	// TLS configures STARTTLS and implicit TLS (default: verify the server's certificate
	// for Addr's host).
	TLS *tls.Config
	// Username and Password authenticate with AUTH PLAIN, which net/smtp only does over
	// TLS or to localhost. The password is never logged.
	Username string
	Password string
	// Hello is the name given in EHLO (default "localhost").
	Hello string
	// Timeout bounds one delivery (default 30 s) when the context has no deadline.
	Timeout time.Duration
	Clock   core.Clock
}

// Notifier sends notifications by e-mail. It is safe for concurrent use: each
// notification is its own SMTP session.
type Notifier struct {
	cfg  Config
	host string
	from *mail.Address
	to   []*mail.Address
}

var _ core.Notifier = (*Notifier)(nil)

// New checks cfg and returns the notifier; it does not connect.
func New(cfg Config) (*Notifier, error) {
	host, _, err := net.SplitHostPort(cfg.Addr)
	if err != nil || host == "" {
		return nil, fmt.Errorf("smtp: server %q: want host:port", cfg.Addr)
	}
	from, err := mail.ParseAddress(cfg.From)
	if err != nil {
		return nil, fmt.Errorf("smtp: sender %q: %w", cfg.From, err)
	}
	n := &Notifier{cfg: cfg, host: host, from: from}
	for _, t := range cfg.To {
		a, err := mail.ParseAddress(t)
		if err != nil {
			return nil, fmt.Errorf("smtp: recipient %q: %w", t, err)
		}
		n.to = append(n.to, a)
	}
	switch cfg.Security {
	case "":
		n.cfg.Security = Opportunistic
	case Opportunistic, StartTLS, ImplicitTLS, Plain:
	default:
		return nil, fmt.Errorf("smtp: security %q: want auto, starttls, tls or none", cfg.Security)
	}
	if n.cfg.Hello == "" {
		n.cfg.Hello = "localhost"
	}
	if n.cfg.Timeout <= 0 {
		n.cfg.Timeout = 30 * time.Second
	}
	if n.cfg.Clock == nil {
		n.cfg.Clock = core.SystemClock
	}
	return n, nil
}

// Notify sends n as one message to its recipient, or to the configured recipients.
func (n *Notifier) Notify(ctx context.Context, note core.Notification) error {
	to := n.to
	if r := note.Attrs[AttrRecipient]; r != "" {
		a, err := mail.ParseAddress(r)
		if err != nil {
			return fmt.Errorf("notify %s: recipient %q: %w", note.Kind, r, err)
		}
		to = []*mail.Address{a}
	}
	if len(to) == 0 {
		return fmt.Errorf("notify %s: no recipient", note.Kind)
	}
	msg, err := n.Message(note, to)
	if err != nil {
		return fmt.Errorf("notify %s: %w", note.Kind, err)
	}
	if err := n.send(ctx, to, msg); err != nil {
		return fmt.Errorf("notify %s by mail to %d recipient(s): %w", note.Kind, len(to), err)
	}
	return nil
}

// Message renders the message (headers and body, CRLF line ends) of a notification.
func (n *Notifier) Message(note core.Notification, to []*mail.Address) ([]byte, error) {
	var b bytes.Buffer
	h := func(k, v string) { fmt.Fprintf(&b, "%s: %s\r\n", k, v) }
	rcpts := make([]string, len(to))
	for i, a := range to {
		rcpts[i] = a.String()
	}
	h("From", n.from.String())
	h("To", strings.Join(rcpts, ", "))
	h("Subject", mime.QEncoding.Encode("utf-8", note.Subject))
	h("Date", n.cfg.Clock.Now().Format(time.RFC1123Z))
	h("Message-ID", messageID(n.from.Address))
	h("MIME-Version", "1.0")
	h("Auto-Submitted", "auto-generated") // RFC 3834: no vacation replies
	if note.PipelineName != "" {
		h("X-Relais-Pipeline", mime.QEncoding.Encode("utf-8", note.PipelineName))
	}
	if note.HTML == "" {
		h("Content-Type", "text/plain; charset=utf-8")
		h("Content-Transfer-Encoding", "quoted-printable")
		b.WriteString("\r\n")
		return b.Bytes(), writeQP(&b, note.Text)
	}
	mw := multipart.NewWriter(&b)
	h("Content-Type", mime.FormatMediaType("multipart/alternative", map[string]string{"boundary": mw.Boundary()}))
	b.WriteString("\r\n")
	for _, part := range []struct{ typ, body string }{{"text/plain", note.Text}, {"text/html", note.HTML}} {
		w, err := mw.CreatePart(textproto.MIMEHeader{
			"Content-Type":              {part.typ + "; charset=utf-8"},
			"Content-Transfer-Encoding": {"quoted-printable"},
		})
		if err != nil {
			return nil, err
		}
		if err := writeQP(w, part.body); err != nil {
			return nil, err
		}
	}
	if err := mw.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

func writeQP(w interface{ Write([]byte) (int, error) }, s string) error {
	qp := quotedprintable.NewWriter(w)
	if _, err := qp.Write([]byte(s)); err != nil {
		return err
	}
	return qp.Close()
}

func messageID(from string) string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	domain := "relais.invalid"
	if _, d, ok := strings.Cut(from, "@"); ok && d != "" {
		domain = d
	}
	return "<" + hex.EncodeToString(b) + "@" + domain + ">"
}

// send runs one SMTP session.
func (n *Notifier) send(ctx context.Context, to []*mail.Address, msg []byte) error {
	ctx, cancel := context.WithTimeout(ctx, n.cfg.Timeout)
	defer cancel()
	d := net.Dialer{}
	conn, err := d.DialContext(ctx, "tcp", n.cfg.Addr)
	if err != nil {
		return err
	}
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	tlsConfig := n.cfg.TLS.Clone()
	if tlsConfig == nil {
		tlsConfig = &tls.Config{}
	}
	if tlsConfig.ServerName == "" {
		tlsConfig.ServerName = n.host
	}
	if n.cfg.Security == ImplicitTLS {
		conn = tls.Client(conn, tlsConfig)
	}
	c, err := smtp.NewClient(conn, n.host)
	if err != nil {
		conn.Close()
		return err
	}
	defer c.Close()
	if err := c.Hello(n.cfg.Hello); err != nil {
		return err
	}
	if n.cfg.Security == StartTLS || n.cfg.Security == Opportunistic {
		if ok, _ := c.Extension("STARTTLS"); ok {
			if err := c.StartTLS(tlsConfig); err != nil {
				return err
			}
		} else if n.cfg.Security == StartTLS {
			return errors.New("the server does not offer STARTTLS")
		}
	}
	if n.cfg.Username != "" {
		if err := c.Auth(smtp.PlainAuth("", n.cfg.Username, n.cfg.Password, n.host)); err != nil {
			return fmt.Errorf("authenticate as %s: %w", n.cfg.Username, err)
		}
	}
	if err := c.Mail(n.from.Address); err != nil {
		return err
	}
	for _, a := range to {
		if err := c.Rcpt(a.Address); err != nil {
			return fmt.Errorf("recipient %s: %w", a.Address, err)
		}
	}
	w, err := c.Data()
	if err != nil {
		return err
	}
	if _, err := w.Write(msg); err != nil {
		return err
	}
	if err := w.Close(); err != nil {
		return err
	}
	return c.Quit()
}
