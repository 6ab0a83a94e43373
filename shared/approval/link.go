package approval

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Link pages: an approval link opens the page that approves or the page that rejects.
const (
	PageApprove = "approve"
	PageReject  = "reject"
)

// MinKeyLength is the shortest link-signing key accepted (HMAC-SHA256: 32 bytes).
const MinKeyLength = 32

// Link errors. Both mean the link does nothing.
var (
	// ErrLinkInvalid is a link that was not signed by this server as it stands: forged,
	// tampered with (id, page, recipient or expiry changed), or signed with a key that
	// is no longer configured.
	ErrLinkInvalid = errors.New("approval link is not valid")
	// ErrLinkExpired is a genuine link past its expiry.
	ErrLinkExpired = errors.New("approval link has expired")
)

// Link is what an approval link says, and what its signature covers: which approval,
// which page (approve or reject), for whom, until when.
type Link struct {
	ApprovalID string
	Page       string
	Recipient  string
	Expires    time.Time
}

// Decision is the decision the link's page takes.
func (l Link) Decision() string {
	if l.Page == PageReject {
		return "Rejected"
	}
	return "Approved"
}

// Links signs and checks approval links with HMAC-SHA256. The first key signs; every
// key verifies, so a key can be rotated without breaking links in flight: put the new
// key first, keep the old one second until the longest approval timeout has passed.
// A Links is immutable and safe for concurrent use.
type Links struct {
	base string
	keys [][]byte
}

// NewLinks returns the signer of links under base (the public URL of the server that
// serves /approvals/{id}, e.g. https://relais.example.com or an API Gateway stage URL).
func NewLinks(base string, keys ...[]byte) (*Links, error) {
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("approval links: base URL %q: want http(s)://host[/path]", base)
	}
	if len(keys) == 0 {
		return nil, errors.New("approval links: no signing key")
	}
	l := &Links{base: strings.TrimRight(base, "/")}
	for i, k := range keys {
		if len(k) < MinKeyLength {
			return nil, fmt.Errorf("approval links: key %d has %d bytes, want at least %d", i+1, len(k), MinKeyLength)
		}
		l.keys = append(l.keys, append([]byte(nil), k...))
	}
	return l, nil
}

// Base is the public URL the links start with.
func (l *Links) Base() string { return l.base }

// Origin is the scheme and host of Base, what a browser sends as Origin when it posts a
// page the server rendered.
func (l *Links) Origin() string {
	u, _ := url.Parse(l.base)
	return u.Scheme + "://" + u.Host
}

// URL returns the signed link: {base}/approvals/{id}?page=…&to=…&exp=…&sig=….
func (l *Links) URL(k Link) string {
	return l.base + "/approvals/" + url.PathEscape(k.ApprovalID) + "?" + l.Query(k).Encode()
}

// Query returns the link's query parameters, signature included.
func (l *Links) Query(k Link) url.Values {
	return url.Values{
		"page": {k.Page},
		"to":   {k.Recipient},
		"exp":  {strconv.FormatInt(k.Expires.Unix(), 10)},
		"sig":  {l.sign(l.keys[0], k)},
	}
}

// Verify reads the link of approval id from its query parameters (those URL made) and
// checks its signature, then its expiry against now. The signature is checked first:
// a forged link is ErrLinkInvalid whatever expiry it claims.
func (l *Links) Verify(id string, q url.Values, now time.Time) (Link, error) {
	one := func(name string) (string, bool) {
		v := q[name]
		return strings.Join(v, ""), len(v) == 1
	}
	page, ok1 := one("page")
	to, ok2 := one("to")
	exp, ok3 := one("exp")
	sig, ok4 := one("sig")
	if !ok1 || !ok2 || !ok3 || !ok4 || id == "" || to == "" || (page != PageApprove && page != PageReject) {
		return Link{}, ErrLinkInvalid
	}
	secs, err := strconv.ParseInt(exp, 10, 64)
	if err != nil || secs <= 0 {
		return Link{}, ErrLinkInvalid
	}
	k := Link{ApprovalID: id, Page: page, Recipient: to, Expires: time.Unix(secs, 0).UTC()}
	if !l.valid(sig, func(key []byte) string { return l.sign(key, k) }) {
		return Link{}, ErrLinkInvalid
	}
	if !now.Before(k.Expires) {
		return k, ErrLinkExpired
	}
	return k, nil
}

// Signature returns the link's signature as Verify accepts it (the sig parameter).
func (l *Links) Signature(k Link) string { return l.sign(l.keys[0], k) }

// FormToken returns the anti-CSRF token of a page rendered for the link with signature
// sig: bound to that link, to the nonce the browser holds in a cookie, and to when the
// page was issued.
func (l *Links) FormToken(sig, nonce string, issued time.Time) string {
	return mac(l.keys[0], "relais approval form v1", sig, nonce, strconv.FormatInt(issued.Unix(), 10))
}

// CheckFormToken reports whether token is FormToken(sig, nonce, issued) under any key.
func (l *Links) CheckFormToken(token, sig, nonce string, issued time.Time) bool {
	return l.valid(token, func(key []byte) string {
		return mac(key, "relais approval form v1", sig, nonce, strconv.FormatInt(issued.Unix(), 10))
	})
}

func (l *Links) sign(key []byte, k Link) string {
	return mac(key, "relais approval link v1", k.ApprovalID, k.Page, k.Recipient, strconv.FormatInt(k.Expires.Unix(), 10))
}

// valid compares got with the expected value under every key, in constant time each.
func (l *Links) valid(got string, want func(key []byte) string) bool {
	ok := false
	for _, key := range l.keys {
		if hmac.Equal([]byte(got), []byte(want(key))) {
			ok = true
		}
	}
	return ok && got != ""
}

// mac is HMAC-SHA256 over the purpose and the fields, each length-prefixed so that no
// two field lists encode alike, in unpadded base64url.
func mac(key []byte, purpose string, fields ...string) string {
	h := hmac.New(sha256.New, key)
	for _, f := range append([]string{purpose}, fields...) {
		fmt.Fprintf(h, "%d:%s;", len(f), f)
	}
	return base64.RawURLEncoding.EncodeToString(h.Sum(nil))
}
