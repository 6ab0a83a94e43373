// Package lambdaaction runs the Invoke action of provider Lambda on AWS: a synchronous
// Invoke of FunctionName with CodePipeline's job event, {"CodePipeline.job": {"id",
// "accountId", "data": {…}}}, in the shape the local twin (shared/local/lambdainvoke)
// builds. Input artifacts are located where the artifact store keeps them; each output
// artifact is to be written by the function at <prefix><pipeline>/<execution>/<name>.zip
// in the artifact bucket, the key the store would give it.
//
// The outcome differs from CodePipeline's on purpose: CodePipeline invokes the function
// asynchronously and waits for it to call PutJobSuccessResult or PutJobFailureResult.
// Relais has no job API; it takes the synchronous result as the outcome. A function
// error (an exception, a timeout) fails the action with its message; otherwise the
// action succeeds, and a result that is a JSON object may carry "outputVariables",
// "summary" and "executionDetails" ({"summary", "externalExecutionId"}), as
// PutJobSuccessResult takes them; any other result is ignored. A function written for
// CodePipeline that calls PutJobSuccessResult gets an error from CodePipeline (the job
// is not CodePipeline's), and should not. artifactCredentials are left empty: the
// function reads and writes artifacts with its own role. The invocation runs within the
// action function's own timeout, so a function longer than that cannot be run.
package lambdaaction

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"path"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"

	"github.com/relais-ci/relais/shared/action"
	"github.com/relais-ci/relais/shared/action/lambdajob"
	"github.com/relais-ci/relais/shared/core"
)

// Provider is the action type this package runs, as action.ProviderKey spells it.
const Provider = "Invoke/AWS/Lambda"

// Client is the part of *lambda.Client the Invoker calls.
type Client interface {
	Invoke(ctx context.Context, in *lambda.InvokeInput, optFns ...func(*lambda.Options)) (*lambda.InvokeOutput, error)
}

// Deps are what invocations need.
type Deps struct {
	Client Client
	// Artifacts is the artifact store; Run checks through it that the function wrote
	// its output artifacts.
	Artifacts core.ArtifactStore
	// Bucket and Prefix are where the artifact store keeps artifacts (s3artifact's
	// bucket and prefix): output artifacts are expected there.
	Bucket, Prefix string
	// AccountID is the account id job events carry.
	AccountID string
	Logger    *slog.Logger
}

// Invoker runs Lambda Invoke actions. It is safe for concurrent use.
type Invoker struct{ d Deps }

var _ action.Provider = (*Invoker)(nil)

// New returns an Invoker over d.
func New(d Deps) *Invoker {
	if d.Logger == nil {
		d.Logger = slog.Default()
	}
	if d.Prefix != "" && !strings.HasSuffix(d.Prefix, "/") {
		d.Prefix += "/"
	}
	return &Invoker{d: d}
}

// The job event and reply types are CodePipeline's, shared with the other Invoke
// provider (package lambdajob).
type (
	Event               = lambdajob.Event
	Job                 = lambdajob.Job
	JobData             = lambdajob.JobData
	ActionConfiguration = lambdajob.ActionConfiguration
	Artifact            = lambdajob.Artifact
	Location            = lambdajob.Location
	S3Location          = lambdajob.S3Location
	Credentials         = lambdajob.Credentials
	Reply               = lambdajob.Reply
)

// functionError is the payload of a failed invocation.
type functionError struct {
	Message string `json:"errorMessage"`
	Type    string `json:"errorType"`
}

// Run invokes the function and waits for it. Running it again invokes it again.
func (v *Invoker) Run(ctx context.Context, job action.Job) (action.Result, error) {
	rec := job.Record
	name := rec.Configuration["FunctionName"]
	if name == "" {
		return action.Failed("ConfigurationError", errors.New("configuration FunctionName is required")), nil
	}
	ev := v.event(job)
	if len(ev.Job.Data.OutputArtifacts) > 0 && v.d.Bucket == "" {
		return action.Failed("ConfigurationError", errors.New("the action has output artifacts but Relais has no artifact bucket")), nil
	}
	payload, err := json.Marshal(ev)
	if err != nil {
		return action.Result{}, fmt.Errorf("encode job event for function %s: %w", name, err)
	}
	v.d.Logger.InfoContext(ctx, "function invoked", "pipeline", rec.PipelineName, "execution_id", rec.ExecutionID,
		"stage", job.Stage, "action", rec.ActionName, "function", name)
	out, err := v.d.Client.Invoke(ctx, &lambda.InvokeInput{
		FunctionName: aws.String(name), InvocationType: types.InvocationTypeRequestResponse, Payload: payload,
	})
	if err != nil {
		return action.Failed("JobFailed", fmt.Errorf("invoke function %s: %w", name, err)), nil
	}
	if fe := aws.ToString(out.FunctionError); fe != "" {
		var e functionError
		msg := strings.TrimSpace(string(out.Payload))
		if json.Unmarshal(out.Payload, &e) == nil && e.Message != "" {
			msg = e.Message
			if e.Type != "" {
				msg = e.Type + ": " + msg
			}
		}
		return action.Failed("JobFailed", fmt.Errorf("function %s failed (%s): %s", name, fe, msg)), nil
	}

	var reply Reply
	if p := bytes.TrimSpace(out.Payload); len(p) > 0 && p[0] == '{' {
		if err := json.Unmarshal(p, &reply); err != nil {
			return action.Failed("JobFailed", fmt.Errorf(`function %s: its result is not {"outputVariables": {...}, "summary": "..."}: %w`, name, err)), nil
		}
	}
	res := action.Result{Status: core.ActionSucceeded, OutputVariables: reply.OutputVariables, Summary: reply.Summary, ExternalID: ev.Job.ID}
	if d := reply.ExecutionDetails; d != nil {
		if res.Summary == "" {
			res.Summary = d.Summary
		}
		if d.ExternalExecutionID != "" {
			res.ExternalID = d.ExternalExecutionID
		}
	}
	for _, o := range ev.Job.Data.OutputArtifacts {
		loc := core.ArtifactLocation{Store: o.Location.S3Location.BucketName, Key: o.Location.S3Location.ObjectKey}
		rc, err := v.d.Artifacts.OpenArtifact(ctx, loc)
		if errors.Is(err, core.ErrNotFound) {
			return action.Failed("JobFailed", fmt.Errorf("function %s: output artifact %s was not written to s3://%s/%s",
				name, o.Name, loc.Store, loc.Key)), nil
		}
		if err != nil {
			return action.Failed("JobFailed", fmt.Errorf("function %s: output artifact %s: %w", name, o.Name, err)), nil
		}
		rc.Close()
		res.OutputArtifacts = append(res.OutputArtifacts, core.Artifact{Name: o.Name, Location: loc})
	}
	if res.Summary == "" {
		res.Summary = fmt.Sprintf("Function %s succeeded", name)
	}
	return res, nil
}

// event builds the job event: input artifacts where the store keeps them, output
// artifacts where the store would put them.
func (v *Invoker) event(job action.Job) Event {
	rec := job.Record
	conf := map[string]string{"FunctionName": rec.Configuration["FunctionName"]}
	if p, ok := rec.Configuration["UserParameters"]; ok {
		conf["UserParameters"] = p
	}
	ev := Event{Job: Job{ID: rec.ID, AccountID: v.d.AccountID, Data: JobData{
		ActionConfiguration: ActionConfiguration{Configuration: conf},
		InputArtifacts:      []Artifact{},
		OutputArtifacts:     []Artifact{},
	}}}
	for _, a := range rec.InputArtifacts {
		ev.Job.Data.InputArtifacts = append(ev.Job.Data.InputArtifacts, Artifact{Name: a.Name,
			Location: Location{Type: "S3", S3Location: S3Location{BucketName: a.Location.Store, ObjectKey: a.Location.Key}}})
	}
	for _, o := range job.Declared.OutputArtifacts {
		key := v.d.Prefix + path.Join(rec.PipelineName, rec.ExecutionID, o.Name+".zip")
		ev.Job.Data.OutputArtifacts = append(ev.Job.Data.OutputArtifacts, Artifact{Name: o.Name,
			Location: Location{Type: "S3", S3Location: S3Location{BucketName: v.d.Bucket, ObjectKey: key}}})
	}
	return ev
}
