package web

import (
	"context"
	"html"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/relais-ci/relais/shared/action"
	"github.com/relais-ci/relais/shared/approval"
	"github.com/relais-ci/relais/shared/core"
	"github.com/relais-ci/relais/shared/local/sqlitestore"
	"github.com/relais-ci/relais/shared/pipeline"
)

// completer ends actions as the action service does, and counts.
type completer struct {
	store *sqlitestore.Store
	calls atomic.Int32
	mu    sync.Mutex
	last  action.Result
}

func (c *completer) Complete(ctx context.Context, p, id string, res action.Result) error {
	c.calls.Add(1)
	c.mu.Lock()
	c.last = res
	c.mu.Unlock()
	rec, err := c.store.GetAction(ctx, p, id)
	if err != nil {
		return err
	}
	rec.Status, rec.Summary, rec.Error = res.Status, res.Summary, res.Error
	return c.store.PutAction(ctx, rec)
}

type env struct {
	t     *testing.T
	srv   *httptest.Server
	store *sqlitestore.Store
	svc   *approval.Service
	done  *completer
	mu    sync.Mutex
	now   time.Time
	sent  []core.Notification
}

func newEnv(t *testing.T) *env {
	t.Helper()
	e := &env{t: t, now: time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)}
	clock := core.ClockFunc(func() time.Time { e.mu.Lock(); defer e.mu.Unlock(); return e.now })
	var err error
	if e.store, err = sqlitestore.Open(context.Background(), filepath.Join(t.TempDir(), "r.db"), sqlitestore.WithClock(clock)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.store.Close() })
	var h http.Handler
	e.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { h.ServeHTTP(w, r) }))
	t.Cleanup(e.srv.Close)
	links, err := approval.NewLinks(e.srv.URL, []byte(strings.Repeat("k", 32)))
	if err != nil {
		t.Fatal(err)
	}
	logger := slog.New(slog.DiscardHandler)
	e.svc = approval.New(approval.Deps{Approvals: e.store, Actions: e.store, Executions: e.store, Links: links,
		Approvers: []string{"alice@example.com", "bob@example.com"}, Clock: clock, Logger: logger,
		Notifier: core.NotifierFunc(func(ctx context.Context, n core.Notification) error {
			e.mu.Lock()
			defer e.mu.Unlock()
			e.sent = append(e.sent, n)
			return nil
		})})
	e.done = &completer{store: e.store}
	e.svc.Completer = e.done
	h = New(Deps{Service: e.svc, Clock: clock, Logger: logger})
	return e
}

func (e *env) advance(d time.Duration) { e.mu.Lock(); e.now = e.now.Add(d); e.mu.Unlock() }

// request starts an approval and returns it with each approver's links, from the
// notifications' text.
func (e *env) request(cfg map[string]string, rev core.SourceRevision) (core.Approval, map[string]string) {
	t := e.t
	t.Helper()
	ctx := context.Background()
	x, err := e.store.CreateExecution(ctx, core.Execution{PipelineName: "shop", ID: core.NewID(), Status: core.ExecutionInProgress, SourceRevisions: []core.SourceRevision{rev}})
	if err != nil {
		t.Fatal(err)
	}
	rec := core.ActionExecution{ID: core.NewID(), PipelineName: "shop", ExecutionID: x.ID, StageName: "Approve", ActionName: "Gate",
		Attempt: 1, Status: core.ActionInProgress, Configuration: cfg, Type: core.ActionType{Category: "Approval", Owner: "AWS", Provider: "Manual", Version: "1"}}
	if err := e.store.PutAction(ctx, rec); err != nil {
		t.Fatal(err)
	}
	e.mu.Lock()
	e.sent = nil
	e.mu.Unlock()
	if _, err := e.svc.Run(ctx, action.Job{Execution: x, Stage: "Approve", Record: rec, Declared: pipeline.Action{Name: "Gate"}}); err != nil {
		t.Fatal(err)
	}
	a, err := e.store.GetApproval(ctx, rec.ID)
	if err != nil {
		t.Fatal(err)
	}
	links := map[string]string{}
	re := regexp.MustCompile(`(?m)^(Approve|Reject): +(\S+)$`)
	for _, n := range e.sent {
		for _, m := range re.FindAllStringSubmatch(n.Text, -1) {
			links[strings.ToLower(m[1])+" "+n.Attrs[approval.AttrRecipient]] = m[2]
		}
	}
	if len(links) != 4 {
		t.Fatalf("got links %v, want approve and reject for each of two approvers", links)
	}
	return a, links
}

func (e *env) status(id string) core.ApprovalStatus {
	a, err := e.store.GetApproval(context.Background(), id)
	if err != nil {
		e.t.Fatal(err)
	}
	return a.Status
}

// browser keeps cookies, like the approver's.
type browser struct {
	t *testing.T
	c *http.Client
}

func newBrowser(t *testing.T) *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{t: t, c: &http.Client{Jar: jar}}
}

func (b *browser) do(req *http.Request) (int, string) {
	b.t.Helper()
	resp, err := b.c.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

func (b *browser) get(u string) (int, string) {
	req, _ := http.NewRequest(http.MethodGet, u, nil)
	return b.do(req)
}

// post sends a form to the page at u as the page's own form would: same origin.
func (b *browser) post(u string, form url.Values, header ...string) (int, string) {
	req, _ := http.NewRequest(http.MethodPost, u, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	pu, _ := url.Parse(u)
	req.Header.Set("Origin", pu.Scheme+"://"+pu.Host)
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	return b.do(req)
}

var hiddenInput = regexp.MustCompile(`<input type="hidden" name="(\w+)" value="([^"]*)">`)

// formOf reads the hidden fields of a page's form.
func formOf(t *testing.T, page string) url.Values {
	t.Helper()
	f := url.Values{}
	for _, m := range hiddenInput.FindAllStringSubmatch(page, -1) {
		f.Set(m[1], html.UnescapeString(m[2]))
	}
	if f.Get("csrf") == "" || f.Get("sig") == "" {
		t.Fatalf("the page has no decision form:\n%s", page)
	}
	return f
}

// open follows a link and submits its form with a comment.
func (b *browser) decide(link, comment string) (int, string) {
	b.t.Helper()
	code, page := b.get(link)
	if code != http.StatusOK {
		b.t.Fatalf("GET %s: %d\n%s", link, code, page)
	}
	f := formOf(b.t, page)
	f.Set("comment", comment)
	return b.post(link, f)
}

var rev = core.SourceRevision{ActionName: "Src", RevisionID: "c0ffee", RevisionSummary: "Make it faster", RevisionURL: "https://git.example.com/c/c0ffee"}

func TestGetShowsAndNeverDecides(t *testing.T) {
	e := newEnv(t)
	a, links := e.request(map[string]string{"CustomData": "Check the staging site", "ExternalEntityLink": "https://staging.example.com"}, rev)
	// A mail scanner follows every link, some twice, without cookies.
	for _, l := range links {
		for range 2 {
			code, page := newBrowser(t).get(l)
			if code != http.StatusOK {
				t.Fatalf("GET %s: %d", l, code)
			}
			for _, want := range []string{"shop", "Approve", "Gate", "c0ffee", "Make it faster", "https://git.example.com/c/c0ffee", "Check the staging site", "https://staging.example.com", "<textarea", `method="post"`} {
				if !strings.Contains(page, want) {
					t.Errorf("page lacks %q", want)
				}
			}
		}
	}
	if e.status(a.ID) != core.ApprovalPending || e.done.calls.Load() != 0 {
		t.Fatalf("GETs decided: status %s, %d completions", e.status(a.ID), e.done.calls.Load())
	}
	resp, err := http.Get(links["approve alice@example.com"])
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	for k, want := range map[string]string{"Cache-Control": "no-store", "Referrer-Policy": "no-referrer", "X-Frame-Options": "DENY"} {
		if got := resp.Header.Get(k); got != want {
			t.Errorf("%s: got %q, want %q", k, got, want)
		}
	}
	c := resp.Cookies()
	if len(c) != 1 || !c[0].HttpOnly || c[0].SameSite != http.SameSiteStrictMode {
		t.Errorf("cookies %v: want one HttpOnly SameSite=Strict nonce", c)
	}
}

func TestApproveAndRejectByLink(t *testing.T) {
	t.Run("approve", func(t *testing.T) {
		e := newEnv(t)
		a, links := e.request(nil, rev)
		code, page := newBrowser(t).decide(links["approve alice@example.com"], "ship it")
		if code != http.StatusOK || !strings.Contains(page, "Approved") {
			t.Fatalf("POST: %d\n%s", code, page)
		}
		got, _ := e.store.GetApproval(context.Background(), a.ID)
		if got.Status != core.ApprovalApproved || got.DecidedBy != "alice@example.com" || got.Comment != "ship it" || !got.DecidedAt.Equal(e.now) {
			t.Errorf("got %+v, want approved by alice with her comment, now", got)
		}
		if e.done.calls.Load() != 1 || e.done.last.Status != core.ActionSucceeded {
			t.Errorf("action: %d completions, last %+v; want one success", e.done.calls.Load(), e.done.last)
		}
	})
	t.Run("reject", func(t *testing.T) {
		e := newEnv(t)
		a, links := e.request(nil, rev)
		code, page := newBrowser(t).decide(links["reject bob@example.com"], "breaks checkout")
		if code != http.StatusOK || !strings.Contains(page, "Rejected") {
			t.Fatalf("POST: %d\n%s", code, page)
		}
		if got := e.status(a.ID); got != core.ApprovalRejected {
			t.Errorf("got %s, want Rejected", got)
		}
		if e.done.last.Status != core.ActionFailed || e.done.last.Summary != "Rejected by bob@example.com: breaks checkout" {
			t.Errorf("action ended %+v, want Failed with who and why", e.done.last)
		}
	})
}

func TestPostRefusedWithoutThePage(t *testing.T) {
	e := newEnv(t)
	a, links := e.request(nil, rev)
	link := links["approve alice@example.com"]
	b := newBrowser(t)
	_, page := b.get(link)
	good := formOf(t, page)
	with := func(k, v string) url.Values {
		f := url.Values{}
		for key, vs := range good {
			f[key] = vs
		}
		if v == "" {
			f.Del(k)
		} else {
			f.Set(k, v)
		}
		return f
	}
	other := newBrowser(t) // has its own cookie, not the page's
	other.get(link)
	for _, tc := range []struct {
		name   string
		b      *browser
		form   url.Values
		header []string
		want   int
	}{
		{"no token", b, with("csrf", ""), nil, http.StatusForbidden},
		{"wrong token", b, with("csrf", strings.Repeat("A", 43)), nil, http.StatusForbidden},
		{"token of another page issue", b, with("issued", "1"), nil, http.StatusForbidden},
		{"no cookie", newBrowser(t), good, nil, http.StatusForbidden},
		{"another browser's cookie", other, good, nil, http.StatusForbidden},
		{"cross-site origin", b, good, []string{"Origin", "https://evil.example.com"}, http.StatusForbidden},
		{"cross-site fetch", b, good, []string{"Sec-Fetch-Site", "cross-site"}, http.StatusForbidden},
		{"tampered recipient", b, with("to", "mallory@example.com"), nil, http.StatusForbidden},
		{"other page", b, with("page", "reject"), nil, http.StatusForbidden},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, body := tc.b.post(link, tc.form, tc.header...)
			if code != tc.want {
				t.Fatalf("got %d, want %d\n%s", code, tc.want, body)
			}
			if e.status(a.ID) != core.ApprovalPending || e.done.calls.Load() != 0 {
				t.Fatalf("a refused POST decided")
			}
		})
	}
	// The genuine form still works after all that.
	if code, body := b.post(link, good); code != http.StatusOK {
		t.Fatalf("genuine POST: %d\n%s", code, body)
	}
}

func TestLinksWorkOnce(t *testing.T) {
	e := newEnv(t)
	a, links := e.request(nil, rev)
	b := newBrowser(t)
	link := links["approve alice@example.com"]
	_, page := b.get(link)
	f := formOf(t, page)
	if code, _ := b.post(link, f); code != http.StatusOK {
		t.Fatalf("first POST: %d", code)
	}
	if code, body := b.post(link, f); code != http.StatusConflict || !strings.Contains(body, "already") {
		t.Errorf("replayed POST: %d, want 409 saying it was already decided\n%s", code, body)
	}
	for _, l := range links {
		if code, body := newBrowser(t).get(l); code != http.StatusConflict || !strings.Contains(body, "Already decided") || strings.Contains(body, "<form") {
			t.Errorf("GET after the decision: %d, want 409 without a form\n%s", code, body)
		}
	}
	if e.status(a.ID) != core.ApprovalApproved || e.done.calls.Load() != 1 {
		t.Fatalf("status %s, %d completions; want Approved once", e.status(a.ID), e.done.calls.Load())
	}
}

func TestConcurrentPostsDecideOnce(t *testing.T) {
	e := newEnv(t)
	_, links := e.request(nil, rev)
	link := links["approve alice@example.com"]
	b := newBrowser(t)
	_, page := b.get(link)
	f := formOf(t, page)
	var wg sync.WaitGroup
	var ok atomic.Int32
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if code, _ := b.post(link, f); code == http.StatusOK {
				ok.Add(1)
			}
		}()
	}
	wg.Wait()
	if ok.Load() != 1 || e.done.calls.Load() != 1 {
		t.Fatalf("got %d successful POSTs and %d completions, want 1 and 1", ok.Load(), e.done.calls.Load())
	}
}

func TestForgedAndExpiredLinks(t *testing.T) {
	e := newEnv(t)
	a, links := e.request(nil, rev)
	link := links["approve alice@example.com"]
	u, _ := url.Parse(link)
	q := u.Query()
	q.Set("to", "mallory@example.com")
	u.RawQuery = q.Encode()
	if code, body := newBrowser(t).get(u.String()); code != http.StatusForbidden || !strings.Contains(body, "Invalid link") {
		t.Errorf("forged link: %d\n%s", code, body)
	}
	forgedID := strings.Replace(link, a.ID, core.NewID(), 1)
	if code, _ := newBrowser(t).get(forgedID); code != http.StatusForbidden {
		t.Errorf("link for another approval: %d, want 403", code)
	}
	b := newBrowser(t)
	_, page := b.get(link)
	f := formOf(t, page)
	e.advance(approval.DefaultTimeout)
	if code, body := b.get(link); code != http.StatusGone || !strings.Contains(body, "expired") {
		t.Errorf("expired link: %d\n%s", code, body)
	}
	if code, _ := b.post(link, f); code != http.StatusForbidden && code != http.StatusGone {
		t.Errorf("POST of an expired link: %d, want refused", code)
	}
	if e.status(a.ID) == core.ApprovalApproved || e.done.calls.Load() != 0 {
		t.Fatal("an expired link decided")
	}
}

func TestEndedActionStopsLinks(t *testing.T) {
	e := newEnv(t)
	a, links := e.request(nil, rev)
	rec, _ := e.store.GetAction(context.Background(), "shop", a.ActionExecutionID)
	rec.Status, rec.Error = core.ActionFailed, &core.ErrorDetails{Code: "TimeoutError", Message: "Approval timed out"}
	if err := e.store.PutAction(context.Background(), rec); err != nil {
		t.Fatal(err)
	}
	if code, body := newBrowser(t).get(links["approve bob@example.com"]); code != http.StatusGone || !strings.Contains(body, "timed out") {
		t.Errorf("link of a timed-out approval: %d\n%s", code, body)
	}
	if got := e.status(a.ID); got != core.ApprovalExpired {
		t.Errorf("approval %s, want Expired", got)
	}
}

func TestPageEscapesRevisionAndCustomData(t *testing.T) {
	e := newEnv(t)
	hostile := core.SourceRevision{ActionName: "Src", RevisionID: `"><svg onload=alert(1)>`, RevisionSummary: `<img src=x onerror=alert(1)> fix`, RevisionURL: `javascript:alert(1)`}
	_, links := e.request(map[string]string{"CustomData": `</textarea><script>alert(1)</script>`, "ExternalEntityLink": `javascript:alert(2)`}, hostile)
	_, page := newBrowser(t).get(links["approve alice@example.com"])
	for _, bad := range []string{"<script>", "<img src", "<svg", `href="javascript:`, "</textarea><"} {
		if strings.Contains(page, bad) {
			t.Errorf("page holds %q unescaped", bad)
		}
	}
	if !strings.Contains(page, "&lt;img src=x onerror=alert(1)&gt; fix") || !strings.Contains(page, "&lt;/textarea&gt;&lt;script&gt;") {
		t.Errorf("page does not show the hostile text escaped:\n%s", page)
	}
}

func TestAuthorMayNotApproveByLink(t *testing.T) {
	e := newEnv(t)
	a, links := e.request(map[string]string{approval.ConfigForbidAuthorApproval: "true", approval.ConfigRevisionAuthor: "alice@example.com"}, rev)
	code, body := newBrowser(t).get(links["approve alice@example.com"])
	if code != http.StatusForbidden || !strings.Contains(body, "may not approve") || strings.Contains(body, "<form") {
		t.Errorf("author's approve link: %d, want 403 without a form\n%s", code, body)
	}
	if code, _ := newBrowser(t).get(links["reject alice@example.com"]); code != http.StatusOK {
		t.Errorf("author's reject link: %d, want the form", code)
	}
	if code, body := newBrowser(t).decide(links["approve bob@example.com"], ""); code != http.StatusOK {
		t.Fatalf("another approver: %d\n%s", code, body)
	}
	if e.status(a.ID) != core.ApprovalApproved {
		t.Errorf("got %s, want Approved", e.status(a.ID))
	}
}

func TestTwoApprovalsByLink(t *testing.T) {
	e := newEnv(t)
	a, links := e.request(map[string]string{approval.ConfigApprovalsRequired: "2"}, rev)
	code, body := newBrowser(t).decide(links["approve alice@example.com"], "fine by me")
	if code != http.StatusOK || !strings.Contains(body, "1 more approval") {
		t.Fatalf("first approval: %d\n%s", code, body)
	}
	if e.status(a.ID) != core.ApprovalPending || e.done.calls.Load() != 0 {
		t.Fatal("one approval of two decided")
	}
	for _, l := range []string{links["approve alice@example.com"], links["reject alice@example.com"]} {
		if code, body := newBrowser(t).get(l); code != http.StatusConflict || !strings.Contains(body, "already approved") {
			t.Errorf("alice's link after her approval: %d\n%s", code, body)
		}
	}
	if code, body := newBrowser(t).decide(links["approve bob@example.com"], "me too"); code != http.StatusOK || !strings.Contains(body, "Approved") {
		t.Fatalf("second approval: %d\n%s", code, body)
	}
	got, _ := e.store.GetApproval(context.Background(), a.ID)
	if got.Status != core.ApprovalApproved || got.DecidedBy != "alice@example.com, bob@example.com" || e.done.calls.Load() != 1 {
		t.Errorf("got %s by %q (%d completions), want Approved by both, once", got.Status, got.DecidedBy, e.done.calls.Load())
	}
}
