package approval

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/relais-ci/relais/shared/action"
	"github.com/relais-ci/relais/shared/core"
	"github.com/relais-ci/relais/shared/local/sqlitestore"
	"github.com/relais-ci/relais/shared/pipeline"
)

// completer ends actions as the action service does: once, and records how.
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

type fixture struct {
	svc   *Service
	store *sqlitestore.Store
	done  *completer
	now   time.Time
	mu    sync.Mutex
	sent  []core.Notification
	links *Links
}

var testKey = []byte("0123456789abcdef0123456789abcdef")

func newFixture(t *testing.T, approvers ...string) *fixture {
	t.Helper()
	f := &fixture{now: time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)}
	clock := core.ClockFunc(func() time.Time { f.mu.Lock(); defer f.mu.Unlock(); return f.now })
	st, err := sqlitestore.Open(context.Background(), filepath.Join(t.TempDir(), "r.db"), sqlitestore.WithClock(clock))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	f.store = st
	if f.links, err = NewLinks("https://relais.example.com/base", testKey); err != nil {
		t.Fatal(err)
	}
	f.svc = New(Deps{Approvals: st, Actions: st, Executions: st, Links: f.links, Approvers: approvers, Clock: clock,
		Logger: slog.New(slog.DiscardHandler),
		Notifier: core.NotifierFunc(func(ctx context.Context, n core.Notification) error {
			f.mu.Lock()
			defer f.mu.Unlock()
			f.sent = append(f.sent, n)
			return nil
		})})
	f.done = &completer{store: st}
	f.svc.Completer = f.done
	return f
}

func (f *fixture) advance(d time.Duration) { f.mu.Lock(); f.now = f.now.Add(d); f.mu.Unlock() }

// request runs a Manual approval action with the given configuration and trigger.
func (f *fixture) request(t *testing.T, cfg map[string]string, trigger core.Trigger) core.Approval {
	t.Helper()
	ctx := context.Background()
	x, err := f.store.CreateExecution(ctx, core.Execution{PipelineName: "p", ID: core.NewID(), Status: core.ExecutionInProgress, Trigger: trigger,
		SourceRevisions: []core.SourceRevision{{ActionName: "Src", RevisionID: "c0ffee", RevisionSummary: "Fix <b>it</b>", RevisionURL: "https://git.example.com/c0ffee"}}})
	if err != nil {
		t.Fatal(err)
	}
	rec := core.ActionExecution{ID: core.NewID(), PipelineName: "p", ExecutionID: x.ID, StageName: "Approve", ActionName: "Gate",
		Attempt: 1, Status: core.ActionInProgress, Type: core.ActionType{Category: "Approval", Owner: "AWS", Provider: "Manual", Version: "1"},
		Configuration: cfg, StartTime: f.now, LastUpdateTime: f.now}
	if err := f.store.PutAction(ctx, rec); err != nil {
		t.Fatal(err)
	}
	res, err := f.svc.Run(ctx, action.Job{Execution: x, Stage: "Approve", Record: rec,
		Declared: pipeline.Action{Name: "Gate", Configuration: cfg}})
	if err != nil || res.Status != core.ActionInProgress {
		t.Fatalf("run approval: got %+v, %v; want InProgress", res, err)
	}
	a, err := f.store.GetApproval(ctx, rec.ID)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func TestDecideOnce(t *testing.T) {
	f := newFixture(t)
	a := f.request(t, nil, core.Trigger{})
	var wg sync.WaitGroup
	var won atomic.Int32
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := f.svc.Decide(context.Background(), Decision{ID: a.ID, Status: core.Approved, By: fmt.Sprintf("u%d", i)})
			switch {
			case err == nil:
				won.Add(1)
			case !errors.Is(err, core.ErrConflict):
				t.Errorf("decision %d: %v", i, err)
			}
		}()
	}
	wg.Wait()
	if won.Load() != 1 || f.done.calls.Load() != 1 {
		t.Fatalf("got %d decisions and %d completions, want 1 and 1", won.Load(), f.done.calls.Load())
	}
}

func TestExpiredAndSuperseded(t *testing.T) {
	t.Run("timeout passed", func(t *testing.T) {
		f := newFixture(t)
		a := f.request(t, nil, core.Trigger{})
		f.advance(DefaultTimeout + time.Second)
		if _, err := f.svc.Decide(context.Background(), Decision{ID: a.ID, Status: core.Approved, By: "alice"}); !errors.Is(err, core.ErrConflict) {
			t.Fatalf("got %v, want ErrConflict", err)
		}
		if got, _ := f.store.GetApproval(context.Background(), a.ID); got.Status != core.ApprovalExpired {
			t.Errorf("got status %s, want Expired", got.Status)
		}
	})
	for _, tc := range []struct {
		name string
		end  func(*core.ActionExecution)
		want core.ApprovalStatus
	}{
		{"gate timed the action out", func(r *core.ActionExecution) {
			r.Status, r.Error = core.ActionFailed, &core.ErrorDetails{Code: "TimeoutError", Message: "Approval timed out"}
		}, core.ApprovalExpired},
		{"execution stopped", func(r *core.ActionExecution) { r.Status = core.ActionAbandoned }, core.ApprovalSuperseded},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			ctx := context.Background()
			a := f.request(t, map[string]string{"CustomData": "x"}, core.Trigger{})
			rec, _ := f.store.GetAction(ctx, "p", a.ActionExecutionID)
			tc.end(&rec)
			if err := f.store.PutAction(ctx, rec); err != nil {
				t.Fatal(err)
			}
			st, err := f.svc.Check(ctx, a.ID)
			if err != nil || st.Approval.Status != tc.want {
				t.Fatalf("check: got %s, %v; want %s", st.Approval.Status, err, tc.want)
			}
			if _, err := f.svc.Decide(ctx, Decision{ID: a.ID, Status: core.Approved, By: "alice"}); !errors.Is(err, core.ErrConflict) {
				t.Fatalf("decide: got %v, want ErrConflict", err)
			}
			if f.done.calls.Load() != 0 {
				t.Errorf("an ended action was completed again")
			}
		})
	}
}

func TestRequiredApprovals(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	a := f.request(t, map[string]string{ConfigApprovalsRequired: "3"}, core.Trigger{})
	decide := func(who string, s core.ApprovalDecision) (core.Approval, error) {
		return f.svc.Decide(ctx, Decision{ID: a.ID, Status: s, By: who, Comment: "ok from " + who})
	}
	if got, err := decide("alice", core.Approved); err != nil || got.Status != core.ApprovalPending {
		t.Fatalf("first approval: got %s, %v; want Pending", got.Status, err)
	}
	if _, err := decide("ALICE", core.Approved); !errors.Is(err, ErrNotAllowed) || !errors.Is(err, core.ErrInvalid) {
		t.Fatalf("same person again: got %v, want ErrNotAllowed", err)
	}
	if _, err := decide("alice", core.Rejected); !errors.Is(err, ErrNotAllowed) {
		t.Fatalf("same person rejecting after approving: got %v, want ErrNotAllowed", err)
	}
	if _, err := decide("", core.Approved); !errors.Is(err, ErrNotAllowed) {
		t.Fatalf("anonymous: got %v, want ErrNotAllowed", err)
	}
	if got, err := decide("bob", core.Approved); err != nil || got.Status != core.ApprovalPending {
		t.Fatalf("second approval: got %s, %v; want Pending", got.Status, err)
	}
	if f.done.calls.Load() != 0 {
		t.Fatal("action ended before the third approval")
	}
	st, _ := f.svc.Check(ctx, a.ID)
	if st.Missing() != 1 || len(st.Votes) != 2 {
		t.Fatalf("got %d votes, %d missing; want 2 and 1", len(st.Votes), st.Missing())
	}
	got, err := decide("carol", core.Approved)
	if err != nil || got.Status != core.ApprovalApproved {
		t.Fatalf("third approval: got %s, %v; want Approved", got.Status, err)
	}
	if got.DecidedBy != "alice, bob, carol" || f.done.last.Status != core.ActionSucceeded || !strings.Contains(f.done.last.Summary, "alice, bob, carol") {
		t.Errorf("got decided by %q, result %+v; want all three approvers", got.DecidedBy, f.done.last)
	}
	// Vote records never stand for the approval.
	if _, err := f.svc.Decide(ctx, Decision{ID: voteID(a.ID, 1), Status: core.Approved, By: "dave"}); !errors.Is(err, core.ErrNotFound) {
		t.Errorf("deciding a vote record: got %v, want ErrNotFound", err)
	}

	t.Run("one rejection rejects", func(t *testing.T) {
		f := newFixture(t)
		a := f.request(t, map[string]string{ConfigApprovalsRequired: "2"}, core.Trigger{})
		if _, err := f.svc.Decide(ctx, Decision{ID: a.ID, Status: core.Approved, By: "alice"}); err != nil {
			t.Fatal(err)
		}
		got, err := f.svc.Decide(ctx, Decision{ID: a.ID, Status: core.Rejected, By: "bob", Comment: "not today"})
		if err != nil || got.Status != core.ApprovalRejected || got.DecidedBy != "bob" || f.done.last.Status != core.ActionFailed || !strings.Contains(f.done.last.Summary, "not today") {
			t.Fatalf("got %+v, %v, result %+v; want Rejected by bob with the comment", got, err, f.done.last)
		}
	})

	t.Run("concurrent approvers", func(t *testing.T) {
		f := newFixture(t)
		a := f.request(t, map[string]string{ConfigApprovalsRequired: "2"}, core.Trigger{})
		var wg sync.WaitGroup
		for i := range 10 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, _ = f.svc.Decide(ctx, Decision{ID: a.ID, Status: core.Approved, By: fmt.Sprintf("u%d", i%5)})
			}()
		}
		wg.Wait()
		got, _ := f.store.GetApproval(ctx, a.ID)
		people := strings.Split(got.DecidedBy, ", ")
		if got.Status != core.ApprovalApproved || len(people) != 2 || people[0] == people[1] || f.done.calls.Load() != 1 {
			t.Fatalf("got %s by %q and %d completions; want Approved by two different people, once", got.Status, got.DecidedBy, f.done.calls.Load())
		}
	})
}

func TestAuthorMayNotApprove(t *testing.T) {
	ctx := context.Background()
	push := core.Trigger{Type: core.TriggerWebhookV2, Detail: `{"provider":"GitHub","delivery":"d","event":"push","repository":"o/r","ref":"refs/heads/main","commit":"c0ffee","author":"alice"}`}
	for _, tc := range []struct {
		name    string
		cfg     map[string]string
		trigger core.Trigger
		by      string
		status  core.ApprovalDecision
		allowed bool
	}{
		{"off by default", nil, push, "alice", core.Approved, true},
		{"push author", map[string]string{ConfigForbidAuthorApproval: "true"}, push, "alice", core.Approved, false},
		{"push author by e-mail", map[string]string{ConfigForbidAuthorApproval: "true"}, push, "Alice@Example.com", core.Approved, false},
		{"author may reject", map[string]string{ConfigForbidAuthorApproval: "true"}, push, "alice", core.Rejected, true},
		{"someone else", map[string]string{ConfigForbidAuthorApproval: "true"}, push, "bob@example.com", core.Approved, true},
		{"declared author", map[string]string{ConfigForbidAuthorApproval: "true", ConfigRevisionAuthor: "carol@example.com, dan"}, core.Trigger{}, "carol@example.com", core.Approved, false},
		{"anonymous", map[string]string{ConfigForbidAuthorApproval: "true"}, push, "", core.Approved, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			a := f.request(t, tc.cfg, tc.trigger)
			_, err := f.svc.Decide(ctx, Decision{ID: a.ID, Status: tc.status, By: tc.by})
			if tc.allowed && err != nil || !tc.allowed && !errors.Is(err, ErrNotAllowed) {
				t.Fatalf("got %v, want allowed=%v", err, tc.allowed)
			}
			if !tc.allowed && f.done.calls.Load() != 0 {
				t.Error("a refused decision ended the action")
			}
		})
	}
}

func TestBadPolicyFailsTheAction(t *testing.T) {
	f := newFixture(t)
	for _, cfg := range []map[string]string{{ConfigApprovalsRequired: "0"}, {ConfigApprovalsRequired: "11"}, {ConfigForbidAuthorApproval: "yes"}} {
		res, err := f.svc.Run(context.Background(), action.Job{Record: core.ActionExecution{ID: core.NewID(), PipelineName: "p", Configuration: cfg}})
		if err != nil || res.Status != core.ActionFailed || res.Error.Code != "ConfigurationError" {
			t.Errorf("%v: got %+v, %v; want a ConfigurationError", cfg, res, err)
		}
	}
	noStore := New(Deps{Approvals: f.store})
	res, _ := noStore.Run(context.Background(), action.Job{Record: core.ActionExecution{ID: core.NewID(), PipelineName: "p", Configuration: map[string]string{ConfigApprovalsRequired: "2"}}})
	if res.Status != core.ActionFailed {
		t.Errorf("a runtime that cannot enforce the policy: got %+v, want Failed", res)
	}
}

func TestRequestNotifiesEachApproverWithTheirLinks(t *testing.T) {
	f := newFixture(t, "alice@example.com", "bob@example.com", " Alice@example.com")
	a := f.request(t, map[string]string{"CustomData": `<script>alert("x")</script> & ship?`, "ExternalEntityLink": "javascript:alert(1)"}, core.Trigger{})
	if len(f.sent) != 2 {
		t.Fatalf("got %d notifications, want one per approver", len(f.sent))
	}
	for i, to := range []string{"alice@example.com", "bob@example.com"} {
		n := f.sent[i]
		if n.Attrs[AttrRecipient] != to || n.Attrs["approvalId"] != a.ID {
			t.Errorf("notification %d: attributes %v, want recipient %s", i, n.Attrs, to)
		}
		for _, page := range []string{PageApprove, PageReject} {
			u := f.links.URL(Link{ApprovalID: a.ID, Page: page, Recipient: to, Expires: a.ExpiresAt})
			if !strings.Contains(n.Text, u) {
				t.Errorf("text for %s lacks its %s link %s:\n%s", to, page, u, n.Text)
			}
			if !strings.Contains(n.HTML, strings.ReplaceAll(u, "&", "&amp;")) {
				t.Errorf("HTML for %s lacks its %s link", to, page)
			}
		}
		for _, want := range []string{"c0ffee", "Fix <b>it</b>", "https://git.example.com/c0ffee", "Approve", a.StageName} {
			if !strings.Contains(n.Text, want) {
				t.Errorf("text lacks %q", want)
			}
		}
		for _, bad := range []string{"<script>", "<b>it", `href="javascript:`} {
			if strings.Contains(n.HTML, bad) {
				t.Errorf("HTML holds %q unescaped:\n%s", bad, n.HTML)
			}
		}
		if a.TaskToken != "" && strings.Contains(n.Text+n.HTML, a.TaskToken) {
			t.Error("the task token is in the message")
		}
	}
}

// The pipeline registry must accept the keys this package reads.
func TestRegistryKnowsPolicyKeys(t *testing.T) {
	p, ok := pipeline.LookupProvider(pipeline.ActionTypeID{Category: "Approval", Owner: "AWS", Provider: "Manual", Version: "1"})
	if !ok {
		t.Fatal("no Manual provider")
	}
	for _, k := range []string{ConfigApprovalsRequired, ConfigForbidAuthorApproval, ConfigRevisionAuthor} {
		found := false
		for _, o := range p.Optional {
			found = found || o == k
		}
		if !found {
			t.Errorf("the registry does not list %s for Manual approvals", k)
		}
	}
}

func TestNotificationArnGetsNoPersonalLinks(t *testing.T) {
	topic := "arn:aws:sns:us-east-1:123456789012:team"
	f := newFixture(t, "alice@example.com")
	f.request(t, map[string]string{"NotificationArn": topic}, core.Trigger{})
	if len(f.sent) != 2 {
		t.Fatalf("got %d notifications, want one to the topic and one to alice", len(f.sent))
	}
	toTopic, toAlice := f.sent[0], f.sent[1]
	if toTopic.Topic != topic || toTopic.Attrs[AttrRecipient] != "" || strings.Contains(toTopic.Text, "/approvals/") || strings.Contains(toTopic.HTML, "/approvals/") {
		t.Errorf("the declared topic's notification %+v: want it without recipient or links", toTopic)
	}
	if toAlice.Topic != "" || toAlice.Attrs[AttrRecipient] != "alice@example.com" || !strings.Contains(toAlice.Text, "/approvals/") {
		t.Errorf("alice's notification %+v: want her links on the runtime's own destination", toAlice)
	}

	noApprovers := newFixture(t)
	noApprovers.request(t, map[string]string{"NotificationArn": topic}, core.Trigger{})
	if len(noApprovers.sent) != 1 || noApprovers.sent[0].Topic != topic {
		t.Errorf("without approvers: got %+v, want one notification to the topic", noApprovers.sent)
	}
}
