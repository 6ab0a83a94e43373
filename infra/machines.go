package main

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsstepfunctions"
	"github.com/aws/jsii-runtime-go"

	"github.com/relais-ci/relais/shared/aws/sfnengine"
	"github.com/relais-ci/relais/statemachines"
)

// Machine is the state machine of one pipeline.
type Machine struct {
	Pipeline string
	// Name is the machine's name as sfnengine names it: the stack's prefix and the
	// pipeline name, so that the functions find it by the pipeline's name.
	Name string
	SM   awsstepfunctions.StateMachine
}

// Machines are the pipelines' state machines and what they share: the role they run as
// and their log group. The API function creates and updates machines of pipelines
// installed through the API (CreatePipeline, UpdatePipeline) with the same role.
type Machines struct {
	Prefix string
	Role   awsiam.Role
	Logs   awslogs.LogGroup
	List   []*Machine
	names  *sfnengine.Engine
}

var unsafeID = regexp.MustCompile(`[^A-Za-z0-9]+`)

func newMachines(stack awscdk.Stack, f *Functions) *Machines {
	prefix := *stack.StackName() + "-"
	// Only MachineName is used: the other fields are required but play no part in it.
	names, err := sfnengine.New(nil, sfnengine.Config{
		Region: "-", Account: "-", RoleARN: "-", GateFunctionARN: "-", ActionFunctionARN: "-", NamePrefix: prefix,
	})
	if err != nil {
		panic(fmt.Sprintf("relais stack: %v", err))
	}
	logs := awslogs.NewLogGroup(stack, jsii.String("PipelineLogs"), &awslogs.LogGroupProps{
		Retention:     awslogs.RetentionDays_THREE_MONTHS,
		RemovalPolicy: awscdk.RemovalPolicy_DESTROY,
	})
	role := awsiam.NewRole(stack, jsii.String("PipelineRole"), &awsiam.RoleProps{
		AssumedBy:   awsiam.NewServicePrincipal(jsii.String("states.amazonaws.com"), nil),
		Description: jsii.String("Role the Relais state machines run as"),
	})
	role.AddToPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid:       jsii.String("InvokeTaskFunctions"),
		Actions:   jsii.Strings("lambda:InvokeFunction"),
		Resources: &[]*string{f.Gate.Fn.FunctionArn(), f.Action.Fn.FunctionArn()},
	}))
	// Step Functions delivers logs and traces through APIs that have no resource-level
	// permissions (see the Step Functions guide on logging and X-Ray).
	role.AddToPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid: jsii.String("DeliverLogs"),
		Actions: jsii.Strings("logs:CreateLogDelivery", "logs:GetLogDelivery", "logs:UpdateLogDelivery",
			"logs:DeleteLogDelivery", "logs:ListLogDeliveries", "logs:PutResourcePolicy",
			"logs:DescribeResourcePolicies", "logs:DescribeLogGroups"),
		Resources: jsii.Strings("*"),
	}))
	role.AddToPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid:       jsii.String("Trace"),
		Actions:   jsii.Strings("xray:PutTraceSegments", "xray:PutTelemetryRecords", "xray:GetSamplingRules", "xray:GetSamplingTargets"),
		Resources: jsii.Strings("*"),
	}))
	return &Machines{Prefix: prefix, Role: role, Logs: logs, names: names}
}

// add deploys p's compiled machine: Standard (an execution may wait days for an
// approval), its task placeholders substituted with the gate and action functions,
// logging every event and traced with X-Ray.
func (ms *Machines) add(stack awscdk.Stack, p declared, f *Functions) *Machine {
	id := "Pipeline" + strings.Trim(unsafeID.ReplaceAllString(p.Name, "-"), "-")
	name := ms.names.MachineName(p.Name)
	placeholder := func(p string) string { return strings.TrimSuffix(strings.TrimPrefix(p, "${"), "}") }
	sm := awsstepfunctions.NewStateMachine(stack, jsii.String(id), &awsstepfunctions.StateMachineProps{
		StateMachineName: jsii.String(name),
		Comment:          jsii.String("Relais pipeline " + p.Name),
		DefinitionBody:   awsstepfunctions.DefinitionBody_FromString(jsii.String(string(p.ASL))),
		StateMachineType: awsstepfunctions.StateMachineType_STANDARD,
		Role:             ms.Role,
		DefinitionSubstitutions: &map[string]*string{
			placeholder(statemachines.GateFunction):   f.Gate.Fn.FunctionArn(),
			placeholder(statemachines.ActionFunction): f.Action.Fn.FunctionArn(),
		},
		Logs: &awsstepfunctions.LogOptions{
			Destination: ms.Logs,
			Level:       awsstepfunctions.LogLevel_ALL,
			// Execution data holds the callback tokens of waiting tasks, which are
			// credentials: log the events, not their data.
			IncludeExecutionData: jsii.Bool(false),
		},
		TracingEnabled: jsii.Bool(true),
	})
	m := &Machine{Pipeline: p.Name, Name: name, SM: sm}
	ms.List = append(ms.List, m)
	return m
}

// arn returns the ARN of the machine (or, with execution, of its executions) named name;
// "*" names every machine of the prefix.
func (ms *Machines) arn(stack awscdk.Stack, name string, execution bool) string {
	resource, rn := "stateMachine", name
	if execution {
		resource, rn = "execution", name+":*"
	}
	return *stack.FormatArn(&awscdk.ArnComponents{
		Service: jsii.String("states"), Resource: jsii.String(resource), ResourceName: jsii.String(rn),
		ArnFormat: awscdk.ArnFormat_COLON_RESOURCE_NAME,
	})
}

// installPipelines installs the declarations in the table on every deploy that changes
// them: a custom resource the API function serves with the Install that CreatePipeline
// runs. It waits for the machines (Install updates them in place) and for the API
// function's right to do so.
func installPipelines(stack awscdk.Stack, pipelines []declared, f *Functions, ms *Machines) awscdk.CustomResource {
	var texts []*string
	for _, p := range pipelines {
		texts = append(texts, jsii.String(string(p.Raw)))
	}
	cr := awscdk.NewCustomResource(stack, jsii.String("InstallPipelines"), &awscdk.CustomResourceProps{
		ServiceToken: f.API.Fn.FunctionArn(),
		ResourceType: jsii.String("Custom::RelaisPipelines"),
		Properties:   &map[string]any{"Declarations": texts},
	})
	for _, m := range ms.List {
		cr.Node().AddDependency(m.SM)
	}
	if f.apiMachinePolicy != nil {
		cr.Node().AddDependency(f.apiMachinePolicy)
	}
	return cr
}
