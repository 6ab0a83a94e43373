// Package approval runs Manual approval actions: it records a pending approval when the
// action starts, tells people through the notifier (with signed approve/reject links, one
// pair per approver, when links are configured), and ends the action when someone
// approves or rejects it — by link (package web), PutApprovalResult or `relais
// approve|reject`, all through Service.Decide — exactly once.
//
// The engine's callback token never leaves the server: deciding goes through the action
// service, which holds it. Links carry only the approval id, the page, the recipient and
// an expiry, signed with HMAC-SHA256 (see Links).
package approval

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/relais-ci/relais/shared/action"
	"github.com/relais-ci/relais/shared/core"
)

// DefaultTimeout is CodePipeline's: an approval not decided in 7 days fails.
const DefaultTimeout = 7 * 24 * time.Hour

// AttrRecipient is the Notification attribute naming the one person a notification is
// for (its links are theirs); notifiers send such a notification to that address only.
const AttrRecipient = "recipient"

// MaxComment is the longest comment kept (CodePipeline's summary limit).
const MaxComment = 512

// Completer ends an action that went on elsewhere (the action service).
type Completer interface {
	Complete(ctx context.Context, pipeline, actionExecutionID string, res action.Result) error
}

// Deps are what the service works over.
type Deps struct {
	Approvals core.ApprovalStore
	// Actions, when set, tell whether an approval's action still waits (a timed-out or
	// abandoned one does not: its approval becomes Expired or Superseded) and hold the
	// resolved configuration its policy comes from. Without it only CodePipeline's
	// behaviour is available: an action asking for a Relais policy fails.
	Actions core.ActionStore
	// Executions, when set, give the trigger whose author a policy may exclude.
	Executions core.ExecutionStore
	Notifier   core.Notifier
	// Links, when set, signs the approve/reject links put in notifications.
	Links *Links
	// Approvers receive one notification each, with links of their own. Without
	// approvers one notification goes to the notifier's default destination, without
	// links.
	Approvers []string
	Clock     core.Clock
	Logger    *slog.Logger
}

// Service runs manual approvals. Set its Completer (the action service, which is built
// with this service among its providers) before the first decision.
type Service struct {
	d         Deps
	Completer Completer
}

// New returns an approval service over d.
func New(d Deps) *Service {
	if d.Clock == nil {
		d.Clock = core.SystemClock
	}
	if d.Logger == nil {
		d.Logger = slog.Default()
	}
	// One request per person, however often they are listed.
	var approvers []string
	seen := map[string]bool{}
	for _, a := range d.Approvers {
		if a = strings.TrimSpace(a); a != "" && !seen[strings.ToLower(a)] {
			seen[strings.ToLower(a)] = true
			approvers = append(approvers, a)
		}
	}
	d.Approvers = approvers
	return &Service{d: d}
}

// Links returns the link signer, nil when links are off.
func (s *Service) Links() *Links { return s.d.Links }

var _ action.Provider = (*Service)(nil)

// Run starts a Manual approval action: it records the pending approval (its id is the
// action execution's, so a repeated task finds it instead of asking twice) and notifies.
func (s *Service) Run(ctx context.Context, job action.Job) (action.Result, error) {
	now := s.d.Clock.Now()
	timeout := DefaultTimeout
	if job.Declared.TimeoutInMinutes > 0 {
		timeout = time.Duration(job.Declared.TimeoutInMinutes) * time.Minute
	}
	pol, err := policyOf(job.Record.Configuration, job.Execution.Trigger)
	if err != nil {
		return action.Failed("ConfigurationError", err), nil
	}
	if pol.configured() && s.d.Actions == nil {
		return action.Failed("ConfigurationError", fmt.Errorf("this runtime cannot enforce %s or %s", ConfigApprovalsRequired, ConfigForbidAuthorApproval)), nil
	}
	a := core.Approval{
		ID: job.Record.ID, PipelineName: job.Record.PipelineName, ExecutionID: job.Record.ExecutionID,
		StageName: job.Stage, ActionName: job.Record.ActionName, ActionExecutionID: job.Record.ID,
		Status:             core.ApprovalPending,
		CustomData:         job.Record.Configuration["CustomData"],
		ExternalEntityLink: job.Record.Configuration["ExternalEntityLink"],
		RequestedAt:        now, ExpiresAt: now.Add(timeout),
	}
	if len(job.Execution.SourceRevisions) > 0 {
		rev := job.Execution.SourceRevisions[0]
		a.Revision = &rev
	}
	switch err := s.d.Approvals.CreateApproval(ctx, a); {
	case errors.Is(err, core.ErrConflict):
		existing, gerr := s.d.Approvals.GetApproval(ctx, a.ID)
		if gerr != nil {
			return action.Result{}, fmt.Errorf("request approval %s: %w", a.ID, gerr)
		}
		a = existing
		// Decided while the task was being delivered again (a crash between the decision
		// and the answer): the decision stands.
		switch a.Status {
		case core.ApprovalApproved, core.ApprovalRejected:
			return result(a), nil
		}
	case err != nil:
		return action.Result{}, fmt.Errorf("request approval %s: %w", a.ID, err)
	default:
		s.notify(ctx, a, pol, job.Record.Configuration["NotificationArn"])
	}
	waiting := "Waiting for approval"
	if pol.Required > 1 {
		waiting = fmt.Sprintf("Waiting for %d approvals", pol.Required)
	}
	return action.Result{Status: core.ActionInProgress, ExternalID: "approval:" + a.ID, Summary: waiting + " until " + a.ExpiresAt.Format(time.RFC3339)}, nil
}

// result is how the action ends for a decided approval.
func result(a core.Approval) action.Result {
	if a.Status == core.ApprovalRejected {
		return action.Result{Status: core.ActionFailed, Summary: summary("Rejected", a),
			Error: &core.ErrorDetails{Code: "ApprovalRejected", Message: summary("Rejected", a)}}
	}
	return action.Result{Status: core.ActionSucceeded, Summary: summary("Approved", a)}
}

// notify sends the request: one notification per approver with their own links, to the
// runtime's own destination (whose delivery honours the recipient attribute: SMTP to that
// address, SNS subscriptions filtered on it); and one without links to the action's
// NotificationArn when it names one, or when there are no approvers or no links.
// Personal links never go to a topic the declaration names: its subscribers would all
// receive everyone's links. Failures are logged: notifying never fails the action.
func (s *Service) notify(ctx context.Context, a core.Approval, pol Policy, topic string) {
	if s.d.Notifier == nil {
		return
	}
	type dest struct{ to, topic string }
	var dests []dest
	personal := len(s.d.Approvers) > 0 && s.d.Links != nil
	if topic != "" || !personal {
		dests = append(dests, dest{"", topic})
	}
	if personal {
		for _, to := range s.d.Approvers {
			dests = append(dests, dest{to, ""})
		}
	}
	for _, d := range dests {
		n, err := s.message(a, pol, d.topic, d.to)
		if err == nil {
			err = s.d.Notifier.Notify(ctx, n)
		}
		if err != nil {
			s.d.Logger.WarnContext(ctx, "notify approval", "pipeline", a.PipelineName, "execution_id", a.ExecutionID,
				"stage", a.StageName, "action", a.ActionName, "recipient", d.to, "err", err)
		}
	}
}

// Decision is an answer to a pending approval, found by ID or else by pipeline, stage
// and action (the pending one of the newest execution there).
type Decision struct {
	ID       string
	Pipeline string
	Stage    string
	Action   string
	Status   core.ApprovalDecision
	// By is who decides: a link's recipient, the API caller.
	By      string
	Comment string
}

// Decide records a decision and ends the approval action: Approved succeeds it,
// Rejected fails it with the comment. A decision on an approval already decided, expired
// (its timeout passed) or superseded (its action no longer waits: the execution was
// stopped) is ErrConflict and changes nothing; of concurrent decisions exactly one
// decides. A decision the approval's policy refuses is ErrNotAllowed. When the policy
// requires several approvals, an approval that is not the last is recorded and Decide
// returns the approval still Pending.
func (s *Service) Decide(ctx context.Context, d Decision) (core.Approval, error) {
	if !d.Status.Valid() {
		return core.Approval{}, fmt.Errorf("decide approval: status %q: %w", d.Status, core.ErrInvalid)
	}
	a, err := s.find(ctx, d)
	if err != nil {
		return core.Approval{}, err
	}
	st, err := s.state(ctx, a)
	if err != nil {
		return core.Approval{}, err
	}
	a = st.Approval
	if !st.Pending() {
		return a, fmt.Errorf("%s: %w", notPendingReason(a), core.ErrConflict)
	}
	who := strings.TrimSpace(d.By)
	if d.Status == core.Approved {
		if err := st.MayApprove(who); err != nil {
			return a, err
		}
	} else if st.Voted(who) {
		return a, fmt.Errorf("%s has already approved %s: %w", who, a.ID, errNotAllowed)
	}
	comment := clip(strings.TrimSpace(d.Comment), MaxComment)
	now := s.d.Clock.Now()
	approvers := []string{who}
	var comments []string
	if d.Status == core.Approved && st.Policy.Required > 1 {
		var done bool
		approvers, comments, done, err = s.vote(ctx, st, who, comment)
		if err != nil || !done {
			return a, err
		}
	}
	if comment != "" {
		if len(comments) > 0 {
			comment = who + ": " + comment
		}
		comments = append(comments, comment)
	}
	a.Status = core.ApprovalStatus(d.Status)
	a.DecidedBy = strings.Join(approvers, ", ")
	a.Comment, a.DecidedAt = clip(strings.Join(comments, "; "), MaxComment), now
	if err := s.d.Approvals.DecideApproval(ctx, a); err != nil {
		if errors.Is(err, core.ErrConflict) {
			cur, _ := s.d.Approvals.GetApproval(ctx, a.ID)
			return cur, fmt.Errorf("approval %s was already decided (%s): %w", a.ID, cur.Status, core.ErrConflict)
		}
		return core.Approval{}, fmt.Errorf("decide approval %s: %w", a.ID, err)
	}
	s.d.Logger.InfoContext(ctx, "approval decided", "pipeline", a.PipelineName, "execution_id", a.ExecutionID,
		"stage", a.StageName, "action", a.ActionName, "status", a.Status, "by", a.DecidedBy)
	if s.Completer == nil {
		return a, fmt.Errorf("decide approval %s: no completer wired", a.ID)
	}
	if err := s.Completer.Complete(ctx, a.PipelineName, a.ActionExecutionID, result(a)); err != nil {
		return a, fmt.Errorf("end approval action %s: %w", a.ActionExecutionID, err)
	}
	return a, nil
}

// vote records who's approval toward a policy of several. Votes are approval records of
// their own, "<id>.vote<k>" for k < Required, created by the voter (creation is the
// store's compare-and-set: of two voters racing for a slot one gets the next); the
// voter who finds every slot taken by others takes the final decision. done reports
// that; approvers and comments are then everyone's.
func (s *Service) vote(ctx context.Context, st State, who, comment string) (approvers, comments []string, done bool, err error) {
	a := st.Approval
	for k := 1; k < st.Policy.Required; k++ {
		v := core.Approval{
			ID: voteID(a.ID, k), PipelineName: a.PipelineName, ExecutionID: a.ExecutionID,
			StageName: a.StageName, ActionName: a.ActionName, Status: core.ApprovalPending,
			DecidedBy: who, Comment: comment, RequestedAt: s.d.Clock.Now(), ExpiresAt: a.ExpiresAt,
		}
		switch cerr := s.d.Approvals.CreateApproval(ctx, v); {
		case cerr == nil:
			v.Status, v.DecidedAt = core.ApprovalApproved, s.d.Clock.Now()
			if derr := s.d.Approvals.DecideApproval(ctx, v); derr != nil {
				// The vote counts from its creation; the record stays Pending.
				s.d.Logger.WarnContext(ctx, "record approval vote", "pipeline", a.PipelineName, "execution_id", a.ExecutionID, "err", derr)
			}
			s.d.Logger.InfoContext(ctx, "approval vote", "pipeline", a.PipelineName, "execution_id", a.ExecutionID,
				"stage", a.StageName, "action", a.ActionName, "by", who, "votes", k, "required", st.Policy.Required)
			return nil, nil, false, nil
		case !errors.Is(cerr, core.ErrConflict):
			return nil, nil, false, fmt.Errorf("record approval of %s by %s: %w", a.ID, who, cerr)
		}
		taken, gerr := s.d.Approvals.GetApproval(ctx, v.ID)
		if gerr != nil {
			return nil, nil, false, fmt.Errorf("record approval of %s by %s: %w", a.ID, who, gerr)
		}
		if strings.EqualFold(taken.DecidedBy, who) {
			return nil, nil, false, fmt.Errorf("%s has already approved %s: %w", who, a.ID, errNotAllowed)
		}
		approvers = append(approvers, taken.DecidedBy)
		if taken.Comment != "" {
			comments = append(comments, taken.DecidedBy+": "+taken.Comment)
		}
	}
	return append(approvers, who), comments, true, nil
}

func voteID(id string, k int) string { return id + ".vote" + strconv.Itoa(k) }

func isVote(id string) bool { return strings.Contains(id, ".vote") }

// Check returns the approval with id as a decision-maker sees it. An approval whose
// timeout has passed, or whose action no longer waits, is recorded Expired or
// Superseded on the way. ErrNotFound when there is no such approval.
func (s *Service) Check(ctx context.Context, id string) (State, error) {
	if isVote(id) {
		return State{}, fmt.Errorf("find approval %s: %w", id, core.ErrNotFound)
	}
	a, err := s.d.Approvals.GetApproval(ctx, id)
	if err != nil {
		return State{}, fmt.Errorf("find approval %s: %w", id, err)
	}
	return s.state(ctx, a)
}

func (s *Service) state(ctx context.Context, a core.Approval) (State, error) {
	st := State{Approval: a, Policy: Policy{Required: 1}}
	var rec *core.ActionExecution
	if s.d.Actions != nil {
		r, err := s.d.Actions.GetAction(ctx, a.PipelineName, a.ActionExecutionID)
		switch {
		case err == nil:
			rec = &r
		case !errors.Is(err, core.ErrNotFound):
			return st, fmt.Errorf("find action of approval %s: %w", a.ID, err)
		}
	}
	if a.Status == core.ApprovalPending {
		now := s.d.Clock.Now()
		switch {
		case !now.Before(a.ExpiresAt), rec != nil && rec.Status.Terminal() && rec.Error != nil && rec.Error.Code == "TimeoutError":
			st.Approval = s.settle(ctx, a, core.ApprovalExpired, now)
		case rec != nil && rec.Status.Terminal():
			st.Approval = s.settle(ctx, a, core.ApprovalSuperseded, now)
		}
	}
	if rec != nil {
		var trigger core.Trigger
		if s.d.Executions != nil {
			if x, err := s.d.Executions.GetExecution(ctx, a.PipelineName, a.ExecutionID); err == nil {
				trigger = x.Trigger
			}
		}
		pol, err := policyOf(rec.Configuration, trigger)
		if err != nil {
			return st, fmt.Errorf("policy of approval %s: %w", a.ID, err)
		}
		st.Policy = pol
	}
	for k := 1; k < st.Policy.Required; k++ {
		v, err := s.d.Approvals.GetApproval(ctx, voteID(a.ID, k))
		if errors.Is(err, core.ErrNotFound) {
			break
		}
		if err != nil {
			return st, fmt.Errorf("find approvals of %s: %w", a.ID, err)
		}
		st.Votes = append(st.Votes, v)
	}
	return st, nil
}

// settle records that a pending approval ended without a decision and returns it as
// stored (another decision may have won meanwhile).
func (s *Service) settle(ctx context.Context, a core.Approval, status core.ApprovalStatus, now time.Time) core.Approval {
	a.Status, a.DecidedAt = status, now
	if err := s.d.Approvals.DecideApproval(ctx, a); err != nil {
		if cur, gerr := s.d.Approvals.GetApproval(ctx, a.ID); gerr == nil {
			return cur
		}
	}
	return a
}

// notPendingReason says why an approval takes no decision.
func notPendingReason(a core.Approval) string {
	switch a.Status {
	case core.ApprovalExpired:
		return fmt.Sprintf("approval %s expired at %s", a.ID, a.ExpiresAt.Format(time.RFC3339))
	case core.ApprovalSuperseded:
		return fmt.Sprintf("approval %s no longer waits: its action ended without it", a.ID)
	}
	return fmt.Sprintf("approval %s was already decided (%s by %s)", a.ID, a.Status, a.DecidedBy)
}

func summary(verb string, a core.Approval) string {
	s := verb
	if a.DecidedBy != "" {
		s += " by " + a.DecidedBy
	}
	if a.Comment != "" {
		s += ": " + a.Comment
	}
	return s
}

func clip(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}

func (s *Service) find(ctx context.Context, d Decision) (core.Approval, error) {
	if d.ID != "" {
		if isVote(d.ID) {
			return core.Approval{}, fmt.Errorf("find approval %s: %w", d.ID, core.ErrNotFound)
		}
		a, err := s.d.Approvals.GetApproval(ctx, d.ID)
		if err != nil {
			return core.Approval{}, fmt.Errorf("find approval %s: %w", d.ID, err)
		}
		return a, nil
	}
	pending, err := s.d.Approvals.PendingApprovals(ctx, d.Pipeline, "")
	if err != nil {
		return core.Approval{}, fmt.Errorf("find approval of %s/%s/%s: %w", d.Pipeline, d.Stage, d.Action, err)
	}
	var found *core.Approval
	for i, a := range pending {
		if isVote(a.ID) {
			continue
		}
		if a.StageName == d.Stage && a.ActionName == d.Action && (found == nil || a.RequestedAt.After(found.RequestedAt)) {
			found = &pending[i]
		}
	}
	if found == nil {
		return core.Approval{}, fmt.Errorf("no pending approval at %s/%s/%s: %w", d.Pipeline, d.Stage, d.Action, core.ErrNotFound)
	}
	return *found, nil
}
