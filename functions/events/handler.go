package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"path"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws/arn"

	"github.com/relais-ci/relais/shared/action"
	"github.com/relais-ci/relais/shared/aws/cfnaction"
	"github.com/relais-ci/relais/shared/core"
)

// EventBridge sources and detail types this function is subscribed to.
const (
	sourceCodeBuild     = "aws.codebuild"
	typeBuildState      = "CodeBuild Build State Change"
	sourceStepFunctions = "aws.states"
	typeExecutionStatus = "Step Functions Execution Status Change"
)

// Completer ends the action whose work has an external id (*action.Service).
type Completer interface {
	CompleteExternal(ctx context.Context, externalID string, res action.Result) error
}

// RunEnder frees what an engine run that ended without passing through its machine's
// failed path left behind (*Runs).
type RunEnder interface {
	EndRun(ctx context.Context, r EndedRun) error
}

// ExecutionReader reads executions (core.ExecutionStore).
type ExecutionReader interface {
	GetExecution(ctx context.Context, pipelineName, id string) (core.Execution, error)
}

// StatusReporter reports an execution's status where its revision came from (a GitHub
// commit status: Statuses). It logs its own failures; the handler ignores them.
type StatusReporter interface {
	Report(ctx context.Context, e core.Execution) error
}

// EndedRun is a state machine execution that ended FAILED, ABORTED or TIMED_OUT.
type EndedRun struct {
	Pipeline    string
	ExecutionID string
	// Run is the engine execution's name (core.Execution.EngineRun).
	Run    string
	Status string
	Error  string
	Cause  string
}

// Deps are what the handler works over.
type Deps struct {
	// Builds completes the actions of builds (and stack operations) that ended.
	Builds Completer
	// Runs ends the executions of state machine runs that ended abnormally.
	Runs RunEnder
	// Reader, when set, reads what a succeeded build produced beyond what its event
	// says: its secondary artifacts, and its exported variables. Outputs, when set,
	// limits that to the builds whose action declares outputs the event does not name
	// or whose event carries no variables, and leaves builds no action waits for alone.
	Reader  BuildReader
	Outputs OutputLister
	// Statuses, when set with Executions, reports an execution's status when its run
	// starts and when it ends.
	Statuses   StatusReporter
	Executions ExecutionReader
	// Stacks, when set, reads CloudFormation stack status changes: the end of an
	// operation a CloudFormation action started completes the action (through Builds).
	Stacks StackEventer
	Logger *slog.Logger
}

// EventFunc handles the events of one source and detail type.
type EventFunc func(ctx context.Context, e Event) (Output, error)

type route struct{ source, detailType string }

// Handler translates the EventBridge events of CodeBuild and Step Functions, and those
// of any source routed to it.
type Handler struct {
	d      Deps
	routes map[route]EventFunc
}

// New returns a handler of CodeBuild build state changes and Step Functions execution
// status changes over d.
func New(d Deps) *Handler {
	if d.Logger == nil {
		d.Logger = slog.Default()
	}
	h := &Handler{d: d, routes: map[route]EventFunc{}}
	h.Route(sourceCodeBuild, typeBuildState, h.build)
	h.Route(sourceStepFunctions, typeExecutionStatus, h.execution)
	if d.Stacks != nil {
		h.Route(cfnaction.EventSource, cfnaction.EventDetailType, h.stack)
	}
	return h
}

// Route hands the events of source and detailType to fn, in place of any function
// routed there before. Routes are set up before the handler serves events.
func (h *Handler) Route(source, detailType string, fn EventFunc) {
	h.routes[route{source, detailType}] = fn
}

// Output says what the handler did with an event (for logs and tests).
type Output struct {
	Outcome string `json:"outcome"`
}

// Outcomes.
const (
	outcomeIgnored   = "ignored"
	outcomeCompleted = "completed"
	outcomeUnknown   = "unknown"
	outcomeEnded     = "ended"
	outcomeReported  = "reported"
)

// Event is the part of an EventBridge event every event has.
type Event struct {
	Source     string          `json:"source"`
	DetailType string          `json:"detail-type"`
	ID         string          `json:"id"`
	Detail     json.RawMessage `json:"detail"`
	// Raw is the whole event as it arrived.
	Raw json.RawMessage `json:"-"`
}

// Invoke handles one event. An event it cannot read fails the invocation (EventBridge
// keeps it for its retries and the dead-letter destination); an event about work Relais
// does not track is ignored.
func (h *Handler) Invoke(ctx context.Context, raw json.RawMessage) (Output, error) {
	var e Event
	if err := json.Unmarshal(raw, &e); err != nil {
		return Output{}, fmt.Errorf("decode event: %w", err)
	}
	e.Raw = raw
	if fn, ok := h.routes[route{e.Source, e.DetailType}]; ok {
		return fn(ctx, e)
	}
	h.d.Logger.InfoContext(ctx, "event ignored", "source", e.Source, "detail_type", e.DetailType, "event_id", e.ID)
	return Output{Outcome: outcomeIgnored}, nil
}

// buildDetail is the part of a CodeBuild Build State Change detail Relais reads. The
// event names the primary artifact only; secondary artifacts are read from the build
// (BuildReader).
type buildDetail struct {
	Status  string `json:"build-status"`
	BuildID string `json:"build-id"`
	Project string `json:"project-name"`
	Info    struct {
		Complete bool `json:"build-complete"`
		Logs     struct {
			DeepLink string `json:"deep-link"`
		} `json:"logs"`
		Artifact struct {
			Location string `json:"location"`
		} `json:"artifact"`
		Exported []struct {
			Name  string `json:"name"`
			Value string `json:"value"`
		} `json:"exported-environment-variables"`
		Phases []struct {
			Type    string `json:"phase-type"`
			Status  string `json:"phase-status"`
			Context []any  `json:"phase-context"`
		} `json:"phases"`
	} `json:"additional-information"`
}

// build completes the action a finished build ran for. The action's external id is the
// build id as StartBuild returns it ("project:uuid"); the event names the build by ARN.
func (h *Handler) build(ctx context.Context, e Event) (Output, error) {
	var d buildDetail
	if err := json.Unmarshal(e.Detail, &d); err != nil {
		return Output{}, fmt.Errorf("decode build state change %s: %w", e.ID, err)
	}
	res, done := buildResult(d)
	if !done {
		return Output{Outcome: outcomeIgnored}, nil
	}
	unknown := func() (Output, error) {
		// A build of a Relais project that no action waits for (started by hand).
		h.d.Logger.InfoContext(ctx, "build not run by an action", "build", res.ExternalID, "project", d.Project)
		return Output{Outcome: outcomeUnknown}, nil
	}
	if res.Status == core.ActionSucceeded && h.d.Reader != nil {
		// An action with several outputs gets them all: the event names the primary
		// artifact only.
		read := true
		if h.d.Outputs != nil {
			names, err := h.d.Outputs.DeclaredOutputs(ctx, res.ExternalID)
			if errors.Is(err, core.ErrNotFound) {
				return unknown()
			}
			if err != nil {
				return Output{}, fmt.Errorf("complete build %s: %w", res.ExternalID, err)
			}
			read = res.OutputVariables == nil || slices.ContainsFunc(names, func(n string) bool {
				return !slices.ContainsFunc(res.OutputArtifacts, func(a core.Artifact) bool { return a.Name == n })
			})
		}
		if read {
			b, err := h.d.Reader.ReadBuild(ctx, res.ExternalID)
			if err != nil {
				return Output{}, fmt.Errorf("complete build %s: %w", res.ExternalID, err)
			}
			res = b.complete(res)
		}
	}
	err := h.d.Builds.CompleteExternal(ctx, res.ExternalID, res)
	if errors.Is(err, core.ErrNotFound) {
		return unknown()
	}
	if err != nil {
		return Output{}, fmt.Errorf("complete build %s: %w", res.ExternalID, err)
	}
	return Output{Outcome: outcomeCompleted}, nil
}

// buildResult turns a build state change into the action's result; done is false while
// the build runs.
func buildResult(d buildDetail) (res action.Result, done bool) {
	id := d.BuildID
	if i := strings.Index(id, ":build/"); strings.HasPrefix(id, "arn:") && i >= 0 {
		id = id[i+len(":build/"):]
	}
	res = action.Result{ExternalID: id, ExternalURL: d.Info.Logs.DeepLink}
	if len(d.Info.Exported) > 0 {
		res.OutputVariables = map[string]string{}
		for _, v := range d.Info.Exported {
			res.OutputVariables[v.Name] = v.Value
		}
	}
	switch d.Status {
	case "SUCCEEDED":
		res.Status = core.ActionSucceeded
		res.Summary = "Build " + id + " succeeded"
		if a, ok := artifact(d.Info.Artifact.Location, ""); ok {
			res.OutputArtifacts = []core.Artifact{a}
		}
	case "FAILED", "FAULT", "STOPPED", "TIMED_OUT":
		res.Status = core.ActionFailed
		msg := fmt.Sprintf("Build %s ended %s", id, d.Status)
		for _, p := range d.Info.Phases {
			if p.Status != "" && p.Status != "SUCCEEDED" {
				msg += fmt.Sprintf(" in phase %s", p.Type)
				for _, c := range p.Context {
					if s, ok := c.(string); ok && strings.TrimSpace(s) != "" && s != ": " {
						msg += ": " + s
					}
				}
				break
			}
		}
		res.Summary = msg
		res.Error = &core.ErrorDetails{Code: "JobFailed", Message: msg}
	default:
		return res, false
	}
	return res, true
}

// complete adds to res what the build knows and its event did not say: the output
// artifacts the event left out (the secondary ones), and the exported variables when
// the event carried none.
func (b BuildOutputs) complete(res action.Result) action.Result {
	for _, a := range b.Artifacts {
		if !slices.ContainsFunc(res.OutputArtifacts, func(o core.Artifact) bool { return o.Name == a.Name }) {
			res.OutputArtifacts = append(res.OutputArtifacts, a)
		}
	}
	if res.OutputVariables == nil && len(b.Variables) > 0 {
		res.OutputVariables = b.Variables
	}
	return res
}

// artifact reads an output artifact of a build from its S3 location
// ("arn:aws:s3:::bucket/key"): the CodeBuild provider (codebuildaction) points each of
// the action's outputs at the artifact store's key for it, <pipeline>/<execution>/<name>.zip,
// and names a secondary artifact by its output's name (its identifier). name is the
// artifact's identifier; "" (the primary artifact) takes the name from the key.
func artifact(loc, name string) (core.Artifact, bool) {
	a, err := arn.Parse(loc)
	if err != nil || a.Service != "s3" {
		return core.Artifact{}, false
	}
	bucket, key, ok := strings.Cut(a.Resource, "/")
	if !ok || bucket == "" || key == "" {
		return core.Artifact{}, false
	}
	if name == "" {
		name = strings.TrimSuffix(path.Base(key), ".zip")
	}
	return core.Artifact{Name: name, Location: core.ArtifactLocation{Store: bucket, Key: key}}, true
}

// executionDetail is the part of a Step Functions Execution Status Change detail Relais
// reads.
type executionDetail struct {
	Name   string `json:"name"`
	Status string `json:"status"`
	Input  string `json:"input"`
	Error  string `json:"error"`
	Cause  string `json:"cause"`
}

// execution handles a run that started or ended: a run that ended abnormally goes to
// the run ender, and the execution's status is reported.
func (h *Handler) execution(ctx context.Context, e Event) (Output, error) {
	var d executionDetail
	if err := json.Unmarshal(e.Detail, &d); err != nil {
		return Output{}, fmt.Errorf("decode execution status change %s: %w", e.ID, err)
	}
	abnormal := false
	switch d.Status {
	case "FAILED", "ABORTED", "TIMED_OUT":
		abnormal = true
	case "RUNNING", "SUCCEEDED":
		if h.d.Statuses == nil || h.d.Executions == nil {
			return Output{Outcome: outcomeIgnored}, nil
		}
	default:
		return Output{Outcome: outcomeIgnored}, nil
	}
	var in core.MachineInput
	if err := json.Unmarshal([]byte(d.Input), &in); err != nil || in.Pipeline == "" || in.ExecutionID == "" {
		// Not a run Relais started (its input is always a MachineInput), or one whose
		// input the event left out: nothing to free.
		h.d.Logger.WarnContext(ctx, "execution status change without a Relais input", "run", d.Name, "status", d.Status)
		return Output{Outcome: outcomeIgnored}, nil
	}
	out := Output{Outcome: outcomeReported}
	if abnormal {
		r := EndedRun{Pipeline: in.Pipeline, ExecutionID: in.ExecutionID, Run: d.Name, Status: d.Status, Error: d.Error, Cause: d.Cause}
		if err := h.d.Runs.EndRun(ctx, r); err != nil {
			return Output{}, fmt.Errorf("end run %s of execution %s: %w", d.Name, in.ExecutionID, err)
		}
		out.Outcome = outcomeEnded
	}
	h.report(ctx, in.Pipeline, in.ExecutionID, d.Name)
	return out, nil
}

// report reports the status of an execution as recorded, if run is its current run.
// EventBridge may deliver a run's start after its end, and two instances of this
// function may report one execution at once: each reports what the store says, and
// one that reported a running execution reads it again, so that the last status
// reported is the final one once the execution has ended. Failures are logged only:
// a status never fails the pipeline, nor the event.
func (h *Handler) report(ctx context.Context, pipelineName, id, run string) {
	if h.d.Statuses == nil || h.d.Executions == nil {
		return
	}
	read := func() (core.Execution, bool) {
		x, err := h.d.Executions.GetExecution(ctx, pipelineName, id)
		if err != nil {
			h.d.Logger.WarnContext(ctx, "report execution status: read execution", "pipeline", pipelineName, "execution_id", id, "err", err)
			return x, false
		}
		current := x.EngineRun
		if current == "" {
			current = x.ID
		}
		return x, current == run // else an older run of a retried execution
	}
	x, ok := read()
	if !ok {
		return
	}
	_ = h.d.Statuses.Report(ctx, x) // logged by the reporter
	if x.Status.Terminal() {
		return
	}
	if x, ok = read(); ok && x.Status.Terminal() {
		_ = h.d.Statuses.Report(ctx, x)
	}
}
