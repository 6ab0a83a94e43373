// Package approval runs Manual approval actions: it records a pending approval when the
// action starts, tells people through the notifier, and ends the action when someone
// approves or rejects it (PutApprovalResult, `relais approve|reject`) — exactly once.
// The engine's callback token never leaves the server: deciding goes through the action
// service, which holds it.
package approval

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/relais-ci/relais/shared/action"
	"github.com/relais-ci/relais/shared/core"
)

// DefaultTimeout is CodePipeline's: an approval not decided in 7 days fails.
const DefaultTimeout = 7 * 24 * time.Hour

// Completer ends an action that went on elsewhere (the action service).
type Completer interface {
	Complete(ctx context.Context, pipeline, actionExecutionID string, res action.Result) error
}

// Deps are what the service works over.
type Deps struct {
	Approvals core.ApprovalStore
	Notifier  core.Notifier
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
	return &Service{d: d}
}

var _ action.Provider = (*Service)(nil)

// Run starts a Manual approval action: it records the pending approval (its id is the
// action execution's, so a repeated task finds it instead of asking twice) and notifies.
func (s *Service) Run(ctx context.Context, job action.Job) (action.Result, error) {
	now := s.d.Clock.Now()
	timeout := DefaultTimeout
	if job.Declared.TimeoutInMinutes > 0 {
		timeout = time.Duration(job.Declared.TimeoutInMinutes) * time.Minute
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
		case core.ApprovalApproved:
			return action.Result{Status: core.ActionSucceeded, Summary: summary("Approved", a)}, nil
		case core.ApprovalRejected:
			return action.Result{Status: core.ActionFailed, Summary: summary("Rejected", a),
				Error: &core.ErrorDetails{Code: "ApprovalRejected", Message: summary("Rejected", a)}}, nil
		}
	case err != nil:
		return action.Result{}, fmt.Errorf("request approval %s: %w", a.ID, err)
	default:
		s.notify(ctx, a, job.Record.Configuration["NotificationArn"])
	}
	return action.Result{Status: core.ActionInProgress, ExternalID: "approval:" + a.ID, Summary: "Waiting for approval until " + a.ExpiresAt.Format(time.RFC3339)}, nil
}

func (s *Service) notify(ctx context.Context, a core.Approval, topic string) {
	if s.d.Notifier == nil {
		return
	}
	var b strings.Builder
	fmt.Fprintf(&b, "Pipeline %s is waiting for approval at %s / %s.\n", a.PipelineName, a.StageName, a.ActionName)
	fmt.Fprintf(&b, "Execution: %s\n", a.ExecutionID)
	if a.Revision != nil {
		fmt.Fprintf(&b, "Revision: %s %s\n", a.Revision.RevisionID, a.Revision.RevisionSummary)
		if a.Revision.RevisionURL != "" {
			fmt.Fprintf(&b, "  %s\n", a.Revision.RevisionURL)
		}
	}
	if a.CustomData != "" {
		fmt.Fprintf(&b, "Comments: %s\n", a.CustomData)
	}
	if a.ExternalEntityLink != "" {
		fmt.Fprintf(&b, "Review: %s\n", a.ExternalEntityLink)
	}
	fmt.Fprintf(&b, "Decide before %s:\n  relais approve %s %s %s\n  relais reject %s %s %s --comment WHY\n",
		a.ExpiresAt.Format(time.RFC3339), a.PipelineName, a.StageName, a.ActionName, a.PipelineName, a.StageName, a.ActionName)
	n := core.Notification{
		Kind: core.NotifyApprovalRequested, PipelineName: a.PipelineName, ExecutionID: a.ExecutionID,
		StageName: a.StageName, ActionName: a.ActionName, Topic: topic,
		Subject: fmt.Sprintf("APPROVAL NEEDED: %s / %s / %s", a.PipelineName, a.StageName, a.ActionName),
		Text:    b.String(),
		Attrs:   map[string]string{"approvalId": a.ID},
	}
	if err := s.d.Notifier.Notify(ctx, n); err != nil {
		s.d.Logger.WarnContext(ctx, "notify approval", "pipeline", a.PipelineName, "execution_id", a.ExecutionID, "stage", a.StageName, "action", a.ActionName, "err", err)
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
	By       string
	Comment  string
}

// Decide records a decision and ends the approval action: Approved succeeds it,
// Rejected fails it with the comment. A decision on an approval already decided,
// expired or superseded is ErrConflict and changes nothing.
func (s *Service) Decide(ctx context.Context, d Decision) (core.Approval, error) {
	if !d.Status.Valid() {
		return core.Approval{}, fmt.Errorf("decide approval: status %q: %w", d.Status, core.ErrInvalid)
	}
	a, err := s.find(ctx, d)
	if err != nil {
		return core.Approval{}, err
	}
	now := s.d.Clock.Now()
	if a.Status == core.ApprovalPending && now.After(a.ExpiresAt) {
		a.Status, a.DecidedAt = core.ApprovalExpired, now
		_ = s.d.Approvals.DecideApproval(ctx, a)
		return a, fmt.Errorf("approval %s expired at %s: %w", a.ID, a.ExpiresAt.Format(time.RFC3339), core.ErrConflict)
	}
	a.Status = core.ApprovalStatus(d.Status)
	a.DecidedBy, a.Comment, a.DecidedAt = d.By, d.Comment, now
	if err := s.d.Approvals.DecideApproval(ctx, a); err != nil {
		if errors.Is(err, core.ErrConflict) {
			cur, _ := s.d.Approvals.GetApproval(ctx, a.ID)
			return cur, fmt.Errorf("approval %s was already decided (%s): %w", a.ID, cur.Status, core.ErrConflict)
		}
		return core.Approval{}, fmt.Errorf("decide approval %s: %w", a.ID, err)
	}
	s.d.Logger.InfoContext(ctx, "approval decided", "pipeline", a.PipelineName, "execution_id", a.ExecutionID,
		"stage", a.StageName, "action", a.ActionName, "status", a.Status, "by", a.DecidedBy)
	res := action.Result{Status: core.ActionSucceeded, Summary: summary("Approved", a)}
	if a.Status == core.ApprovalRejected {
		res = action.Result{Status: core.ActionFailed, Summary: summary("Rejected", a),
			Error: &core.ErrorDetails{Code: "ApprovalRejected", Message: summary("Rejected", a)}}
	}
	if s.Completer == nil {
		return a, fmt.Errorf("decide approval %s: no completer wired", a.ID)
	}
	if err := s.Completer.Complete(ctx, a.PipelineName, a.ActionExecutionID, res); err != nil {
		return a, fmt.Errorf("end approval action %s: %w", a.ActionExecutionID, err)
	}
	return a, nil
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

func (s *Service) find(ctx context.Context, d Decision) (core.Approval, error) {
	if d.ID != "" {
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
		if a.StageName == d.Stage && a.ActionName == d.Action && (found == nil || a.RequestedAt.After(found.RequestedAt)) {
			found = &pending[i]
		}
	}
	if found == nil {
		return core.Approval{}, fmt.Errorf("no pending approval at %s/%s/%s: %w", d.Pipeline, d.Stage, d.Action, core.ErrNotFound)
	}
	return *found, nil
}
