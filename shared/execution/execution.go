// Package execution installs pipelines and starts, retries and stops their executions —
// what CodePipeline's CreatePipeline/UpdatePipeline, StartPipelineExecution,
// RetryStageExecution, StopPipelineExecution and the transition operations do — over the
// core ports. The API façade, the CLI and the webhook all go through it.
package execution

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"github.com/relais-ci/relais/shared/core"
	"github.com/relais-ci/relais/shared/gate"
	"github.com/relais-ci/relais/shared/pipeline"
	"github.com/relais-ci/relais/statemachines"
)

// Deps are what the service works over.
type Deps struct {
	Pipelines   core.PipelineStore
	Executions  core.ExecutionStore
	Stages      core.StageStore
	Actions     core.ActionStore
	Transitions core.TransitionStore
	Engine      core.Engine
	Gate        *gate.Service
	// Canceler ends the work of abandoned actions (optional).
	Canceler gate.Canceler
	// Target is what installed pipelines must be runnable on (pipeline.TargetLocal for
	// relais serve, pipeline.TargetAWS for the stack).
	Target pipeline.Target
	Clock  core.Clock
	Logger *slog.Logger
}

// Service is the execution service.
type Service struct {
	d Deps

	// parsed holds, per pipeline, the last declaration the service parsed, keyed by
	// the stored text: starting an execution reads the pipeline (its version) but
	// parses it only when it changed.
	parsed pipeline.Cache
}

// New returns a service over d.
func New(d Deps) *Service {
	if d.Clock == nil {
		d.Clock = core.SystemClock
	}
	if d.Logger == nil {
		d.Logger = slog.Default()
	}
	return &Service{d: d}
}

// InvalidError lists why a declaration cannot be installed.
type InvalidError struct {
	Pipeline   string
	Violations []pipeline.Violation
}

func (e *InvalidError) Error() string {
	msgs := make([]string, len(e.Violations))
	for i, v := range e.Violations {
		msgs[i] = v.String()
	}
	return fmt.Sprintf("pipeline %s is invalid: %s", e.Pipeline, strings.Join(msgs, "; "))
}

func (e *InvalidError) Unwrap() error { return core.ErrInvalid }

// Install validates a declaration for the service's target, compiles it, stores it
// (creating it, or updating it when it exists and differs) and deploys its state machine.
// Installing an unchanged declaration again changes nothing but redeploys the machine,
// which is idempotent.
func (s *Service) Install(ctx context.Context, raw []byte) (core.Pipeline, error) {
	d, err := pipeline.Parse(raw)
	if err != nil {
		return core.Pipeline{}, fmt.Errorf("install pipeline: %w", errors.Join(err, core.ErrInvalid))
	}
	if v := pipeline.Validate(d, s.d.Target); len(v) > 0 {
		return core.Pipeline{}, &InvalidError{Pipeline: d.Name, Violations: v}
	}
	asl, err := statemachines.Compile(d)
	if err != nil {
		return core.Pipeline{}, fmt.Errorf("install pipeline %s: %w", d.Name, err)
	}
	canonical, err := json.Marshal(d)
	if err != nil {
		return core.Pipeline{}, fmt.Errorf("install pipeline %s: encode declaration: %w", d.Name, err)
	}
	now := s.d.Clock.Now()
	p, err := s.d.Pipelines.GetPipeline(ctx, d.Name)
	switch {
	case errors.Is(err, core.ErrNotFound):
		p, err = s.d.Pipelines.PutPipeline(ctx, core.Pipeline{Name: d.Name, Declaration: canonical, CreatedAt: now, UpdatedAt: now})
	case err == nil && string(p.Declaration) != string(canonical):
		p.Declaration, p.UpdatedAt = canonical, now
		p, err = s.d.Pipelines.PutPipeline(ctx, p)
	}
	if err != nil {
		return core.Pipeline{}, fmt.Errorf("install pipeline %s: store: %w", d.Name, err)
	}
	if err := s.d.Engine.Deploy(ctx, d.Name, asl); err != nil {
		return core.Pipeline{}, fmt.Errorf("install pipeline %s: deploy state machine: %w", d.Name, err)
	}
	s.d.Logger.InfoContext(ctx, "pipeline installed", "pipeline", d.Name, "version", p.Version)
	return p, nil
}

// Declaration returns the parsed declaration of an installed pipeline; the caller may
// change it.
func (s *Service) Declaration(ctx context.Context, name string) (*pipeline.Declaration, core.Pipeline, error) {
	p, err := s.d.Pipelines.GetPipeline(ctx, name)
	if err != nil {
		return nil, core.Pipeline{}, fmt.Errorf("get pipeline %s: %w", name, err)
	}
	d, err := pipeline.Parse(p.Declaration)
	if err != nil {
		return nil, core.Pipeline{}, fmt.Errorf("parse pipeline %s: %w", name, err)
	}
	return d, p, nil
}

// declaration is Declaration for the service's own use: the declaration is shared
// between calls, parsed again only when the stored text changed (a new version, or the
// pipeline deleted and installed anew), and must not be changed.
func (s *Service) declaration(ctx context.Context, name string) (*pipeline.Declaration, core.Pipeline, error) {
	p, err := s.d.Pipelines.GetPipeline(ctx, name)
	if err != nil {
		if errors.Is(err, core.ErrNotFound) {
			s.parsed.Forget(name)
		}
		return nil, core.Pipeline{}, fmt.Errorf("get pipeline %s: %w", name, err)
	}
	d, err := s.parsed.Parse(name, p.Declaration)
	if err != nil {
		return nil, core.Pipeline{}, fmt.Errorf("parse pipeline %s: %w", name, err)
	}
	return d, p, nil
}

// StartRequest asks for a new execution.
type StartRequest struct {
	Pipeline string
	// ID, when set, names the execution; starting the same ID twice starts it once
	// (the webhook derives it from the delivery, the API from its client token).
	ID              string
	Trigger         core.Trigger
	SourceRevisions []core.SourceRevision
	// Variables override the pipeline's variable defaults, by name.
	Variables map[string]string
}

// Start records a new execution and starts its state machine. Starting an ID that exists
// returns the existing execution and starts nothing.
func (s *Service) Start(ctx context.Context, r StartRequest) (core.Execution, error) {
	d, p, err := s.declaration(ctx, r.Pipeline)
	if err != nil {
		return core.Execution{}, err
	}
	vars, err := variables(d, r.Variables)
	if err != nil {
		return core.Execution{}, fmt.Errorf("start pipeline %s: %w", r.Pipeline, err)
	}
	id := r.ID
	if id == "" {
		id = core.NewID()
	}
	now := s.d.Clock.Now()
	e := core.Execution{
		PipelineName: r.Pipeline, ID: id, PipelineVersion: p.Version,
		Status: core.ExecutionInProgress, Mode: core.ExecutionMode(d.Mode()),
		Trigger: r.Trigger, SourceRevisions: r.SourceRevisions, Variables: vars,
		EngineRun: id, StartTime: now, LastUpdateTime: now,
	}
	if e.Trigger.Type == "" {
		e.Trigger.Type = core.TriggerStartPipelineExecution
	}
	e, err = s.d.Executions.CreateExecution(ctx, e)
	if errors.Is(err, core.ErrConflict) {
		existing, gerr := s.d.Executions.GetExecution(ctx, r.Pipeline, id)
		if gerr != nil {
			return core.Execution{}, fmt.Errorf("start pipeline %s: %w", r.Pipeline, gerr)
		}
		return existing, nil
	}
	if err != nil {
		return core.Execution{}, fmt.Errorf("start pipeline %s: record execution: %w", r.Pipeline, err)
	}
	if err := s.startRun(ctx, e, core.MachineInput{Pipeline: r.Pipeline, ExecutionID: id}); err != nil {
		return e, err
	}
	s.d.Logger.InfoContext(ctx, "execution started", "pipeline", r.Pipeline, "execution_id", id, "trigger", e.Trigger.Type)
	return e, nil
}

// startRun starts the engine run of an execution; when the engine refuses, the
// execution ends Failed rather than staying InProgress with nothing running it.
func (s *Service) startRun(ctx context.Context, e core.Execution, in core.MachineInput) error {
	input, err := json.Marshal(in)
	if err != nil {
		return fmt.Errorf("encode machine input: %w", err)
	}
	err = s.d.Engine.StartExecution(ctx, e.PipelineName, e.EngineRun, input)
	if err == nil {
		return nil
	}
	now := s.d.Clock.Now()
	if _, uerr := core.UpdateExecution(ctx, s.d.Executions, e.PipelineName, e.ID, func(x *core.Execution) bool {
		x.Status = core.ExecutionFailed
		x.StatusSummary = "Could not start the state machine: " + err.Error()
		x.LastUpdateTime = now
		return true
	}); uerr != nil {
		return errors.Join(fmt.Errorf("start engine run %s: %w", e.EngineRun, err), uerr)
	}
	return fmt.Errorf("start engine run %s: %w", e.EngineRun, err)
}

// variables resolves the pipeline variables of an execution: declared defaults,
// overridden by the request; an override of an undeclared variable, or a variable with
// neither, is an error.
func variables(d *pipeline.Declaration, overrides map[string]string) ([]core.Variable, error) {
	declared := map[string]bool{}
	var out []core.Variable
	var errs []error
	for _, v := range d.Variables {
		declared[v.Name] = true
		val, ok := overrides[v.Name]
		if !ok {
			val = v.DefaultValue
		}
		if val == "" && !ok {
			errs = append(errs, fmt.Errorf("variable %s has no default value and none was given", v.Name))
			continue
		}
		out = append(out, core.Variable{Name: v.Name, Value: val})
	}
	for name := range overrides {
		if !declared[name] {
			errs = append(errs, fmt.Errorf("variable %s is not declared by the pipeline", name))
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(append(errs, core.ErrInvalid)...)
	}
	return out, nil
}

// Retry resumes a Failed or Stopped execution at the stage it ended in, in the same
// execution: the stage's failed actions (FAILED_ACTIONS) or all its actions
// (ALL_ACTIONS) run again, later stages follow; earlier stages are not run again.
func (s *Service) Retry(ctx context.Context, pipelineName, id, stage string, mode core.RetryMode) (core.Execution, error) {
	if !mode.Valid() {
		return core.Execution{}, fmt.Errorf("retry stage %s: retry mode %q: %w", stage, mode, core.ErrInvalid)
	}
	d, _, err := s.declaration(ctx, pipelineName)
	if err != nil {
		return core.Execution{}, err
	}
	if !hasStage(d, stage) {
		return core.Execution{}, fmt.Errorf("retry stage %s: the pipeline has no such stage: %w", stage, core.ErrNotFound)
	}
	st, err := core.FindStage(ctx, s.d.Stages, pipelineName, id, stage)
	if err != nil {
		return core.Execution{}, fmt.Errorf("retry stage %s: %w", stage, err)
	}
	if st.Status != core.StageFailed && st.Status != core.StageStopped {
		return core.Execution{}, fmt.Errorf("retry stage %s of execution %s: the stage is %s, not Failed or Stopped: %w", stage, id, st.Status, core.ErrConflict)
	}
	now := s.d.Clock.Now()
	var refused error
	e, err := core.UpdateExecution(ctx, s.d.Executions, pipelineName, id, func(e *core.Execution) bool {
		refused = nil
		if e.Status != core.ExecutionFailed && e.Status != core.ExecutionStopped {
			refused = fmt.Errorf("retry execution %s: it is %s, not Failed or Stopped: %w", id, e.Status, core.ErrConflict)
			return false
		}
		count := 1
		if e.Retry != nil {
			count = e.Retry.Count + 1
		}
		e.Retry = &core.StageRetry{Stage: stage, Mode: mode, Count: count, At: now}
		e.Status, e.StatusSummary, e.Stop = core.ExecutionInProgress, "", nil
		e.EngineRun = fmt.Sprintf("%s-retry-%d", e.ID, count)
		e.LastUpdateTime = now
		return true
	})
	if err != nil {
		return core.Execution{}, err
	}
	if refused != nil {
		return e, refused
	}
	s.d.Logger.InfoContext(ctx, "stage retried", "pipeline", pipelineName, "execution_id", id, "stage", stage, "mode", mode)
	return e, s.startRun(ctx, e, core.MachineInput{Pipeline: pipelineName, ExecutionID: id, ResumeAt: stage, RetryMode: mode})
}

// Stop stops an execution (see gate.Service.Stop).
func (s *Service) Stop(ctx context.Context, pipelineName, id string, mode core.StopMode, reason, by string) (core.Execution, error) {
	d, _, err := s.declaration(ctx, pipelineName)
	if err != nil {
		return core.Execution{}, err
	}
	if mode == "" {
		mode = core.StopAndWait
	}
	if mode != core.StopAndWait && mode != core.StopAndAbandon {
		return core.Execution{}, fmt.Errorf("stop execution %s: mode %q: %w", id, mode, core.ErrInvalid)
	}
	return s.d.Gate.Stop(ctx, gate.StopRequest{
		Pipeline: pipelineName, ExecutionID: id, Mode: mode, Reason: reason, By: by, Stages: stageNames(d),
	}, s.d.Canceler)
}

// DisableTransition closes the inbound transition of a stage.
func (s *Service) DisableTransition(ctx context.Context, pipelineName, stage, reason, by string) error {
	d, _, err := s.declaration(ctx, pipelineName)
	if err != nil {
		return err
	}
	if !hasStage(d, stage) {
		return fmt.Errorf("disable transition into %s: the pipeline has no such stage: %w", stage, core.ErrNotFound)
	}
	return s.d.Gate.DisableTransition(ctx, pipelineName, stage, reason, by)
}

// EnableTransition opens the inbound transition of a stage.
func (s *Service) EnableTransition(ctx context.Context, pipelineName, stage, by string) error {
	d, _, err := s.declaration(ctx, pipelineName)
	if err != nil {
		return err
	}
	if !hasStage(d, stage) {
		return fmt.Errorf("enable transition into %s: the pipeline has no such stage: %w", stage, core.ErrNotFound)
	}
	return s.d.Gate.EnableTransition(ctx, pipelineName, stage, by, core.ExecutionMode(d.Mode()))
}

// Reconcile starts again the engine run of every InProgress or Stopping execution of the
// installed pipelines. After a crash between recording an execution and starting its run
// this starts the run; otherwise the engine finds the run exists (same name, same input)
// and does nothing.
func (s *Service) Reconcile(ctx context.Context) error {
	pipelines, err := s.d.Pipelines.ListPipelines(ctx)
	if err != nil {
		return fmt.Errorf("reconcile: list pipelines: %w", err)
	}
	var errs []error
	for _, p := range pipelines {
		page := core.Page{Limit: 100}
		for {
			es, next, err := s.d.Executions.ListExecutions(ctx, p.Name, page)
			if err != nil {
				errs = append(errs, fmt.Errorf("reconcile pipeline %s: %w", p.Name, err))
				break
			}
			for _, e := range es {
				if e.Status != core.ExecutionInProgress && e.Status != core.ExecutionStopping {
					continue
				}
				in := core.MachineInput{Pipeline: p.Name, ExecutionID: e.ID}
				if e.Retry != nil {
					in.ResumeAt, in.RetryMode = e.Retry.Stage, e.Retry.Mode
				}
				input, _ := json.Marshal(in)
				if err := s.d.Engine.StartExecution(ctx, p.Name, e.EngineRun, input); err != nil && !errors.Is(err, core.ErrConflict) {
					errs = append(errs, fmt.Errorf("reconcile execution %s: %w", e.ID, err))
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

func stageNames(d *pipeline.Declaration) []string {
	names := make([]string, len(d.Stages))
	for i, st := range d.Stages {
		names[i] = st.Name
	}
	return names
}

func hasStage(d *pipeline.Declaration, stage string) bool {
	for _, st := range d.Stages {
		if st.Name == stage {
			return true
		}
	}
	return false
}
