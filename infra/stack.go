package main

import (
	"fmt"
	"strings"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/relais-ci/relais/functions/api/lambdaenv"
)

// Context keys the stack reads (`cdk deploy -c key=value`, or cdk.json's "context").
const (
	// ContextApproverEmails: comma-separated addresses subscribed to the approval topic
	// (each confirms by email). None: approvals are only visible through the API.
	ContextApproverEmails = "approverEmails"
	// ContextLambdaDir: the folder holding <function>/bootstrap for each function, as
	// `make lambdas` builds them. Default build/lambda.
	ContextLambdaDir = "lambdaDir"
	// ContextPipelinesDir: the folder of pipeline declarations (*.json) compiled into one
	// state machine each. Default pipelines.
	ContextPipelinesDir = "pipelinesDir"
	// ContextDefaultProjectName: the name of the default CodeBuild project, for
	// declarations that name it (pipelines/hello.json names relais-hello). Default: a
	// name CloudFormation generates.
	ContextDefaultProjectName = "defaultProjectName"
	// ContextArtifactRetentionDays: days after which artifacts (and superseded object
	// versions) are deleted. Default 30.
	ContextArtifactRetentionDays = "artifactRetentionDays"
)

// Function names: each is a folder under functions/ and under the lambda dir.
const (
	fnWebhook  = "webhook"
	fnAPI      = "api"
	fnGate     = "gate"
	fnAction   = "action"
	fnApproval = "approval"
	fnEvents   = "events"
)

// Where the functions' code and the declarations are, by default.
const (
	defaultLambdaDir    = "build/lambda"
	defaultPipelinesDir = "pipelines"
)

// RelaisStackProps configures the stack. Empty fields are read from the context keys
// above, then defaulted.
type RelaisStackProps struct {
	awscdk.StackProps
	ApproverEmails        []string
	LambdaDir             string
	PipelinesDir          string
	DefaultProjectName    string
	ArtifactRetentionDays int
}

// Relais is the deployed stack and the constructs tests and outputs refer to.
type Relais struct {
	awscdk.Stack
	Data      *Data
	Functions *Functions
	Machines  *Machines
	API       *API
}

// NewRelaisStack defines Relais on AWS: the HTTP API and its functions, the table, the
// artifact bucket, the approval topic, the default build project, the EventBridge rules,
// one state machine per declaration in the pipelines folder (and the declarations
// installed in the table), the secrets and the alarms.
func NewRelaisStack(scope constructs.Construct, id string, props *RelaisStackProps) awscdk.Stack {
	return newRelais(scope, id, props).Stack
}

func newRelais(scope constructs.Construct, id string, props *RelaisStackProps) *Relais {
	if props == nil {
		props = &RelaisStackProps{}
	}
	sprops := props.StackProps
	if sprops.Description == nil {
		sprops.Description = jsii.String("Relais: CodePipeline-compatible pipelines on API Gateway, Lambda and Step Functions")
	}
	stack := awscdk.NewStack(scope, jsii.String(id), &sprops)
	// S3 server access logs are delivered under a bucket policy (what AWS recommends),
	// not an ACL, so the log bucket can enforce bucket-owner object ownership.
	stack.Node().SetContext(jsii.String("@aws-cdk/aws-s3:serverAccessLogsUseBucketPolicy"), true)
	cfg := resolveConfig(stack, *props)

	pipelines, err := loadPipelines(cfg.PipelinesDir)
	if err != nil {
		panic(fmt.Sprintf("relais stack: %v", err))
	}
	r := &Relais{Stack: stack}
	r.Data = newData(stack, cfg)
	r.Functions = newFunctions(stack, cfg, r.Data)
	r.Functions.Action.env(lambdaenv.EnvApprovers, strings.Join(cfg.ApproverEmails, ","))
	r.Machines = newMachines(stack, r.Functions)
	for _, p := range pipelines {
		r.Machines.add(stack, p, r.Functions)
	}
	r.Functions.grantMachines(stack, r.Machines)
	r.Functions.grantDeclared(stack, pipelines, r.Data)
	r.API = newAPI(stack, r.Functions)
	r.Functions.setAPIURL(r.API)
	newRules(stack, r.Data, r.Functions, r.Machines, pipelines)
	newAlarms(stack, r.Functions, r.Machines.List)
	installPipelines(stack, pipelines, r.Functions, r.Machines)
	newOutputs(stack, r)
	suppress(r)
	return r
}

// config is RelaisStackProps with context and defaults applied.
type config struct {
	ApproverEmails        []string
	LambdaDir             string
	PipelinesDir          string
	DefaultProjectName    string
	ArtifactRetentionDays int
}

func resolveConfig(stack awscdk.Stack, p RelaisStackProps) config {
	ctx := func(key string) string {
		v := stack.Node().TryGetContext(jsii.String(key))
		if v == nil {
			return ""
		}
		return strings.TrimSpace(fmt.Sprint(v))
	}
	c := config{
		ApproverEmails: p.ApproverEmails, LambdaDir: p.LambdaDir, PipelinesDir: p.PipelinesDir,
		DefaultProjectName: p.DefaultProjectName, ArtifactRetentionDays: p.ArtifactRetentionDays,
	}
	if len(c.ApproverEmails) == 0 {
		for _, e := range strings.Split(ctx(ContextApproverEmails), ",") {
			if e = strings.TrimSpace(e); e != "" {
				c.ApproverEmails = append(c.ApproverEmails, e)
			}
		}
	}
	if c.LambdaDir == "" {
		c.LambdaDir = ctx(ContextLambdaDir)
	}
	if c.LambdaDir == "" {
		c.LambdaDir = defaultLambdaDir
	}
	if c.PipelinesDir == "" {
		c.PipelinesDir = ctx(ContextPipelinesDir)
	}
	if c.PipelinesDir == "" {
		c.PipelinesDir = defaultPipelinesDir
	}
	if c.DefaultProjectName == "" {
		c.DefaultProjectName = ctx(ContextDefaultProjectName)
	}
	if c.ArtifactRetentionDays == 0 {
		if _, err := fmt.Sscan(ctx(ContextArtifactRetentionDays), &c.ArtifactRetentionDays); err != nil {
			c.ArtifactRetentionDays = 30
		}
	}
	if c.ArtifactRetentionDays < 1 {
		c.ArtifactRetentionDays = 30
	}
	return c
}

func newOutputs(stack awscdk.Stack, r *Relais) {
	out := func(id, value, desc string) {
		awscdk.NewCfnOutput(stack, jsii.String(id), &awscdk.CfnOutputProps{Value: jsii.String(value), Description: jsii.String(desc)})
	}
	out("WebhookUrl", *r.API.Api.Url()+"webhooks/github", "Payload URL of the GitHub webhook (content type application/json)")
	out("WebhookSecretName", *r.Data.WebhookSecret.SecretName(), "Secrets Manager secret holding the webhook secret to give GitHub")
	out("ApiUrl", *r.API.Api.Url(), "Endpoint of the CodePipeline-protocol API (relais --endpoint, aws codepipeline --endpoint-url)")
	out("ApiTokenSecretName", *r.Data.APIToken.SecretName(), "Secrets Manager secret holding the API token (X-Relais-Api-Token)")
	out("GitHubTokenSecretName", *r.Data.GitHubToken.SecretName(), "Secrets Manager secret to put a GitHub token in (archives, commit statuses)")
	out("ArtifactBucketName", *r.Data.Bucket.BucketName(), "Bucket of artifacts")
	out("TableName", *r.Data.Table.TableName(), "DynamoDB table of Relais's state")
	out("DefaultProjectName", *r.Data.Project.Ref(), "Default CodeBuild project")
	out("ApprovalTopicArn", *r.Data.Topic.TopicArn(), "SNS topic of approval requests")
}
