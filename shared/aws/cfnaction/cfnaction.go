// Package cfnaction runs the Deploy action of provider CloudFormation on AWS: stacks
// are created, updated or deleted and change sets created or executed, in the five
// action modes CodePipeline has (CREATE_UPDATE, DELETE_ONLY, REPLACE_ON_FAILURE,
// CHANGE_SET_REPLACE, CHANGE_SET_EXECUTE), with the configuration keys CodePipeline
// documents: StackName, TemplatePath and TemplateConfiguration ("Artifact::path" in an
// input artifact's zip), ParameterOverrides (with Fn::GetParam and Fn::GetArtifactAtt),
// Capabilities, RoleArn, ChangeSetName and OutputFileName.
//
// # Waiting without holding a Lambda
//
// A stack operation can take an hour. Run starts it and returns InProgress; the action
// ends when CloudFormation's "CloudFormation Stack Status Change" event for the
// operation reaches the events function, which hands it to StackEvent and completes the
// action by the external id StackEvent returns (action.Service.CompleteExternal).
//
// Every operation Run starts carries a ClientRequestToken made of the action
// execution's id (see ExternalID): "relais-<action execution id>-<op>", op being c
// (create), u (update), d (delete), r (delete of a failed stack before it is created
// again) or x (execute a change set). CloudFormation stamps that token on every event
// of the operation, so the events name the action execution they belong to, and two
// deployments of one stack never share an external id. The token is also what makes a
// repeated Run harmless: CloudFormation treats a request with a token it has seen as a
// retry, and Run first looks at the stack's newest event — when it carries this action
// execution's token, the operation already started (or ended) and Run reports it
// instead of starting another.
//
// REPLACE_ON_FAILURE on a failed stack takes two operations: Run deletes the stack;
// StackEvent, on its DELETE_COMPLETE, creates it again (reading the template anew) and
// the action goes on under the same external id.
//
// Creating a change set is short and has no event: Run waits for it, polling
// DescribeChangeSet with a growing delay for at most Deps.ChangeSetWait (60 s by
// default) and never past its context's deadline.
//
// On success the stack's outputs become the action's output variables, and with
// OutputFileName they are written, as a JSON object, into the action's output artifact.
// A failure says the stack's final status, its reason and the first resource that
// failed (DescribeStackEvents), as CodePipeline does.
//
// Templates over 51,200 bytes (CloudFormation's limit for TemplateBody) are uploaded to
// the artifact bucket, at <prefix><pipeline>/<execution>/cloudformation/<token
// stem>/<file>, and passed by TemplateURL. A template configuration's StackPolicy
// applies to stacks created or updated directly; CreateChangeSet takes none, so the
// change set modes leave the stack's policy as it is.
//
// # Permissions
//
// Run needs cloudformation:DescribeStacks, DescribeStackEvents, CreateStack,
// UpdateStack, DeleteStack, CreateChangeSet, DescribeChangeSet, DeleteChangeSet and
// ExecuteChangeSet on the stacks (and change sets) it deploys; iam:PassRole on each
// RoleArn, for cloudformation.amazonaws.com; and, through the artifact store,
// s3:GetObject on input artifacts and s3:PutObject on the artifact bucket (CloudFormation
// reads an uploaded template with the caller's credentials). StackEvent needs
// DescribeStacks, DescribeStackEvents, CreateStack (a failed stack replaced), iam:PassRole
// and the same S3 access, with the action and pipeline stores' reads. CancelAction needs
// DescribeStacks, DescribeStackEvents and CancelUpdateStack.
package cfnaction

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/arn"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"

	"github.com/relais-ci/relais/shared/action"
	"github.com/relais-ci/relais/shared/core"
	"github.com/relais-ci/relais/shared/gate"
)

// Provider is the action type this package runs, as action.ProviderKey spells it.
const Provider = "Deploy/AWS/CloudFormation"

// Action modes.
const (
	ModeCreateUpdate     = "CREATE_UPDATE"
	ModeDeleteOnly       = "DELETE_ONLY"
	ModeReplaceOnFailure = "REPLACE_ON_FAILURE"
	ModeChangeSetReplace = "CHANGE_SET_REPLACE"
	ModeChangeSetExecute = "CHANGE_SET_EXECUTE"
)

// CloudFormation's limits: a template passed in the request, and one read from S3.
const (
	maxTemplateBody = 51200
	maxTemplateSize = 1 << 20
	// maxFileSize bounds the other files read from input artifacts (template
	// configurations, Fn::GetParam files).
	maxFileSize = 1 << 20
)

// defaultChangeSetWait is how long Run waits for a change set by default.
const defaultChangeSetWait = 60 * time.Second

// Client is the part of *cloudformation.Client the Deployer calls.
type Client interface {
	DescribeStacks(ctx context.Context, in *cloudformation.DescribeStacksInput, optFns ...func(*cloudformation.Options)) (*cloudformation.DescribeStacksOutput, error)
	DescribeStackEvents(ctx context.Context, in *cloudformation.DescribeStackEventsInput, optFns ...func(*cloudformation.Options)) (*cloudformation.DescribeStackEventsOutput, error)
	CreateStack(ctx context.Context, in *cloudformation.CreateStackInput, optFns ...func(*cloudformation.Options)) (*cloudformation.CreateStackOutput, error)
	UpdateStack(ctx context.Context, in *cloudformation.UpdateStackInput, optFns ...func(*cloudformation.Options)) (*cloudformation.UpdateStackOutput, error)
	DeleteStack(ctx context.Context, in *cloudformation.DeleteStackInput, optFns ...func(*cloudformation.Options)) (*cloudformation.DeleteStackOutput, error)
	CancelUpdateStack(ctx context.Context, in *cloudformation.CancelUpdateStackInput, optFns ...func(*cloudformation.Options)) (*cloudformation.CancelUpdateStackOutput, error)
	CreateChangeSet(ctx context.Context, in *cloudformation.CreateChangeSetInput, optFns ...func(*cloudformation.Options)) (*cloudformation.CreateChangeSetOutput, error)
	DescribeChangeSet(ctx context.Context, in *cloudformation.DescribeChangeSetInput, optFns ...func(*cloudformation.Options)) (*cloudformation.DescribeChangeSetOutput, error)
	DeleteChangeSet(ctx context.Context, in *cloudformation.DeleteChangeSetInput, optFns ...func(*cloudformation.Options)) (*cloudformation.DeleteChangeSetOutput, error)
	ExecuteChangeSet(ctx context.Context, in *cloudformation.ExecuteChangeSetInput, optFns ...func(*cloudformation.Options)) (*cloudformation.ExecuteChangeSetOutput, error)
}

// ObjectPutter uploads large templates to the artifact bucket (*s3.Client is one).
type ObjectPutter interface {
	PutObject(ctx context.Context, in *s3.PutObjectInput, optFns ...func(*s3.Options)) (*s3.PutObjectOutput, error)
}

// ActionFinder finds the action execution an event is about (core.ActionStore is one).
type ActionFinder interface {
	FindActionByExternalID(ctx context.Context, externalID string) (core.ActionExecution, error)
}

// PipelineGetter reads installed pipelines (core.PipelineStore is one). StackEvent reads
// the declaration only to name the output artifact of an action with OutputFileName.
type PipelineGetter interface {
	GetPipeline(ctx context.Context, name string) (core.Pipeline, error)
}

// Deps are what the Deployer works with. Run needs CloudFormation and Artifacts (and S3
// and Bucket for templates over 51,200 bytes); StackEvent needs Actions too, and
// Pipelines for actions with OutputFileName.
type Deps struct {
	CloudFormation Client
	// Artifacts is the artifact store: input artifacts are read from it, the output
	// artifact with OutputFileName is written to it.
	Artifacts core.ArtifactStore
	// S3, Bucket and Prefix are where templates too large for a request go: the
	// artifact bucket and the prefix the artifact store uses. KMSKeyID, when set,
	// encrypts them with SSE-KMS (else SSE-S3), as the artifact store does.
	S3       ObjectPutter
	Bucket   string
	Prefix   string
	KMSKeyID string
	// Region is the region of the artifact bucket, for the S3 URLs of uploaded
	// templates and of Fn::GetArtifactAtt's URL attribute.
	Region    string
	Actions   ActionFinder
	Pipelines PipelineGetter
	// ChangeSetWait bounds how long Run waits for a change set to be created
	// (default 60 s).
	ChangeSetWait time.Duration
	Logger        *slog.Logger
}

// Deployer runs CloudFormation actions. It holds no state between calls: it is safe for
// concurrent use, and the function that completes an operation need not be the one that
// started it.
type Deployer struct {
	d Deps
	// sleep waits between change set polls; tests replace it.
	sleep func(ctx context.Context, d time.Duration) error
}

var (
	_ action.Provider = (*Deployer)(nil)
	_ gate.Canceler   = (*Deployer)(nil)
)

// New returns a Deployer over d.
func New(d Deps) *Deployer {
	if d.Logger == nil {
		d.Logger = slog.Default()
	}
	if d.Prefix != "" && !strings.HasSuffix(d.Prefix, "/") {
		d.Prefix += "/"
	}
	if d.ChangeSetWait <= 0 {
		d.ChangeSetWait = defaultChangeSetWait
	}
	return &Deployer{d: d, sleep: sleepCtx}
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// problem is an error in the action's configuration or inputs: the action fails with
// ConfigurationError before CloudFormation is asked to do anything.
type problem struct{ err error }

func (p *problem) Error() string { return p.err.Error() }
func (p *problem) Unwrap() error { return p.err }

func problemf(format string, args ...any) error { return &problem{fmt.Errorf(format, args...)} }

// failure turns an error into the Result of a failed action.
func failure(err error) action.Result {
	var p *problem
	if errors.As(err, &p) {
		return action.Failed("ConfigurationError", err)
	}
	return action.Failed("JobFailed", err)
}

// Run starts the action's operation and returns InProgress with its external id, or
// how the action ended when it ends at once (nothing to delete, no updates to perform,
// a change set created, a configuration error). Run may be called again for the same
// action execution: it then reports the operation it started instead of starting
// another.
func (d *Deployer) Run(ctx context.Context, job action.Job) (action.Result, error) {
	cfg := job.Record.Configuration
	var res action.Result
	var err error
	if cfg["OutputFileName"] != "" {
		_, _, err = outputFile(job)
	}
	switch mode := cfg["ActionMode"]; {
	case err != nil:
	case cfg["StackName"] == "":
		err = problemf("configuration StackName is required")
	case job.Record.Region != "" && d.d.Region != "" && job.Record.Region != d.d.Region:
		// Its events would go to that region's EventBridge, which Relais does not hear.
		err = problemf("the action's region is %s: Relais deploys stacks in its own region, %s, only", job.Record.Region, d.d.Region)
	case mode == ModeCreateUpdate:
		res, err = d.deploy(ctx, job, createOrUpdate)
	case mode == ModeReplaceOnFailure:
		res, err = d.deploy(ctx, job, replaceFailed)
	case mode == ModeDeleteOnly:
		res, err = d.delete(ctx, job)
	case mode == ModeChangeSetReplace:
		res, err = d.replaceChangeSet(ctx, job)
	case mode == ModeChangeSetExecute:
		res, err = d.executeChangeSet(ctx, job)
	default:
		err = problemf("configuration ActionMode %q is not one of %s, %s, %s, %s, %s", mode,
			ModeChangeSetExecute, ModeChangeSetReplace, ModeCreateUpdate, ModeDeleteOnly, ModeReplaceOnFailure)
	}
	if err != nil {
		return failure(err), nil
	}
	rec := job.Record
	d.d.Logger.InfoContext(ctx, "cloudformation action", "pipeline", rec.PipelineName, "execution_id", rec.ExecutionID,
		"stage", job.Stage, "action", rec.ActionName, "stack", cfg["StackName"], "mode", cfg["ActionMode"],
		"status", res.Status, "external_id", res.ExternalID)
	return res, nil
}

// stackName is the configured stack name.
func stackName(job action.Job) string { return job.Record.Configuration["StackName"] }

// How deploy treats a stack that exists.
type deployKind int

const (
	createOrUpdate deployKind = iota // CREATE_UPDATE: update it
	replaceFailed                    // REPLACE_ON_FAILURE: delete it if it failed, else update it
	recreate                         // the second half of a replacement: it should not exist
)

// deploy runs CREATE_UPDATE and REPLACE_ON_FAILURE. StackEvent calls it again, to
// recreate, once a failed stack has been deleted.
func (d *Deployer) deploy(ctx context.Context, job action.Job, kind deployKind) (action.Result, error) {
	name := stackName(job)
	stem := ExternalID(job.Record.ID)
	st, found, err := d.describe(ctx, name)
	if err != nil {
		return action.Result{}, err
	}
	if found {
		if res, ok, err := d.resume(ctx, job, st); err != nil || ok {
			return res, err
		}
		if kind == recreate {
			return action.Result{}, fmt.Errorf("stack %s was deleted to be replaced, but another operation has made it again (%s): "+
				"Relais does not replace it twice", name, st.StackStatus)
		}
		if err := busy(st); err != nil {
			return action.Result{}, err
		}
	}
	// Read everything before touching the stack: a configuration mistake must not
	// delete a failed stack it cannot replace.
	spec, err := d.prepare(ctx, job)
	if err != nil {
		return action.Result{}, err
	}
	switch {
	case found && kind == replaceFailed && failedState(st.StackStatus):
		_, err := d.d.CloudFormation.DeleteStack(ctx, &cloudformation.DeleteStackInput{
			StackName: aws.String(name), RoleARN: spec.role, ClientRequestToken: aws.String(token(stem, opReplace)),
		})
		if err != nil {
			return action.Result{}, fmt.Errorf("delete failed stack %s (%s) to replace it: %w", name, st.StackStatus, err)
		}
		return d.started(job, aws.ToString(st.StackId), fmt.Sprintf("Stack %s is %s: deleting it to create it again", name, st.StackStatus)), nil
	case !found:
		out, err := d.d.CloudFormation.CreateStack(ctx, &cloudformation.CreateStackInput{
			StackName: aws.String(name), TemplateBody: spec.body, TemplateURL: spec.url,
			Parameters: spec.params, Capabilities: spec.caps, RoleARN: spec.role, Tags: spec.tags,
			StackPolicyBody: spec.policy, ClientRequestToken: aws.String(token(stem, opCreate)),
		})
		if err != nil {
			return action.Result{}, fmt.Errorf("create stack %s: %w", name, err)
		}
		return d.started(job, aws.ToString(out.StackId), "Creating stack "+name), nil
	}
	out, err := d.d.CloudFormation.UpdateStack(ctx, &cloudformation.UpdateStackInput{
		StackName: aws.String(name), TemplateBody: spec.body, TemplateURL: spec.url,
		Parameters: spec.params, Capabilities: spec.caps, RoleARN: spec.role, Tags: spec.tags,
		StackPolicyBody: spec.policy, ClientRequestToken: aws.String(token(stem, opUpdate)),
	})
	if noUpdates(err) {
		return d.succeeded(ctx, job, st, fmt.Sprintf("Stack %s is up to date: no updates are to be performed", name))
	}
	if err != nil {
		return action.Result{}, fmt.Errorf("update stack %s: %w", name, err)
	}
	return d.started(job, aws.ToString(out.StackId), "Updating stack "+name), nil
}

// delete runs DELETE_ONLY.
func (d *Deployer) delete(ctx context.Context, job action.Job) (action.Result, error) {
	name := stackName(job)
	st, found, err := d.describe(ctx, name)
	if err != nil {
		return action.Result{}, err
	}
	if !found {
		return d.ended(ctx, job, nil, fmt.Sprintf("Stack %s does not exist: nothing to delete", name))
	}
	if res, ok, err := d.resume(ctx, job, st); err != nil || ok {
		return res, err
	}
	if err := busy(st); err != nil {
		return action.Result{}, err
	}
	_, err = d.d.CloudFormation.DeleteStack(ctx, &cloudformation.DeleteStackInput{
		StackName: aws.String(name), RoleARN: optional(job.Record.Configuration["RoleArn"]),
		ClientRequestToken: aws.String(token(ExternalID(job.Record.ID), opDelete)),
	})
	if err != nil {
		return action.Result{}, fmt.Errorf("delete stack %s: %w", name, err)
	}
	return d.started(job, aws.ToString(st.StackId), "Deleting stack "+name), nil
}

// executeChangeSet runs CHANGE_SET_EXECUTE. RoleArn does not apply: the change set
// carries the role it was created with.
func (d *Deployer) executeChangeSet(ctx context.Context, job action.Job) (action.Result, error) {
	name, cs := stackName(job), job.Record.Configuration["ChangeSetName"]
	if cs == "" {
		return action.Result{}, problemf("configuration ChangeSetName is required when ActionMode is %s", ModeChangeSetExecute)
	}
	st, found, err := d.describe(ctx, name)
	if err != nil {
		return action.Result{}, err
	}
	if !found {
		return action.Result{}, fmt.Errorf("execute change set %s: stack %s does not exist", cs, name)
	}
	if res, ok, err := d.resume(ctx, job, st); err != nil || ok {
		return res, err
	}
	if err := busy(st); err != nil {
		return action.Result{}, err
	}
	out, err := d.d.CloudFormation.DescribeChangeSet(ctx, &cloudformation.DescribeChangeSetInput{
		StackName: aws.String(name), ChangeSetName: aws.String(cs),
	})
	if isChangeSetNotFound(err) {
		return action.Result{}, fmt.Errorf("execute change set %s: stack %s has no such change set", cs, name)
	}
	if err != nil {
		return action.Result{}, fmt.Errorf("describe change set %s of stack %s: %w", cs, name, err)
	}
	switch {
	case out.Status == types.ChangeSetStatusFailed && noChanges(aws.ToString(out.StatusReason)):
		return d.succeeded(ctx, job, st, fmt.Sprintf("Change set %s of stack %s has no changes: nothing to execute", cs, name))
	case out.ExecutionStatus != types.ExecutionStatusAvailable:
		msg := fmt.Sprintf("change set %s of stack %s cannot be executed: it is %s, execution %s", cs, name, out.Status, out.ExecutionStatus)
		if r := aws.ToString(out.StatusReason); r != "" {
			msg += ": " + r
		}
		return action.Result{}, errors.New(msg)
	}
	_, err = d.d.CloudFormation.ExecuteChangeSet(ctx, &cloudformation.ExecuteChangeSetInput{
		StackName: aws.String(name), ChangeSetName: aws.String(cs),
		ClientRequestToken: aws.String(token(ExternalID(job.Record.ID), opExecute)),
	})
	if err != nil {
		return action.Result{}, fmt.Errorf("execute change set %s of stack %s: %w", cs, name, err)
	}
	return d.started(job, aws.ToString(st.StackId), fmt.Sprintf("Executing change set %s on stack %s", cs, name)), nil
}

// replaceChangeSet runs CHANGE_SET_REPLACE: the change set is created anew (an
// existing one of that name deleted first) and Run waits until CloudFormation has
// computed it.
func (d *Deployer) replaceChangeSet(ctx context.Context, job action.Job) (action.Result, error) {
	name, cs := stackName(job), job.Record.Configuration["ChangeSetName"]
	if cs == "" {
		return action.Result{}, problemf("configuration ChangeSetName is required when ActionMode is %s", ModeChangeSetReplace)
	}
	spec, err := d.prepare(ctx, job)
	if err != nil {
		return action.Result{}, err
	}
	st, found, err := d.describe(ctx, name)
	if err != nil {
		return action.Result{}, err
	}
	kind := types.ChangeSetTypeUpdate
	if !found || st.StackStatus == types.StackStatusReviewInProgress {
		kind = types.ChangeSetTypeCreate // a stack that only exists for change sets is created by one
	}
	stem := ExternalID(job.Record.ID)
	desc := "Created by Relais for action execution " + job.Record.ID
	old, err := d.d.CloudFormation.DescribeChangeSet(ctx, &cloudformation.DescribeChangeSetInput{
		StackName: aws.String(name), ChangeSetName: aws.String(cs),
	})
	switch {
	case isChangeSetNotFound(err) || isNotExist(err):
		old = nil
	case err != nil:
		return action.Result{}, fmt.Errorf("describe change set %s of stack %s: %w", cs, name, err)
	}
	var id string
	if old != nil && aws.ToString(old.Description) == desc {
		id = aws.ToString(old.ChangeSetId) // this action execution made it: a repeated Run
	} else {
		if old != nil {
			_, err := d.d.CloudFormation.DeleteChangeSet(ctx, &cloudformation.DeleteChangeSetInput{
				StackName: aws.String(name), ChangeSetName: aws.String(cs),
			})
			if err != nil && !isChangeSetNotFound(err) {
				return action.Result{}, fmt.Errorf("delete change set %s of stack %s to replace it: %w", cs, name, err)
			}
		}
		in := &cloudformation.CreateChangeSetInput{
			StackName: aws.String(name), ChangeSetName: aws.String(cs), ChangeSetType: kind,
			TemplateBody: spec.body, TemplateURL: spec.url, Parameters: spec.params,
			Capabilities: spec.caps, RoleARN: spec.role, Tags: spec.tags,
			ClientToken: aws.String(stem), Description: aws.String(desc),
		}
		out, err := d.createChangeSet(ctx, in)
		if err != nil {
			return action.Result{}, fmt.Errorf("create change set %s of stack %s: %w", cs, name, err)
		}
		id = aws.ToString(out.Id)
	}
	return d.awaitChangeSet(ctx, job, st, found && kind == types.ChangeSetTypeUpdate, id)
}

// createChangeSet creates a change set, trying again while one of the same name is
// still being deleted.
func (d *Deployer) createChangeSet(ctx context.Context, in *cloudformation.CreateChangeSetInput) (*cloudformation.CreateChangeSetOutput, error) {
	var waited time.Duration
	delay := time.Second
	for {
		out, err := d.d.CloudFormation.CreateChangeSet(ctx, in)
		var exists *types.AlreadyExistsException
		if !errors.As(err, &exists) || waited+delay > d.waitBudget(ctx) {
			return out, err
		}
		if err := d.sleep(ctx, delay); err != nil {
			return nil, err
		}
		waited += delay
	}
}

// waitBudget is how long Run may still wait: Deps.ChangeSetWait, less near ctx's
// deadline (the Lambda's timeout).
func (d *Deployer) waitBudget(ctx context.Context) time.Duration {
	budget := d.d.ChangeSetWait
	if dl, ok := ctx.Deadline(); ok {
		if left := time.Until(dl) - 5*time.Second; left < budget {
			budget = left
		}
	}
	return budget
}

// awaitChangeSet polls a change set until CloudFormation has computed it.
func (d *Deployer) awaitChangeSet(ctx context.Context, job action.Job, st types.Stack, existing bool, id string) (action.Result, error) {
	name, cs := stackName(job), job.Record.Configuration["ChangeSetName"]
	var waited time.Duration
	delay := time.Second
	for {
		out, err := d.d.CloudFormation.DescribeChangeSet(ctx, &cloudformation.DescribeChangeSetInput{
			StackName: aws.String(name), ChangeSetName: aws.String(id),
		})
		if err != nil {
			return action.Result{}, fmt.Errorf("describe change set %s of stack %s: %w", cs, name, err)
		}
		reason := aws.ToString(out.StatusReason)
		var stack *types.Stack
		if existing {
			stack = &st // its outputs, as they are before the change set runs
		}
		switch out.Status {
		case types.ChangeSetStatusCreateComplete:
			n := fmt.Sprint(len(out.Changes))
			if out.NextToken != nil {
				n += "+"
			}
			res, err := d.ended(ctx, job, stack, fmt.Sprintf("Change set %s of stack %s created: %s changes", cs, name, n))
			res.ExternalURL = changeSetURL(aws.ToString(out.StackId), aws.ToString(out.ChangeSetId))
			return res, err
		case types.ChangeSetStatusFailed:
			if noChanges(reason) {
				return d.ended(ctx, job, stack, fmt.Sprintf("Change set %s of stack %s has no changes: %s", cs, name, reason))
			}
			return action.Result{}, fmt.Errorf("change set %s of stack %s failed: %s", cs, name, reason)
		case types.ChangeSetStatusCreatePending, types.ChangeSetStatusCreateInProgress:
		default:
			return action.Result{}, fmt.Errorf("change set %s of stack %s is %s while it was being created", cs, name, out.Status)
		}
		if waited+delay > d.waitBudget(ctx) {
			return action.Result{}, fmt.Errorf("change set %s of stack %s is still %s after %s: Relais waits no longer for a change set; "+
				"retry the stage to wait again", cs, name, out.Status, waited)
		}
		if err := d.sleep(ctx, delay); err != nil {
			return action.Result{}, fmt.Errorf("wait for change set %s of stack %s: %w", cs, name, err)
		}
		waited += delay
		delay = min(2*delay, 10*time.Second)
	}
}

// started is the Result of an operation that goes on: the action ends by StackEvent.
func (d *Deployer) started(job action.Job, stackID, summary string) action.Result {
	return action.Result{
		Status: core.ActionInProgress, ExternalID: ExternalID(job.Record.ID),
		ExternalURL: stackURL(stackID), Summary: summary,
	}
}

// describe returns the live stack of that name or id; found is false when there is
// none (never created, or deleted).
func (d *Deployer) describe(ctx context.Context, name string) (st types.Stack, found bool, err error) {
	out, err := d.d.CloudFormation.DescribeStacks(ctx, &cloudformation.DescribeStacksInput{StackName: aws.String(name)})
	if isNotExist(err) {
		return types.Stack{}, false, nil
	}
	if err != nil {
		return types.Stack{}, false, fmt.Errorf("describe stack %s: %w", name, err)
	}
	if len(out.Stacks) == 0 || out.Stacks[0].StackStatus == types.StackStatusDeleteComplete {
		return types.Stack{}, false, nil
	}
	return out.Stacks[0], true, nil
}

// resume reports the operation this action execution already started on the stack, if
// the stack's newest event is one of its own (a repeated Run, a repeated event): ok is
// true and res is InProgress while it runs, or how it ended.
func (d *Deployer) resume(ctx context.Context, job action.Job, st types.Stack) (res action.Result, ok bool, err error) {
	name := aws.ToString(st.StackName)
	out, err := d.d.CloudFormation.DescribeStackEvents(ctx, &cloudformation.DescribeStackEventsInput{StackName: st.StackId})
	if err != nil {
		return action.Result{}, false, fmt.Errorf("describe events of stack %s: %w", name, err)
	}
	if len(out.StackEvents) == 0 {
		return action.Result{}, false, nil
	}
	stem, op, mine := parseToken(aws.ToString(out.StackEvents[0].ClientRequestToken))
	if !mine || stem != ExternalID(job.Record.ID) {
		return action.Result{}, false, nil
	}
	if inProgress(st.StackStatus) {
		return d.started(job, aws.ToString(st.StackId), fmt.Sprintf("Stack %s is %s", name, st.StackStatus)), true, nil
	}
	res, done, err := d.outcome(ctx, job, op, st, string(st.StackStatus), aws.ToString(st.StackStatusReason))
	if !done && err == nil {
		res = d.started(job, aws.ToString(st.StackId), fmt.Sprintf("Stack %s is %s", name, st.StackStatus))
	}
	return res, true, err
}

// busy refuses to start an operation on a stack another operation is running on.
func busy(st types.Stack) error {
	if inProgress(st.StackStatus) {
		return fmt.Errorf("stack %s is %s: another operation is running on it", aws.ToString(st.StackName), st.StackStatus)
	}
	return nil
}

// inProgress reports whether an operation is running on a stack in that status.
// REVIEW_IN_PROGRESS is a stack created for a change set and waiting for it: nothing
// runs.
func inProgress(s types.StackStatus) bool {
	return strings.HasSuffix(string(s), "_IN_PROGRESS") && s != types.StackStatusReviewInProgress
}

// failedState reports whether REPLACE_ON_FAILURE replaces a stack in that status.
func failedState(s types.StackStatus) bool {
	switch s {
	case types.StackStatusRollbackComplete, types.StackStatusRollbackFailed, types.StackStatusCreateFailed,
		types.StackStatusDeleteFailed, types.StackStatusUpdateRollbackFailed:
		return true
	}
	return false
}

// apiError returns the code and message of an API error.
func apiError(err error) (code, msg string, ok bool) {
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		return "", "", false
	}
	return ae.ErrorCode(), ae.ErrorMessage(), true
}

// isNotExist reports whether err says the stack does not exist.
func isNotExist(err error) bool {
	code, msg, ok := apiError(err)
	return ok && code == "ValidationError" && strings.Contains(msg, "does not exist")
}

func isChangeSetNotFound(err error) bool {
	var nf *types.ChangeSetNotFoundException
	return errors.As(err, &nf)
}

// noUpdates reports whether UpdateStack found nothing to change.
func noUpdates(err error) bool {
	code, msg, ok := apiError(err)
	return ok && code == "ValidationError" && strings.Contains(msg, "No updates are to be performed")
}

// noChanges reports whether a failed change set failed for having nothing to change.
func noChanges(reason string) bool {
	return strings.Contains(reason, "didn't contain changes") || strings.Contains(reason, "No updates are to be performed")
}

func optional(s string) *string {
	if s == "" {
		return nil
	}
	return aws.String(s)
}

// The client request tokens of a stem's operations. CloudFormation allows
// [a-zA-Z0-9][-a-zA-Z0-9]*, at most 128 characters.
const (
	tokenPrefix = "relais-"
	opCreate    = "c"
	opUpdate    = "u"
	opDelete    = "d"
	opReplace   = "r"
	opExecute   = "x"
)

// ExternalID is the external id of the stack operations of an action execution: the
// stem of their client request tokens, "relais-<id>" (an id CloudFormation would refuse
// in a token is replaced by a hash of it).
func ExternalID(actionExecutionID string) string {
	if actionExecutionID != "" && len(actionExecutionID) <= 100 && tokenSafe(actionExecutionID) {
		return tokenPrefix + actionExecutionID
	}
	return tokenPrefix + "h" + hashID(actionExecutionID)
}

func token(stem, op string) string { return stem + "-" + op }

// parseToken splits a client request token Relais made into its stem (the external id)
// and operation; ok is false for any other token.
func parseToken(tok string) (stem, op string, ok bool) {
	i := strings.LastIndexByte(tok, '-')
	if !strings.HasPrefix(tok, tokenPrefix) || i <= len(tokenPrefix) {
		return "", "", false
	}
	stem, op = tok[:i], tok[i+1:]
	if !slices.Contains([]string{opCreate, opUpdate, opDelete, opReplace, opExecute}, op) {
		return "", "", false
	}
	return stem, op, true
}

func tokenSafe(s string) bool {
	for _, r := range s {
		if !(r == '-' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
			return false
		}
	}
	return true
}

// stackURL is the CloudFormation console page of a stack, from its ARN
// (arn:aws:cloudformation:<region>:<account>:stack/<name>/<id>); "" when the ARN cannot
// be read.
func stackURL(stackID string) string {
	host, region := consoleHost(stackID)
	if host == "" {
		return ""
	}
	return fmt.Sprintf("https://%s/cloudformation/home?region=%s#/stacks/stackinfo?stackId=%s", host, region, url.QueryEscape(stackID))
}

// changeSetURL is the console page of a change set.
func changeSetURL(stackID, changeSetID string) string {
	host, region := consoleHost(stackID)
	if host == "" || changeSetID == "" {
		return ""
	}
	return fmt.Sprintf("https://%s/cloudformation/home?region=%s#/stacks/changesets/changes?stackId=%s&changeSetId=%s",
		host, region, url.QueryEscape(stackID), url.QueryEscape(changeSetID))
}

func consoleHost(stackARN string) (host, region string) {
	a, err := arn.Parse(stackARN)
	if err != nil || a.Region == "" {
		return "", ""
	}
	switch a.Partition {
	case "aws-cn":
		return a.Region + ".console.amazonaws.cn", a.Region
	case "aws-us-gov":
		return "console.amazonaws-us-gov.com", a.Region
	}
	return a.Region + ".console.aws.amazon.com", a.Region
}

// objectURL is the S3 URL of an object in the path style CodePipeline's
// Fn::GetArtifactAtt documents (https://s3.<region>.amazonaws.com/<bucket>/<key>),
// which CloudFormation also takes as a TemplateURL.
func objectURL(region, bucket, key string) string {
	host := "s3.amazonaws.com"
	switch {
	case strings.HasPrefix(region, "cn-"):
		host = "s3." + region + ".amazonaws.com.cn"
	case region != "":
		host = "s3." + region + ".amazonaws.com"
	}
	segs := strings.Split(key, "/")
	for i, s := range segs {
		segs[i] = url.PathEscape(s)
	}
	return "https://" + host + "/" + bucket + "/" + strings.Join(segs, "/")
}

// CancelAction cancels the stack update of an abandoned action — one it started, still
// running: CancelUpdateStack rolls the stack back. Creations, deletions and change sets
// cannot be cancelled and are left to end; an action of another provider, or whose
// stack is gone or idle, is not an error.
func (d *Deployer) CancelAction(ctx context.Context, a core.ActionExecution) error {
	if a.Type.Category+"/"+a.Type.Owner+"/"+a.Type.Provider != Provider || a.ExternalExecutionID == "" {
		return nil
	}
	name := a.Configuration["StackName"]
	if name == "" || a.ExternalExecutionID != ExternalID(a.ID) {
		return nil
	}
	st, found, err := d.describe(ctx, name)
	if err != nil || !found || st.StackStatus != types.StackStatusUpdateInProgress {
		return err
	}
	out, err := d.d.CloudFormation.DescribeStackEvents(ctx, &cloudformation.DescribeStackEventsInput{StackName: st.StackId})
	if err != nil {
		return fmt.Errorf("describe events of stack %s: %w", name, err)
	}
	if len(out.StackEvents) == 0 {
		return nil
	}
	if stem, _, ok := parseToken(aws.ToString(out.StackEvents[0].ClientRequestToken)); !ok || stem != a.ExternalExecutionID {
		return nil // another operation's update
	}
	_, err = d.d.CloudFormation.CancelUpdateStack(ctx, &cloudformation.CancelUpdateStackInput{StackName: st.StackId})
	if code, _, ok := apiError(err); ok && code == "ValidationError" {
		return nil // the update ended meanwhile
	}
	if err != nil {
		return fmt.Errorf("cancel update of stack %s for action %s: %w", name, a.ActionName, err)
	}
	d.d.Logger.InfoContext(ctx, "stack update cancelled", "pipeline", a.PipelineName, "execution_id", a.ExecutionID,
		"stage", a.StageName, "action", a.ActionName, "stack", name)
	return nil
}
