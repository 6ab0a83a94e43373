// Package lambdaenv assembles Relais on AWS for its Lambda functions, as
// shared/local/serve does for `relais serve`: it reads the environment the CDK stack
// (infra) sets, builds the AWS clients once per container and wires the AWS adapters
// (dynamostore, s3artifact, sfnengine, snsnotify) and the AWS action providers
// (codebuildaction, cfnaction, s3deployaction, s3sourceaction, lambdaaction,
// githubsource) into the shared services. Every function's main.go opens it and takes
// the services it serves.
package lambdaenv

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"

	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation"
	"github.com/aws/aws-sdk-go-v2/service/codebuild"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	sfntypes "github.com/aws/aws-sdk-go-v2/service/sfn/types"
	"github.com/aws/aws-sdk-go-v2/service/sns"

	"github.com/relais-ci/relais/shared/action"
	"github.com/relais-ci/relais/shared/approval"
	"github.com/relais-ci/relais/shared/aws/cfnaction"
	"github.com/relais-ci/relais/shared/aws/codebuildaction"
	"github.com/relais-ci/relais/shared/aws/dynamostore"
	"github.com/relais-ci/relais/shared/aws/githubsource"
	"github.com/relais-ci/relais/shared/aws/lambdaaction"
	"github.com/relais-ci/relais/shared/aws/s3artifact"
	"github.com/relais-ci/relais/shared/aws/s3deployaction"
	"github.com/relais-ci/relais/shared/aws/s3sourceaction"
	"github.com/relais-ci/relais/shared/aws/sfnengine"
	"github.com/relais-ci/relais/shared/aws/snsnotify"
	"github.com/relais-ci/relais/shared/execution"
	"github.com/relais-ci/relais/shared/gate"
	"github.com/relais-ci/relais/shared/pipeline"
)

// Environment variables the stack (infra) sets on the functions.
const (
	EnvTable          = "RELAIS_TABLE"
	EnvArtifactBucket = "RELAIS_ARTIFACT_BUCKET"
	EnvAccount        = "RELAIS_ACCOUNT"
	EnvMachinePrefix  = "RELAIS_MACHINE_PREFIX"
	EnvMachineRole    = "RELAIS_MACHINE_ROLE_ARN"
	EnvMachineLogs    = "RELAIS_MACHINE_LOG_GROUP_ARN"
	EnvGateFunction   = "RELAIS_GATE_FUNCTION_ARN"
	EnvActionFunction = "RELAIS_ACTION_FUNCTION_ARN"
	EnvApprovalTopic  = "RELAIS_APPROVAL_TOPIC"
	EnvApprovalURL    = "RELAIS_APPROVAL_URL"
	EnvApprovers      = "RELAIS_APPROVERS"
	EnvLinkKey        = "RELAIS_LINK_KEY_SECRET_ARN"
	EnvAPIToken       = "RELAIS_API_TOKEN_SECRET_ARN"
	// For the webhook function.
	EnvWebhookSecret = "RELAIS_WEBHOOK_SECRET_ARN"
	EnvGitHubToken   = "RELAIS_GITHUB_TOKEN_SECRET_ARN"
	EnvAPIURL        = "RELAIS_API_URL"
	// EnvGitHubAPIURL is GitHub's REST API for the webhook and action functions, for a
	// GitHub Enterprise Server (https://HOST/api/v3); unset is https://api.github.com.
	EnvGitHubAPIURL = "RELAIS_GITHUB_API_URL"
)

// Relais is Relais on AWS, as one function sees it.
type Relais struct {
	AWS        aws.Config
	Store      *dynamostore.Store
	Artifacts  *s3artifact.Store // nil without an artifact bucket
	Engine     *sfnengine.Engine
	Gate       *gate.Service
	Approvals  *approval.Service
	Actions    *action.Service
	Executions *execution.Service
	// Stacks runs CloudFormation actions, and completes them from stack events (nil
	// without an artifact bucket).
	Stacks  *cfnaction.Deployer
	Logger  *slog.Logger
	secrets *secretsmanager.Client
}

// Open builds the clients and services from the environment. It is called once per
// container, in main, before the handler starts.
func Open(ctx context.Context) (*Relais, error) {
	logger := lambdacontext.NewLogger()
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		return nil, fmt.Errorf("load AWS config: %w", err)
	}
	table, err := need(EnvTable)
	if err != nil {
		return nil, err
	}
	r := &Relais{AWS: cfg, Logger: logger, secrets: secretsmanager.NewFromConfig(cfg)}
	r.Store = dynamostore.New(dynamodb.NewFromConfig(cfg), table)
	bucket := os.Getenv(EnvArtifactBucket)
	var s3client *s3.Client
	if bucket != "" {
		s3client = s3.NewFromConfig(cfg)
		r.Artifacts = s3artifact.New(s3client, s3.NewPresignClient(s3client), bucket)
	}
	if r.Engine, err = engine(cfg); err != nil {
		return nil, err
	}
	st := r.Store
	r.Gate = gate.New(gate.Deps{Executions: st, Stages: st, Actions: st, Locks: st, Queue: st, Transitions: st, Engine: r.Engine, Logger: logger})
	ad := approval.Deps{Approvals: st, Actions: st, Executions: st, Logger: logger}
	if topic := os.Getenv(EnvApprovalTopic); topic != "" {
		ad.Notifier = snsnotify.New(sns.NewFromConfig(cfg), topic)
	}
	for _, a := range strings.Split(os.Getenv(EnvApprovers), ",") {
		if a = strings.TrimSpace(a); a != "" {
			ad.Approvers = append(ad.Approvers, a)
		}
	}
	if base := os.Getenv(EnvApprovalURL); base != "" {
		key, err := r.Secret(ctx, EnvLinkKey)
		if err != nil {
			return nil, err
		}
		if ad.Links, err = approval.NewLinks(base, []byte(key)); err != nil {
			return nil, err
		}
	}
	r.Approvals = approval.New(ad)
	manual := action.ProviderKey(pipeline.ActionTypeID{Category: pipeline.CategoryApproval, Owner: pipeline.OwnerAWS, Provider: "Manual"})
	providers := map[string]action.Provider{manual: r.Approvals}
	builds := codebuildaction.New(codebuild.NewFromConfig(cfg), bucket, "")
	for _, k := range codebuildaction.Providers {
		providers[k] = builds
	}
	cancelers := gate.Cancelers{builds}
	if r.Artifacts != nil {
		r.Stacks = cfnaction.New(cfnaction.Deps{
			CloudFormation: cloudformation.NewFromConfig(cfg), Artifacts: r.Artifacts,
			S3: s3client, Bucket: bucket, Region: cfg.Region,
			Actions: st, Pipelines: st, Logger: logger,
		})
		providers[cfnaction.Provider] = r.Stacks
		cancelers = append(cancelers, r.Stacks)
		providers[s3deployaction.Provider] = s3deployaction.New(r.Artifacts, s3client, logger)
		providers[s3sourceaction.Provider] = s3sourceaction.New(s3sourceaction.Deps{Client: s3client, Artifacts: r.Artifacts, Logger: logger})
		providers[lambdaaction.Provider] = lambdaaction.New(lambdaaction.Deps{
			Client: lambda.NewFromConfig(cfg), Artifacts: r.Artifacts, Bucket: bucket,
			AccountID: os.Getenv(EnvAccount), Logger: logger,
		})
		gd := githubsource.Deps{Artifacts: r.Artifacts, APIURL: os.Getenv(EnvGitHubAPIURL), Logger: logger}
		if os.Getenv(EnvGitHubToken) != "" {
			// Optional, as for the webhook: without it only public repositories are read.
			if gd.Token, err = r.Secret(ctx, EnvGitHubToken); err != nil {
				logger.Warn("GitHub source actions read public repositories only", "err", err)
			}
		}
		src := githubsource.New(gd)
		for _, k := range githubsource.Providers {
			providers[k] = src
		}
	}
	r.Actions = action.New(action.Deps{
		Pipelines: st, Executions: st, Stages: st, Actions: st, Engine: r.Engine,
		Providers: providers, Logger: logger,
	})
	r.Approvals.Completer = r.Actions
	r.Executions = execution.New(execution.Deps{
		Pipelines: st, Executions: st, Stages: st, Actions: st, Transitions: st,
		Engine: r.Engine, Gate: r.Gate, Canceler: cancelers, Target: pipeline.TargetAWS, Logger: logger,
	})
	return r, nil
}

// engine builds the Step Functions engine. The gate and action functions only answer
// task tokens and never deploy a machine: the stack cannot give them their own ARNs
// (the machines name them), so they stand in their own names.
func engine(cfg aws.Config) (*sfnengine.Engine, error) {
	self := os.Getenv("AWS_LAMBDA_FUNCTION_NAME")
	or := func(key string) string {
		if v := os.Getenv(key); v != "" {
			return v
		}
		return self
	}
	c := sfnengine.Config{
		Region: cfg.Region, Account: os.Getenv(EnvAccount), RoleARN: os.Getenv(EnvMachineRole),
		GateFunctionARN: or(EnvGateFunction), ActionFunctionARN: or(EnvActionFunction),
		NamePrefix: os.Getenv(EnvMachinePrefix),
		Tracing:    &sfntypes.TracingConfiguration{Enabled: true},
	}
	if logs := os.Getenv(EnvMachineLogs); logs != "" {
		c.Logging = &sfntypes.LoggingConfiguration{
			Level: sfntypes.LogLevelAll, IncludeExecutionData: false,
			Destinations: []sfntypes.LogDestination{{CloudWatchLogsLogGroup: &sfntypes.CloudWatchLogsLogGroup{LogGroupArn: aws.String(logs)}}},
		}
	}
	e, err := sfnengine.New(sfn.NewFromConfig(cfg), c)
	if err != nil {
		return nil, fmt.Errorf("step functions engine: %w", err)
	}
	return e, nil
}

// Secret returns the value of the secret whose ARN the environment variable key holds.
func (r *Relais) Secret(ctx context.Context, key string) (string, error) {
	arn, err := need(key)
	if err != nil {
		return "", err
	}
	out, err := r.secrets.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(arn)})
	if err != nil {
		return "", fmt.Errorf("read secret %s: %w", key, err)
	}
	if out.SecretString == nil || *out.SecretString == "" {
		return "", fmt.Errorf("read secret %s: it is empty", key)
	}
	return *out.SecretString, nil
}

func need(key string) (string, error) {
	if v := os.Getenv(key); v != "" {
		return v, nil
	}
	return "", fmt.Errorf("environment variable %s is not set: %w", key, errMissing)
}

var errMissing = errors.New("the function runs outside the Relais stack")

// Fatal logs err as the reason the function cannot start, and exits: the Lambda service
// reports the failed init.
func Fatal(logger *slog.Logger, err error) {
	if logger == nil {
		logger = lambdacontext.NewLogger()
	}
	logger.Error("cannot start", "err", err)
	os.Exit(1)
}
