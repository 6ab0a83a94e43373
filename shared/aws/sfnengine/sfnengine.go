// Package sfnengine is the AWS core.Engine: one Step Functions standard state machine per
// pipeline, named <prefix><pipeline>, running the pipeline's compiled definition with the
// gate and action Lambda ARNs in place of the compiler's placeholders.
//
// Step Functions errors map to core sentinels: an execution that exists with another
// input is ErrConflict; an unknown, timed-out or malformed task token is ErrNotFound, as
// is a state machine or execution that does not exist.
//
// The Engine calls states:CreateStateMachine, UpdateStateMachine, StartExecution,
// DescribeExecution, StopExecution and SendTaskSuccess/Failure/Heartbeat, on
// arn:…:stateMachine:<prefix>* and arn:…:execution:<prefix>*:*, and needs iam:PassRole
// on the machines' role.
package sfnengine

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	"github.com/aws/aws-sdk-go-v2/service/sfn/types"

	"github.com/relais-ci/relais/shared/core"
	"github.com/relais-ci/relais/statemachines"
)

var _ core.Engine = (*Engine)(nil)

// Client is the part of *sfn.Client the Engine calls.
type Client interface {
	CreateStateMachine(ctx context.Context, in *sfn.CreateStateMachineInput, optFns ...func(*sfn.Options)) (*sfn.CreateStateMachineOutput, error)
	UpdateStateMachine(ctx context.Context, in *sfn.UpdateStateMachineInput, optFns ...func(*sfn.Options)) (*sfn.UpdateStateMachineOutput, error)
	StartExecution(ctx context.Context, in *sfn.StartExecutionInput, optFns ...func(*sfn.Options)) (*sfn.StartExecutionOutput, error)
	DescribeExecution(ctx context.Context, in *sfn.DescribeExecutionInput, optFns ...func(*sfn.Options)) (*sfn.DescribeExecutionOutput, error)
	StopExecution(ctx context.Context, in *sfn.StopExecutionInput, optFns ...func(*sfn.Options)) (*sfn.StopExecutionOutput, error)
	SendTaskSuccess(ctx context.Context, in *sfn.SendTaskSuccessInput, optFns ...func(*sfn.Options)) (*sfn.SendTaskSuccessOutput, error)
	SendTaskFailure(ctx context.Context, in *sfn.SendTaskFailureInput, optFns ...func(*sfn.Options)) (*sfn.SendTaskFailureOutput, error)
	SendTaskHeartbeat(ctx context.Context, in *sfn.SendTaskHeartbeatInput, optFns ...func(*sfn.Options)) (*sfn.SendTaskHeartbeatOutput, error)
}

// Config says where the state machines live and what they run.
type Config struct {
	// Region and Account make up the ARNs of the machines and their executions; Partition
	// defaults to "aws".
	Region, Account, Partition string
	// RoleARN is the role the state machines run as (allowed to invoke both functions).
	RoleARN string
	// GateFunctionARN and ActionFunctionARN replace the placeholders
	// statemachines.GateFunction and statemachines.ActionFunction.
	GateFunctionARN, ActionFunctionARN string
	// NamePrefix starts every state machine name; default "relais-".
	NamePrefix string
	// Logging, when set, is the machines' logging configuration (a CloudWatch log group).
	Logging *types.LoggingConfiguration
	// Tracing, when set, turns X-Ray tracing on or off.
	Tracing *types.TracingConfiguration
}

// Engine runs pipelines' state machines on Step Functions. It is safe for concurrent use.
type Engine struct {
	client Client
	cfg    Config
	subst  *strings.Replacer
}

// New returns an Engine; ErrInvalid when a required field of cfg is missing.
func New(client Client, cfg Config) (*Engine, error) {
	if cfg.Partition == "" {
		cfg.Partition = "aws"
	}
	if cfg.NamePrefix == "" {
		cfg.NamePrefix = "relais-"
	}
	for name, v := range map[string]string{
		"Region": cfg.Region, "Account": cfg.Account, "RoleARN": cfg.RoleARN,
		"GateFunctionARN": cfg.GateFunctionARN, "ActionFunctionARN": cfg.ActionFunctionARN,
	} {
		if v == "" {
			return nil, fmt.Errorf("step functions engine: missing %s: %w", name, core.ErrInvalid)
		}
	}
	return &Engine{client: client, cfg: cfg, subst: strings.NewReplacer(
		statemachines.GateFunction, cfg.GateFunctionARN,
		statemachines.ActionFunction, cfg.ActionFunctionARN,
	)}, nil
}

// maxName is Step Functions' limit on state machine and execution names.
const maxName = 80

// invalidNameChars are the characters Step Functions refuses in names (whitespace,
// brackets, wildcards, punctuation and control characters).
var invalidNameChars = regexp.MustCompile(`[\s<>{}\[\]?*"#%\\^|~` + "`" + `$&,;:/\x00-\x1f\x7f-\x9f]`)

// MachineName returns the name of a pipeline's state machine: the prefix and the
// pipeline name, or, when that is too long or holds characters Step Functions refuses,
// a readable cut of it and a hash of the whole, so that distinct pipelines never share
// a machine.
func (e *Engine) MachineName(pipeline string) string {
	name := e.cfg.NamePrefix + pipeline
	if len(name) <= maxName && !invalidNameChars.MatchString(name) {
		return name
	}
	sum := sha256.Sum256([]byte(pipeline))
	hash := hex.EncodeToString(sum[:6])
	safe := invalidNameChars.ReplaceAllString(name, "_")
	return safe[:min(len(safe), maxName-len(hash)-1)] + "-" + hash
}

// StateMachineARN returns the ARN of a pipeline's state machine.
func (e *Engine) StateMachineARN(pipeline string) string {
	return fmt.Sprintf("arn:%s:states:%s:%s:stateMachine:%s", e.cfg.Partition, e.cfg.Region, e.cfg.Account, e.MachineName(pipeline))
}

// ExecutionARN returns the ARN of the engine execution named executionID of a pipeline.
func (e *Engine) ExecutionARN(pipeline, executionID string) string {
	return fmt.Sprintf("arn:%s:states:%s:%s:execution:%s:%s", e.cfg.Partition, e.cfg.Region, e.cfg.Account, e.MachineName(pipeline), executionID)
}

// Deploy creates the pipeline's state machine, or updates its definition, role and
// logging when it exists; see core.Engine.
func (e *Engine) Deploy(ctx context.Context, pipeline string, definition []byte) error {
	def := e.subst.Replace(string(definition))
	arn := e.StateMachineARN(pipeline)
	// Updates are the common case (every pipeline change); a new pipeline costs one
	// failed update. A machine created concurrently is then updated.
	err := e.update(ctx, arn, def)
	if isCode(err, "StateMachineDoesNotExist") {
		_, err = e.client.CreateStateMachine(ctx, &sfn.CreateStateMachineInput{
			Name: aws.String(e.MachineName(pipeline)), Definition: aws.String(def), RoleArn: aws.String(e.cfg.RoleARN),
			Type: types.StateMachineTypeStandard, LoggingConfiguration: e.cfg.Logging, TracingConfiguration: e.cfg.Tracing,
		})
		if isCode(err, "StateMachineAlreadyExists") {
			err = e.update(ctx, arn, def)
		}
	}
	if err != nil {
		return fmt.Errorf("deploy state machine %s: %w", arn, mapErr(err))
	}
	return nil
}

func (e *Engine) update(ctx context.Context, arn, def string) error {
	_, err := e.client.UpdateStateMachine(ctx, &sfn.UpdateStateMachineInput{
		StateMachineArn: aws.String(arn), Definition: aws.String(def), RoleArn: aws.String(e.cfg.RoleARN),
		LoggingConfiguration: e.cfg.Logging, TracingConfiguration: e.cfg.Tracing,
	})
	return err
}

// StartExecution starts the pipeline's machine with executionID as the execution's name;
// see core.Engine. Step Functions answers a repeated start of a running execution with
// the same input itself; a repeat after it ended fails with ExecutionAlreadyExists, so
// the stored input is compared here: the same input is a no-op, another one ErrConflict.
func (e *Engine) StartExecution(ctx context.Context, pipeline, executionID string, input []byte) error {
	machine := e.StateMachineARN(pipeline)
	_, err := e.client.StartExecution(ctx, &sfn.StartExecutionInput{
		StateMachineArn: aws.String(machine), Name: aws.String(executionID), Input: aws.String(string(input)),
	})
	if isCode(err, "ExecutionAlreadyExists") {
		err = e.sameInput(ctx, e.ExecutionARN(pipeline, executionID), input)
	}
	if err != nil {
		return fmt.Errorf("start execution %s of %s: %w", executionID, machine, mapErr(err))
	}
	return nil
}

// sameInput returns nil when the execution's input is input (as JSON), else ErrConflict.
func (e *Engine) sameInput(ctx context.Context, arn string, input []byte) error {
	out, err := e.client.DescribeExecution(ctx, &sfn.DescribeExecutionInput{ExecutionArn: aws.String(arn)})
	if err != nil {
		return err
	}
	if stored := []byte(aws.ToString(out.Input)); !bytes.Equal(stored, input) && !jsonEqual(stored, input) {
		return fmt.Errorf("execution exists with another input: %w", core.ErrConflict)
	}
	return nil
}

func jsonEqual(a, b []byte) bool {
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return false
	}
	xs, _ := json.Marshal(x)
	ys, _ := json.Marshal(y)
	return bytes.Equal(xs, ys)
}

// StopExecution stops a running execution; stopping an ended one does nothing. See
// core.Engine.
func (e *Engine) StopExecution(ctx context.Context, pipeline, executionID, cause string) error {
	arn := e.ExecutionARN(pipeline, executionID)
	_, err := e.client.StopExecution(ctx, &sfn.StopExecutionInput{ExecutionArn: aws.String(arn), Cause: aws.String(cause)})
	if isCode(err, "ValidationException") {
		// Refused because it has ended? Then there is nothing to stop.
		out, derr := e.client.DescribeExecution(ctx, &sfn.DescribeExecutionInput{ExecutionArn: aws.String(arn)})
		if derr == nil && out.Status != types.ExecutionStatusRunning {
			err = nil
		}
	}
	if err != nil {
		return fmt.Errorf("stop execution %s: %w", arn, mapErr(err))
	}
	return nil
}

// SendTaskSuccess resumes the callback task holding token; see core.Engine.
func (e *Engine) SendTaskSuccess(ctx context.Context, token string, output []byte) error {
	_, err := e.client.SendTaskSuccess(ctx, &sfn.SendTaskSuccessInput{TaskToken: aws.String(token), Output: aws.String(string(output))})
	if err != nil {
		return fmt.Errorf("send task success: %w", mapErr(err))
	}
	return nil
}

// SendTaskFailure fails the callback task holding token; see core.Engine.
func (e *Engine) SendTaskFailure(ctx context.Context, token, errorName, cause string) error {
	_, err := e.client.SendTaskFailure(ctx, &sfn.SendTaskFailureInput{TaskToken: aws.String(token), Error: aws.String(errorName), Cause: aws.String(cause)})
	if err != nil {
		return fmt.Errorf("send task failure %s: %w", errorName, mapErr(err))
	}
	return nil
}

// SendTaskHeartbeat reports that the task holding token is still working; see
// core.Engine.
func (e *Engine) SendTaskHeartbeat(ctx context.Context, token string) error {
	if _, err := e.client.SendTaskHeartbeat(ctx, &sfn.SendTaskHeartbeatInput{TaskToken: aws.String(token)}); err != nil {
		return fmt.Errorf("send task heartbeat: %w", mapErr(err))
	}
	return nil
}

// isCode reports whether err is a Step Functions error of the given type.
func isCode(err error, code string) bool {
	var ae interface{ ErrorCode() string }
	return errors.As(err, &ae) && ae.ErrorCode() == code
}

// mapErr maps Step Functions errors to core sentinels, keeping the SDK error in the
// chain.
func mapErr(err error) error {
	var ae interface{ ErrorCode() string }
	if !errors.As(err, &ae) {
		return err
	}
	switch ae.ErrorCode() {
	case "TaskDoesNotExist", "TaskTimedOut", "InvalidToken", "StateMachineDoesNotExist", "ExecutionDoesNotExist":
		return fmt.Errorf("%w: %w", core.ErrNotFound, err)
	case "ExecutionAlreadyExists", "StateMachineAlreadyExists":
		return fmt.Errorf("%w: %w", core.ErrConflict, err)
	case "InvalidDefinition", "InvalidName", "InvalidArn", "InvalidExecutionInput", "InvalidOutput",
		"InvalidLoggingConfiguration", "InvalidTracingConfiguration", "ValidationException":
		return fmt.Errorf("%w: %w", core.ErrInvalid, err)
	}
	return err
}
