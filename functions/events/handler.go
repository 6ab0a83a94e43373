package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"path"
	"strings"

	"github.com/relais-ci/relais/shared/action"
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

// Handler translates the EventBridge events of CodeBuild and Step Functions.
type Handler struct {
	builds Completer
	runs   RunEnder
	reader BuildReader
	logger *slog.Logger
}

// NewHandler returns a handler that completes build actions through builds and ends
// runs through runs. reader, when set, supplies the variables a succeeded build
// exported, when its event carries none.
func NewHandler(builds Completer, runs RunEnder, reader BuildReader, logger *slog.Logger) *Handler {
	if logger == nil {
		logger = slog.Default()
	}
	return &Handler{builds: builds, runs: runs, reader: reader, logger: logger}
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
)

// envelope is the part of an EventBridge event every event has.
type envelope struct {
	Source     string          `json:"source"`
	DetailType string          `json:"detail-type"`
	ID         string          `json:"id"`
	Detail     json.RawMessage `json:"detail"`
}

// Invoke handles one event. An event it cannot read fails the invocation (EventBridge
// keeps it for its retries and the dead-letter destination); an event about work Relais
// does not track is ignored.
func (h *Handler) Invoke(ctx context.Context, raw json.RawMessage) (Output, error) {
	var e envelope
	if err := json.Unmarshal(raw, &e); err != nil {
		return Output{}, fmt.Errorf("decode event: %w", err)
	}
	switch {
	case e.Source == sourceCodeBuild && e.DetailType == typeBuildState:
		return h.build(ctx, e)
	case e.Source == sourceStepFunctions && e.DetailType == typeExecutionStatus:
		return h.execution(ctx, e)
	}
	h.logger.InfoContext(ctx, "event ignored", "source", e.Source, "detail_type", e.DetailType, "event_id", e.ID)
	return Output{Outcome: outcomeIgnored}, nil
}

// buildDetail is the part of a CodeBuild Build State Change detail Relais reads.
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
func (h *Handler) build(ctx context.Context, e envelope) (Output, error) {
	var d buildDetail
	if err := json.Unmarshal(e.Detail, &d); err != nil {
		return Output{}, fmt.Errorf("decode build state change %s: %w", e.ID, err)
	}
	res, done := buildResult(d)
	if !done {
		return Output{Outcome: outcomeIgnored}, nil
	}
	if res.Status == core.ActionSucceeded && res.OutputVariables == nil && h.reader != nil {
		vars, err := h.reader.ExportedVariables(ctx, res.ExternalID)
		if err != nil {
			return Output{}, fmt.Errorf("complete build %s: %w", res.ExternalID, err)
		}
		if len(vars) > 0 {
			res.OutputVariables = vars
		}
	}
	err := h.builds.CompleteExternal(ctx, res.ExternalID, res)
	if errors.Is(err, core.ErrNotFound) {
		// A build of a Relais project that no action waits for (started by hand).
		h.logger.InfoContext(ctx, "build not run by an action", "build", res.ExternalID, "project", d.Project)
		return Output{Outcome: outcomeUnknown}, nil
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
		if a, ok := artifact(d.Info.Artifact.Location); ok {
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

// artifact reads the output artifact of a build from its S3 location
// ("arn:aws:s3:::bucket/key"): the CodeBuild provider points the build's artifacts at the
// artifact store's key for the action's output, <pipeline>/<execution>/<name>.zip.
func artifact(loc string) (core.Artifact, bool) {
	rest, ok := strings.CutPrefix(loc, "arn:aws:s3:::")
	if !ok {
		return core.Artifact{}, false
	}
	bucket, key, ok := strings.Cut(rest, "/")
	if !ok || bucket == "" || key == "" {
		return core.Artifact{}, false
	}
	name := strings.TrimSuffix(path.Base(key), ".zip")
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

// execution hands a run that ended abnormally to the run ender.
func (h *Handler) execution(ctx context.Context, e envelope) (Output, error) {
	var d executionDetail
	if err := json.Unmarshal(e.Detail, &d); err != nil {
		return Output{}, fmt.Errorf("decode execution status change %s: %w", e.ID, err)
	}
	switch d.Status {
	case "FAILED", "ABORTED", "TIMED_OUT":
	default:
		return Output{Outcome: outcomeIgnored}, nil
	}
	var in core.MachineInput
	if err := json.Unmarshal([]byte(d.Input), &in); err != nil || in.Pipeline == "" || in.ExecutionID == "" {
		// Not a run Relais started (its input is always a MachineInput), or one whose
		// input the event left out: nothing to free.
		h.logger.WarnContext(ctx, "execution status change without a Relais input", "run", d.Name, "status", d.Status)
		return Output{Outcome: outcomeIgnored}, nil
	}
	r := EndedRun{Pipeline: in.Pipeline, ExecutionID: in.ExecutionID, Run: d.Name, Status: d.Status, Error: d.Error, Cause: d.Cause}
	if err := h.runs.EndRun(ctx, r); err != nil {
		return Output{}, fmt.Errorf("end run %s of execution %s: %w", d.Name, in.ExecutionID, err)
	}
	return Output{Outcome: outcomeEnded}, nil
}
