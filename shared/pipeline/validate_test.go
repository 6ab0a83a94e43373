package pipeline

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// baseJSON is a valid V2 declaration that uses most features; each case below changes it.
const baseJSON = `{
  "pipeline": {
    "name": "relais-demo",
    "roleArn": "arn:aws:iam::111122223333:role/relais",
    "artifactStore": {"type": "S3", "location": "relais-artifacts"},
    "pipelineType": "V2",
    "executionMode": "QUEUED",
    "variables": [{"name": "Env", "defaultValue": "dev", "description": "target environment"}],
    "triggers": [{
      "providerType": "CodeStarSourceConnection",
      "gitConfiguration": {
        "sourceActionName": "Source",
        "push": [{"branches": {"includes": ["main", "release/**"]}}],
        "pullRequest": [{"events": ["OPEN", "UPDATED"], "branches": {"includes": ["main"]}}]
      }
    }],
    "stages": [
      {"name": "Source", "actions": [{
        "name": "Source",
        "actionTypeId": {"category": "Source", "owner": "AWS", "provider": "CodeStarSourceConnection", "version": "1"},
        "configuration": {"ConnectionArn": "arn:aws:codeconnections:us-east-1:111122223333:connection/x", "FullRepositoryId": "relais-ci/hello", "BranchName": "main"},
        "outputArtifacts": [{"name": "SourceArtifact"}],
        "namespace": "SourceVariables"
      }]},
      {"name": "Build", "actions": [{
        "name": "Build",
        "actionTypeId": {"category": "Build", "owner": "AWS", "provider": "CodeBuild", "version": "1"},
        "configuration": {"ProjectName": "hello", "EnvironmentVariables": "[{\"name\":\"COMMIT\",\"value\":\"#{SourceVariables.CommitId}\"},{\"name\":\"ENV\",\"value\":\"#{variables.Env}\"},{\"name\":\"RUN\",\"value\":\"#{codepipeline.PipelineExecutionId}\"}]"},
        "inputArtifacts": [{"name": "SourceArtifact"}],
        "outputArtifacts": [{"name": "BuildArtifact"}],
        "namespace": "BuildVariables"
      }]},
      {"name": "Approve", "actions": [{
        "name": "Approve",
        "actionTypeId": {"category": "Approval", "owner": "AWS", "provider": "Manual", "version": "1"},
        "configuration": {"CustomData": "Deploy #{BuildVariables.VERSION}?"},
        "timeoutInMinutes": 60
      }]},
      {"name": "Deploy", "actions": [{
        "name": "Deploy",
        "actionTypeId": {"category": "Deploy", "owner": "AWS", "provider": "S3", "version": "1"},
        "configuration": {"BucketName": "hello-site", "Extract": "true"},
        "inputArtifacts": [{"name": "BuildArtifact"}]
      }]}
    ]
  }
}`

func build(d *Declaration) *Action   { return &d.Stages[1].Actions[0] }
func approve(d *Declaration) *Action { return &d.Stages[2].Actions[0] }
func deploy(d *Declaration) *Action  { return &d.Stages[3].Actions[0] }
func approvalStage(name string) Stage {
	return Stage{Name: name, Actions: []Action{manual(name)}}
}
func manual(name string) Action {
	return Action{Name: name, RunOrder: 1, ActionTypeID: ActionTypeID{Category: "Approval", Owner: "AWS", Provider: "Manual", Version: "1"}}
}
func s3Source(name, out string) Action {
	return Action{Name: name, RunOrder: 1,
		ActionTypeID:    ActionTypeID{Category: "Source", Owner: "AWS", Provider: "S3", Version: "1"},
		Configuration:   map[string]string{"S3Bucket": "b", "S3ObjectKey": "k.zip"},
		OutputArtifacts: []Artifact{{Name: out}}}
}
func gitConfig(d *Declaration) *GitConfiguration { return d.Triggers[0].GitConfiguration }
func patterns(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("p%d/**", i)
	}
	return out
}

type ruleCase struct {
	rule   string // the rule the case is about
	name   string
	target Target
	change func(d *Declaration)
	want   []string // rule ids; empty: valid
}

// ruleCases holds, for every rule Validate checks, at least one passing and one failing case.
var ruleCases = []ruleCase{
	{rule: "required", name: "base is valid", change: func(d *Declaration) {}},
	{rule: "required", name: "no roleArn", change: func(d *Declaration) { d.RoleArn = "" }, want: []string{"required"}},
	{rule: "required", name: "no action provider", change: func(d *Declaration) { deploy(d).ActionTypeID.Provider = "" }, want: []string{"required"}},

	{rule: "pattern", name: "names use . @ - _", change: func(d *Declaration) { d.Stages[2].Name = "Approve.v1@x-y_z" }},
	{rule: "pattern", name: "action name with a space", change: func(d *Declaration) { deploy(d).Name = "Deploy it" }, want: []string{"pattern"}},
	{rule: "pattern", name: "artifact name with a dot", change: func(d *Declaration) {
		build(d).OutputArtifacts[0].Name = "Build.zip"
		deploy(d).InputArtifacts[0].Name = "Build.zip"
	}, want: []string{"pattern", "pattern"}},

	{rule: "length", name: "name of 100", change: func(d *Declaration) { d.Name = strings.Repeat("n", 100) }},
	{rule: "length", name: "name of 101", change: func(d *Declaration) { d.Name = strings.Repeat("n", 101) }, want: []string{"length"}},

	{rule: "enum", name: "PARALLEL on V2", change: func(d *Declaration) { d.ExecutionMode = "PARALLEL" }},
	{rule: "enum", name: "unknown execution mode", change: func(d *Declaration) { d.ExecutionMode = "LIFO" }, want: []string{"enum"}},
	{rule: "enum", name: "unknown pull request event", change: func(d *Declaration) { gitConfig(d).PullRequest[0].Events = []string{"MERGED"} }, want: []string{"enum"}},

	{rule: "range", name: "runOrder 999", change: func(d *Declaration) { deploy(d).RunOrder = 999 }},
	{rule: "range", name: "runOrder 0", change: func(d *Declaration) { deploy(d).RunOrder = 0 }, want: []string{"range"}},
	{rule: "range", name: "runOrder 1000", change: func(d *Declaration) { deploy(d).RunOrder = 1000 }, want: []string{"range"}},

	{rule: "stage-count", name: "two stages", change: func(d *Declaration) {
		d.Stages = d.Stages[:2]
	}},
	{rule: "stage-count", name: "one stage", change: func(d *Declaration) { d.Stages = d.Stages[:1] }, want: []string{"non-source-action", "stage-count"}},
	{rule: "stage-count", name: "51 stages", change: func(d *Declaration) {
		for i := len(d.Stages); i < 51; i++ {
			d.Stages = append(d.Stages, approvalStage(fmt.Sprintf("Extra%d", i)))
		}
	}, want: []string{"stage-count"}},

	{rule: "first-stage-source", name: "first stage holds sources", change: func(d *Declaration) {
		d.Stages[0].Actions = append(d.Stages[0].Actions, s3Source("Assets", "AssetsArtifact"))
	}},
	{rule: "first-stage-source", name: "first stage without a source", change: func(d *Declaration) {
		src := d.Stages[0]
		d.Stages[0] = approvalStage("Gate")
		d.Stages = append(d.Stages[:1], append([]Stage{src}, d.Stages[1:]...)...)
	}, want: []string{"first-stage-only-source", "first-stage-source", "source-outside-first-stage"}},

	{rule: "first-stage-only-source", name: "approval in the first stage", change: func(d *Declaration) {
		d.Stages[0].Actions = append(d.Stages[0].Actions, manual("Gate"))
	}, want: []string{"first-stage-only-source"}},
	{rule: "source-outside-first-stage", name: "source in the build stage", change: func(d *Declaration) {
		d.Stages[1].Actions = append(d.Stages[1].Actions, s3Source("Late", "LateArtifact"))
	}, want: []string{"source-outside-first-stage"}},
	{rule: "non-source-action", name: "only sources", change: func(d *Declaration) {
		d.Stages = []Stage{d.Stages[0], {Name: "More", Actions: []Action{s3Source("More", "MoreArtifact")}}}
	}, want: []string{"non-source-action", "source-outside-first-stage"}},

	{rule: "stage-name-unique", name: "two stages named Build", change: func(d *Declaration) { d.Stages[2].Name = "Build" }, want: []string{"stage-name-unique"}},
	{rule: "action-name-unique", name: "same name in different stages", change: func(d *Declaration) { approve(d).Name = "Build" }},
	{rule: "action-name-unique", name: "two Approve in one stage", change: func(d *Declaration) {
		d.Stages[2].Actions = append(d.Stages[2].Actions, manual("Approve"))
	}, want: []string{"action-name-unique"}},

	{rule: "action-count", name: "50 actions in a stage", change: func(d *Declaration) {
		for i := 1; i < 50; i++ {
			d.Stages[2].Actions = append(d.Stages[2].Actions, manual(fmt.Sprintf("A%d", i)))
		}
	}},
	{rule: "action-count", name: "51 actions in a stage", change: func(d *Declaration) {
		for i := 1; i < 51; i++ {
			d.Stages[2].Actions = append(d.Stages[2].Actions, manual(fmt.Sprintf("A%d", i)))
		}
	}, want: []string{"action-count"}},
	{rule: "action-count", name: "empty stage", change: func(d *Declaration) { d.Stages[2].Actions = nil }, want: []string{"action-count"}},
	{rule: "action-count", name: "501 actions in the pipeline", change: func(d *Declaration) {
		for s := 0; s < 10; s++ {
			st := Stage{Name: fmt.Sprintf("Gates%d", s)}
			for i := 0; i < 50; i++ {
				st.Actions = append(st.Actions, manual(fmt.Sprintf("G%d", i)))
			}
			d.Stages = append(d.Stages, st)
		}
	}, want: []string{"action-count"}},

	{rule: "blocker-unique", name: "one blocker", change: func(d *Declaration) { d.Stages[2].Blockers = []Blocker{{"Freeze", "Schedule"}} }},
	{rule: "blocker-unique", name: "two blockers named Freeze", change: func(d *Declaration) {
		d.Stages[2].Blockers = []Blocker{{"Freeze", "Schedule"}, {"Freeze", "Schedule"}}
	}, want: []string{"blocker-unique"}},

	{rule: "provider-unknown", name: "custom action type", change: func(d *Declaration) {
		build(d).ActionTypeID = ActionTypeID{Category: "Build", Owner: "Custom", Provider: "Jenkins", Version: "1"}
		build(d).Configuration = map[string]string{"ProjectName": "x", "Anything": "goes"}
	}},
	{rule: "provider-unknown", name: "misspelt provider", change: func(d *Declaration) { build(d).ActionTypeID.Provider = "CodeBiuld" }, want: []string{"provider-unknown"}},
	{rule: "provider-unknown", name: "provider in the wrong category", change: func(d *Declaration) { deploy(d).ActionTypeID.Category = "Invoke" }, want: []string{"provider-unknown"}},

	{rule: "provider-target", name: "base runs locally", target: TargetLocal, change: func(d *Declaration) {}},
	{rule: "provider-target", name: "base runs on AWS", target: TargetAWS, change: func(d *Declaration) {}},
	// CloudFormation runs on AWS only (shared/aws/cfnaction).
	{rule: "provider-target", name: "CloudFormation on AWS", target: TargetAWS, change: func(d *Declaration) {
		*deploy(d) = Action{Name: "Stack", RunOrder: 1, ActionTypeID: ActionTypeID{"Deploy", "AWS", "CloudFormation", "1"},
			Configuration: map[string]string{"ActionMode": "DELETE_ONLY", "StackName": "s", "RoleArn": "arn:aws:iam::111122223333:role/cfn"}}
	}},
	{rule: "provider-target", name: "CloudFormation locally", target: TargetLocal, change: func(d *Declaration) {
		*deploy(d) = Action{Name: "Stack", RunOrder: 1, ActionTypeID: ActionTypeID{"Deploy", "AWS", "CloudFormation", "1"},
			Configuration: map[string]string{"ActionMode": "DELETE_ONLY", "StackName": "s", "RoleArn": "arn:aws:iam::111122223333:role/cfn"}}
	}, want: []string{"provider-target"}},
	{rule: "provider-target", name: "CodeDeploy on AWS", target: TargetAWS, change: func(d *Declaration) {
		*deploy(d) = Action{Name: "Fleet", RunOrder: 1, ActionTypeID: ActionTypeID{"Deploy", "AWS", "CodeDeploy", "1"},
			Configuration:  map[string]string{"ApplicationName": "a", "DeploymentGroupName": "g"},
			InputArtifacts: []Artifact{{"BuildArtifact"}}}
	}, want: []string{"provider-target"}},
	{rule: "provider-target", name: "custom action locally", target: TargetLocal, change: func(d *Declaration) {
		build(d).ActionTypeID = ActionTypeID{Category: "Build", Owner: "Custom", Provider: "Jenkins", Version: "1"}
	}, want: []string{"provider-target"}},

	{rule: "artifact-count", name: "CodeBuild with five inputs", change: func(d *Declaration) {
		d.Stages[0].Actions = append(d.Stages[0].Actions, s3Source("A", "A"), s3Source("B", "B"), s3Source("C", "C"), s3Source("D", "D"))
		build(d).InputArtifacts = append(build(d).InputArtifacts, Artifact{"A"}, Artifact{"B"}, Artifact{"C"}, Artifact{"D"})
	}},
	{rule: "artifact-count", name: "CodeBuild without input", change: func(d *Declaration) { build(d).InputArtifacts = nil }, want: []string{"artifact-count"}},
	{rule: "artifact-count", name: "approval with an input", change: func(d *Declaration) { approve(d).InputArtifacts = []Artifact{{"BuildArtifact"}} }, want: []string{"artifact-count"}},

	{rule: "config-required", name: "S3 deploy without extraction names its key", change: func(d *Declaration) {
		deploy(d).Configuration["Extract"] = "false"
		deploy(d).Configuration["ObjectKey"] = "site.zip"
	}},
	{rule: "config-required", name: "CodeBuild without ProjectName", change: func(d *Declaration) { delete(build(d).Configuration, "ProjectName") }, want: []string{"config-required"}},
	{rule: "config-required", name: "S3 deploy without extraction or key", change: func(d *Declaration) { deploy(d).Configuration["Extract"] = "false" }, want: []string{"config-required"}},

	{rule: "config-unknown", name: "misspelt key", change: func(d *Declaration) { build(d).Configuration["ProjectNmae"] = "x" }, want: []string{"config-unknown"}},
	{rule: "config-value", name: "value from a variable", change: func(d *Declaration) { deploy(d).Configuration["Extract"] = "#{variables.Env}" }},
	{rule: "config-value", name: "Extract maybe", change: func(d *Declaration) { deploy(d).Configuration["Extract"] = "maybe" }, want: []string{"config-value"}},

	{rule: "config-unknown", name: "Relais approval options", change: func(d *Declaration) {
		approve(d).Configuration["RelaisApprovalsRequired"] = "2"
		approve(d).Configuration["RelaisForbidAuthorApproval"] = "true"
		approve(d).Configuration["RelaisRevisionAuthor"] = "alice@example.com"
	}},
	{rule: "config-value", name: "eleven approvals required", change: func(d *Declaration) { approve(d).Configuration["RelaisApprovalsRequired"] = "11" }, want: []string{"config-value"}},
	{rule: "config-value", name: "author approval maybe", change: func(d *Declaration) { approve(d).Configuration["RelaisForbidAuthorApproval"] = "yes" }, want: []string{"config-value"}},
	{rule: "config-unknown", name: "misspelt Relais approval option", change: func(d *Declaration) { approve(d).Configuration["RelaisApprovalRequired"] = "2" }, want: []string{"config-unknown"}},
	{rule: "config-length", name: "value of 1000", change: func(d *Declaration) { approve(d).Configuration["CustomData"] = strings.Repeat("x", 1000) }},
	{rule: "config-length", name: "value of 1001", change: func(d *Declaration) { approve(d).Configuration["CustomData"] = strings.Repeat("x", 1001) }, want: []string{"config-length"}},
	{rule: "config-length", name: "empty value", change: func(d *Declaration) { approve(d).Configuration["CustomData"] = "" }, want: []string{"config-length"}},

	{rule: "input-artifact-unknown", name: "input from a lower runOrder in the stage", change: func(d *Declaration) {
		a := manual("Check")
		a.ActionTypeID = ActionTypeID{"Invoke", "AWS", "Lambda", "1"}
		a.Configuration = map[string]string{"FunctionName": "check"}
		a.InputArtifacts = []Artifact{{"BuildArtifact"}}
		a.RunOrder = 2
		d.Stages[1].Actions = append(d.Stages[1].Actions, a)
	}},
	{rule: "input-artifact-unknown", name: "input from the same runOrder", change: func(d *Declaration) {
		a := manual("Check")
		a.ActionTypeID = ActionTypeID{"Invoke", "AWS", "Lambda", "1"}
		a.Configuration = map[string]string{"FunctionName": "check"}
		a.InputArtifacts = []Artifact{{"BuildArtifact"}}
		d.Stages[1].Actions = append(d.Stages[1].Actions, a)
	}, want: []string{"input-artifact-unknown"}},
	{rule: "input-artifact-unknown", name: "input nobody makes", change: func(d *Declaration) { deploy(d).InputArtifacts[0].Name = "Nope" }, want: []string{"input-artifact-unknown"}},
	{rule: "input-artifact-unknown", name: "input made by a later stage", change: func(d *Declaration) {
		d.Stages[1], d.Stages[2] = d.Stages[2], d.Stages[1]
		d.Stages[1].Actions[0].Configuration["CustomData"] = "ok"
		d.Stages[1].Actions[0].InputArtifacts = nil
		build(d).Configuration = map[string]string{"ProjectName": "p"}
		d.Stages[2].Actions[0].InputArtifacts = []Artifact{{"SourceArtifact"}}
		a := d.Stages[1].Actions[0]
		a.ActionTypeID = ActionTypeID{"Invoke", "AWS", "Lambda", "1"}
		a.Configuration = map[string]string{"FunctionName": "f"}
		a.InputArtifacts = []Artifact{{"BuildArtifact"}}
		a.TimeoutInMinutes = 0
		d.Stages[1].Actions[0] = a
	}, want: []string{"input-artifact-unknown"}},

	{rule: "output-artifact-unique", name: "two outputs named SourceArtifact", change: func(d *Declaration) {
		build(d).OutputArtifacts = append(build(d).OutputArtifacts, Artifact{"SourceArtifact"})
	}, want: []string{"output-artifact-unique"}},

	{rule: "artifact-store", name: "artifactStores instead", change: func(d *Declaration) {
		d.ArtifactStores = map[string]ArtifactStore{"us-east-1": *d.ArtifactStore}
		d.ArtifactStore = nil
	}},
	{rule: "artifact-store", name: "both", change: func(d *Declaration) {
		d.ArtifactStores = map[string]ArtifactStore{"us-east-1": *d.ArtifactStore}
	}, want: []string{"artifact-store"}},
	{rule: "artifact-store", name: "neither", change: func(d *Declaration) { d.ArtifactStore = nil }, want: []string{"artifact-store"}},

	{rule: "artifact-store-region", name: "cross-region deploy with a store there", change: func(d *Declaration) {
		d.ArtifactStores = map[string]ArtifactStore{"us-east-1": *d.ArtifactStore, "eu-west-1": {Type: "S3", Location: "relais-eu"}}
		d.ArtifactStore = nil
		deploy(d).Region = "eu-west-1"
	}},
	{rule: "artifact-store-region", name: "cross-region deploy without a store there", change: func(d *Declaration) {
		d.ArtifactStores = map[string]ArtifactStore{"us-east-1": *d.ArtifactStore}
		d.ArtifactStore = nil
		deploy(d).Region = "eu-west-1"
	}, want: []string{"artifact-store-region"}},
	{rule: "artifact-store-region", name: "one store, same region everywhere", change: func(d *Declaration) {
		d.Stages[0].Actions[0].Region = "eu-west-2"
		build(d).Region = "eu-west-2"
	}},
	{rule: "artifact-store-region", name: "one store, two regions", change: func(d *Declaration) {
		build(d).Region = "eu-west-2"
		deploy(d).Region = "us-east-1"
	}, want: []string{"artifact-store-region"}},

	{rule: "source-region", name: "sources in two regions", change: func(d *Declaration) {
		d.ArtifactStores = map[string]ArtifactStore{"us-east-1": *d.ArtifactStore, "eu-west-1": {Type: "S3", Location: "relais-eu"}}
		d.ArtifactStore = nil
		d.Stages[0].Actions[0].Region = "us-east-1"
		extra := s3Source("Assets", "AssetsArtifact")
		extra.Region = "eu-west-1"
		d.Stages[0].Actions = append(d.Stages[0].Actions, extra)
	}, want: []string{"source-region"}},
	{rule: "source-region", name: "one store, source apart from the rest", change: func(d *Declaration) {
		d.Stages[0].Actions[0].Region = "us-east-1"
		extra := s3Source("Assets", "AssetsArtifact")
		extra.Region = "eu-west-1"
		d.Stages[0].Actions = append(d.Stages[0].Actions, extra)
	}, want: []string{"source-region"}},

	{rule: "namespace-unique", name: "namespace taken", change: func(d *Declaration) { deploy(d).Namespace = "SourceVariables" }, want: []string{"namespace-unique"}},
	{rule: "namespace-reserved", name: "namespace codepipeline", change: func(d *Declaration) { deploy(d).Namespace = "codepipeline" }, want: []string{"namespace-reserved"}},
	{rule: "namespace-reserved", name: "namespace variables", change: func(d *Declaration) { deploy(d).Namespace = "variables" }, want: []string{"namespace-reserved"}},
	{rule: "namespace-artifact", name: "namespace named like an artifact", change: func(d *Declaration) { deploy(d).Namespace = "BuildArtifact" }, want: []string{"namespace-artifact"}},

	{rule: "variable-syntax", name: "literal braces", change: func(d *Declaration) { approve(d).Configuration["CustomData"] = "{not a #reference}" }},
	{rule: "variable-syntax", name: "unterminated", change: func(d *Declaration) { approve(d).Configuration["CustomData"] = "v#{BuildVariables.VERSION" }, want: []string{"variable-syntax"}},
	{rule: "variable-syntax", name: "no name", change: func(d *Declaration) { approve(d).Configuration["CustomData"] = "v#{BuildVariables}" }, want: []string{"variable-syntax"}},

	{rule: "variable-reference", name: "namespace nobody has", change: func(d *Declaration) { approve(d).Configuration["CustomData"] = "#{Nope.X}" }, want: []string{"variable-reference"}},
	{rule: "variable-reference", name: "own namespace", change: func(d *Declaration) { build(d).Configuration["EnvironmentVariables"] = "#{BuildVariables.X}" }, want: []string{"variable-reference"}},
	{rule: "variable-reference", name: "later action's namespace", change: func(d *Declaration) {
		build(d).Configuration["EnvironmentVariables"] = "#{DeployVars.X}"
		deploy(d).Namespace = "DeployVars"
	}, want: []string{"variable-reference"}},
	{rule: "variable-reference", name: "undeclared pipeline variable", change: func(d *Declaration) { approve(d).Configuration["CustomData"] = "#{variables.Region}" }, want: []string{"variable-reference"}},
	{rule: "variable-reference", name: "codepipeline has only PipelineExecutionId", change: func(d *Declaration) { approve(d).Configuration["CustomData"] = "#{codepipeline.PipelineName}" }, want: []string{"variable-reference"}},

	{rule: "variable-unique", name: "Env twice", change: func(d *Declaration) { d.Variables = append(d.Variables, Variable{Name: "Env"}) }, want: []string{"variable-unique"}},
	{rule: "variable-count", name: "50 variables", change: func(d *Declaration) {
		for i := 1; i < 50; i++ {
			d.Variables = append(d.Variables, Variable{Name: fmt.Sprintf("V%d", i)})
		}
	}},
	{rule: "variable-count", name: "51 variables", change: func(d *Declaration) {
		for i := 1; i < 51; i++ {
			d.Variables = append(d.Variables, Variable{Name: fmt.Sprintf("V%d", i)})
		}
	}, want: []string{"variable-count"}},

	{rule: "v2-only", name: "V1 without V2 features", change: func(d *Declaration) {
		d.PipelineType, d.ExecutionMode, d.Variables, d.Triggers = "V1", "SUPERSEDED", nil, nil
		build(d).Configuration = map[string]string{"ProjectName": "p"}
	}},
	{rule: "v2-only", name: "V1 with QUEUED, variables and triggers", change: func(d *Declaration) { d.PipelineType = "V1" }, want: []string{"v2-only", "v2-only", "v2-only"}},
	{rule: "v2-only", name: "no type means V1", change: func(d *Declaration) {
		d.PipelineType, d.ExecutionMode, d.Variables = "", "", nil
		build(d).Configuration = map[string]string{"ProjectName": "p"}
	}, want: []string{"v2-only"}},
	{rule: "v2-only", name: "stage conditions on V1", change: func(d *Declaration) {
		d.PipelineType, d.ExecutionMode, d.Variables, d.Triggers = "V1", "", nil, nil
		build(d).Configuration = map[string]string{"ProjectName": "p"}
		d.Stages[3].OnFailure = &FailureConditions{Result: "ROLLBACK"}
	}, want: []string{"v2-only"}},

	{rule: "trigger-source-action", name: "trigger on a build action", change: func(d *Declaration) { gitConfig(d).SourceActionName = "Build" }, want: []string{"trigger-source-action"}},
	{rule: "trigger-source-action", name: "trigger on an S3 source", change: func(d *Declaration) {
		d.Stages[0].Actions = append(d.Stages[0].Actions, s3Source("Assets", "AssetsArtifact"))
		gitConfig(d).SourceActionName = "Assets"
	}, want: []string{"trigger-source-action"}},
	{rule: "trigger-duplicate", name: "two triggers on Source", change: func(d *Declaration) { d.Triggers = append(d.Triggers, d.Triggers[0]) }, want: []string{"trigger-duplicate"}},

	{rule: "trigger-filters", name: "three push filters", change: func(d *Declaration) { g := gitConfig(d); g.Push = append(g.Push, g.Push[0], g.Push[0]) }},
	{rule: "trigger-filters", name: "four push filters", change: func(d *Declaration) { g := gitConfig(d); g.Push = append(g.Push, g.Push[0], g.Push[0], g.Push[0]) }, want: []string{"trigger-filters"}},
	{rule: "trigger-filters", name: "empty pullRequest list", change: func(d *Declaration) { gitConfig(d).PullRequest = []GitPullRequestFilter{} }, want: []string{"trigger-filters"}},

	{rule: "trigger-filter-combination", name: "tags alone", change: func(d *Declaration) {
		gitConfig(d).Push[0] = GitPushFilter{Tags: &FilterCriteria{Includes: []string{"v*"}}}
	}},
	{rule: "trigger-filter-combination", name: "branches with file paths", change: func(d *Declaration) {
		gitConfig(d).Push[0].FilePaths = &FilterCriteria{Excludes: []string{"docs/**"}}
	}},
	{rule: "trigger-filter-combination", name: "tags with branches", change: func(d *Declaration) { gitConfig(d).Push[0].Tags = &FilterCriteria{Includes: []string{"v*"}} }, want: []string{"trigger-filter-combination"}},
	{rule: "trigger-filter-combination", name: "file paths alone", change: func(d *Declaration) {
		gitConfig(d).Push[0] = GitPushFilter{FilePaths: &FilterCriteria{Includes: []string{"src/**"}}}
	}, want: []string{"trigger-filter-combination"}},
	{rule: "trigger-filter-combination", name: "pull request without branches", change: func(d *Declaration) { gitConfig(d).PullRequest[0].Branches = nil }, want: []string{"trigger-filter-combination"}},

	{rule: "trigger-patterns", name: "eight includes", change: func(d *Declaration) { gitConfig(d).Push[0].Branches.Includes = patterns(8) }},
	{rule: "trigger-patterns", name: "nine includes", change: func(d *Declaration) { gitConfig(d).Push[0].Branches.Includes = patterns(9) }, want: []string{"trigger-patterns"}},
	{rule: "trigger-patterns", name: "nine excludes", change: func(d *Declaration) { gitConfig(d).Push[0].Branches.Excludes = patterns(9) }, want: []string{"trigger-patterns"}},
	{rule: "trigger-patterns", name: "criteria without lists", change: func(d *Declaration) { gitConfig(d).Push[0].Branches = &FilterCriteria{} }, want: []string{"trigger-patterns"}},

	{rule: "trigger-glob", name: "every glob form", change: func(d *Declaration) {
		gitConfig(d).Push[0].Branches.Includes = []string{"feature/*", "release/**", "hotfix-?", "{main,master}", "[a-c]*", `literal\*`}
	}},
	{rule: "trigger-glob", name: "unclosed class", change: func(d *Declaration) { gitConfig(d).Push[0].Branches.Includes = []string{"release/[0-9"} }, want: []string{"trigger-glob"}},
	{rule: "trigger-glob", name: "empty pattern", change: func(d *Declaration) { gitConfig(d).Push[0].Branches.Excludes = []string{""} }, want: []string{"trigger-glob"}},

	{rule: "approval-timeout", name: "five minutes", change: func(d *Declaration) { approve(d).TimeoutInMinutes = 5 }},
	{rule: "approval-timeout", name: "sixty days", change: func(d *Declaration) { approve(d).TimeoutInMinutes = 86400 }},
	{rule: "approval-timeout", name: "four minutes", change: func(d *Declaration) { approve(d).TimeoutInMinutes = 4 }, want: []string{"approval-timeout"}},
	{rule: "approval-timeout", name: "sixty days and a minute", change: func(d *Declaration) { approve(d).TimeoutInMinutes = 86401 }, want: []string{"approval-timeout"}},
	{rule: "approval-timeout", name: "timeout on a build", change: func(d *Declaration) { build(d).TimeoutInMinutes = 30 }, want: []string{"approval-timeout"}},

	// Passing cases for rules whose failing cases are above.
	{rule: "config-unknown", name: "every optional CodeBuild key", change: func(d *Declaration) {
		for k, v := range map[string]string{"PrimarySource": "SourceArtifact", "BatchEnabled": "false", "CombineArtifacts": "false"} {
			build(d).Configuration[k] = v
		}
	}},
	{rule: "first-stage-only-source", name: "two sources first", change: func(d *Declaration) {
		d.Stages[0].Actions = append(d.Stages[0].Actions, s3Source("Assets", "AssetsArtifact"))
	}},
	{rule: "source-outside-first-stage", name: "sources only first", change: func(d *Declaration) {}},
	{rule: "non-source-action", name: "build after source", change: func(d *Declaration) {}},
	{rule: "stage-name-unique", name: "distinct stage names", change: func(d *Declaration) { d.Stages[3].Name = "Release" }},
	{rule: "namespace-unique", name: "one more namespace", change: func(d *Declaration) { deploy(d).Namespace = "DeployVariables" }},
	{rule: "namespace-reserved", name: "ordinary namespace", change: func(d *Declaration) { deploy(d).Namespace = "DeployVariables" }},
	{rule: "namespace-artifact", name: "namespace unlike any artifact", change: func(d *Declaration) { deploy(d).Namespace = "BuildArtifactVars" }},
	{rule: "output-artifact-unique", name: "two distinct outputs", change: func(d *Declaration) {
		build(d).OutputArtifacts = append(build(d).OutputArtifacts, Artifact{"Reports"})
	}},
	{rule: "source-region", name: "sources in one region", change: func(d *Declaration) {
		d.Stages[0].Actions[0].Region = "us-east-1"
		extra := s3Source("Assets", "AssetsArtifact")
		extra.Region = "us-east-1"
		d.Stages[0].Actions = append(d.Stages[0].Actions, extra)
	}},
	{rule: "trigger-source-action", name: "trigger on the CodeStarSourceConnection source", change: func(d *Declaration) {}},
	{rule: "trigger-duplicate", name: "triggers on two sources", change: func(d *Declaration) {
		other := d.Stages[0].Actions[0]
		other.Name, other.Namespace = "Other", ""
		other.OutputArtifacts = []Artifact{{"OtherArtifact"}}
		d.Stages[0].Actions = append(d.Stages[0].Actions, other)
		t := Trigger{ProviderType: "CodeStarSourceConnection", GitConfiguration: &GitConfiguration{SourceActionName: "Other"}}
		d.Triggers = append(d.Triggers, t)
	}},
	{rule: "variable-reference", name: "namespace of a lower runOrder in the stage", change: func(d *Declaration) {
		a := manual("Report")
		a.ActionTypeID = ActionTypeID{"Invoke", "AWS", "Lambda", "1"}
		a.Configuration = map[string]string{"FunctionName": "report", "UserParameters": "#{BuildVariables.VERSION}"}
		a.RunOrder = 2
		d.Stages[1].Actions = append(d.Stages[1].Actions, a)
	}},
	{rule: "variable-unique", name: "two variables", change: func(d *Declaration) { d.Variables = append(d.Variables, Variable{Name: "Region"}) }},

	{rule: "config-artifact", name: "PrimarySource names an input", change: func(d *Declaration) { build(d).Configuration["PrimarySource"] = "SourceArtifact" }},
	{rule: "config-artifact", name: "PrimarySource names another artifact", change: func(d *Declaration) { build(d).Configuration["PrimarySource"] = "BuildArtifact" }, want: []string{"config-artifact"}},
	{rule: "config-artifact", name: "TemplatePath from an input", change: func(d *Declaration) {
		*deploy(d) = Action{Name: "Stack", RunOrder: 1, ActionTypeID: ActionTypeID{"Deploy", "AWS", "CloudFormation", "1"},
			Configuration:  map[string]string{"ActionMode": "CREATE_UPDATE", "StackName": "s", "RoleArn": "r", "TemplatePath": "BuildArtifact::template.yaml"},
			InputArtifacts: []Artifact{{"BuildArtifact"}}}
	}},
	{rule: "config-artifact", name: "TemplatePath from an artifact not input", change: func(d *Declaration) {
		*deploy(d) = Action{Name: "Stack", RunOrder: 1, ActionTypeID: ActionTypeID{"Deploy", "AWS", "CloudFormation", "1"},
			Configuration:  map[string]string{"ActionMode": "CREATE_UPDATE", "StackName": "s", "RoleArn": "r", "TemplatePath": "SourceArtifact::template.yaml"},
			InputArtifacts: []Artifact{{"BuildArtifact"}}}
	}, want: []string{"config-artifact"}},
	{rule: "config-artifact", name: "TemplatePath without an artifact", change: func(d *Declaration) {
		*deploy(d) = Action{Name: "Stack", RunOrder: 1, ActionTypeID: ActionTypeID{"Deploy", "AWS", "CloudFormation", "1"},
			Configuration:  map[string]string{"ActionMode": "CREATE_UPDATE", "StackName": "s", "RoleArn": "r", "TemplatePath": "template.yaml"},
			InputArtifacts: []Artifact{{"BuildArtifact"}}}
	}, want: []string{"config-artifact"}},

	{rule: "feature-target", name: "stage conditions under CodePipeline's rules", change: func(d *Declaration) {
		d.Stages[3].BeforeEntry = &BeforeEntryConditions{Conditions: []Condition{{Result: "FAIL"}}}
	}},
	{rule: "feature-target", name: "stage conditions locally", target: TargetLocal, change: func(d *Declaration) {
		d.Stages[3].BeforeEntry = &BeforeEntryConditions{Conditions: []Condition{{Result: "FAIL"}}}
	}, want: []string{"feature-target"}},
}

func TestValidateRules(t *testing.T) {
	for _, tc := range ruleCases {
		t.Run(tc.rule+"/"+tc.name, func(t *testing.T) {
			d := mustParse(t, baseJSON)
			tc.change(d)
			got := Validate(d, tc.target)
			var ids []string
			for _, v := range got {
				ids = append(ids, v.Rule)
				if v.Path == "" || v.Message == "" {
					t.Errorf("violation without path or message: %+v", v)
				}
				if v.Exception != rules[v.Rule].Exception {
					t.Errorf("violation %s: got exception %q, want %q", v.Rule, v.Exception, rules[v.Rule].Exception)
				}
			}
			slices.Sort(ids)
			if diff := cmp.Diff(tc.want, ids); diff != "" {
				t.Errorf("rule ids (-want +got):\n%s\nviolations:\n%s", diff, list(got))
			}
		})
	}
}

// TestEveryRuleHasCases checks that every rule Validate can emit has a passing and a
// failing case above, and the parse rules a failing case in TestParseErrors.
func TestEveryRuleHasCases(t *testing.T) {
	passing, failing := map[string]bool{}, map[string]bool{}
	for _, tc := range ruleCases {
		if _, ok := rules[tc.rule]; !ok {
			t.Errorf("case %q is about unknown rule %q", tc.name, tc.rule)
		}
		if len(tc.want) == 0 {
			passing[tc.rule] = true
		}
		for _, id := range tc.want {
			failing[id] = true
		}
	}
	for _, tc := range parseCases {
		if tc.want != "" {
			failing[tc.want] = true
		}
	}
	parseOnly := map[string]bool{"syntax": true, "unknown-field": true, "type": true}
	for _, r := range Rules() {
		if !failing[r.ID] {
			t.Errorf("rule %s: no failing case", r.ID)
		}
		if !parseOnly[r.ID] && !passing[r.ID] {
			t.Errorf("rule %s: no passing case", r.ID)
		}
	}
}

// TestValidateReportsAll checks that independent violations are all reported at once.
func TestValidateReportsAll(t *testing.T) {
	d := mustParse(t, baseJSON)
	d.RoleArn = ""
	build(d).RunOrder = 0
	deploy(d).InputArtifacts[0].Name = "Nope"
	approve(d).TimeoutInMinutes = 1
	got := Validate(d, TargetRules)
	want := []Violation{
		{Path: "pipeline.roleArn", Rule: "required", Exception: ExValidation, Message: `Missing required parameter "roleArn"`},
		{Path: "pipeline.stages[1].actions[0].runOrder", Rule: "range", Exception: ExValidation, Message: "Value '0' failed to satisfy constraint: Member must have value between 1 and 999"},
		{Path: "pipeline.stages[2].actions[0].timeoutInMinutes", Rule: "approval-timeout", Exception: ExInvalidAction, Message: "timeoutInMinutes is 1; a manual approval times out after 5 minutes to 86400 minutes (60 days)"},
		{Path: "pipeline.stages[3].actions[0].inputArtifacts[0].name", Rule: "input-artifact-unknown", Exception: ExInvalidAction, Message: "Input artifact 'Nope' of action 'Deploy' is not the output artifact of any action in the pipeline"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("violations (-want +got):\n%s", diff)
	}
}

func TestValidateBarePaths(t *testing.T) {
	d := mustParse(t, `{"name": "p", "roleArn": "r", "stages": []}`)
	got := Validate(d, TargetRules)
	var paths []string
	for _, v := range got {
		paths = append(paths, v.Path)
	}
	want := []string{"artifactStore", "stages"}
	if diff := cmp.Diff(want, paths); diff != "" {
		t.Errorf("paths of a bare declaration (-want +got):\n%s", diff)
	}
}

func list(vs []Violation) string {
	var b strings.Builder
	for _, v := range vs {
		b.WriteString("  " + v.String() + "\n")
	}
	return b.String()
}

func TestLookupProvider(t *testing.T) {
	tests := []struct {
		id                ActionTypeID
		wantOK            bool
		wantAWS, wantHere bool
	}{
		{ActionTypeID{"Build", "AWS", "CodeBuild", "1"}, true, true, true},
		// No provider yet for CodeCommit; CloudFormation on AWS only.
		{ActionTypeID{"Source", "AWS", "CodeCommit", "1"}, true, false, false},
		{ActionTypeID{"Deploy", "AWS", "CloudFormation", "1"}, true, true, false},
		{ActionTypeID{"Source", "AWS", "S3", "1"}, true, true, true},
		{ActionTypeID{"Deploy", "AWS", "CodeDeploy", "1"}, true, false, false},
		{ActionTypeID{"Build", "Custom", "Jenkins", "1"}, true, false, false},
		{ActionTypeID{"Build", "AWS", "Jenkins", "1"}, false, false, false},
		{ActionTypeID{"Build", "AWS", "CodeBuild", "2"}, false, false, false},
	}
	for _, tc := range tests {
		p, ok := LookupProvider(tc.id)
		if ok != tc.wantOK {
			t.Errorf("%s: got found %v, want %v", tc.id, ok, tc.wantOK)
			continue
		}
		if got := p.RunsOn(TargetAWS); ok && got != tc.wantAWS {
			t.Errorf("%s: got runs on AWS %v, want %v", tc.id, got, tc.wantAWS)
		}
		if got := p.RunsOn(TargetLocal); ok && got != tc.wantHere {
			t.Errorf("%s: got runs locally %v, want %v", tc.id, got, tc.wantHere)
		}
	}
	for _, p := range Providers() {
		if p.Inputs.Min > p.Inputs.Max || p.Outputs.Min > p.Outputs.Max {
			t.Errorf("%s/%s: bad artifact counts %+v %+v", p.Category, p.Name, p.Inputs, p.Outputs)
		}
		if p.Category == CategorySource && (p.Inputs != Count{0, 0} || p.Outputs != Count{1, 1}) {
			t.Errorf("%s/%s: got counts %v/%v, want a source's 0/1", p.Category, p.Name, p.Inputs, p.Outputs)
		}
	}
}
