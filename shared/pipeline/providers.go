package pipeline

import "strings"

// Count is an inclusive range of artifact counts.
type Count struct{ Min, Max int }

func (c Count) has(n int) bool { return n >= c.Min && n <= c.Max }

// Provider is what Relais knows of one action type: where it belongs, how many artifacts
// it takes and makes, its configuration keys, and where Relais can run it.
type Provider struct {
	Category string
	Owner    string
	Name     string
	Version  string

	Inputs  Count
	Outputs Count

	Required []string
	Optional []string
	// OpenConfig providers are checked for required keys only: Relais does not list
	// every key AWS takes for them, so it does not refuse keys it does not know.
	OpenConfig bool
	// Values lists the allowed values of enumerated configuration keys.
	Values map[string][]string
	// conditional reports requirements that depend on other keys (e.g. CloudFormation's
	// ActionMode); it returns key → message.
	conditional func(cfg map[string]string) [][2]string
	// ArtifactKeys are configuration keys whose value names one of the action's input
	// artifacts; ArtifactPathKeys hold "ArtifactName::path" with the same requirement.
	ArtifactKeys     []string
	ArtifactPathKeys []string

	// OnAWS and Locally say whether Relais can run the provider in each place.
	OnAWS   bool
	Locally bool
}

// knows reports whether key is a configuration key of p.
func (p Provider) knows(key string) bool {
	for _, k := range p.Required {
		if k == key {
			return true
		}
	}
	for _, k := range p.Optional {
		if k == key {
			return true
		}
	}
	return false
}

var boolValues = []string{"true", "false"}

// providers is Relais's registry. Counts are those of CodePipeline's "Valid input and
// output artifacts for each action type"; keys those of its action structure reference.
var providers = []*Provider{
	{Category: CategorySource, Owner: OwnerAWS, Name: "S3", Version: "1",
		Inputs: Count{0, 0}, Outputs: Count{1, 1},
		Required: []string{"S3Bucket", "S3ObjectKey"},
		Optional: []string{"PollForSourceChanges", "AllowOverrideForS3ObjectKey"},
		Values:   map[string][]string{"PollForSourceChanges": boolValues, "AllowOverrideForS3ObjectKey": boolValues},
		OnAWS:    true, Locally: true},
	{Category: CategorySource, Owner: OwnerAWS, Name: "CodeCommit", Version: "1",
		Inputs: Count{0, 0}, Outputs: Count{1, 1},
		Required: []string{"RepositoryName", "BranchName"},
		Optional: []string{"PollForSourceChanges", "OutputArtifactFormat"},
		Values: map[string][]string{"PollForSourceChanges": boolValues,
			"OutputArtifactFormat": {"CODE_ZIP", "CODEBUILD_CLONE_REF"}},
		// No AWS provider yet: CodeCommit runs nowhere in Relais for now.
	},
	{Category: CategorySource, Owner: OwnerAWS, Name: "CodeStarSourceConnection", Version: "1",
		Inputs: Count{0, 0}, Outputs: Count{1, 1},
		Required: []string{"ConnectionArn", "FullRepositoryId", "BranchName"},
		Optional: []string{"OutputArtifactFormat", "DetectChanges"},
		Values: map[string][]string{"DetectChanges": boolValues,
			"OutputArtifactFormat": {"CODE_ZIP", "CODEBUILD_CLONE_REF"}},
		OnAWS: true, Locally: true},
	{Category: CategorySource, Owner: OwnerThirdParty, Name: "GitHub", Version: "1",
		Inputs: Count{0, 0}, Outputs: Count{1, 1},
		Required: []string{"Owner", "Repo", "Branch", "OAuthToken"},
		Optional: []string{"PollForSourceChanges"},
		Values:   map[string][]string{"PollForSourceChanges": boolValues},
		OnAWS:    true, Locally: true},
	{Category: CategorySource, Owner: OwnerAWS, Name: "ECR", Version: "1",
		Inputs: Count{0, 0}, Outputs: Count{1, 1},
		Required: []string{"RepositoryName"},
		Optional: []string{"ImageTag"}},

	{Category: CategoryBuild, Owner: OwnerAWS, Name: "CodeBuild", Version: "1",
		Inputs: Count{1, 5}, Outputs: Count{0, 5},
		Required:     []string{"ProjectName"},
		Optional:     []string{"PrimarySource", "BatchEnabled", "CombineArtifacts", "EnvironmentVariables"},
		Values:       map[string][]string{"BatchEnabled": boolValues, "CombineArtifacts": boolValues},
		ArtifactKeys: []string{"PrimarySource"},
		OnAWS:        true, Locally: true},
	{Category: CategoryTest, Owner: OwnerAWS, Name: "CodeBuild", Version: "1",
		Inputs: Count{1, 5}, Outputs: Count{0, 5},
		Required:     []string{"ProjectName"},
		Optional:     []string{"PrimarySource", "BatchEnabled", "CombineArtifacts", "EnvironmentVariables"},
		Values:       map[string][]string{"BatchEnabled": boolValues, "CombineArtifacts": boolValues},
		ArtifactKeys: []string{"PrimarySource"},
		OnAWS:        true, Locally: true},
	{Category: CategoryTest, Owner: OwnerAWS, Name: "DeviceFarm", Version: "1",
		Inputs: Count{1, 1}, Outputs: Count{0, 0}, OpenConfig: true},

	{Category: CategoryDeploy, Owner: OwnerAWS, Name: "S3", Version: "1",
		Inputs: Count{1, 1}, Outputs: Count{0, 0},
		Required: []string{"BucketName", "Extract"},
		Optional: []string{"ObjectKey", "KMSEncryptionKeyARN", "CannedACL", "CacheControl"},
		Values: map[string][]string{"Extract": boolValues, "CannedACL": {"private", "public-read",
			"public-read-write", "aws-exec-read", "authenticated-read", "bucket-owner-read",
			"bucket-owner-full-control", "log-delivery-write"}},
		conditional: func(cfg map[string]string) [][2]string {
			if cfg["Extract"] == "false" && cfg["ObjectKey"] == "" {
				return [][2]string{{"ObjectKey", "ObjectKey is required when Extract is false"}}
			}
			return nil
		},
		OnAWS: true, Locally: true},
	{Category: CategoryDeploy, Owner: OwnerAWS, Name: "CloudFormation", Version: "1",
		Inputs: Count{0, 10}, Outputs: Count{0, 1},
		Required: []string{"ActionMode", "StackName"},
		Optional: []string{"Capabilities", "ChangeSetName", "OutputFileName", "ParameterOverrides",
			"RoleArn", "TemplateConfiguration", "TemplatePath"},
		Values: map[string][]string{"ActionMode": {"CHANGE_SET_EXECUTE", "CHANGE_SET_REPLACE",
			"CREATE_UPDATE", "DELETE_ONLY", "REPLACE_ON_FAILURE"}},
		conditional:      cloudFormationNeeds,
		ArtifactPathKeys: []string{"TemplatePath", "TemplateConfiguration"},
		// On AWS: shared/aws/cfnaction. Locally Relais has no stacks to deploy to.
		OnAWS: true},
	{Category: CategoryDeploy, Owner: OwnerAWS, Name: "CodeDeploy", Version: "1",
		Inputs: Count{1, 1}, Outputs: Count{0, 0},
		Required: []string{"ApplicationName", "DeploymentGroupName"}},
	{Category: CategoryDeploy, Owner: OwnerAWS, Name: "ECS", Version: "1",
		Inputs: Count{1, 1}, Outputs: Count{0, 0},
		Required: []string{"ClusterName", "ServiceName"},
		Optional: []string{"FileName", "DeploymentTimeout"}},
	{Category: CategoryDeploy, Owner: OwnerAWS, Name: "CodeDeployToECS", Version: "1",
		Inputs: Count{1, 5}, Outputs: Count{0, 0},
		Required: []string{"ApplicationName", "DeploymentGroupName", "TaskDefinitionTemplateArtifact", "AppSpecTemplateArtifact"},
		Optional: []string{"TaskDefinitionTemplatePath", "AppSpecTemplatePath",
			"Image1ArtifactName", "Image1ContainerName", "Image2ArtifactName", "Image2ContainerName",
			"Image3ArtifactName", "Image3ContainerName", "Image4ArtifactName", "Image4ContainerName"},
		ArtifactKeys: []string{"TaskDefinitionTemplateArtifact", "AppSpecTemplateArtifact",
			"Image1ArtifactName", "Image2ArtifactName", "Image3ArtifactName", "Image4ArtifactName"}},
	{Category: CategoryDeploy, Owner: OwnerAWS, Name: "ElasticBeanstalk", Version: "1",
		Inputs: Count{1, 1}, Outputs: Count{0, 0},
		Required: []string{"ApplicationName", "EnvironmentName"}},
	{Category: CategoryDeploy, Owner: OwnerAWS, Name: "OpsWorks", Version: "1",
		Inputs: Count{1, 1}, Outputs: Count{0, 0}, OpenConfig: true},
	{Category: CategoryDeploy, Owner: OwnerAWS, Name: "ServiceCatalog", Version: "1",
		Inputs: Count{1, 1}, Outputs: Count{0, 0}, OpenConfig: true},
	{Category: CategoryDeploy, Owner: OwnerThirdParty, Name: "AlexaSkillsKit", Version: "1",
		Inputs: Count{1, 2}, Outputs: Count{0, 0}, OpenConfig: true},

	// Manual approvals take three Relais-specific optional keys, off by default (see
	// shared/approval): RelaisApprovalsRequired (1-10 different people must approve),
	// RelaisForbidAuthorApproval (the revision's author may not approve) and
	// RelaisRevisionAuthor (who the author is, besides a GitHub trigger's author).
	{Category: CategoryApproval, Owner: OwnerAWS, Name: "Manual", Version: "1",
		Inputs: Count{0, 0}, Outputs: Count{0, 0},
		Optional: []string{"NotificationArn", "CustomData", "ExternalEntityLink",
			"RelaisApprovalsRequired", "RelaisForbidAuthorApproval", "RelaisRevisionAuthor"},
		Values: map[string][]string{"RelaisForbidAuthorApproval": boolValues,
			"RelaisApprovalsRequired": {"1", "2", "3", "4", "5", "6", "7", "8", "9", "10"}},
		OnAWS: true, Locally: true},

	{Category: CategoryInvoke, Owner: OwnerAWS, Name: "Lambda", Version: "1",
		Inputs: Count{0, 5}, Outputs: Count{0, 5},
		Required: []string{"FunctionName"},
		Optional: []string{"UserParameters"},
		OnAWS:    true, Locally: true},
	{Category: CategoryInvoke, Owner: OwnerAWS, Name: "StepFunctions", Version: "1",
		Inputs: Count{0, 1}, Outputs: Count{0, 1},
		Required: []string{"StateMachineArn"},
		Optional: []string{"ExecutionNamePrefix", "InputType", "Input"},
		Values:   map[string][]string{"InputType": {"Literal", "FilePath"}}},
}

// customProvider stands for any action type owned by Custom: AWS checks those against
// the custom action type's own definition, which a declaration does not carry.
var customProvider = &Provider{Owner: OwnerCustom, Inputs: Count{0, 5}, Outputs: Count{0, 5}, OpenConfig: true}

// cloudFormationNeeds applies the CloudFormation action's mode-dependent requirements.
func cloudFormationNeeds(cfg map[string]string) [][2]string {
	var out [][2]string
	need := func(key string, modes ...string) {
		mode := cfg["ActionMode"]
		for _, m := range modes {
			if m == mode && cfg[key] == "" {
				out = append(out, [2]string{key, key + " is required when ActionMode is " + mode})
			}
		}
	}
	need("ChangeSetName", "CHANGE_SET_REPLACE", "CHANGE_SET_EXECUTE")
	need("TemplatePath", "CHANGE_SET_REPLACE", "CREATE_UPDATE", "REPLACE_ON_FAILURE")
	need("RoleArn", "CHANGE_SET_REPLACE", "CREATE_UPDATE", "REPLACE_ON_FAILURE", "DELETE_ONLY")
	return out
}

// Providers returns Relais's provider registry (not including Custom action types).
func Providers() []Provider {
	out := make([]Provider, len(providers))
	for i, p := range providers {
		out[i] = *p
	}
	return out
}

// LookupProvider finds the provider for an action type. It reports false for a type
// neither AWS nor Relais knows; any type owned by Custom is found (as a provider that
// runs nowhere in Relais and takes 0 to 5 artifacts each way).
func LookupProvider(t ActionTypeID) (Provider, bool) {
	p := lookupProvider(t)
	if p == nil {
		return Provider{}, false
	}
	return *p, true
}

func lookupProvider(t ActionTypeID) *Provider {
	for _, p := range providers {
		if p.Category == t.Category && p.Owner == t.Owner && p.Name == t.Provider && p.Version == t.Version {
			return p
		}
	}
	if t.Owner == OwnerCustom {
		return customProvider
	}
	return nil
}

// RunsOn reports whether Relais can run the provider on the target. Every provider
// passes TargetRules; Custom action types run nowhere in Relais.
func (p Provider) RunsOn(t Target) bool {
	switch t {
	case TargetAWS:
		return p.OnAWS
	case TargetLocal:
		return p.Locally
	}
	return true
}

// hasReference reports whether a configuration value holds a variable reference, whose
// value is only known at run time.
func hasReference(s string) bool { return strings.Contains(s, "#{") }
