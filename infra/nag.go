package main

import (
	"strings"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/jsii-runtime-go"
	"github.com/cdklabs/cdk-nag-go/cdknag/v2"
)

// CheckWithNag runs cdk-nag's AwsSolutions pack on every stack of app: a finding not
// suppressed below (with its reason) is a synth error.
func CheckWithNag(app awscdk.App) {
	awscdk.Aspects_Of(app).Add(cdknag.NewAwsSolutionsChecks(&cdknag.NagPackProps{Verbose: jsii.Bool(true)}), nil)
}

// suppression is a cdk-nag finding Relais accepts, and why.
type suppression struct {
	id, reason string
	appliesTo  []string
}

// nag records suppressions on construct (and its children when children is set). An
// appliesTo entry between slashes is a regular expression over the finding's detail.
func nag(construct any, children bool, ss ...suppression) {
	var out []*cdknag.NagPackSuppression
	for _, s := range ss {
		n := &cdknag.NagPackSuppression{Id: jsii.String(s.id), Reason: jsii.String(s.reason)}
		if len(s.appliesTo) > 0 {
			var at []interface{}
			for _, a := range s.appliesTo {
				if strings.HasPrefix(a, "/") {
					at = append(at, &cdknag.RegexAppliesTo{Regex: jsii.String(a)})
				} else {
					at = append(at, a)
				}
			}
			n.AppliesTo = &at
		}
		out = append(out, n)
	}
	cdknag.NagSuppressions_AddResourceSuppressions(construct, &out, jsii.Bool(children))
}

// Why each accepted finding is right for Relais.
const (
	whyArtifactObjects = "Artifact keys are <pipeline>/<execution>/<name>.zip, known only at run time: " +
		"access is scoped to the objects of the artifact bucket, with only the object actions each role needs."
	whyExecutions = "Execution names are the pipeline execution ids, chosen at run time: " +
		"StopExecution and DescribeExecution are scoped to the executions of Relais's own state machines."
	whyPrefixed = "Pipelines installed through the API (CreatePipeline) get a state machine at run time: " +
		"the API function may create and update only machines whose names start with this stack's prefix."
	whyDeployBuckets = "S3 deploy actions write the artifact's files, whose keys come from its contents, " +
		"into the buckets the pipeline declarations name: scoped to those buckets' objects, with PutObject and " +
		"AbortMultipartUpload, and PutObjectAcl only on the buckets of actions that set a CannedACL."
	whyStacks = "A stack's and a change set's ARN end in an id CloudFormation assigns when it creates them: " +
		"scoped to the stacks and change sets the CloudFormation actions of the declarations name, by name."
	whyTransforms = "Templates with a Transform (SAM, CAPABILITY_AUTO_EXPAND) are expanded by the transforms AWS " +
		"owns, which CreateChangeSet is checked against: scoped to those (account aws), not the user's resources."
	whyStackArtifacts = "The events function completes CloudFormation actions: it writes the OutputFileName " +
		"artifact and re-creates a replaced stack from a template uploaded to the artifact bucket, whose keys " +
		"(<pipeline>/<execution>/...) are known only at run time."
	whyMachineRole = "Step Functions logging and X-Ray: the CloudWatch Logs delivery actions " +
		"(CreateLogDelivery, PutResourcePolicy, DescribeLogGroups...) and xray:PutTraceSegments/PutTelemetryRecords/" +
		"GetSampling* support no resource-level permissions, so AWS documents Resource * for them."
	whyNoAuthorizer = "Each route authenticates in its function, as its protocol requires: GitHub deliveries by " +
		"their HMAC-SHA256 signature (X-Hub-Signature-256) checked before parsing, approval links by their " +
		"signed, expiring, single-use token, the CodePipeline-protocol API by the API token in Secrets Manager " +
		"(IAM would need execute-api SigV4 signatures, which CodePipeline clients do not make). The stage throttles every route."
	whyBuildKey = "Build outputs go to the artifact bucket, encrypted there with SSE-S3 like every artifact; " +
		"CodeBuild encrypts with the AWS managed S3 key. A customer managed key would add its cost and key grants " +
		"to every reader of artifacts without narrowing who can read them, which IAM already scopes."
)

// suppress records the findings Relais accepts, each with its reason.
func suppress(r *Relais) {
	d, f := r.Data, r.Functions
	nag(d.WebhookSecret, true, suppression{id: "AwsSolutions-SMG4", reason: "Shared with GitHub, which cannot " +
		"take a new secret automatically: rotate by hand (the webhook accepts the old and the new secret during the change)."})
	nag(d.GitHubToken, true, suppression{id: "AwsSolutions-SMG4", reason: "A GitHub token is issued and rotated " +
		"by GitHub; the operator puts it here."})
	nag(d.LinkKey, true, suppression{id: "AwsSolutions-SMG4", reason: "Rotating the link-signing key invalidates " +
		"every approval link in flight (approvals wait up to 7 days): rotate by hand, when no approval is pending."})
	nag(d.APIToken, true, suppression{id: "AwsSolutions-SMG4", reason: "The API token is held by the operators' " +
		"CLIs: rotate by hand (put-secret-value) and hand out the new one."})
	nag(d.Project, false, suppression{id: "AwsSolutions-CB4", reason: whyBuildKey})

	objects := "/^Resource::<ArtifactBucket[0-9A-F]+\\.Arn>\\/\\*$/"
	nag(d.ProjectRole, true, suppression{id: "AwsSolutions-IAM5", reason: whyArtifactObjects, appliesTo: []string{objects}})
	nag(f.Action.Role, true, suppression{id: "AwsSolutions-IAM5", reason: whyArtifactObjects, appliesTo: []string{objects}})
	nag(f.Action.Role, true, suppression{id: "AwsSolutions-IAM5", reason: whyDeployBuckets,
		appliesTo: []string{"/^Resource::arn:<AWS::Partition>:s3:::[^*<>]+\\/\\*$/"}})
	stacks := "/^Resource::arn:<AWS::Partition>:cloudformation:<AWS::Region>:<AWS::AccountId>:(stack|changeSet)\\/[^*<>\\/]+\\/\\*$/"
	for _, fn := range []*Function{f.Action, f.Events, f.API} {
		nag(fn.Role, true, suppression{id: "AwsSolutions-IAM5", reason: whyStacks, appliesTo: []string{stacks}})
	}
	nag(f.Action.Role, true, suppression{id: "AwsSolutions-IAM5", reason: whyTransforms,
		appliesTo: []string{"Resource::arn:<AWS::Partition>:cloudformation:<AWS::Region>:aws:transform/*"}})
	nag(f.Events.Role, true, suppression{id: "AwsSolutions-IAM5", reason: whyStackArtifacts, appliesTo: []string{objects}})
	executions := "/^Resource::arn:<AWS::Partition>:states:<AWS::Region>:<AWS::AccountId>:execution:[^:]+:\\*$/"
	prefixed := "/^Resource::arn:<AWS::Partition>:states:<AWS::Region>:<AWS::AccountId>:stateMachine:[^*]+\\*$/"
	for _, c := range *r.Node().Children() {
		if strings.HasSuffix(*c.Node().Id(), "MachinePolicy") {
			nag(c, true, suppression{id: "AwsSolutions-IAM5", reason: whyExecutions, appliesTo: []string{executions}},
				suppression{id: "AwsSolutions-IAM5", reason: whyPrefixed, appliesTo: []string{prefixed}})
		}
	}
	nag(r.Machines.Role, true, suppression{id: "AwsSolutions-IAM5", reason: whyMachineRole, appliesTo: []string{"Resource::*"}})
	nag(r.API.Api, true, suppression{id: "AwsSolutions-APIG4", reason: whyNoAuthorizer})
}
