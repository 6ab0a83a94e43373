// Package web serves the pages behind approval links: GET /approvals/{id} shows the
// approval and a form, and never decides (mail scanners and link previews follow links);
// POST /approvals/{id} decides, through approval.Service.Decide like the API and the CLI.
//
// A POST is taken only when all of these hold:
//   - the link it carries (page, recipient, expiry, signature) verifies: not forged,
//     tampered with or expired;
//   - it comes from the page: a form token, HMAC-bound to the link's signature, to a nonce
//     the page set in a SameSite=Strict cookie and to when the page was issued (valid
//     for FormTTL), and no cross-site Origin or Sec-Fetch-Site header;
//   - the approval still waits (not decided, expired or superseded), and its policy lets
//     the link's recipient decide (author rule, one decision per person).
//
// Anything else gets a page that says what happened, and changes nothing.
//
// On AWS the approval Lambda serves the same handler: translate the API Gateway (HTTP
// API, payload 2.0) event into an *http.Request (method, raw path, raw query string,
// headers, the cookies joined into one Cookie header, the body base64-decoded when
// isBase64Encoded), run ServeHTTP on an httptest.ResponseRecorder, and answer with its
// status, headers (each Set-Cookie value into the response's cookies list) and body.
package web

import (
	"crypto/rand"
	"embed"
	"encoding/base64"
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/relais-ci/relais/shared/approval"
	"github.com/relais-ci/relais/shared/core"
)

// FormTTL is how long a rendered page's form may be posted.
const FormTTL = 12 * time.Hour

// maxBody bounds a POST: a comment and the link's fields.
const maxBody = 16 << 10

const nonceCookie = "relais_approval"

//go:embed templates/page.html
var templates embed.FS

var pageTemplate = template.Must(template.ParseFS(templates, "templates/page.html"))

// Deps are what the pages work over.
type Deps struct {
	Service *approval.Service
	Clock   core.Clock
	Logger  *slog.Logger
}

// Handler serves GET and POST /approvals/{id}.
type Handler struct {
	d     Deps
	links *approval.Links
	mux   *http.ServeMux
}

// New returns the handler of the approval pages. It answers 404 to everything when the
// service has no links configured.
func New(d Deps) *Handler {
	if d.Clock == nil {
		d.Clock = core.SystemClock
	}
	if d.Logger == nil {
		d.Logger = slog.Default()
	}
	h := &Handler{d: d, links: d.Service.Links(), mux: http.NewServeMux()}
	h.mux.HandleFunc("GET /approvals/{id}", h.get)
	h.mux.HandleFunc("POST /approvals/{id}", h.post)
	return h
}

// ServeHTTP serves the approval pages.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Referrer-Policy", "no-referrer")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("X-Frame-Options", "DENY")
	w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	if h.links == nil {
		h.render(w, http.StatusNotFound, page{Title: "Approval links are off", Message: "This server does not serve approval links.", Tone: "bad"})
		return
	}
	h.mux.ServeHTTP(w, r)
}

// page is what the template shows.
type page struct {
	Title    string
	Message  string
	Tone     string // ok, bad
	Approval *core.Approval
	Author   string
	Votes    []core.Approval
	Form     *form
}

type form struct {
	Page, To, Exp, Sig, Issued, Token string
	Approve                           bool
	Required                          int
}

// When formats a time for the pages.
func (page) When(t time.Time) string { return t.UTC().Format("Mon, 02 Jan 2006 15:04 MST") }

func (h *Handler) get(w http.ResponseWriter, r *http.Request) {
	link, ok := h.link(w, r, r.URL.Query())
	if !ok {
		return
	}
	st, ok := h.state(w, r, link)
	if !ok {
		return
	}
	nonce := ""
	if c, err := r.Cookie(nonceCookie); err == nil && validNonce(c.Value) {
		nonce = c.Value // another open page keeps working
	} else {
		nonce = newNonce()
		http.SetCookie(w, &http.Cookie{
			Name: nonceCookie, Value: nonce, Path: h.cookiePath(), MaxAge: int(FormTTL / time.Second),
			HttpOnly: true, Secure: strings.HasPrefix(h.links.Base(), "https:"), SameSite: http.SameSiteStrictMode,
		})
	}
	issued := h.d.Clock.Now().Truncate(time.Second)
	q := r.URL.Query()
	p := h.pageOf(st, link)
	p.Title = "Approve " + st.Approval.PipelineName + "?"
	if link.Page == approval.PageReject {
		p.Title = "Reject " + st.Approval.PipelineName + "?"
	}
	p.Form = &form{
		Page: link.Page, To: link.Recipient, Exp: q.Get("exp"), Sig: q.Get("sig"),
		Issued: strconv.FormatInt(issued.Unix(), 10), Token: h.links.FormToken(q.Get("sig"), nonce, issued),
		Approve: link.Page == approval.PageApprove, Required: st.Policy.Required,
	}
	h.render(w, http.StatusOK, p)
}

func (h *Handler) post(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxBody)
	if err := r.ParseForm(); err != nil {
		h.render(w, http.StatusBadRequest, page{Title: "Not a decision", Message: "The form could not be read.", Tone: "bad"})
		return
	}
	if !h.sameOrigin(r) {
		h.render(w, http.StatusForbidden, page{Title: "Refused", Message: "This form was not sent from the approval page. Open the link from the e-mail again.", Tone: "bad"})
		return
	}
	f := r.PostForm
	link, ok := h.link(w, r, url.Values{"page": f["page"], "to": f["to"], "exp": f["exp"], "sig": f["sig"]})
	if !ok {
		return
	}
	issuedSecs, err := strconv.ParseInt(f.Get("issued"), 10, 64)
	issued := time.Unix(issuedSecs, 0)
	now := h.d.Clock.Now()
	c, cerr := r.Cookie(nonceCookie)
	if err != nil || cerr != nil || !validNonce(c.Value) || issued.After(now.Add(time.Minute)) || now.Sub(issued) > FormTTL ||
		!h.links.CheckFormToken(f.Get("csrf"), f.Get("sig"), c.Value, issued) {
		h.render(w, http.StatusForbidden, page{Title: "Refused", Message: "This form has expired or did not come from the approval page; nothing was decided. Open the link from the e-mail again.", Tone: "bad"})
		return
	}
	comment := strings.TrimSpace(f.Get("comment"))
	if len([]rune(comment)) > approval.MaxComment {
		h.render(w, http.StatusBadRequest, page{Title: "Comment too long", Message: fmt.Sprintf("Comments have at most %d characters; nothing was decided.", approval.MaxComment), Tone: "bad"})
		return
	}
	status := core.Approved
	if link.Page == approval.PageReject {
		status = core.Rejected
	}
	a, err := h.d.Service.Decide(r.Context(), approval.Decision{ID: link.ApprovalID, Status: status, By: link.Recipient, Comment: comment})
	switch {
	case errors.Is(err, core.ErrConflict), errors.Is(err, approval.ErrNotAllowed):
		if st, ok := h.state(w, r, link); ok { // says why, in the words GET would use
			h.render(w, http.StatusForbidden, h.pageOf(st, link).with("Not allowed", err, "bad"))
		}
		return
	case errors.Is(err, core.ErrNotFound):
		h.render(w, http.StatusNotFound, page{Title: "No such approval", Message: "This approval does not exist (any more).", Tone: "bad"})
		return
	case err != nil:
		h.d.Logger.ErrorContext(r.Context(), "decide approval by link", "pipeline", a.PipelineName, "execution_id", a.ExecutionID,
			"stage", a.StageName, "action", a.ActionName, "err", err)
		h.render(w, http.StatusInternalServerError, page{Title: "Something went wrong", Message: "Relais could not record your decision. Try again in a moment.", Tone: "bad"})
		return
	}
	st, _ := h.d.Service.Check(r.Context(), link.ApprovalID)
	if st.Approval.ID == "" {
		st.Approval = a
	}
	p := h.pageOf(st, link)
	switch a.Status {
	case core.ApprovalApproved:
		p.Title, p.Message, p.Tone = "Approved", "Thank you. The pipeline goes on.", "ok"
	case core.ApprovalRejected:
		p.Title, p.Message, p.Tone = "Rejected", "Thank you. The action failed with your comment.", "ok"
	default:
		p.Title, p.Tone = "Approval recorded", "ok"
		p.Message = fmt.Sprintf("Thank you. %d more approval(s) from other people are needed before the pipeline goes on.", st.Missing())
	}
	h.render(w, http.StatusOK, p)
}

// link verifies the link in q, or answers with a page saying why it does nothing.
func (h *Handler) link(w http.ResponseWriter, r *http.Request, q url.Values) (approval.Link, bool) {
	link, err := h.links.Verify(r.PathValue("id"), q, h.d.Clock.Now())
	switch {
	case errors.Is(err, approval.ErrLinkExpired):
		h.render(w, http.StatusGone, page{Title: "Link expired", Message: "This approval link has expired; nothing was decided.", Tone: "bad"})
		return link, false
	case err != nil:
		h.render(w, http.StatusForbidden, page{Title: "Invalid link", Message: "This approval link is not valid: it was changed or not made by this server. Nothing was decided.", Tone: "bad"})
		return link, false
	}
	return link, true
}

// state finds the approval and checks that the link's recipient can still use it, or
// answers with a page saying why not.
func (h *Handler) state(w http.ResponseWriter, r *http.Request, link approval.Link) (approval.State, bool) {
	st, err := h.d.Service.Check(r.Context(), link.ApprovalID)
	switch {
	case errors.Is(err, core.ErrNotFound):
		h.render(w, http.StatusNotFound, page{Title: "No such approval", Message: "This approval does not exist (any more).", Tone: "bad"})
		return st, false
	case err != nil:
		h.d.Logger.ErrorContext(r.Context(), "check approval", "err", err)
		h.render(w, http.StatusInternalServerError, page{Title: "Something went wrong", Message: "Relais could not read this approval. Try again in a moment.", Tone: "bad"})
		return st, false
	}
	p := h.pageOf(st, link)
	a := st.Approval
	switch {
	case a.Status == core.ApprovalExpired:
		h.render(w, http.StatusGone, p.with("Approval expired", fmt.Errorf("This approval timed out at %s; nothing can be decided any more", p.When(a.ExpiresAt)), "bad"))
	case a.Status == core.ApprovalSuperseded:
		h.render(w, http.StatusGone, p.with("Approval no longer needed", errors.New("The pipeline execution went on without this approval (it was stopped or superseded); nothing was decided"), "bad"))
	case !st.Pending():
		h.render(w, http.StatusConflict, p.with("Already decided", fmt.Errorf("This approval was already %s by %s; this link does nothing any more", strings.ToLower(string(a.Status)), a.DecidedBy), "bad"))
	case st.Voted(link.Recipient):
		h.render(w, http.StatusConflict, p.with("Already approved", fmt.Errorf("You have already approved; %d more approval(s) from other people are needed", st.Missing()), "bad"))
	case link.Page == approval.PageApprove && st.MayApprove(link.Recipient) != nil:
		h.render(w, http.StatusForbidden, p.with("Not allowed", st.MayApprove(link.Recipient), "bad"))
	default:
		return st, true
	}
	return st, false
}

func (h *Handler) pageOf(st approval.State, link approval.Link) page {
	a := st.Approval
	return page{Approval: &a, Author: strings.Join(st.Policy.Authors, ", "), Votes: st.Votes}
}

func (p page) with(title string, why error, tone string) page {
	msg := why.Error()
	// Service errors end in a sentinel's text; the page wants the first clause only.
	for _, sentinel := range []error{core.ErrConflict, approval.ErrNotAllowed} {
		if i := strings.Index(msg, ": "+sentinel.Error()); i > 0 {
			msg = msg[:i]
		}
	}
	p.Title, p.Message, p.Tone = title, msg+".", tone
	return p
}

// sameOrigin refuses posts a browser marks as cross-site. A request without Origin or
// Sec-Fetch-Site (an old browser, curl) is left to the form token.
func (h *Handler) sameOrigin(r *http.Request) bool {
	if site := r.Header.Get("Sec-Fetch-Site"); site != "" && site != "same-origin" && site != "none" {
		return false
	}
	origin := r.Header.Get("Origin")
	if origin == "" {
		return true
	}
	if origin == h.links.Origin() {
		return true
	}
	// Served under another name than the public URL (a proxy that keeps the Host).
	u, err := url.Parse(origin)
	return err == nil && origin != "null" && u.Host == r.Host
}

func (h *Handler) cookiePath() string {
	u, _ := url.Parse(h.links.Base())
	return strings.TrimRight(u.Path, "/") + "/approvals/"
}

func (h *Handler) render(w http.ResponseWriter, code int, p page) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(code)
	if err := pageTemplate.Execute(w, p); err != nil {
		h.d.Logger.Error("render approval page", "err", err)
	}
}

func newNonce() string {
	b := make([]byte, 18)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

func validNonce(s string) bool {
	b, err := base64.RawURLEncoding.DecodeString(s)
	return err == nil && len(b) == 18
}
