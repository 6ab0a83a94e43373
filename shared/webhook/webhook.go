// Package webhook turns GitHub deliveries into pipeline executions: it verifies a
// delivery's signature before reading it, reads push, pull_request and ping events,
// finds the installed pipelines whose source actions and triggers the event selects,
// starts one execution for each — exactly once per delivery — and reports executions
// back to GitHub as commit statuses.
//
// The intake is transport-neutral: a Request (headers and body) in, a Decision (status
// and a short JSON answer) out. HTTPHandler serves it with net/http; functions/webhook
// serves it on Lambda behind API Gateway.
//
// Exactly once. A delivery is recorded in the DeliveryStore (a conditional write)
// before anything starts, and each execution's id is derived from the delivery id and
// the pipeline name (ExecutionID), so starting it again is a no-op (the execution
// store refuses a second execution with one id). The rule, for a delivery seen before
// (a redelivery, or a concurrent duplicate): answer "duplicate", start no execution
// that exists, and start one that should exist but does not. That last case happens
// only when the first attempt stopped between recording the delivery and starting an
// execution (a crash, a store failure answered with 500): GitHub's redelivery of the
// same delivery (same X-GitHub-Delivery) then completes it, and nothing is ever started
// twice.
//
// On GitHub: a repository (or organization) webhook with the payload URL
// <server>/webhooks/github (Path), content type application/json (form bodies are read
// too), a secret, and the push and pull_request events; GitHub's ping is answered with
// the hook id. Other events are answered 202 and ignored.
package webhook

import (
	"context"
	"crypto/sha1"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/relais-ci/relais/shared/core"
	"github.com/relais-ci/relais/shared/execution"
	"github.com/relais-ci/relais/shared/pipeline"
)

// Header names GitHub sends.
const (
	HeaderEvent     = "X-GitHub-Event"
	HeaderDelivery  = "X-GitHub-Delivery"
	HeaderSignature = "X-Hub-Signature-256"
)

// MaxBody is the largest delivery accepted: GitHub caps payloads at 25 MB.
const MaxBody = 25 << 20

// Request is one delivery as it arrived.
type Request struct {
	Event       string // X-GitHub-Event
	Delivery    string // X-GitHub-Delivery
	Signature   string // X-Hub-Signature-256
	ContentType string
	Body        []byte
	// Base64 says that Body is base64 of what GitHub sent (API Gateway encodes bodies
	// it does not take for text).
	Base64 bool
}

// NewRequest reads a Request from headers, through a lookup that ignores case
// (http.Header.Get, or a lower-cased map's lookup).
func NewRequest(header func(name string) string, body []byte) Request {
	return Request{
		Event: header(HeaderEvent), Delivery: header(HeaderDelivery), Signature: header(HeaderSignature),
		ContentType: header("Content-Type"), Body: body,
	}
}

// Decision is the answer to a delivery: an HTTP status and what the body says.
type Decision struct {
	Status     int       `json:"-"`
	Message    string    `json:"message"`
	HookID     int64     `json:"hookId,omitempty"`
	Executions []Started `json:"executions,omitempty"`
}

// Started names an execution a delivery started (or, for a duplicate, had started).
type Started struct {
	Pipeline    string `json:"pipeline"`
	ExecutionID string `json:"pipelineExecutionId"`
}

// JSON returns the body of the answer.
func (d Decision) JSON() []byte {
	b, _ := json.Marshal(d)
	return append(b, '\n')
}

func answer(status int, format string, args ...any) Decision {
	return Decision{Status: status, Message: fmt.Sprintf(format, args...)}
}

// Starter starts executions; *execution.Service is one. Starting an ID that exists
// returns the existing execution and starts nothing.
type Starter interface {
	Start(ctx context.Context, r execution.StartRequest) (core.Execution, error)
}

// FileLister lists the files that differ between two commits; *GitHub is one.
type FileLister interface {
	ChangedFiles(ctx context.Context, repo, base, head string) (files []string, complete bool, err error)
}

// Deps are what the service works over.
type Deps struct {
	Pipelines  core.PipelineStore
	Executions core.ExecutionStore
	Deliveries core.DeliveryStore
	Starter    Starter
	Secrets    Secrets
	// Files completes the changed files of a push whose list GitHub truncated, and of
	// pull requests, when a file-path filter depends on them (optional: without it,
	// such filters fire, and the execution's trigger detail says why).
	Files FileLister
	// FilesTimeout bounds the time spent asking Files per delivery (default 3 s), so
	// that the answer stays within GitHub's 10 s.
	FilesTimeout time.Duration
	// OnStart is told of each execution a delivery started, after it started (e.g.
	// Reporter.Track). It runs before the answer: it must be quick.
	OnStart func(ctx context.Context, e core.Execution)
	// PipelinesTTL is how long one read of the installed pipelines serves deliveries
	// (default 0: every delivery reads them). Reading and decoding every declaration
	// is most of a delivery's cost; with a TTL, concurrent deliveries share one read,
	// and a pipeline installed or changed less than PipelinesTTL before a delivery may
	// not see it. Parsed declarations are cached by version either way.
	PipelinesTTL time.Duration
	// StartTimeout bounds recording a delivery and starting its executions (default
	// 60 s). That work goes on when the sender hangs up.
	StartTimeout time.Duration
	// DeliveryTTL is how long a delivery id is remembered (default 7 days; GitHub
	// redelivers deliveries of the last 3 days).
	DeliveryTTL time.Duration
	Clock       core.Clock
	Logger      *slog.Logger
}

// Service handles GitHub deliveries.
type Service struct {
	d Deps

	decls pipeline.Cache // parsed once per stored text

	listMu sync.Mutex // held while the list is read: concurrent deliveries share a read
	list   []core.Pipeline
	listAt time.Time
}

// New returns a service over d.
func New(d Deps) *Service {
	if d.Clock == nil {
		d.Clock = core.SystemClock
	}
	if d.Logger == nil {
		d.Logger = slog.Default()
	}
	if d.DeliveryTTL <= 0 {
		d.DeliveryTTL = 7 * 24 * time.Hour
	}
	if g, ok := d.Files.(*GitHub); ok && g == nil {
		d.Files = nil // a nil *GitHub in the interface: no token
	}
	if d.StartTimeout <= 0 {
		d.StartTimeout = time.Minute
	}
	if d.FilesTimeout <= 0 {
		d.FilesTimeout = 3 * time.Second
	}
	return &Service{d: d}
}

// Ready returns ErrNoSecret when no secret is configured (every delivery is then
// refused with 401): print it at startup.
func (s *Service) Ready() error {
	if s.d.Secrets.Len() == 0 {
		return ErrNoSecret
	}
	return nil
}

// Handle decides what a delivery does and does it. The signature is checked before the
// body is read in any other way; a delivery refused (4xx) changes nothing. Each
// decision is logged once (a refusal as a warning), never with the body or signature.
func (s *Service) Handle(ctx context.Context, r Request) Decision {
	d := s.handle(ctx, r)
	level := slog.LevelInfo
	if d.Status >= 400 {
		level = slog.LevelWarn
	}
	s.d.Logger.Log(ctx, level, "webhook delivery", "delivery", truncate(r.Delivery, 64), "event", truncate(r.Event, 64),
		"status", d.Status, "decision", d.Message, "executions", len(d.Executions))
	return d
}

func (s *Service) handle(ctx context.Context, r Request) Decision {
	body := r.Body
	if len(body) > MaxBody*4/3+4 {
		return answer(http.StatusRequestEntityTooLarge, "body over %d bytes", MaxBody)
	}
	if r.Base64 {
		b, err := base64.StdEncoding.DecodeString(string(body))
		if err != nil {
			return answer(http.StatusBadRequest, "body is not valid base64")
		}
		body = b
	}
	if len(body) > MaxBody {
		return answer(http.StatusRequestEntityTooLarge, "body over %d bytes", MaxBody)
	}
	if s.d.Secrets.Len() == 0 {
		return answer(http.StatusUnauthorized, "no webhook secret is configured on this server: deliveries are refused")
	}
	if r.Signature == "" {
		return answer(http.StatusUnauthorized, "missing %s", HeaderSignature)
	}
	if !s.d.Secrets.Verify(r.Signature, body) {
		return answer(http.StatusUnauthorized, "%s does not match the body", HeaderSignature)
	}
	// Authentic from here on.
	if r.Event == "" {
		return answer(http.StatusBadRequest, "missing %s", HeaderEvent)
	}
	pl, err := payload(r.ContentType, body)
	if err != nil {
		var ue *unsupportedError
		if errors.As(err, &ue) {
			return answer(http.StatusUnsupportedMediaType, "%s", err)
		}
		return answer(http.StatusBadRequest, "%s", err)
	}
	var c change
	switch r.Event {
	case "ping":
		var p pingPayload
		if err := decode(pl, &p); err != nil {
			return answer(http.StatusBadRequest, "%s", err)
		}
		return Decision{Status: http.StatusOK, Message: "pong", HookID: p.HookID}
	case "push":
		c, err = parsePush(pl)
	case "pull_request":
		c, err = parsePullRequest(pl)
	default:
		return answer(http.StatusAccepted, "ignored: event %s", truncate(r.Event, 64))
	}
	if err != nil {
		return answer(http.StatusBadRequest, "%s", err)
	}
	if c.ignore != "" {
		return answer(http.StatusOK, "ignored: %s", c.ignore)
	}
	if r.Delivery == "" {
		return answer(http.StatusBadRequest, "missing %s", HeaderDelivery)
	}
	if len(r.Delivery) > 200 {
		return answer(http.StatusBadRequest, "%s is too long", HeaderDelivery)
	}
	return s.run(ctx, r.Delivery, r.Event, c)
}

// plan is one pipeline a change starts.
type plan struct {
	pipeline string
	fires    []pipeline.Fire
	v2       bool   // a trigger of the declaration fired (WebhookV2), not a default
	note     string // for the trigger detail: why file-path filters fired blind
}

func (s *Service) run(ctx context.Context, delivery, event string, c change) Decision {
	plans, err := s.match(ctx, c)
	if err != nil {
		s.d.Logger.ErrorContext(ctx, "webhook: match pipelines", "delivery", delivery, "err", err)
		return answer(http.StatusInternalServerError, "could not read the installed pipelines")
	}
	if len(plans) == 0 {
		return answer(http.StatusOK, "no pipeline matches %s of %s", c.describe(), c.repo)
	}
	// From here on, work is not abandoned when the sender hangs up (GitHub gives up
	// after 10 s): an execution half-started (recorded, its run not started) would end
	// Failed, while one started late is simply late.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.d.StartTimeout)
	defer cancel()
	duplicate := false
	err = s.d.Deliveries.RecordDelivery(ctx, delivery, s.d.Clock.Now().Add(s.d.DeliveryTTL))
	switch {
	case errors.Is(err, core.ErrConflict):
		duplicate = true
	case err != nil:
		s.d.Logger.ErrorContext(ctx, "webhook: record delivery", "delivery", delivery, "err", err)
		return answer(http.StatusInternalServerError, "could not record the delivery")
	}
	started, failed := s.startAll(ctx, delivery, event, c, plans, duplicate)
	d := Decision{Status: http.StatusOK, Executions: started}
	switch {
	case failed > 0:
		d.Status = http.StatusInternalServerError
		d.Message = fmt.Sprintf("started %d of %d executions: redeliver to start the others", len(started), len(started)+failed)
	case duplicate:
		d.Message = "duplicate"
	default:
		d.Message = fmt.Sprintf("started %d executions", len(started))
	}
	return d
}

// startAll starts the execution of each plan, a few at a time. For a duplicate it first
// looks for the execution, and starts only one missing.
func (s *Service) startAll(ctx context.Context, delivery, event string, c change, plans []plan, duplicate bool) ([]Started, int) {
	results := make([]*core.Execution, len(plans))
	if len(plans) == 1 {
		// The common case, without a goroutine (whose stack would grow again to the
		// depth of a start).
		results[0] = s.startOne(ctx, delivery, event, c, plans[0], duplicate)
	} else {
		sem := make(chan struct{}, 8)
		var wg sync.WaitGroup
		for i, p := range plans {
			wg.Add(1)
			sem <- struct{}{}
			go func() {
				defer func() { <-sem; wg.Done() }()
				results[i] = s.startOne(ctx, delivery, event, c, p, duplicate)
			}()
		}
		wg.Wait()
	}
	var started []Started
	failed := 0
	for _, e := range results {
		if e == nil {
			failed++
			continue
		}
		if e.ID == "" {
			continue // skipped: pipeline gone or not startable
		}
		started = append(started, Started{Pipeline: e.PipelineName, ExecutionID: e.ID})
	}
	return started, failed
}

// startOne returns the execution, an empty one when the pipeline cannot start (deleted
// meanwhile, invalid variables), or nil when it failed and a redelivery should retry.
func (s *Service) startOne(ctx context.Context, delivery, event string, c change, p plan, duplicate bool) *core.Execution {
	id := ExecutionID(delivery, p.pipeline)
	if duplicate {
		e, err := s.d.Executions.GetExecution(ctx, p.pipeline, id)
		if err == nil {
			return &e
		}
		if !errors.Is(err, core.ErrNotFound) {
			s.d.Logger.ErrorContext(ctx, "webhook: look for execution", "pipeline", p.pipeline, "execution_id", id, "err", err)
			return nil
		}
		s.d.Logger.WarnContext(ctx, "webhook: redelivery starts an execution the first delivery did not", "pipeline", p.pipeline, "execution_id", id, "delivery", delivery)
	}
	req := execution.StartRequest{
		Pipeline: p.pipeline, ID: id,
		Trigger: core.Trigger{Type: core.TriggerWebhook, Detail: c.detail(delivery, event, p.note).String()},
	}
	if p.v2 {
		req.Trigger.Type = core.TriggerWebhookV2
	}
	for _, f := range p.fires {
		req.SourceRevisions = append(req.SourceRevisions, core.SourceRevision{
			ActionName: f.SourceActionName, RevisionID: c.sha, RevisionSummary: summary(c.message), RevisionURL: c.url,
		})
	}
	e, err := s.d.Starter.Start(ctx, req)
	switch {
	case errors.Is(err, core.ErrNotFound), errors.Is(err, core.ErrInvalid):
		s.d.Logger.WarnContext(ctx, "webhook: pipeline not started", "pipeline", p.pipeline, "delivery", delivery, "err", err)
		return &core.Execution{}
	case err != nil && e.ID == "":
		s.d.Logger.ErrorContext(ctx, "webhook: start execution", "pipeline", p.pipeline, "execution_id", id, "err", err)
		return nil
	case err != nil:
		// Recorded but its run did not start: it ended Failed, and says why.
		s.d.Logger.ErrorContext(ctx, "webhook: start execution run", "pipeline", p.pipeline, "execution_id", id, "err", err)
	}
	if s.d.OnStart != nil {
		s.d.OnStart(ctx, e)
	}
	return &e
}

// match returns the pipelines the change starts, in name order.
func (s *Service) match(ctx context.Context, c change) ([]plan, error) {
	ps, err := s.pipelines(ctx)
	if err != nil {
		return nil, err
	}
	// First pass: file criteria count as met; the changed files are read (or asked
	// for) only when a file-path filter decided a match.
	ev := c.event
	ev.FilesUnknown = true
	type cand struct {
		name  string
		decl  *pipeline.Declaration
		fires []pipeline.Fire
	}
	var cands []cand
	needFiles := false
	for _, p := range ps {
		d := s.declaration(ctx, p)
		if d == nil {
			continue
		}
		fires := d.Match(ev)
		if len(fires) == 0 {
			continue
		}
		cands = append(cands, cand{p.Name, d, fires})
		needFiles = needFiles || usesFiles(d, fires)
	}
	note := ""
	if needFiles {
		files, why := s.changedFiles(ctx, c)
		if why == "" {
			ev.ChangedFiles, ev.FilesUnknown = files, false
		} else {
			note = "file path filters fired without the list of changed files: " + why
		}
	}
	var plans []plan
	for _, cd := range cands {
		fires := cd.fires
		if needFiles && !ev.FilesUnknown && usesFiles(cd.decl, fires) {
			fires = cd.decl.Match(ev)
		}
		if len(fires) == 0 {
			continue
		}
		p := plan{pipeline: cd.name, fires: fires}
		if needFiles && ev.FilesUnknown && usesFiles(cd.decl, fires) {
			p.note = note
		}
		for _, f := range fires {
			p.v2 = p.v2 || f.Trigger >= 0
		}
		plans = append(plans, p)
	}
	return plans, nil
}

// pipelines returns the installed pipelines, read at most once per PipelinesTTL.
func (s *Service) pipelines(ctx context.Context) ([]core.Pipeline, error) {
	if s.d.PipelinesTTL <= 0 {
		ps, err := s.d.Pipelines.ListPipelines(ctx)
		if err != nil {
			return nil, fmt.Errorf("list pipelines: %w", err)
		}
		return ps, nil
	}
	s.listMu.Lock()
	defer s.listMu.Unlock()
	now := s.d.Clock.Now()
	if s.list != nil && now.Sub(s.listAt) < s.d.PipelinesTTL && !now.Before(s.listAt) {
		return s.list, nil
	}
	ps, err := s.d.Pipelines.ListPipelines(ctx)
	if err != nil {
		return nil, fmt.Errorf("list pipelines: %w", err)
	}
	if ps == nil {
		ps = []core.Pipeline{}
	}
	s.list, s.listAt = ps, now
	return ps, nil
}

// changedFiles returns the files the change touches: those the push lists when the
// list is complete, else those Files finds; why says, when neither could, why not.
func (s *Service) changedFiles(ctx context.Context, c change) ([]string, string) {
	if c.truncate == "" {
		files, why := c.listedFiles()
		if why == "" {
			return files, ""
		}
		c.truncate = why
	}
	switch {
	case s.d.Files == nil:
		return nil, c.truncate + ", and no GitHub token is configured to ask GitHub"
	case c.base == "":
		return nil, c.truncate + ", and there is no earlier commit to compare with"
	}
	ctx, cancel := context.WithTimeout(ctx, s.d.FilesTimeout)
	defer cancel()
	files, complete, err := s.d.Files.ChangedFiles(ctx, c.repo, c.base, c.sha)
	if err != nil {
		s.d.Logger.WarnContext(ctx, "webhook: list changed files", "repository", c.repo, "err", err)
		return nil, c.truncate + ", and GitHub's compare API failed"
	}
	if !complete {
		return nil, "GitHub's compare API lists only part of the changed files"
	}
	return files, ""
}

// usesFiles reports whether one of the fires came from a filter with file paths.
func usesFiles(d *pipeline.Declaration, fires []pipeline.Fire) bool {
	for _, f := range fires {
		if f.Trigger < 0 || f.Trigger >= len(d.Triggers) || d.Triggers[f.Trigger].GitConfiguration == nil {
			continue
		}
		g := d.Triggers[f.Trigger].GitConfiguration
		if f.Filter < len(g.Push) && g.Push[f.Filter].FilePaths != nil && g.Push[f.Filter].Tags == nil {
			return true
		}
		if f.Filter < len(g.PullRequest) && g.PullRequest[f.Filter].FilePaths != nil {
			return true
		}
	}
	return false
}

// declaration returns the parsed declaration of p, parsing each stored text once; nil
// when it does not parse.
func (s *Service) declaration(ctx context.Context, p core.Pipeline) *pipeline.Declaration {
	d, err := s.decls.Parse(p.Name, p.Declaration)
	if err != nil {
		s.d.Logger.WarnContext(ctx, "webhook: installed declaration does not parse", "pipeline", p.Name, "version", p.Version, "err", err)
		return nil
	}
	return d
}

func (c change) describe() string {
	if c.event.Kind == pipeline.PullRequest {
		return fmt.Sprintf("pull request #%d (%s into %s)", c.pr, c.event.PullRequestEvent, c.event.Branch)
	}
	return "push to " + c.ref
}

// TriggerDetail is what an execution started by a delivery records as its trigger
// detail (as JSON): enough to find the delivery and the commit again.
type TriggerDetail struct {
	Provider   string `json:"provider"`
	Delivery   string `json:"delivery"`
	Event      string `json:"event"`
	Action     string `json:"action,omitempty"`
	Repository string `json:"repository"`
	Ref        string `json:"ref"`
	Branch     string `json:"branch,omitempty"`
	Commit     string `json:"commit"`
	// Author is who pushed, or who opened the pull request: a GitHub login.
	Author string `json:"author,omitempty"`
	// CommitAuthor is the author of the commit built: a GitHub login when GitHub
	// knows it, else the name in the commit (pushes only).
	CommitAuthor string `json:"commitAuthor,omitempty"`
	PullRequest  int    `json:"pullRequest,omitempty"`
	// Base is the branch a pull request merges into.
	Base string `json:"base,omitempty"`
	// Note says what the delivery could not tell (changed files unknown).
	Note string `json:"note,omitempty"`
}

// ProviderGitHub is TriggerDetail.Provider for GitHub deliveries.
const ProviderGitHub = "GitHub"

// maxDetail is CodePipeline's limit on triggerDetail.
const maxDetail = 1024

func (c change) detail(delivery, event, note string) TriggerDetail {
	return TriggerDetail{
		Provider: ProviderGitHub, Delivery: delivery, Event: event, Action: c.action, Repository: c.repo,
		Ref: c.ref, Branch: c.branch, Commit: c.sha, Author: truncate(c.author, 100),
		CommitAuthor: truncate(c.commitAuthor, 100), PullRequest: c.pr, Base: c.prBase,
		Note: note,
	}
}

// String encodes the detail as JSON within CodePipeline's 1024 characters, shortening
// the note and the ref if need be.
func (t TriggerDetail) String() string {
	b, _ := json.Marshal(t)
	for step := 0; len(b) > maxDetail; step++ {
		switch {
		case len(t.Note) > 40:
			t.Note = truncate(t.Note, len(t.Note)-(len(b)-maxDetail)-8)
		case step < 2:
			t.Ref, t.Branch, t.Base = truncate(t.Ref, 40), truncate(t.Branch, 40), truncate(t.Base, 40)
		case step < 4:
			t.Author, t.CommitAuthor = truncate(t.Author, 20), truncate(t.CommitAuthor, 20)
			t.Delivery, t.Note = truncate(t.Delivery, 40), ""
		case step < 6:
			t.Repository, t.Action = truncate(t.Repository, 100), ""
		default: // only names full of characters JSON escapes get here
			t.Ref, t.Branch, t.Base, t.Author, t.CommitAuthor = truncate(t.Ref, 10), truncate(t.Branch, 10), truncate(t.Base, 10), "", ""
		}
		b, _ = json.Marshal(t)
	}
	return string(b)
}

// ParseTriggerDetail reads the detail of an execution a GitHub delivery started; ok is
// false for any other execution.
func ParseTriggerDetail(tr core.Trigger) (TriggerDetail, bool) {
	if tr.Type != core.TriggerWebhook && tr.Type != core.TriggerWebhookV2 {
		return TriggerDetail{}, false
	}
	var t TriggerDetail
	if err := json.Unmarshal([]byte(tr.Detail), &t); err != nil || t.Provider != ProviderGitHub || t.Commit == "" || t.Repository == "" {
		return TriggerDetail{}, false
	}
	return t, true
}

// executionNamespace is the UUID namespace of execution ids derived from deliveries.
var executionNamespace = [16]byte{0x5d, 0x0e, 0x6b, 0x8c, 0x4f, 0x1a, 0x4e, 0x2b, 0x9c, 0x07, 0x31, 0x52, 0xa8, 0xd4, 0x60, 0x1f}

// ExecutionID returns the id of the execution a delivery starts for a pipeline: an RFC
// 4122 version 5 (SHA-1, name-based) UUID of the delivery id and the pipeline name, so
// that every attempt at one delivery names the same execution.
func ExecutionID(delivery, pipelineName string) string {
	h := sha1.New()
	h.Write(executionNamespace[:])
	h.Write([]byte("github-delivery\x00" + delivery + "\x00" + pipelineName))
	var b [20]byte
	sum := h.Sum(b[:0])
	sum[6] = sum[6]&0x0f | 0x50
	sum[8] = sum[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", sum[0:4], sum[4:6], sum[6:8], sum[8:10], sum[10:16])
}

// summary is a revision summary: the first line of the message, at most 200 characters.
func summary(msg string) string {
	msg = strings.TrimSpace(msg)
	if i := strings.IndexByte(msg, '\n'); i >= 0 {
		msg = strings.TrimSpace(msg[:i])
	}
	return truncate(msg, 200)
}
