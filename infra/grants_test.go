package main

import (
	"fmt"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/relais-ci/relais/functions/api/lambdaenv"
)

// render writes a template value as one string: Fn::Join's parts joined, a Ref as
// ${Name}, an Fn::GetAtt as ${Name.Attribute}.
func render(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case map[string]any:
		if r, ok := x["Ref"]; ok {
			return "${" + r.(string) + "}"
		}
		if g, ok := x["Fn::GetAtt"].([]any); ok && len(g) == 2 {
			return fmt.Sprintf("${%v.%v}", g[0], g[1])
		}
		if j, ok := x["Fn::Join"].([]any); ok && len(j) == 2 {
			var parts []string
			for _, p := range j[1].([]any) {
				parts = append(parts, render(p))
			}
			return strings.Join(parts, j[0].(string))
		}
	}
	return asJSON(v)
}

// allowed returns what the policies attached to a role allow: for each action, the
// resources (rendered, sorted).
func (s *synthesis) allowed(role string) map[string][]string {
	out := map[string][]string{}
	add := func(doc any) {
		for _, st := range list(doc.(map[string]any)["Statement"]) {
			st := st.(map[string]any)
			if st["Effect"] != "Allow" {
				continue
			}
			for _, a := range list(st["Action"]) {
				for _, r := range list(st["Resource"]) {
					out[a.(string)] = append(out[a.(string)], render(r))
				}
			}
		}
	}
	for _, p := range s.resources("AWS::IAM::Policy") {
		for _, r := range list(p["Roles"]) {
			if render(r) == "${"+role+"}" {
				add(p["PolicyDocument"])
			}
		}
	}
	if r, ok := s.resources("AWS::IAM::Role")[role]; ok {
		for _, p := range list(r["Policies"]) {
			if p != nil {
				add(p.(map[string]any)["PolicyDocument"])
			}
		}
	}
	for a := range out {
		sort.Strings(out[a])
	}
	return out
}

// TestGrants checks, for each action a function may need beyond the table and its
// logs, which functions are allowed it and on exactly which resources, against what
// the code calls: a missing grant, one too wide or one given to another function fails.
func TestGrants(t *testing.T) {
	s := synth(t)
	f := s.stack.Functions
	d := s.stack.Data
	ref := func(c any) string { return "${" + logicalID(s, c) + "}" }
	project := func(name string) string {
		return "arn:${AWS::Partition}:codebuild:${AWS::Region}:${AWS::AccountId}:project/" + name
	}
	projects := sorted(project(ref(d.Project)), project("relais-hello"), project("relais-web"))
	objects := func(bucket string) string { return "arn:${AWS::Partition}:s3:::" + bucket + "/*" }
	artifacts := "${" + logicalID(s, d.Bucket.Node().DefaultChild()) + ".Arn}/*"
	sec := func(id string) string { return "${" + id + "}" }
	webhookSecret := sec(logicalID(s, d.WebhookSecret.Node().DefaultChild()))
	gitHubToken := sec(logicalID(s, d.GitHubToken.Node().DefaultChild()))
	linkKey := sec(logicalID(s, d.LinkKey.Node().DefaultChild()))
	apiToken := sec(logicalID(s, d.APIToken.Node().DefaultChild()))
	key := "arn:aws:kms:eu-west-1:123456789012:key/1b2c3d4e-0000-4000-8000-000000000001"
	// The declared stack; one whose name holds a variable cannot be granted ahead.
	cfn := "arn:${AWS::Partition}:cloudformation:${AWS::Region}:${AWS::AccountId}:"
	infraStack := cfn + "stack/relais-web-infra/*"
	stackAndSet := sorted(infraStack, cfn+"changeSet/relais-web-changes/*")
	transforms := "arn:${AWS::Partition}:cloudformation:${AWS::Region}:aws:transform/*"

	want := map[string]map[string][]string{
		// The action function starts builds, the API stops those of abandoned actions
		// (stop and abandon), the events function reads finished ones.
		"codebuild:StartBuild":     {fnAction: projects},
		"codebuild:StopBuild":      {fnAPI: projects},
		"codebuild:BatchGetBuilds": {fnEvents: projects},
		// The Invoke actions' functions, as their FunctionName names them.
		"lambda:InvokeFunction": {fnAction: sorted(
			"arn:${AWS::Partition}:lambda:${AWS::Region}:${AWS::AccountId}:function:relais-notify",
			"arn:aws:lambda:eu-west-1:123456789012:function:relais-audit:live",
			"arn:${AWS::Partition}:lambda:${AWS::Region}:${AWS::AccountId}:function:relais-smoke:prod",
		)},
		// Artifacts, and the Deploy/S3 actions' buckets.
		"s3:PutObject": {fnAction: sorted(artifacts, objects("relais-hello-site"), objects("relais-web-public"), objects("relais-web-reports")),
			fnEvents: {artifacts}},
		"s3:AbortMultipartUpload": {fnAction: sorted(artifacts, objects("relais-hello-site"), objects("relais-web-public"),
			objects("relais-web-reports")), fnEvents: {artifacts}},
		"s3:PutObjectAcl": {fnAction: {objects("relais-web-public")}},
		// Artifacts, and the Source/S3 actions' buckets.
		"s3:GetObject":        {fnAction: sorted(artifacts, objects("relais-web-assets")), fnEvents: {artifacts}},
		"s3:GetObjectVersion": {fnAction: sorted(artifacts, objects("relais-web-assets")), fnEvents: {artifacts}},
		"s3:ListBucket":       {fnAction: {"arn:${AWS::Partition}:s3:::relais-web-assets"}},
		"s3:DeleteObject":     {},
		"kms:GenerateDataKey": {fnAction: {key}},
		"kms:Decrypt":         {fnAction: {key}},
		"secretsmanager:GetSecretValue": {
			fnWebhook:  sorted(webhookSecret, gitHubToken),
			fnAction:   sorted(gitHubToken, linkKey),
			fnAPI:      {apiToken},
			fnApproval: {linkKey},
			// Commit statuses.
			fnEvents: {gitHubToken},
		},
		// The stack's approval topic, and a Manual approval's NotificationArn.
		"sns:Publish": {fnAction: sorted(ref(d.Topic.Node().DefaultChild()), "arn:aws:sns:eu-west-1:123456789012:relais-web-reviews")},
		// The CloudFormation actions' stacks and change sets: the action function deploys,
		// the events function reads how operations ended (and re-creates a replaced
		// stack), the API cancels the update of an abandoned action.
		"cloudformation:DescribeStacks":      {fnAction: stackAndSet, fnEvents: {infraStack}, fnAPI: {infraStack}},
		"cloudformation:DescribeStackEvents": {fnAction: stackAndSet, fnEvents: {infraStack}, fnAPI: {infraStack}},
		"cloudformation:CreateStack":         {fnAction: stackAndSet, fnEvents: {infraStack}},
		"cloudformation:UpdateStack":         {fnAction: stackAndSet},
		"cloudformation:DeleteStack":         {fnAction: stackAndSet},
		"cloudformation:CreateChangeSet":     {fnAction: sorted(append([]string{transforms}, stackAndSet...)...)},
		"cloudformation:DescribeChangeSet":   {fnAction: stackAndSet},
		"cloudformation:DeleteChangeSet":     {fnAction: stackAndSet},
		"cloudformation:ExecuteChangeSet":    {fnAction: stackAndSet},
		"cloudformation:CancelUpdateStack":   {fnAPI: {infraStack}},
		"iam:PassRole": {
			fnAction: {"arn:aws:iam::123456789012:role/relais-cfn-deploy"},
			fnEvents: {"arn:aws:iam::123456789012:role/relais-cfn-deploy"},
			// The machines' role, for the pipelines installed through the API.
			fnAPI: {"${" + logicalID(s, s.stack.Machines.Role.Node().DefaultChild()) + ".Arn}"},
		},
	}
	got := map[string]map[string][]string{}
	for a := range want {
		got[a] = map[string][]string{}
	}
	for _, fn := range f.All() {
		for a, rs := range s.allowed(logicalID(s, fn.Role.Node().DefaultChild())) {
			if _, ok := want[a]; ok {
				got[a][fn.Name] = rs
			}
		}
	}
	for a := range want {
		if diff := cmp.Diff(want[a], got[a]); diff != "" {
			t.Errorf("%s: functions and resources (-want +got):\n%s", a, diff)
		}
	}
}

func sorted(s ...string) []string {
	sort.Strings(s)
	return s
}

// TestEventsFunctionReportsStatuses: the events function gets the GitHub token's
// secret and every start and end of the machines' executions.
func TestEventsFunctionReportsStatuses(t *testing.T) {
	s := synth(t)
	events := s.resources("AWS::Lambda::Function")[logicalID(s, s.stack.Functions.Events.Fn.Node().DefaultChild())]
	vars := events["Environment"].(map[string]any)["Variables"].(map[string]any)
	if got, want := render(vars[lambdaenv.EnvGitHubToken]), "${"+logicalID(s, s.stack.Data.GitHubToken.Node().DefaultChild())+"}"; got != want {
		t.Errorf("events function's %s: got %s, want %s", lambdaenv.EnvGitHubToken, got, want)
	}
	var statuses []any
	for _, r := range s.resources("AWS::Events::Rule") {
		p := r["EventPattern"].(map[string]any)
		if asJSON(p["source"]) == `["aws.states"]` {
			statuses = p["detail"].(map[string]any)["status"].([]any)
		}
	}
	want := []any{"RUNNING", "SUCCEEDED", "FAILED", "ABORTED", "TIMED_OUT"}
	if diff := cmp.Diff(want, statuses); diff != "" {
		t.Errorf("execution statuses routed to the events function (-want +got):\n%s", diff)
	}
}
