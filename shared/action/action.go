// Package action runs the actions of pipeline executions: for each action task of a
// compiled machine it records the action execution, resolves its inputs (artifact
// locations from the actions that produced them) and its configuration's variables
// just before it runs, hands it to the provider of its type, and answers the machine's
// callback token when the action ends — at once for inline actions, later through
// Complete for actions that go on elsewhere (builds, approvals).
//
// Delivery is at least once: the engine may invoke the same task again (a crash, a
// Lambda retry). The service keys action executions by (execution, stage, action, stage
// attempt): an ended one is answered again without running; one left InProgress by an
// interrupted run is run again, under the same action execution id.
package action

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"

	"github.com/relais-ci/relais/shared/core"
	"github.com/relais-ci/relais/shared/pipeline"
)

// Job is one action to run, with everything resolved.
type Job struct {
	Execution core.Execution
	Stage     string
	// Declared is the action as the declaration states it (unresolved configuration).
	Declared pipeline.Action
	// Record is the action execution as recorded: its id, resolved configuration and
	// input artifact locations.
	Record core.ActionExecution
	// Complete ends the action later, for a provider whose Run returned InProgress and
	// whose work ends in this process (a local build). Providers whose completion arrives
	// from elsewhere (a CodeBuild event) use Service.CompleteExternal instead.
	Complete func(ctx context.Context, res Result) error
}

// Result is how an action ended, or that it goes on elsewhere.
type Result struct {
	// Status is Succeeded or Failed when the action ended; InProgress when it goes on
	// outside the call to Run and will end through Service.Complete.
	Status          core.ActionStatus
	OutputArtifacts []core.Artifact
	OutputVariables map[string]string
	Summary         string
	ExternalID      string
	ExternalURL     string
	Error           *core.ErrorDetails
	// Revision is the source revision a Source action produced.
	Revision *core.SourceRevision
}

// Failed returns the Result of an action that failed with err.
func Failed(code string, err error) Result {
	return Result{Status: core.ActionFailed, Error: &core.ErrorDetails{Code: code, Message: err.Error()}}
}

// Provider runs the actions of one type (category, owner, provider).
type Provider interface {
	// Run runs the action and returns how it ended, or a Result with Status InProgress
	// when it goes on elsewhere. An error fails the action with the error's message.
	// Run may be called again for the same action execution after a crash.
	Run(ctx context.Context, job Job) (Result, error)
}

// ProviderFunc adapts a function to Provider.
type ProviderFunc func(ctx context.Context, job Job) (Result, error)

// Run calls f.
func (f ProviderFunc) Run(ctx context.Context, job Job) (Result, error) { return f(ctx, job) }

// ProviderKey names a provider in a Providers map: "Category/Owner/Provider".
func ProviderKey(t pipeline.ActionTypeID) string {
	return t.Category + "/" + t.Owner + "/" + t.Provider
}

// Deps are what the service works over.
type Deps struct {
	Pipelines  core.PipelineStore
	Executions core.ExecutionStore
	Stages     core.StageStore
	Actions    core.ActionStore
	Engine     core.Engine
	// Providers maps ProviderKey to the provider that runs that action type.
	Providers map[string]Provider
	Clock     core.Clock
	Logger    *slog.Logger
}

// Service runs actions.
type Service struct {
	d Deps

	decls pipeline.Cache
}

// New returns an action service over d.
func New(d Deps) *Service {
	if d.Clock == nil {
		d.Clock = core.SystemClock
	}
	if d.Logger == nil {
		d.Logger = slog.Default()
	}
	return &Service{d: d}
}

// Declaration returns the parsed declaration of an installed pipeline, parsing each
// stored text once. It is shared: callers must not change it.
func (s *Service) Declaration(ctx context.Context, name string) (*pipeline.Declaration, error) {
	p, err := s.d.Pipelines.GetPipeline(ctx, name)
	if err != nil {
		return nil, fmt.Errorf("get pipeline %s: %w", name, err)
	}
	d, err := s.decls.Parse(name, p.Declaration)
	if err != nil {
		return nil, fmt.Errorf("parse pipeline %s version %d: %w", name, p.Version, err)
	}
	return d, nil
}

// Handle runs one action task of a compiled machine. It returns an error only when the
// task itself cannot be carried out (the machine then fails the stage); an action that
// fails is recorded and its callback failed, and Handle returns nil.
func (s *Service) Handle(ctx context.Context, t core.ActionTask) error {
	if t.Pipeline == "" || t.ExecutionID == "" || t.Stage == "" || t.Action == "" || t.Token == "" {
		return fmt.Errorf("action task: pipeline, executionId, stage, action and token are required: %w", core.ErrInvalid)
	}
	e, err := s.d.Executions.GetExecution(ctx, t.Pipeline, t.ExecutionID)
	if err != nil {
		return fmt.Errorf("run action %s/%s: %w", t.Stage, t.Action, err)
	}
	if e.Stop != nil || e.Status != core.ExecutionInProgress {
		// Stop and wait: running actions finish, no new one starts.
		return &core.StoppedError{ExecutionID: e.ID, Reason: "the execution is " + string(e.Status)}
	}
	decl, err := s.Declaration(ctx, t.Pipeline)
	if err != nil {
		return err
	}
	declared, ok := findAction(decl, t.Stage, t.Action)
	if !ok {
		return fmt.Errorf("run action %s/%s: the pipeline has no such action: %w", t.Stage, t.Action, core.ErrNotFound)
	}
	stage, err := s.stage(ctx, t.Pipeline, t.ExecutionID, t.Stage)
	if err != nil {
		return fmt.Errorf("run action %s/%s: %w", t.Stage, t.Action, err)
	}
	all, err := s.listActions(ctx, core.ActionFilter{PipelineName: t.Pipeline, ExecutionID: t.ExecutionID})
	if err != nil {
		return err
	}

	now := s.d.Clock.Now()
	rec := core.ActionExecution{
		ID: core.NewID(), PipelineName: t.Pipeline, ExecutionID: t.ExecutionID,
		StageName: t.Stage, ActionName: t.Action, Attempt: stage.Attempt,
		Type: core.ActionType{
			Category: declared.ActionTypeID.Category, Owner: declared.ActionTypeID.Owner,
			Provider: declared.ActionTypeID.Provider, Version: declared.ActionTypeID.Version,
		},
		RunOrder: declared.RunOrder, Region: declared.Region, Namespace: declared.Namespace,
		StartTime: now,
	}
	if prev, ok := latest(all, t.Stage, t.Action, func(a core.ActionExecution) bool { return a.Attempt == stage.Attempt }); ok {
		if prev.Status.Terminal() {
			// A repeated task: answer as before, run nothing.
			prev.TaskToken = t.Token
			return s.answer(ctx, prev)
		}
		rec.ID, rec.StartTime = prev.ID, prev.StartTime // interrupted: run it again
	} else if stage.RetryMode == core.RetryFailedActions {
		if done, ok := latest(all, t.Stage, t.Action, func(a core.ActionExecution) bool { return a.Status == core.ActionSucceeded }); ok {
			return s.keep(ctx, done, stage.Attempt, t.Token)
		}
	}
	rec.Status = core.ActionInProgress
	rec.TaskToken = t.Token
	rec.LastUpdateTime = now

	job := Job{Execution: e, Stage: t.Stage, Declared: declared}
	var problem error
	rec.InputArtifacts, problem = inputs(all, declared)
	if problem == nil {
		rec.Configuration, problem = resolve(declared.Configuration, scope(e, all))
	}
	if err := s.d.Actions.PutAction(ctx, rec); err != nil {
		if errors.Is(err, core.ErrConflict) {
			// Ended since it was read: run by Resume after a restart while the engine
			// invoked the task again, or abandoned by a stop.
			if ended, err := s.answerEnded(ctx, rec.PipelineName, rec.ID, t.Token); ended || err != nil {
				return err
			}
		}
		return fmt.Errorf("record action %s/%s of execution %s: %w", t.Stage, t.Action, t.ExecutionID, err)
	}
	logger := s.d.Logger.With("pipeline", t.Pipeline, "execution_id", t.ExecutionID, "stage", t.Stage, "action", t.Action)
	logger.InfoContext(ctx, "action started", "attempt", rec.Attempt)
	if problem != nil {
		return s.finish(ctx, rec, Failed("ConfigurationError", problem))
	}
	provider, ok := s.d.Providers[ProviderKey(declared.ActionTypeID)]
	if !ok {
		return s.finish(ctx, rec, Failed("ConfigurationError", fmt.Errorf("no provider for %s here", declared.ActionTypeID)))
	}
	job.Record = rec
	return s.run(ctx, provider, job)
}

// run hands a recorded action to its provider and records what it says.
func (s *Service) run(ctx context.Context, provider Provider, job Job) error {
	rec := job.Record
	job.Complete = func(ctx context.Context, res Result) error { return s.Complete(ctx, rec.PipelineName, rec.ID, res) }
	res, err := provider.Run(ctx, job)
	if err != nil {
		res = Failed("JobFailed", err)
	}
	if res.Status == core.ActionInProgress {
		rec.ExternalExecutionID, rec.ExternalExecutionURL, rec.Summary = res.ExternalID, res.ExternalURL, res.Summary
		rec.LastUpdateTime = s.d.Clock.Now()
		if err := s.d.Actions.PutAction(ctx, rec); err != nil && !errors.Is(err, core.ErrConflict) {
			return fmt.Errorf("record action %s/%s as started: %w", rec.StageName, rec.ActionName, err)
		}
		return nil
	}
	return s.finish(ctx, rec, res)
}

// Resumable is implemented by providers whose work lives and dies with this process (a
// local build): after a restart nothing will ever end their InProgress actions, so
// Resume runs them again. Providers whose work goes on elsewhere (CodeBuild on AWS, a
// person deciding an approval) do not implement it.
type Resumable interface {
	Provider
	// ResumesWithProcess reports whether the provider's work ends with this process.
	ResumesWithProcess() bool
}

// Resume runs again, under the same action execution and callback token, every action
// left InProgress by a previous process whose provider is Resumable. The engine keeps
// waiting for those tokens across the restart (a callback task that was submitted is
// not invoked again), so without this the actions would wait forever. Call it once at
// start-up, after the engine has resumed.
func (s *Service) Resume(ctx context.Context) error {
	pipelines, err := s.d.Pipelines.ListPipelines(ctx)
	if err != nil {
		return fmt.Errorf("resume actions: list pipelines: %w", err)
	}
	var errs []error
	for _, p := range pipelines {
		decl, err := s.Declaration(ctx, p.Name)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		page := core.Page{Limit: 100}
		for {
			es, next, err := s.d.Executions.ListExecutions(ctx, p.Name, page)
			if err != nil {
				errs = append(errs, fmt.Errorf("resume actions of %s: %w", p.Name, err))
				break
			}
			for _, e := range es {
				if e.Status == core.ExecutionInProgress || e.Status == core.ExecutionStopping {
					errs = append(errs, s.resumeExecution(ctx, decl, e))
				}
			}
			if next == "" {
				break
			}
			page.Token = next
		}
	}
	return errors.Join(errs...)
}

func (s *Service) resumeExecution(ctx context.Context, decl *pipeline.Declaration, e core.Execution) error {
	all, err := s.listActions(ctx, core.ActionFilter{PipelineName: e.PipelineName, ExecutionID: e.ID})
	if err != nil {
		return err
	}
	var errs []error
	for _, rec := range all {
		if rec.Status != core.ActionInProgress || rec.TaskToken == "" {
			continue
		}
		declared, ok := findAction(decl, rec.StageName, rec.ActionName)
		if !ok {
			continue
		}
		provider, ok := s.d.Providers[ProviderKey(declared.ActionTypeID)].(Resumable)
		if !ok || !provider.ResumesWithProcess() {
			continue
		}
		// The engine may have run the task again meanwhile (a task not yet submitted at
		// the crash is invoked once more): only an action still InProgress runs again.
		if cur, err := s.d.Actions.GetAction(ctx, rec.PipelineName, rec.ID); err != nil || cur.Status.Terminal() {
			continue
		}
		s.d.Logger.InfoContext(ctx, "action resumed after a restart", "pipeline", rec.PipelineName, "execution_id", rec.ExecutionID, "stage", rec.StageName, "action", rec.ActionName)
		errs = append(errs, s.run(ctx, provider, Job{Execution: e, Stage: rec.StageName, Declared: declared, Record: rec}))
	}
	return errors.Join(errs...)
}

// Complete ends an action that went on elsewhere. Completing an action that has already
// ended does nothing.
func (s *Service) Complete(ctx context.Context, pipelineName, actionExecutionID string, res Result) error {
	rec, err := s.d.Actions.GetAction(ctx, pipelineName, actionExecutionID)
	if err != nil {
		return fmt.Errorf("complete action %s: %w", actionExecutionID, err)
	}
	if rec.Status.Terminal() {
		return nil
	}
	return s.finish(ctx, rec, res)
}

// CompleteExternal ends the action whose work has the external id (a build id).
func (s *Service) CompleteExternal(ctx context.Context, externalID string, res Result) error {
	rec, err := s.d.Actions.FindActionByExternalID(ctx, externalID)
	if err != nil {
		return fmt.Errorf("complete action of %s: %w", externalID, err)
	}
	if rec.Status.Terminal() {
		return nil
	}
	return s.finish(ctx, rec, res)
}

// finish records how an action ended and answers its callback token.
func (s *Service) finish(ctx context.Context, rec core.ActionExecution, res Result) error {
	if res.Status != core.ActionSucceeded && res.Status != core.ActionFailed {
		res = Failed("JobFailed", fmt.Errorf("provider ended the action with status %q", res.Status))
	}
	rec.Status = res.Status
	rec.OutputArtifacts = res.OutputArtifacts
	rec.OutputVariables = res.OutputVariables
	if res.Summary != "" {
		rec.Summary = res.Summary
	}
	if res.ExternalID != "" {
		rec.ExternalExecutionID = res.ExternalID
	}
	if res.ExternalURL != "" {
		rec.ExternalExecutionURL = res.ExternalURL
	}
	rec.Error = res.Error
	if rec.Status == core.ActionFailed && rec.Error == nil {
		rec.Error = &core.ErrorDetails{Code: "JobFailed", Message: "the action failed"}
	}
	rec.LastUpdateTime = s.d.Clock.Now()
	if err := s.d.Actions.PutAction(ctx, rec); err != nil {
		if errors.Is(err, core.ErrConflict) {
			// Ended otherwise meanwhile (abandoned by a stop, or another run of it
			// after a restart): what is recorded stands, and this run's token gets it.
			_, err := s.answerEnded(ctx, rec.PipelineName, rec.ID, rec.TaskToken)
			return err
		}
		return fmt.Errorf("record action %s/%s as %s: %w", rec.StageName, rec.ActionName, rec.Status, err)
	}
	if res.Revision != nil {
		rev := *res.Revision
		rev.ActionName = rec.ActionName
		if _, err := s.updateExecution(ctx, rec.PipelineName, rec.ExecutionID, func(e *core.Execution) bool {
			i := slices.IndexFunc(e.SourceRevisions, func(r core.SourceRevision) bool { return r.ActionName == rev.ActionName })
			if i >= 0 {
				if e.SourceRevisions[i] == rev {
					return false
				}
				e.SourceRevisions[i] = rev
			} else {
				e.SourceRevisions = append(e.SourceRevisions, rev)
			}
			return true
		}); err != nil {
			return err
		}
	}
	s.d.Logger.InfoContext(ctx, "action ended", "pipeline", rec.PipelineName, "execution_id", rec.ExecutionID,
		"stage", rec.StageName, "action", rec.ActionName, "status", rec.Status)
	return s.answer(ctx, rec)
}

// answerEnded answers token with the recorded outcome of an action that has ended
// (ended reports whether it has). An action can run twice at once after a restart —
// Resume runs it again while the engine invokes its task again with a new token — and
// each run answers its own token, so that whichever the engine waits for gets the
// outcome; answering a token nobody waits for any more does nothing.
func (s *Service) answerEnded(ctx context.Context, pipelineName, id, token string) (ended bool, err error) {
	cur, err := s.d.Actions.GetAction(ctx, pipelineName, id)
	if err != nil {
		return false, fmt.Errorf("read action %s: %w", id, err)
	}
	if !cur.Status.Terminal() {
		return false, nil
	}
	cur.TaskToken = token
	return true, s.answer(ctx, cur)
}

// answer sends an ended action's outcome to its callback token.
func (s *Service) answer(ctx context.Context, rec core.ActionExecution) error {
	var err error
	if rec.Status == core.ActionSucceeded {
		out, _ := json.Marshal(core.ActionResult{Status: rec.Status})
		err = s.d.Engine.SendTaskSuccess(ctx, rec.TaskToken, out)
	} else {
		name, cause := core.ErrorActionFailed, string(rec.Status)
		if rec.Error != nil {
			cause = rec.Error.Message
		}
		if rec.Status == core.ActionAbandoned {
			name = core.ErrorActionAbandoned
		}
		err = s.d.Engine.SendTaskFailure(ctx, rec.TaskToken, name, cause)
	}
	if err != nil && !errors.Is(err, core.ErrNotFound) {
		return fmt.Errorf("answer action %s/%s: %w", rec.StageName, rec.ActionName, err)
	}
	return nil
}

// keep carries a succeeded action over into a retry of its stage (FAILED_ACTIONS).
func (s *Service) keep(ctx context.Context, done core.ActionExecution, attempt int, token string) error {
	kept := done
	kept.ID = core.NewID()
	kept.Attempt = attempt
	kept.TaskToken = token
	kept.Summary = fmt.Sprintf("Not run again: succeeded in attempt %d", done.Attempt)
	kept.StartTime = s.d.Clock.Now()
	kept.LastUpdateTime = kept.StartTime
	if err := s.d.Actions.PutAction(ctx, kept); err != nil {
		return fmt.Errorf("carry action %s/%s into the retry: %w", done.StageName, done.ActionName, err)
	}
	return s.answer(ctx, kept)
}

// inputs finds where each input artifact of a is: in the newest succeeded action
// execution that produced it.
func inputs(all []core.ActionExecution, a pipeline.Action) ([]core.Artifact, error) {
	var out []core.Artifact
	for _, in := range a.InputArtifacts {
		found := false
		for _, rec := range all { // newest first
			if rec.Status != core.ActionSucceeded {
				continue
			}
			if i := slices.IndexFunc(rec.OutputArtifacts, func(o core.Artifact) bool { return o.Name == in.Name }); i >= 0 {
				out = append(out, rec.OutputArtifacts[i])
				found = true
				break
			}
		}
		if !found {
			return nil, fmt.Errorf("input artifact %s was not produced by any action of this execution", in.Name)
		}
	}
	return out, nil
}

// scope is what #{…} references can name when an action starts: the namespaces of
// actions that succeeded before it, the pipeline variables and codepipeline.
func scope(e core.Execution, all []core.ActionExecution) map[string]map[string]string {
	sc := map[string]map[string]string{
		pipeline.NamespaceCodePipeline: {pipeline.VarPipelineExecutionID: e.ID},
		pipeline.NamespaceVariables:    {},
	}
	for _, v := range e.Variables {
		sc[pipeline.NamespaceVariables][v.Name] = v.Value
	}
	// Oldest first, so a newer attempt's variables win.
	for i := len(all) - 1; i >= 0; i-- {
		rec := all[i]
		if rec.Namespace == "" || rec.Status != core.ActionSucceeded {
			continue
		}
		vars := map[string]string{}
		for k, v := range rec.OutputVariables {
			vars[k] = v
		}
		sc[rec.Namespace] = vars
	}
	return sc
}

func resolve(cfg map[string]string, sc map[string]map[string]string) (map[string]string, error) {
	if len(cfg) == 0 {
		return nil, nil
	}
	out := make(map[string]string, len(cfg))
	var errs []error
	for k, v := range cfg {
		r, err := pipeline.Resolve(v, sc)
		if err != nil {
			errs = append(errs, fmt.Errorf("configuration %s: %w", k, err))
			continue
		}
		out[k] = r
	}
	if len(errs) > 0 {
		slices.SortFunc(errs, func(a, b error) int { return compareStrings(a.Error(), b.Error()) })
		return nil, errors.Join(errs...)
	}
	return out, nil
}

func compareStrings(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// latest returns the newest action execution of one action that satisfies ok.
func latest(all []core.ActionExecution, stage, action string, ok func(core.ActionExecution) bool) (core.ActionExecution, bool) {
	for _, a := range all { // newest first
		if a.StageName == stage && a.ActionName == action && ok(a) {
			return a, true
		}
	}
	return core.ActionExecution{}, false
}

func findAction(d *pipeline.Declaration, stage, action string) (pipeline.Action, bool) {
	for _, st := range d.Stages {
		if st.Name != stage {
			continue
		}
		for _, a := range st.Actions {
			if a.Name == action {
				if a.RunOrder == 0 {
					a.RunOrder = 1
				}
				return a, true
			}
		}
	}
	return pipeline.Action{}, false
}

func (s *Service) stage(ctx context.Context, pipelineName, executionID, stage string) (core.StageExecution, error) {
	return core.FindStage(ctx, s.d.Stages, pipelineName, executionID, stage)
}

func (s *Service) listActions(ctx context.Context, f core.ActionFilter) ([]core.ActionExecution, error) {
	return core.AllActions(ctx, s.d.Actions, f)
}

func (s *Service) updateExecution(ctx context.Context, pipelineName, id string, change func(*core.Execution) bool) (core.Execution, error) {
	return core.UpdateExecution(ctx, s.d.Executions, pipelineName, id, change)
}
