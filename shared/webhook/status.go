package webhook

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/relais-ci/relais/shared/core"
)

// StatusPoster posts commit statuses; *GitHub is one.
type StatusPoster interface {
	PostStatus(ctx context.Context, repo, sha string, st CommitStatus) error
}

// ReporterDeps are what a Reporter works over.
type ReporterDeps struct {
	// GitHub receives the statuses.
	GitHub StatusPoster
	// Executions is read by Poll to follow tracked executions (optional when the
	// runtime calls Report itself).
	Executions core.ExecutionStore
	// BaseURL is where people see executions: a status links to
	// BaseURL/pipelines/<pipeline>/executions/<id> ("" for no link).
	BaseURL string
	// Attempts is how many times a post is tried (default 3), waiting Backoff (default
	// 1 s), then twice as long, between attempts.
	Attempts int
	Backoff  time.Duration
	Logger   *slog.Logger
}

// Reporter posts a commit status for each execution a GitHub delivery started —
// context relais/<pipeline>, pending while it runs, then success or failure — on the
// commit its trigger names. A failure to post is retried, then logged: it never fails
// the pipeline.
//
// Three ways to drive it, usable together:
//
//   - Report(ctx, e) whenever an execution's status changes (e.g. from the gate when an
//     execution ends). Reporting a status already posted for the execution does nothing.
//   - Notify(ctx, n), as a core.Notifier, with the ExecutionEnded notifications the
//     runtime sends (it reads the execution and reports it).
//   - Track(e) when an execution starts (Deps.OnStart of the Service), and Run(ctx,
//     every) in a goroutine: it reads each tracked execution every interval and reports
//     its changes, and forgets it once it has ended. Tracking lives in memory: after a
//     restart, executions still running are not followed (their last status stays).
//
// A Reporter is safe for concurrent use.
type Reporter struct {
	d ReporterDeps

	// stripes serialize the posts of one execution, so that GitHub receives its states
	// in order.
	stripes [64]sync.Mutex

	mu      sync.Mutex
	posted  map[string]posted // pipeline/id → what was last posted
	tracked map[string]core.Execution
}

// posted is the state last posted for an execution, and the execution's update time
// then: an older snapshot of the execution is never posted after a newer one.
type posted struct {
	state string
	at    time.Time
}

// NewReporter returns a Reporter over d.
func NewReporter(d ReporterDeps) *Reporter {
	if d.Attempts <= 0 {
		d.Attempts = 3
	}
	if d.Backoff <= 0 {
		d.Backoff = time.Second
	}
	if d.Logger == nil {
		d.Logger = slog.Default()
	}
	d.BaseURL = strings.TrimRight(d.BaseURL, "/")
	return &Reporter{d: d, posted: map[string]posted{}, tracked: map[string]core.Execution{}}
}

// maxRemembered bounds the memory of statuses posted.
const maxRemembered = 100_000

// Commit status states.
const (
	StatePending = "pending"
	StateSuccess = "success"
	StateFailure = "failure"
	StateError   = "error"
)

// state maps an execution status to a commit status state and description.
func state(e core.Execution) (string, string) {
	switch e.Status {
	case core.ExecutionSucceeded:
		return StateSuccess, "succeeded"
	case core.ExecutionFailed:
		return StateFailure, "failed"
	case core.ExecutionStopped, core.ExecutionCancelled, core.ExecutionSuperseded:
		return StateError, strings.ToLower(string(e.Status))
	case core.ExecutionStopping:
		return StatePending, "stopping"
	}
	return StatePending, "in progress"
}

// TargetURL returns the page of an execution under base.
func TargetURL(base, pipelineName, id string) string {
	if base == "" {
		return ""
	}
	return base + "/pipelines/" + url.PathEscape(pipelineName) + "/executions/" + url.PathEscape(id)
}

// Report posts the status of e on its commit, if a GitHub delivery started e and that
// state was not posted for it already. It returns the last error when every attempt
// failed (already logged; callers may ignore it).
func (r *Reporter) Report(ctx context.Context, e core.Execution) error {
	t, ok := ParseTriggerDetail(e.Trigger)
	if !ok {
		return nil
	}
	st, desc := state(e)
	key := e.PipelineName + "/" + e.ID
	stripe := &r.stripes[fnv32(key)%uint32(len(r.stripes))]
	stripe.Lock()
	defer stripe.Unlock()
	r.mu.Lock()
	prev, seen := r.posted[key]
	r.mu.Unlock()
	if seen && (prev.state == st || e.LastUpdateTime.Before(prev.at)) {
		return nil // posted already, or a stale snapshot
	}

	cs := CommitStatus{
		State: st, TargetURL: TargetURL(r.d.BaseURL, e.PipelineName, e.ID),
		Description: "Relais: execution " + desc,
		Context:     "relais/" + e.PipelineName,
	}
	var err error
	wait := r.d.Backoff
	for attempt := 1; attempt <= r.d.Attempts; attempt++ {
		if err = r.d.GitHub.PostStatus(ctx, t.Repository, t.Commit, cs); err == nil {
			break
		}
		var se *StatusError
		if errors.As(err, &se) && !se.Temporary() || attempt == r.d.Attempts {
			break
		}
		select {
		case <-ctx.Done():
			attempt = r.d.Attempts
		case <-time.After(wait):
			wait *= 2
		}
	}
	if err != nil {
		r.d.Logger.WarnContext(ctx, "webhook: post commit status", "pipeline", e.PipelineName, "execution_id", e.ID,
			"state", st, "err", err)
		return fmt.Errorf("report execution %s: %w", e.ID, err)
	}
	r.mu.Lock()
	if len(r.posted) >= maxRemembered {
		clear(r.posted) // at worst, one status is posted twice
	}
	r.posted[key] = posted{state: st, at: e.LastUpdateTime}
	r.mu.Unlock()
	return nil
}

// fnv32 hashes s (FNV-1a).
func fnv32(s string) uint32 {
	h := uint32(2166136261)
	for i := 0; i < len(s); i++ {
		h ^= uint32(s[i])
		h *= 16777619
	}
	return h
}

var _ core.Notifier = (*Reporter)(nil)

// Notify lets a Reporter sit among the runtime's notifiers: an ExecutionEnded
// notification reports the final status of its execution (read from Executions);
// other notifications are ignored. A failure to post is logged, not returned: it must
// not fail the notifier chain.
func (r *Reporter) Notify(ctx context.Context, n core.Notification) error {
	if n.Kind != core.NotifyExecutionEnded || r.d.Executions == nil || n.ExecutionID == "" {
		return nil
	}
	e, err := r.d.Executions.GetExecution(ctx, n.PipelineName, n.ExecutionID)
	if err != nil {
		return fmt.Errorf("report execution %s: %w", n.ExecutionID, err)
	}
	_ = r.Report(ctx, e) // logged
	r.forget(e)
	return nil
}

// Track adds an execution to those Poll follows. It does no I/O.
func (r *Reporter) Track(_ context.Context, e core.Execution) {
	if _, ok := ParseTriggerDetail(e.Trigger); !ok {
		return
	}
	r.mu.Lock()
	r.tracked[e.PipelineName+"/"+e.ID] = core.Execution{PipelineName: e.PipelineName, ID: e.ID}
	r.mu.Unlock()
}

// Tracked returns how many executions Poll follows.
func (r *Reporter) Tracked() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.tracked)
}

// Poll reads every tracked execution once and reports those whose status changed; an
// execution that ended is forgotten once its final status is posted (or could not be,
// after its attempts).
func (r *Reporter) Poll(ctx context.Context) {
	r.mu.Lock()
	keys := make([]core.Execution, 0, len(r.tracked))
	for _, e := range r.tracked {
		keys = append(keys, e)
	}
	r.mu.Unlock()
	var wg sync.WaitGroup
	sem := make(chan struct{}, 4) // a slow GitHub delays a few reports, not all
	for _, k := range keys {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			e, err := r.d.Executions.GetExecution(ctx, k.PipelineName, k.ID)
			switch {
			case errors.Is(err, core.ErrNotFound):
				r.forget(k)
			case err != nil:
				r.d.Logger.WarnContext(ctx, "webhook: read tracked execution", "pipeline", k.PipelineName, "execution_id", k.ID, "err", err)
			default:
				_ = r.Report(ctx, e) // logged
				if e.Status.Terminal() {
					r.forget(k)
				}
			}
		}()
	}
	wg.Wait()
}

func (r *Reporter) forget(e core.Execution) {
	r.mu.Lock()
	delete(r.tracked, e.PipelineName+"/"+e.ID)
	r.mu.Unlock()
}

// Run polls every interval until ctx ends.
func (r *Reporter) Run(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			r.Poll(ctx)
		}
	}
}
