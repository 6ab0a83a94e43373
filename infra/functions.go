package main

import (
	"fmt"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/jsii-runtime-go"

	"github.com/relais-ci/relais/functions/api/lambdaenv"
)

// Function is one of Relais's Lambdas with its own role and log group.
type Function struct {
	Name string
	Fn   awslambda.Function
	Role awsiam.Role
	Logs awslogs.LogGroup
}

// Functions are Relais's Lambdas, by role.
type Functions struct {
	Webhook, API, Gate, Action, Approval, Events *Function

	apiMachinePolicy awsiam.Policy
}

// All returns the functions in a fixed order.
func (f *Functions) All() []*Function {
	return []*Function{f.Webhook, f.API, f.Gate, f.Action, f.Approval, f.Events}
}

// spec says how one function runs.
type spec struct {
	name    string
	desc    string
	timeout float64 // seconds
	memory  float64 // MB
}

func newFunctions(stack awscdk.Stack, cfg config, d *Data) *Functions {
	specs := []spec{
		// GitHub waits 10 s for an answer.
		{fnWebhook, "Receives GitHub webhooks and starts executions", 10, 256},
		// API Gateway ends an integration after 30 s.
		{fnAPI, "Answers the CodePipeline-protocol API", 29, 256},
		{fnGate, "Stage gates of the state machines: enter, leave, fail", 30, 256},
		// Inline actions (sources, S3 deploys) move artifacts through the function.
		{fnAction, "Runs the actions of the state machines", 900, 1024},
		{fnApproval, "Serves approval links: shows and decides manual approvals", 10, 256},
		{fnEvents, "Completes CodeBuild and CloudFormation actions, frees stages of ended runs, reports commit statuses", 60, 256},
	}
	byName := map[string]*Function{}
	for _, s := range specs {
		byName[s.name] = newFunction(stack, cfg, s)
	}
	f := &Functions{
		Webhook: byName[fnWebhook], API: byName[fnAPI], Gate: byName[fnGate],
		Action: byName[fnAction], Approval: byName[fnApproval], Events: byName[fnEvents],
	}
	f.wire(stack, d)
	return f
}

func newFunction(stack awscdk.Stack, cfg config, s spec) *Function {
	id := map[string]string{
		fnWebhook: "Webhook", fnAPI: "Api", fnGate: "Gate", fnAction: "Action", fnApproval: "Approval", fnEvents: "Events",
	}[s.name]
	logs := awslogs.NewLogGroup(stack, jsii.String(id+"FunctionLogs"), &awslogs.LogGroupProps{
		Retention:     awslogs.RetentionDays_ONE_MONTH,
		RemovalPolicy: awscdk.RemovalPolicy_DESTROY,
	})
	role := awsiam.NewRole(stack, jsii.String(id+"FunctionRole"), &awsiam.RoleProps{
		AssumedBy:   awsiam.NewServicePrincipal(jsii.String("lambda.amazonaws.com"), nil),
		Description: jsii.String(fmt.Sprintf("Role of the Relais %s function", s.name)),
	})
	// Instead of the AWSLambdaBasicExecutionRole managed policy, which allows writing to
	// every log group of the account: this function's own.
	role.AddToPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid:       jsii.String("WriteOwnLogs"),
		Actions:   jsii.Strings("logs:CreateLogStream", "logs:PutLogEvents"),
		Resources: jsii.Strings(*logs.LogGroupArn()),
	}))
	fn := awslambda.NewFunction(stack, jsii.String(id+"Function"), &awslambda.FunctionProps{
		Description:   jsii.String(s.desc),
		Runtime:       awslambda.Runtime_PROVIDED_AL2023(),
		Architecture:  awslambda.Architecture_ARM_64(),
		Handler:       jsii.String("bootstrap"),
		Code:          awslambda.Code_FromAsset(jsii.String(filepath.Join(cfg.LambdaDir, s.name)), nil),
		Timeout:       awscdk.Duration_Seconds(jsii.Number(s.timeout)),
		MemorySize:    jsii.Number(s.memory),
		Role:          role,
		LogGroup:      logs,
		LoggingFormat: awslambda.LoggingFormat_JSON,
	})
	return &Function{Name: s.name, Fn: fn, Role: role, Logs: logs}
}

// allow adds one statement to f's role.
func (f *Function) allow(sid string, actions []string, resources ...string) {
	sort.Strings(resources)
	f.Role.AddToPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid:       jsii.String(sid),
		Actions:   jsii.Strings(actions...),
		Resources: jsii.Strings(resources...),
	}))
}

func (f *Function) env(key, value string) {
	f.Fn.AddEnvironment(jsii.String(key), jsii.String(value), nil)
}

// Table operations dynamostore uses; reads only never include writes.
var (
	tableRead  = []string{"dynamodb:GetItem", "dynamodb:Query"}
	tableWrite = []string{"dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:ConditionCheckItem", "dynamodb:TransactWriteItems"}
)

// wire gives each function its environment and what it needs of the data, and no more.
func (f *Functions) wire(stack awscdk.Stack, d *Data) {
	table := []string{*d.Table.TableArn()}
	for _, ix := range d.Indexes {
		table = append(table, *d.Table.TableArn()+"/index/"+ix)
	}
	objects := *d.Bucket.ArnForObjects(jsii.String("*"))
	for _, fn := range f.All() {
		fn.env(lambdaenv.EnvTable, *d.Table.TableName())
		fn.allow("ReadTable", tableRead, table...)
	}
	for _, fn := range f.All() {
		fn.allow("WriteTable", tableWrite, *d.Table.TableArn())
	}
	for _, fn := range []*Function{f.Webhook, f.API, f.Action, f.Events} {
		fn.env(lambdaenv.EnvArtifactBucket, *d.Bucket.BucketName())
	}
	// Only the action function moves artifacts: sources in, inputs read, outputs
	// written (CodeBuild writes build outputs as the project's role). The other
	// functions pass artifact locations only.
	f.Action.allow("ReadWriteArtifacts", []string{"s3:GetObject", "s3:GetObjectVersion", "s3:PutObject", "s3:AbortMultipartUpload"}, objects)

	secret := func(fn *Function, env, sid string, s interface{ SecretArn() *string }) {
		fn.env(env, *s.SecretArn())
		fn.allow(sid, []string{"secretsmanager:GetSecretValue"}, *s.SecretArn())
	}
	secret(f.Webhook, lambdaenv.EnvWebhookSecret, "ReadWebhookSecret", d.WebhookSecret)
	secret(f.Webhook, lambdaenv.EnvGitHubToken, "ReadGitHubToken", d.GitHubToken)
	secret(f.Action, lambdaenv.EnvGitHubToken, "ReadGitHubToken", d.GitHubToken)
	// The events function posts commit statuses when runs start and end.
	secret(f.Events, lambdaenv.EnvGitHubToken, "ReadGitHubToken", d.GitHubToken)
	secret(f.API, lambdaenv.EnvAPIToken, "ReadApiToken", d.APIToken)
	secret(f.Approval, lambdaenv.EnvLinkKey, "ReadLinkSigningKey", d.LinkKey)
	secret(f.Action, lambdaenv.EnvLinkKey, "ReadLinkSigningKey", d.LinkKey)

	f.Action.env(lambdaenv.EnvApprovalTopic, *d.Topic.TopicArn())
	f.Action.allow("PublishApprovals", []string{"sns:Publish"}, *d.Topic.TopicArn())
}

// setAPIURL tells the functions that make links where the API is.
func (f *Functions) setAPIURL(api *API) {
	// Approval links are <url>approvals/<id>?…: the action function signs them, the
	// approval function checks them.
	url := *api.Api.Url()
	f.Action.env(lambdaenv.EnvApprovalURL, url)
	f.Approval.env(lambdaenv.EnvApprovalURL, url)
	f.Webhook.env(lambdaenv.EnvAPIURL, url)
}

// grantMachines lets the functions drive the state machines, found by name (the
// prefix and the pipeline's name, as sfnengine names them): the webhook and the API
// start executions, the API stops them and creates and updates the machines of
// pipelines installed through it; every function but the webhook answers callback
// tasks. These statements name machines by ARN, not by reference: the machines refer to
// the gate and action functions, which must not depend on them.
func (f *Functions) grantMachines(stack awscdk.Stack, ms *Machines) {
	for _, fn := range f.All() {
		fn.env(lambdaenv.EnvAccount, *awscdk.Aws_ACCOUNT_ID())
		fn.env(lambdaenv.EnvMachinePrefix, ms.Prefix)
		fn.env(lambdaenv.EnvMachineRole, *ms.Role.RoleArn())
	}
	for _, fn := range []*Function{f.Webhook, f.API, f.Approval, f.Events} {
		fn.env(lambdaenv.EnvGateFunction, *f.Gate.Fn.FunctionArn())
		fn.env(lambdaenv.EnvActionFunction, *f.Action.Fn.FunctionArn())
	}
	f.API.env(lambdaenv.EnvMachineLogs, *ms.Logs.LogGroupArn())

	statement := func(sid string, actions, resources []string) awsiam.PolicyStatement {
		return awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
			Sid: jsii.String(sid), Actions: jsii.Strings(actions...), Resources: jsii.Strings(resources...),
		})
	}
	// Every machine of the stack, those installed through the API too, carries the prefix.
	allMachines := []string{ms.arn(stack, ms.Prefix+"*", false)}
	allExecutions := []string{ms.arn(stack, ms.Prefix+"*", true)}
	taskResponse := []string{"states:SendTaskSuccess", "states:SendTaskFailure", "states:SendTaskHeartbeat"}
	for _, fn := range f.All() {
		var sts []awsiam.PolicyStatement
		if fn != f.Webhook {
			sts = append(sts, statement("AnswerTasks", taskResponse, allMachines))
		}
		switch fn {
		case f.Webhook:
			sts = append(sts, statement("StartExecutions", []string{"states:StartExecution"}, allMachines),
				// StartExecution of a name that exists is answered by comparing inputs.
				statement("DescribeExecutions", []string{"states:DescribeExecution"}, allExecutions))
		case f.API:
			sts = append(sts,
				statement("StartExecutions", []string{"states:StartExecution"}, allMachines),
				statement("DescribeStopExecutions", []string{"states:DescribeExecution", "states:StopExecution"}, allExecutions),
				statement("InstallMachines", []string{"states:CreateStateMachine", "states:UpdateStateMachine"}, allMachines),
				statement("PassMachineRole", []string{"iam:PassRole"}, []string{*ms.Role.RoleArn()}))
		}
		if len(sts) == 0 {
			continue
		}
		p := awsiam.NewPolicy(stack, jsii.String(*fn.Fn.Node().Id()+"MachinePolicy"), &awsiam.PolicyProps{
			Roles: &[]awsiam.IRole{fn.Role}, Statements: &sts,
		})
		if fn == f.API {
			f.apiMachinePolicy = p
		}
	}
}

// grantDeclared lets the functions use the resources the declarations name, and the
// default build project: the action function starts builds of the projects, the API
// function stops them (an execution stopped and abandoned), the events function reads
// finished ones (secondary artifacts, exported variables); the action function deploys
// to the deploy buckets, reads the source buckets, invokes the functions, publishes
// approval requests to the approvals' NotificationArn topics and deploys the stacks.
func (f *Functions) grantDeclared(stack awscdk.Stack, pipelines []declared, d *Data) {
	set := func(get func(declared) []string) []string {
		seen := map[string]bool{}
		var out []string
		for _, p := range pipelines {
			for _, v := range get(p) {
				if !seen[v] {
					seen[v] = true
					out = append(out, v)
				}
			}
		}
		sort.Strings(out)
		return out
	}
	arn := func(service, resource, name string, format awscdk.ArnFormat, global bool) string {
		c := &awscdk.ArnComponents{Service: jsii.String(service), Resource: jsii.String(resource), ResourceName: jsii.String(name), ArnFormat: format}
		if global {
			c.Region, c.Account = jsii.String(""), jsii.String("")
		}
		return *stack.FormatArn(c)
	}
	// CodeBuild runs each project as the project's own role: the action function passes
	// none, so it needs no iam:PassRole.
	projects := []string{arn("codebuild", "project", *d.Project.Ref(), awscdk.ArnFormat_SLASH_RESOURCE_NAME, false)}
	for _, p := range set(func(p declared) []string { return p.Projects }) {
		projects = append(projects, arn("codebuild", "project", p, awscdk.ArnFormat_SLASH_RESOURCE_NAME, false))
	}
	f.Action.allow("StartBuilds", []string{"codebuild:StartBuild"}, projects...)
	f.API.allow("StopAbandonedBuilds", []string{"codebuild:StopBuild"}, projects...)
	f.Events.allow("ReadFinishedBuilds", []string{"codebuild:BatchGetBuilds"}, projects...)

	objects := func(buckets []string) []string {
		var out []string
		for _, b := range buckets {
			out = append(out, arn("s3", b, "*", awscdk.ArnFormat_SLASH_RESOURCE_NAME, true))
		}
		return out
	}
	// s3deployaction writes through the upload manager: PutObject (multipart parts
	// too), AbortMultipartUpload when a part fails, PutObjectAcl for a CannedACL.
	if deploy := objects(set(func(p declared) []string { return p.DeployBuckets })); len(deploy) > 0 {
		f.Action.allow("DeployToDeclaredBuckets", []string{"s3:PutObject", "s3:AbortMultipartUpload"}, deploy...)
	}
	if acl := objects(set(func(p declared) []string { return p.ACLBuckets })); len(acl) > 0 {
		f.Action.allow("SetDeclaredCannedACLs", []string{"s3:PutObjectAcl"}, acl...)
	}
	if keys := set(func(p declared) []string { return p.DeployKeys }); len(keys) > 0 {
		// SSE-KMS: a data key per object, and Decrypt to complete a multipart upload.
		f.Action.allow("EncryptDeployedObjects", []string{"kms:GenerateDataKey", "kms:Decrypt"}, keys...)
	}
	if buckets := set(func(p declared) []string { return p.SourceBuckets }); len(buckets) > 0 {
		f.Action.allow("ReadDeclaredSources", []string{"s3:GetObject", "s3:GetObjectVersion"}, objects(buckets)...)
		// Without ListBucket, S3 answers a missing key AccessDenied: with it, the action
		// can say the object is not there.
		var arns []string
		for _, b := range buckets {
			arns = append(arns, *stack.FormatArn(&awscdk.ArnComponents{Service: jsii.String("s3"), Resource: jsii.String(b),
				Region: jsii.String(""), Account: jsii.String(""), ArnFormat: awscdk.ArnFormat_NO_RESOURCE_NAME}))
		}
		f.Action.allow("ListDeclaredSources", []string{"s3:ListBucket"}, arns...)
	}
	if topics := set(func(p declared) []string { return p.Topics }); len(topics) > 0 {
		f.Action.allow("PublishDeclaredApprovalTopics", []string{"sns:Publish"}, topics...)
	}
	f.grantStacks(stack, d,
		set(func(p declared) []string { return p.Stacks }),
		set(func(p declared) []string { return p.ChangeSets }),
		set(func(p declared) []string { return p.StackRoles }))

	var fns []string
	for _, n := range set(func(p declared) []string { return p.Functions }) {
		fns = append(fns, functionARN(stack, n))
	}
	if len(fns) > 0 {
		f.Action.allow("InvokeDeclaredFunctions", []string{"lambda:InvokeFunction"}, fns...)
	}
}

// functionARN is the ARN IAM checks when the action function invokes FunctionName
// name (lambdaaction passes it as it is): a function name, name:version or name:alias
// (a function of this stack's account and region), a partial ARN
// (account:function:name) or a full ARN. A qualified name is granted that version or
// alias only, as Lambda checks it.
func functionARN(stack awscdk.Stack, name string) string {
	if strings.HasPrefix(name, "arn:") {
		return name
	}
	c := &awscdk.ArnComponents{Service: jsii.String("lambda"), Resource: jsii.String("function"), ArnFormat: awscdk.ArnFormat_COLON_RESOURCE_NAME}
	if account, rest, ok := strings.Cut(name, ":function:"); ok {
		c.Account, name = jsii.String(account), rest
	}
	c.ResourceName = jsii.String(name)
	return *stack.FormatArn(c)
}

// grantStacks lets the functions run the declared CloudFormation actions
// (shared/aws/cfnaction) on the declared stacks and change sets only: the action
// function starts the operations; the events function reads how they ended, and
// creates the stack again after REPLACE_ON_FAILURE deleted a failed one; the API
// function cancels the update of an action stopped and abandoned. The action and events
// functions pass the declared roles to CloudFormation, and to CloudFormation only, and
// move artifacts (templates over 51,200 bytes are uploaded to the artifact bucket, which
// CloudFormation reads as the caller; OutputFileName writes an output artifact).
func (f *Functions) grantStacks(stack awscdk.Stack, d *Data, stacks, changeSets, roles []string) {
	if len(stacks) == 0 {
		return
	}
	arn := func(resource, name string) string {
		return *stack.FormatArn(&awscdk.ArnComponents{Service: jsii.String("cloudformation"), Resource: jsii.String(resource),
			ResourceName: jsii.String(name), ArnFormat: awscdk.ArnFormat_SLASH_RESOURCE_NAME})
	}
	var stackARNs, deployARNs []string
	for _, s := range stacks {
		stackARNs = append(stackARNs, arn("stack", s+"/*"))
	}
	deployARNs = append(deployARNs, stackARNs...)
	for _, c := range changeSets {
		deployARNs = append(deployARNs, arn("changeSet", c+"/*"))
	}
	read := []string{"cloudformation:DescribeStacks", "cloudformation:DescribeStackEvents"}
	f.Action.allow("DeployDeclaredStacks", append(slices.Clone(read),
		"cloudformation:CreateStack", "cloudformation:UpdateStack", "cloudformation:DeleteStack",
		"cloudformation:CreateChangeSet", "cloudformation:DescribeChangeSet", "cloudformation:DeleteChangeSet",
		"cloudformation:ExecuteChangeSet"), deployARNs...)
	// A template with a Transform (SAM, CAPABILITY_AUTO_EXPAND) is expanded by AWS's own
	// transforms, which CreateChangeSet is checked against too.
	f.Action.allow("ExpandTransforms", []string{"cloudformation:CreateChangeSet"},
		*stack.FormatArn(&awscdk.ArnComponents{Service: jsii.String("cloudformation"), Account: jsii.String("aws"),
			Resource: jsii.String("transform"), ResourceName: jsii.String("*"), ArnFormat: awscdk.ArnFormat_SLASH_RESOURCE_NAME}))
	f.Events.allow("FinishDeclaredStacks", append(slices.Clone(read), "cloudformation:CreateStack"), stackARNs...)
	f.API.allow("CancelDeclaredStackUpdates", append(slices.Clone(read), "cloudformation:CancelUpdateStack"), stackARNs...)

	objects := *d.Bucket.ArnForObjects(jsii.String("*"))
	f.Events.allow("ReadWriteStackArtifacts", []string{"s3:GetObject", "s3:GetObjectVersion", "s3:PutObject", "s3:AbortMultipartUpload"}, objects)
	if len(roles) == 0 {
		return
	}
	sort.Strings(roles)
	for _, fn := range []*Function{f.Action, f.Events} {
		fn.Role.AddToPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
			Sid:        jsii.String("PassDeclaredStackRoles"),
			Actions:    jsii.Strings("iam:PassRole"),
			Resources:  jsii.Strings(roles...),
			Conditions: &map[string]any{"StringEquals": map[string]any{"iam:PassedToService": "cloudformation.amazonaws.com"}},
		}))
	}
}
