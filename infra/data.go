package main

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscodebuild"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsdynamodb"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskms"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/aws-cdk-go/awscdk/v2/awss3"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssecretsmanager"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssns"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssnssubscriptions"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/jsii-runtime-go"

	"github.com/relais-ci/relais/shared/approval"
	"github.com/relais-ci/relais/shared/aws/dynamostore"
)

// Data is where Relais keeps things: its table, the artifact bucket (and the bucket of
// its access logs), the approval topic, the secrets and the default build project.
type Data struct {
	Table         awsdynamodb.TableV2
	Indexes       []string
	Bucket        awss3.Bucket
	AccessLogs    awss3.Bucket
	Topic         awssns.Topic
	WebhookSecret awssecretsmanager.Secret
	GitHubToken   awssecretsmanager.Secret
	LinkKey       awssecretsmanager.Secret
	APIToken      awssecretsmanager.Secret
	Project       awscodebuild.CfnProject
	ProjectRole   awsiam.Role
	ProjectLogs   awslogs.LogGroup
}

func newData(stack awscdk.Stack, cfg config) *Data {
	d := &Data{}
	d.Table, d.Indexes = newTable(stack)
	d.AccessLogs, d.Bucket = newBuckets(stack, cfg)
	d.Topic = newTopic(stack, cfg)
	d.WebhookSecret = generatedSecret(stack, "WebhookSecret", "GitHub webhook secret: give it to GitHub as the webhook's secret", 40)
	// A GitHub token cannot be generated: the stack creates the secret with a random
	// placeholder, and the operator puts a token in it (put-secret-value).
	d.GitHubToken = generatedSecret(stack, "GitHubToken", "GitHub token for archives and commit statuses: replace the placeholder with a token", 40)
	d.LinkKey = generatedSecret(stack, "LinkSigningKey", "Key that signs approval links (HMAC-SHA256)", 64)
	d.APIToken = generatedSecret(stack, "ApiToken", "Token the API requires in X-Relais-Api-Token", 48)
	d.Project, d.ProjectRole, d.ProjectLogs = newProject(stack, cfg, d.Bucket)
	return d
}

// newTable builds the table dynamostore.TableDefinition describes, so that the stack
// and the adapter cannot disagree on keys or indexes.
func newTable(stack awscdk.Stack) (awsdynamodb.TableV2, []string) {
	def := dynamostore.TableDefinition("unused")
	attrType := map[string]awsdynamodb.AttributeType{}
	for _, a := range def.AttributeDefinitions {
		t := awsdynamodb.AttributeType_STRING
		switch a.AttributeType {
		case ddbtypes.ScalarAttributeTypeN:
			t = awsdynamodb.AttributeType_NUMBER
		case ddbtypes.ScalarAttributeTypeB:
			t = awsdynamodb.AttributeType_BINARY
		}
		attrType[*a.AttributeName] = t
	}
	keys := func(ks []ddbtypes.KeySchemaElement) (hash, rng *awsdynamodb.Attribute) {
		for _, k := range ks {
			a := &awsdynamodb.Attribute{Name: k.AttributeName, Type: attrType[*k.AttributeName]}
			if k.KeyType == ddbtypes.KeyTypeHash {
				hash = a
			} else {
				rng = a
			}
		}
		return hash, rng
	}
	var indexes []string
	var lsis []*awsdynamodb.LocalSecondaryIndexProps
	for _, i := range def.LocalSecondaryIndexes {
		_, rng := keys(i.KeySchema)
		lsis = append(lsis, &awsdynamodb.LocalSecondaryIndexProps{IndexName: i.IndexName, SortKey: rng, ProjectionType: awsdynamodb.ProjectionType_ALL})
		indexes = append(indexes, *i.IndexName)
	}
	var gsis []*awsdynamodb.GlobalSecondaryIndexPropsV2
	for _, i := range def.GlobalSecondaryIndexes {
		hash, rng := keys(i.KeySchema)
		gsis = append(gsis, &awsdynamodb.GlobalSecondaryIndexPropsV2{IndexName: i.IndexName, PartitionKey: hash, SortKey: rng, ProjectionType: awsdynamodb.ProjectionType_ALL})
		indexes = append(indexes, *i.IndexName)
	}
	hash, rng := keys(def.KeySchema)
	t := awsdynamodb.NewTableV2(stack, jsii.String("Table"), &awsdynamodb.TablePropsV2{
		PartitionKey:           hash,
		SortKey:                rng,
		Billing:                awsdynamodb.Billing_OnDemand(nil),
		LocalSecondaryIndexes:  &lsis,
		GlobalSecondaryIndexes: &gsis,
		PointInTimeRecoverySpecification: &awsdynamodb.PointInTimeRecoverySpecification{
			PointInTimeRecoveryEnabled: jsii.Bool(true),
		},
		TimeToLiveAttribute: jsii.String(dynamostore.TTLAttribute),
		DeletionProtection:  jsii.Bool(true),
		// Pipelines, executions and approvals outlive a stack replaced by mistake.
		RemovalPolicy: awscdk.RemovalPolicy_RETAIN,
	})
	return t, indexes
}

func newBuckets(stack awscdk.Stack, cfg config) (logs, artifacts awss3.Bucket) {
	logs = awss3.NewBucket(stack, jsii.String("AccessLogBucket"), &awss3.BucketProps{
		BlockPublicAccess: awss3.BlockPublicAccess_BLOCK_ALL(),
		EnforceSSL:        jsii.Bool(true),
		// S3 server access logging delivers only to SSE-S3 buckets.
		Encryption:      awss3.BucketEncryption_S3_MANAGED,
		ObjectOwnership: awss3.ObjectOwnership_BUCKET_OWNER_ENFORCED,
		LifecycleRules: &[]*awss3.LifecycleRule{{
			Id: jsii.String("expire-access-logs"), Expiration: awscdk.Duration_Days(jsii.Number(90)),
		}},
		RemovalPolicy: awscdk.RemovalPolicy_RETAIN,
	})
	days := float64(cfg.ArtifactRetentionDays)
	artifacts = awss3.NewBucket(stack, jsii.String("ArtifactBucket"), &awss3.BucketProps{
		BlockPublicAccess:      awss3.BlockPublicAccess_BLOCK_ALL(),
		EnforceSSL:             jsii.Bool(true),
		Encryption:             awss3.BucketEncryption_S3_MANAGED,
		ObjectOwnership:        awss3.ObjectOwnership_BUCKET_OWNER_ENFORCED,
		Versioned:              jsii.Bool(true),
		ServerAccessLogsBucket: logs,
		ServerAccessLogsPrefix: jsii.String("artifacts/"),
		LifecycleRules: &[]*awss3.LifecycleRule{{
			// Artifacts are per execution: old executions' zips are no longer read.
			Id:                                  jsii.String("expire-old-artifacts"),
			Expiration:                          awscdk.Duration_Days(&days),
			NoncurrentVersionExpiration:         awscdk.Duration_Days(jsii.Number(7)),
			AbortIncompleteMultipartUploadAfter: awscdk.Duration_Days(jsii.Number(1)),
		}, {
			Id:                        jsii.String("remove-expired-delete-markers"),
			ExpiredObjectDeleteMarker: jsii.Bool(true),
		}},
		RemovalPolicy: awscdk.RemovalPolicy_RETAIN,
	})
	return logs, artifacts
}

func newTopic(stack awscdk.Stack, cfg config) awssns.Topic {
	t := awssns.NewTopic(stack, jsii.String("ApprovalTopic"), &awssns.TopicProps{
		DisplayName: jsii.String("Relais approvals"),
		EnforceSSL:  jsii.Bool(true),
		// The AWS managed key: encrypted at rest at no key cost; only principals of this
		// account publish (the action function).
		MasterKey: awskms.Alias_FromAliasName(stack, jsii.String("SnsManagedKey"), jsii.String("alias/aws/sns")),
	})
	// Each approver gets a message with links of their own (signed for them): the
	// subscription passes only the messages whose recipient attribute names them.
	for _, e := range cfg.ApproverEmails {
		t.AddSubscription(awssnssubscriptions.NewEmailSubscription(jsii.String(e), &awssnssubscriptions.EmailSubscriptionProps{
			FilterPolicy: &map[string]awssns.SubscriptionFilter{
				approval.AttrRecipient: awssns.SubscriptionFilter_StringFilter(&awssns.StringConditions{Allowlist: jsii.Strings(e)}),
			},
		}))
	}
	return t
}

func generatedSecret(stack awscdk.Stack, id, desc string, length float64) awssecretsmanager.Secret {
	return awssecretsmanager.NewSecret(stack, jsii.String(id), &awssecretsmanager.SecretProps{
		Description: jsii.String(desc),
		GenerateSecretString: &awssecretsmanager.SecretStringGenerator{
			PasswordLength:     jsii.Number(length),
			ExcludePunctuation: jsii.Bool(true),
			IncludeSpace:       jsii.Bool(false),
		},
	})
}

// newProject is the default build project: ARM Amazon Linux 2023, source and artifacts
// in the artifact bucket (the action function overrides their locations per build), logs
// in its own log group. It is an L1 resource so that its role holds exactly the
// statements below, not the wildcard actions the L2 construct grants.
func newProject(stack awscdk.Stack, cfg config, bucket awss3.Bucket) (awscodebuild.CfnProject, awsiam.Role, awslogs.LogGroup) {
	logs := awslogs.NewLogGroup(stack, jsii.String("DefaultProjectLogs"), &awslogs.LogGroupProps{
		Retention:     awslogs.RetentionDays_ONE_MONTH,
		RemovalPolicy: awscdk.RemovalPolicy_DESTROY,
	})
	role := awsiam.NewRole(stack, jsii.String("DefaultProjectRole"), &awsiam.RoleProps{
		AssumedBy:   awsiam.NewServicePrincipal(jsii.String("codebuild.amazonaws.com"), nil),
		Description: jsii.String("Role of the default Relais build project"),
	})
	role.AddToPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid:       jsii.String("WriteBuildLogs"),
		Actions:   jsii.Strings("logs:CreateLogStream", "logs:PutLogEvents"),
		Resources: jsii.Strings(*logs.LogGroupArn()),
	}))
	role.AddToPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid:       jsii.String("ReadInputWriteOutputArtifacts"),
		Actions:   jsii.Strings("s3:GetObject", "s3:GetObjectVersion", "s3:PutObject"),
		Resources: jsii.Strings(*bucket.ArnForObjects(jsii.String("*"))),
	}))
	role.AddToPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid:       jsii.String("LocateArtifactBucket"),
		Actions:   jsii.Strings("s3:GetBucketLocation", "s3:GetBucketAcl"),
		Resources: jsii.Strings(*bucket.BucketArn()),
	}))
	var name *string
	if cfg.DefaultProjectName != "" {
		name = jsii.String(cfg.DefaultProjectName)
	}
	p := awscodebuild.NewCfnProject(stack, jsii.String("DefaultProject"), &awscodebuild.CfnProjectProps{
		Name:        name,
		Description: jsii.String("Default Relais build project: builds the buildspec.yml of the input artifact"),
		ServiceRole: role.RoleArn(),
		Source: &awscodebuild.CfnProject_SourceProperty{
			Type:     jsii.String("S3"),
			Location: jsii.String(*bucket.BucketName() + "/overridden-per-build"),
		},
		Artifacts: &awscodebuild.CfnProject_ArtifactsProperty{
			Type:      jsii.String("S3"),
			Location:  bucket.BucketName(),
			Packaging: jsii.String("ZIP"),
		},
		Environment: &awscodebuild.CfnProject_EnvironmentProperty{
			Type:        jsii.String("ARM_CONTAINER"),
			ComputeType: jsii.String("BUILD_GENERAL1_SMALL"),
			Image:       jsii.String("aws/codebuild/amazonlinux-aarch64-standard:3.0"),
		},
		// The AWS managed S3 key encrypts build outputs, at no key cost.
		EncryptionKey:    jsii.String("alias/aws/s3"),
		TimeoutInMinutes: jsii.Number(60),
		LogsConfig: &awscodebuild.CfnProject_LogsConfigProperty{
			CloudWatchLogs: &awscodebuild.CfnProject_CloudWatchLogsConfigProperty{
				Status: jsii.String("ENABLED"), GroupName: logs.LogGroupName(),
			},
		},
	})
	p.Node().AddDependency(role)
	return p, role, logs
}
