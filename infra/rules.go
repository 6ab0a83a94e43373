package main

import (
	"fmt"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatch"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsevents"
	"github.com/aws/aws-cdk-go/awscdk/v2/awseventstargets"
	"github.com/aws/jsii-runtime-go"

	"github.com/relais-ci/relais/shared/aws/cfnaction"
)

// newRules routes the events the events function handles: the end of builds of the
// projects Relais runs, and the start and end of its machines' executions (commit
// statuses; the stages of those that ended abnormally are freed).
func newRules(stack awscdk.Stack, d *Data, f *Functions, ms *Machines, pipelines []declared) {
	projects := []*string{d.Project.Ref()}
	seen := map[string]bool{}
	for _, p := range pipelines {
		for _, name := range p.Projects {
			if !seen[name] {
				seen[name] = true
				projects = append(projects, jsii.String(name))
			}
		}
	}
	target := func() awsevents.IRuleTarget {
		return awseventstargets.NewLambdaFunction(f.Events.Fn, &awseventstargets.LambdaFunctionProps{
			RetryAttempts: jsii.Number(8),
			MaxEventAge:   awscdk.Duration_Hours(jsii.Number(6)),
		})
	}
	awsevents.NewRule(stack, jsii.String("BuildStateChangeRule"), &awsevents.RuleProps{
		Description: jsii.String("Builds of Relais's projects that ended: complete their actions"),
		EventPattern: &awsevents.EventPattern{
			Source:     jsii.Strings("aws.codebuild"),
			DetailType: jsii.Strings("CodeBuild Build State Change"),
			Detail: &map[string]interface{}{
				"build-status": []string{"SUCCEEDED", "FAILED", "FAULT", "STOPPED", "TIMED_OUT"},
				"project-name": projects,
			},
		},
		Targets: &[]awsevents.IRuleTarget{target()},
	})
	// The operations CloudFormation actions start carry a client request token with
	// cfnaction's prefix; only their ends matter.
	awsevents.NewRule(stack, jsii.String("StackStatusChangeRule"), &awsevents.RuleProps{
		Description: jsii.String("Stack operations of Relais's CloudFormation actions that ended: complete their actions"),
		EventPattern: &awsevents.EventPattern{
			Source:     jsii.Strings(cfnaction.EventSource),
			DetailType: jsii.Strings(cfnaction.EventDetailType),
			Detail: &map[string]interface{}{
				"client-request-token": []any{map[string]any{"prefix": cfnaction.TokenPrefix}},
				"status-details":       map[string]any{"status": cfnaction.EndStatuses},
			},
		},
		Targets: &[]awsevents.IRuleTarget{target()},
	})
	// Every machine of the stack, those installed through the API too, carries the prefix.
	machines := []any{map[string]any{"prefix": ms.arn(stack, ms.Prefix, false)}}
	awsevents.NewRule(stack, jsii.String("ExecutionStatusChangeRule"), &awsevents.RuleProps{
		Description: jsii.String("Executions of Relais's state machines that start or end: report commit statuses, free the stages of those that ended abnormally"),
		EventPattern: &awsevents.EventPattern{
			Source:     jsii.Strings("aws.states"),
			DetailType: jsii.Strings("Step Functions Execution Status Change"),
			Detail: &map[string]interface{}{
				"status":          []string{"RUNNING", "SUCCEEDED", "FAILED", "ABORTED", "TIMED_OUT"},
				"stateMachineArn": machines,
			},
		},
		Targets: &[]awsevents.IRuleTarget{target()},
	})
}

// newAlarms raise an alarm on any function error and on any failed, timed out or
// aborted execution: each means a pipeline stopped where it should not have.
func newAlarms(stack awscdk.Stack, f *Functions, machines []*Machine) {
	five := awscdk.Duration_Minutes(jsii.Number(5))
	alarm := func(id, desc string, m awscloudwatch.Metric) {
		m.CreateAlarm(stack, jsii.String(id), &awscloudwatch.CreateAlarmOptions{
			AlarmDescription:   jsii.String(desc),
			Threshold:          jsii.Number(1),
			EvaluationPeriods:  jsii.Number(1),
			ComparisonOperator: awscloudwatch.ComparisonOperator_GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
			TreatMissingData:   awscloudwatch.TreatMissingData_NOT_BREACHING,
		})
	}
	for _, fn := range f.All() {
		id := *fn.Fn.Node().Id()
		alarm(id+"ErrorsAlarm", fmt.Sprintf("The Relais %s function failed", fn.Name),
			fn.Fn.MetricErrors(&awscloudwatch.MetricOptions{Period: five, Statistic: jsii.String("Sum")}))
	}
	for _, m := range machines {
		id := *m.SM.Node().Id()
		opts := &awscloudwatch.MetricOptions{Period: five, Statistic: jsii.String("Sum")}
		alarm(id+"FailedAlarm", "An execution of pipeline "+m.Pipeline+" failed", m.SM.MetricFailed(opts))
		alarm(id+"TimedOutAlarm", "An execution of pipeline "+m.Pipeline+" timed out", m.SM.MetricTimedOut(opts))
		alarm(id+"AbortedAlarm", "An execution of pipeline "+m.Pipeline+" was aborted", m.SM.MetricAborted(opts))
	}
}
