package main

import (
	"regexp"
	"strings"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsstepfunctions"
	"github.com/aws/jsii-runtime-go"

	"github.com/relais-ci/relais/statemachines"
)

// Machine is the state machine of one pipeline.
type Machine struct {
	Pipeline string
	SM       awsstepfunctions.StateMachine
	Logs     awslogs.LogGroup
}

var unsafeID = regexp.MustCompile(`[^A-Za-z0-9]+`)

// newMachine deploys p's compiled machine: Standard (an execution may wait days for an
// approval), its task placeholders substituted with the gate and action functions,
// logging every event to its log group and traced with X-Ray.
func newMachine(stack awscdk.Stack, p declared, f *Functions) *Machine {
	id := "Pipeline" + strings.Trim(unsafeID.ReplaceAllString(p.Name, "-"), "-")
	logs := awslogs.NewLogGroup(stack, jsii.String(id+"Logs"), &awslogs.LogGroupProps{
		Retention:     awslogs.RetentionDays_THREE_MONTHS,
		RemovalPolicy: awscdk.RemovalPolicy_DESTROY,
	})
	placeholder := func(p string) string { return strings.TrimSuffix(strings.TrimPrefix(p, "${"), "}") }
	sm := awsstepfunctions.NewStateMachine(stack, jsii.String(id), &awsstepfunctions.StateMachineProps{
		Comment:          jsii.String("Relais pipeline " + p.Name),
		DefinitionBody:   awsstepfunctions.DefinitionBody_FromString(jsii.String(string(p.ASL))),
		StateMachineType: awsstepfunctions.StateMachineType_STANDARD,
		DefinitionSubstitutions: &map[string]*string{
			placeholder(statemachines.GateFunction):   f.Gate.Fn.FunctionArn(),
			placeholder(statemachines.ActionFunction): f.Action.Fn.FunctionArn(),
		},
		Logs: &awsstepfunctions.LogOptions{
			Destination: logs,
			Level:       awsstepfunctions.LogLevel_ALL,
			// Execution data holds the callback tokens of waiting tasks, which are
			// credentials: log the events, not their data.
			IncludeExecutionData: jsii.Bool(false),
		},
		TracingEnabled: jsii.Bool(true),
	})
	sm.AddToRolePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid:       jsii.String("InvokeTaskFunctions"),
		Actions:   jsii.Strings("lambda:InvokeFunction"),
		Resources: &[]*string{f.Gate.Fn.FunctionArn(), f.Action.Fn.FunctionArn()},
	}))
	return &Machine{Pipeline: p.Name, SM: sm, Logs: logs}
}
