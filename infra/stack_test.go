package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/jsii-runtime-go"
	"github.com/google/go-cmp/cmp"

	"github.com/relais-ci/relais/functions/api/lambdaenv"
	"github.com/relais-ci/relais/shared/aws/dynamostore"
	"github.com/relais-ci/relais/shared/pipeline"
	"github.com/relais-ci/relais/statemachines"
)

// Synthesizing starts the jsii runtime (a Node process) and takes seconds: every test
// shares one synthesis of the stack.
var (
	synthOnce sync.Once
	synthed   *synthesis
	synthErr  any
)

type synthesis struct {
	stack    *Relais
	template assertions.Template
	tmpl     map[string]any
	errors   []string
	warnings []string
}

// testEmails are the approverEmails context of the shared synthesis.
var testEmails = []string{"alice@example.com", "bob@example.com"}

func TestMain(m *testing.M) {
	os.Setenv("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
	code := m.Run()
	if pipelinesDir != "" {
		os.RemoveAll(pipelinesDir)
	}
	jsii.Close()
	os.Exit(code)
}

// stubLambdas makes a lambda dir with a placeholder bootstrap per function: assets must
// exist to synthesize, and the real binaries are not needed to check the template.
func stubLambdas(dir string) error {
	for _, fn := range []string{fnWebhook, fnAPI, fnGate, fnAction, fnApproval, fnEvents} {
		if err := os.MkdirAll(filepath.Join(dir, fn), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dir, fn, "bootstrap"), []byte("#!/bin/sh\n"), 0o755); err != nil {
			return err
		}
	}
	return nil
}

// The shared synthesis installs the declarations of ../pipelines and of
// testdata/pipelines, which name what the grants are checked against: a project with
// two outputs, functions to invoke, deploy buckets with a CannedACL and a KMS key.
var (
	pipelinesOnce sync.Once
	pipelinesDir  string
	pipelinesErr  error
)

func testPipelinesDir(t *testing.T) string {
	t.Helper()
	pipelinesOnce.Do(func() {
		dir, err := os.MkdirTemp("", "relais-infra-pipelines")
		if err != nil {
			pipelinesErr = err
			return
		}
		files, _ := filepath.Glob(filepath.Join("..", "pipelines", "*.json"))
		more, _ := filepath.Glob(filepath.Join("testdata", "pipelines", "*.json"))
		for _, f := range append(files, more...) {
			b, err := os.ReadFile(f)
			if err == nil {
				err = os.WriteFile(filepath.Join(dir, filepath.Base(f)), b, 0o644)
			}
			if err != nil {
				pipelinesErr = err
				return
			}
		}
		pipelinesDir = dir
	})
	if pipelinesErr != nil {
		t.Fatalf("gather the test pipelines: %v", pipelinesErr)
	}
	return pipelinesDir
}

func synth(t *testing.T) *synthesis {
	t.Helper()
	pipelines := testPipelinesDir(t)
	synthOnce.Do(func() {
		defer func() { synthErr = recover() }()
		dir, err := os.MkdirTemp("", "relais-infra-test")
		if err != nil {
			panic(err)
		}
		if err := stubLambdas(dir); err != nil {
			panic(err)
		}
		app := awscdk.NewApp(&awscdk.AppProps{Context: &map[string]any{
			ContextApproverEmails: strings.Join(testEmails, ","),
			ContextLambdaDir:      dir,
			ContextPipelinesDir:   pipelines,
		}})
		r := newRelais(app, "Relais", &RelaisStackProps{})
		CheckWithNag(app)
		s := &synthesis{stack: r, template: assertions.Template_FromStack(r.Stack, nil)}
		s.tmpl = *s.template.ToJSON()
		ann := assertions.Annotations_FromStack(r.Stack)
		for _, m := range *ann.FindError(jsii.String("*"), assertions.Match_AnyValue()) {
			s.errors = append(s.errors, fmt.Sprintf("%s: %v", *m.Id, m.Entry.Data))
		}
		for _, m := range *ann.FindWarning(jsii.String("*"), assertions.Match_AnyValue()) {
			s.warnings = append(s.warnings, fmt.Sprintf("%s: %v", *m.Id, m.Entry.Data))
		}
		synthed = s
	})
	if synthErr != nil {
		t.Fatalf("synthesize the stack: %v", synthErr)
	}
	return synthed
}

// check runs a CDK assertion, which panics (a JavaScript exception) when it fails.
func check(t *testing.T, what string, assert func()) {
	t.Helper()
	defer func() {
		if p := recover(); p != nil {
			t.Errorf("%s: %v", what, p)
		}
	}()
	assert()
}

// resources returns the template's resources of one type, by logical id.
func (s *synthesis) resources(typ string) map[string]map[string]any {
	out := map[string]map[string]any{}
	for id, r := range s.tmpl["Resources"].(map[string]any) {
		r := r.(map[string]any)
		if r["Type"] == typ {
			props, _ := r["Properties"].(map[string]any)
			out[id] = props
		}
	}
	return out
}

func (s *synthesis) only(t *testing.T, typ string) map[string]any {
	t.Helper()
	rs := s.resources(typ)
	if len(rs) != 1 {
		t.Fatalf("got %d %s, want 1", len(rs), typ)
	}
	for _, p := range rs {
		return p
	}
	return nil
}

func asJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func TestResourceCounts(t *testing.T) {
	s := synth(t)
	machines := len(mustPipelines(t))
	want := map[string]int{
		"AWS::ApiGatewayV2::Api":           1,
		"AWS::ApiGatewayV2::Route":         4,
		"AWS::ApiGatewayV2::Stage":         1,
		"AWS::Lambda::Function":            6,
		"AWS::DynamoDB::GlobalTable":       1,
		"AWS::S3::Bucket":                  2,
		"AWS::SNS::Topic":                  1,
		"AWS::SNS::Subscription":           len(testEmails),
		"AWS::CodeBuild::Project":          1,
		"AWS::Events::Rule":                3,
		"AWS::StepFunctions::StateMachine": machines,
		"AWS::SecretsManager::Secret":      4,
		// 6 function error alarms, 3 per machine (failed, timed out, aborted).
		"AWS::CloudWatch::Alarm": 6 + 3*machines,
		// One per function, the build project, the API's access logs, the machines'.
		"AWS::Logs::LogGroup": 6 + 1 + 1 + 1,
	}
	for typ, n := range want {
		check(t, typ, func() { s.template.ResourceCountIs(jsii.String(typ), jsii.Number(float64(n))) })
	}
}

func mustPipelines(t *testing.T) []declared {
	t.Helper()
	ps, err := loadPipelines(testPipelinesDir(t))
	if err != nil {
		t.Fatal(err)
	}
	if len(ps) < 2 {
		t.Fatal("want the pipelines of ../pipelines and testdata/pipelines")
	}
	return ps
}

func TestFunctions(t *testing.T) {
	s := synth(t)
	for id, p := range s.resources("AWS::Lambda::Function") {
		got := map[string]any{"Runtime": p["Runtime"], "Architectures": p["Architectures"], "Handler": p["Handler"]}
		want := map[string]any{"Runtime": "provided.al2023", "Architectures": []any{"arm64"}, "Handler": "bootstrap"}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("%s (-want +got):\n%s", id, diff)
		}
		env, _ := p["Environment"].(map[string]any)
		vars, _ := env["Variables"].(map[string]any)
		if _, ok := vars[lambdaenv.EnvTable]; !ok {
			t.Errorf("%s: got no %s in its environment", id, lambdaenv.EnvTable)
		}
	}
	// The task functions are named by the machines and must not depend on them.
	for _, fn := range []*Function{s.stack.Functions.Gate, s.stack.Functions.Action} {
		props := asJSON(s.resources("AWS::Lambda::Function")[logicalID(s, fn.Fn.Node().DefaultChild())])
		for id := range s.resources("AWS::StepFunctions::StateMachine") {
			if strings.Contains(props, `"`+id+`"`) {
				t.Errorf("%s function refers to state machine %s: %s", fn.Name, id, props)
			}
		}
	}
}

func logicalID(s *synthesis, c any) string {
	return *s.stack.GetLogicalId(c.(awscdk.CfnElement))
}

func TestTable(t *testing.T) {
	s := synth(t)
	p := s.only(t, "AWS::DynamoDB::GlobalTable")
	def := dynamostore.TableDefinition("x")
	var keys []string
	for _, k := range def.KeySchema {
		keys = append(keys, *k.AttributeName+"/"+string(k.KeyType))
	}
	var gotKeys []string
	for _, k := range p["KeySchema"].([]any) {
		k := k.(map[string]any)
		gotKeys = append(gotKeys, k["AttributeName"].(string)+"/"+k["KeyType"].(string))
	}
	if diff := cmp.Diff(keys, gotKeys); diff != "" {
		t.Errorf("key schema (-dynamostore +template):\n%s", diff)
	}
	index := func(list any) map[string]string {
		out := map[string]string{}
		for _, ix := range list.([]any) {
			ix := ix.(map[string]any)
			out[ix["IndexName"].(string)] = asJSON(ix["KeySchema"]) + " " + asJSON(ix["Projection"])
		}
		return out
	}
	wantIndex := func(name string, ks any) string {
		var schema []map[string]string
		for _, k := range ks.([]map[string]string) {
			schema = append(schema, k)
		}
		return asJSON(schema) + ` {"ProjectionType":"ALL"}`
	}
	wantLSI, wantGSI := map[string]string{}, map[string]string{}
	for _, ix := range def.LocalSecondaryIndexes {
		var ks []map[string]string
		for _, k := range ix.KeySchema {
			ks = append(ks, map[string]string{"AttributeName": *k.AttributeName, "KeyType": string(k.KeyType)})
		}
		wantLSI[*ix.IndexName] = wantIndex(*ix.IndexName, ks)
	}
	for _, ix := range def.GlobalSecondaryIndexes {
		var ks []map[string]string
		for _, k := range ix.KeySchema {
			ks = append(ks, map[string]string{"AttributeName": *k.AttributeName, "KeyType": string(k.KeyType)})
		}
		wantGSI[*ix.IndexName] = wantIndex(*ix.IndexName, ks)
	}
	if diff := cmp.Diff(wantLSI, index(p["LocalSecondaryIndexes"])); diff != "" {
		t.Errorf("local secondary indexes (-dynamostore +template):\n%s", diff)
	}
	if diff := cmp.Diff(wantGSI, index(p["GlobalSecondaryIndexes"])); diff != "" {
		t.Errorf("global secondary indexes (-dynamostore +template):\n%s", diff)
	}
	check(t, "table settings", func() {
		s.template.HasResourceProperties(jsii.String("AWS::DynamoDB::GlobalTable"), &map[string]any{
			"BillingMode":             "PAY_PER_REQUEST",
			"TimeToLiveSpecification": map[string]any{"AttributeName": dynamostore.TTLAttribute, "Enabled": true},
			"Replicas": assertions.Match_ArrayWith(&[]any{assertions.Match_ObjectLike(&map[string]any{
				"PointInTimeRecoverySpecification": map[string]any{"PointInTimeRecoveryEnabled": true},
			})}),
		})
	})
}

func TestArtifactBucket(t *testing.T) {
	s := synth(t)
	id := logicalID(s, s.stack.Data.Bucket.Node().DefaultChild())
	p := s.resources("AWS::S3::Bucket")[id]
	want := map[string]any{
		"PublicAccessBlockConfiguration": map[string]any{
			"BlockPublicAcls": true, "BlockPublicPolicy": true, "IgnorePublicAcls": true, "RestrictPublicBuckets": true,
		},
		"VersioningConfiguration": map[string]any{"Status": "Enabled"},
		"BucketEncryption": map[string]any{"ServerSideEncryptionConfiguration": []any{
			map[string]any{"ServerSideEncryptionByDefault": map[string]any{"SSEAlgorithm": "AES256"}},
		}},
	}
	got := map[string]any{}
	for k := range want {
		got[k] = p[k]
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("artifact bucket (-want +got):\n%s", diff)
	}
	rules := asJSON(p["LifecycleConfiguration"])
	for _, want := range []string{`"ExpirationInDays":30`, `"NoncurrentVersionExpiration":{"NoncurrentDays":7}`, `"AbortIncompleteMultipartUpload"`} {
		if !strings.Contains(rules, want) {
			t.Errorf("lifecycle %s: missing %s", rules, want)
		}
	}
	if p["LoggingConfiguration"] == nil {
		t.Error("artifact bucket: got no server access logging")
	}
	// Every bucket refuses requests without TLS.
	for bid, bp := range s.resources("AWS::S3::BucketPolicy") {
		doc := asJSON(bp["PolicyDocument"])
		if !strings.Contains(doc, `"aws:SecureTransport":"false"`) || !strings.Contains(doc, `"Effect":"Deny"`) {
			t.Errorf("bucket policy %s: got %s, want a Deny on aws:SecureTransport false", bid, doc)
		}
	}
}

func TestTopicAndSecrets(t *testing.T) {
	s := synth(t)
	topic := s.only(t, "AWS::SNS::Topic")
	if topic["KmsMasterKeyId"] == nil {
		t.Error("approval topic: got no KmsMasterKeyId, want server-side encryption")
	}
	var emails []string
	for _, sub := range s.resources("AWS::SNS::Subscription") {
		if sub["Protocol"] != "email" {
			t.Errorf("got subscription protocol %v, want email", sub["Protocol"])
		}
		email := sub["Endpoint"].(string)
		emails = append(emails, email)
		if got, want := asJSON(sub["FilterPolicy"]), `{"recipient":["`+email+`"]}`; got != want {
			t.Errorf("subscription of %s: got filter %s, want %s", email, got, want)
		}
	}
	sort.Strings(emails)
	if diff := cmp.Diff(testEmails, emails); diff != "" {
		t.Errorf("subscriptions (-context +template):\n%s", diff)
	}
	for id, sec := range s.resources("AWS::SecretsManager::Secret") {
		if sec["GenerateSecretString"] == nil || sec["SecretString"] != nil {
			t.Errorf("secret %s: got %s, want a generated value and none in the template", id, asJSON(sec))
		}
	}
}

func TestRoutes(t *testing.T) {
	s := synth(t)
	var got []string
	for id, r := range s.resources("AWS::ApiGatewayV2::Route") {
		got = append(got, r["RouteKey"].(string))
		if r["AuthorizationType"] != nil && r["AuthorizationType"] != "NONE" {
			t.Errorf("route %s: got authorization %v, want the function's own", id, r["AuthorizationType"])
		}
	}
	sort.Strings(got)
	want := []string{"GET /approvals/{id}", "POST /", "POST /approvals/{id}", "POST /webhooks/github"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("routes (-want +got):\n%s", diff)
	}
	stage := s.only(t, "AWS::ApiGatewayV2::Stage")
	if stage["AccessLogSettings"] == nil || stage["DefaultRouteSettings"] == nil {
		t.Errorf("stage: got %s, want access logs and throttling", asJSON(stage))
	}
	for _, key := range []string{"WebhookUrl", "WebhookSecretName", "ApiUrl", "ApiTokenSecretName"} {
		if _, ok := s.tmpl["Outputs"].(map[string]any)[key]; !ok {
			t.Errorf("got no output %s", key)
		}
	}
}

func TestStateMachines(t *testing.T) {
	s := synth(t)
	pipelines := mustPipelines(t)
	gate := logicalID(s, s.stack.Functions.Gate.Fn.Node().DefaultChild())
	action := logicalID(s, s.stack.Functions.Action.Fn.Node().DefaultChild())
	byDefinition := map[string]map[string]any{}
	for _, p := range s.resources("AWS::StepFunctions::StateMachine") {
		byDefinition[p["DefinitionString"].(string)] = p
	}
	for _, decl := range pipelines {
		p, ok := byDefinition[string(decl.ASL)]
		if !ok {
			t.Errorf("pipeline %s: no state machine has its compiled definition", decl.Name)
			continue
		}
		got := map[string]any{
			"Name": p["StateMachineName"], "Role": p["RoleArn"],
			"Type": p["StateMachineType"], "Tracing": p["TracingConfiguration"],
			"Level": p["LoggingConfiguration"].(map[string]any)["Level"],
			"Data":  p["LoggingConfiguration"].(map[string]any)["IncludeExecutionData"],
			"Subst": p["DefinitionSubstitutions"],
		}
		want := map[string]any{
			"Name": s.stack.Machines.Prefix + decl.Name,
			"Role": map[string]any{"Fn::GetAtt": []any{logicalID(s, s.stack.Machines.Role.Node().DefaultChild()), "Arn"}},
			"Type": "STANDARD", "Tracing": map[string]any{"Enabled": true}, "Level": "ALL", "Data": false,
			"Subst": map[string]any{
				"GateFunction":   map[string]any{"Fn::GetAtt": []any{gate, "Arn"}},
				"ActionFunction": map[string]any{"Fn::GetAtt": []any{action, "Arn"}},
			},
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("pipeline %s (-want +got):\n%s", decl.Name, diff)
		}
		for _, ph := range []string{statemachines.GateFunction, statemachines.ActionFunction} {
			if !strings.Contains(string(decl.ASL), ph) {
				t.Errorf("pipeline %s: compiled definition lacks %s", decl.Name, ph)
			}
		}
	}
}

func TestEventRules(t *testing.T) {
	s := synth(t)
	events := logicalID(s, s.stack.Functions.Events.Fn.Node().DefaultChild())
	var sources []string
	for id, r := range s.resources("AWS::Events::Rule") {
		pattern := r["EventPattern"].(map[string]any)
		sources = append(sources, asJSON(pattern["source"])+" "+asJSON(pattern["detail-type"]))
		if !strings.Contains(asJSON(r["Targets"]), events) {
			t.Errorf("rule %s: targets %s, want the events function", id, asJSON(r["Targets"]))
		}
	}
	sort.Strings(sources)
	want := []string{
		`["aws.cloudformation"] ["CloudFormation Stack Status Change"]`,
		`["aws.codebuild"] ["CodeBuild Build State Change"]`,
		`["aws.states"] ["Step Functions Execution Status Change"]`,
	}
	if diff := cmp.Diff(want, sources); diff != "" {
		t.Errorf("rules (-want +got):\n%s", diff)
	}
}

func TestInstallPipelines(t *testing.T) {
	s := synth(t)
	cr := s.only(t, "Custom::RelaisPipelines")
	api := logicalID(s, s.stack.Functions.API.Fn.Node().DefaultChild())
	if diff := cmp.Diff(map[string]any{"Fn::GetAtt": []any{api, "Arn"}}, cr["ServiceToken"]); diff != "" {
		t.Errorf("service token (-want +got):\n%s", diff)
	}
	var want []any
	for _, p := range mustPipelines(t) {
		want = append(want, string(p.Raw))
	}
	if diff := cmp.Diff(want, cr["Declarations"]); diff != "" {
		t.Errorf("declarations (-pipelines +template):\n%s", diff)
	}
}

func TestBuildProject(t *testing.T) {
	s := synth(t)
	p := s.only(t, "AWS::CodeBuild::Project")
	logs := p["LogsConfig"].(map[string]any)["CloudWatchLogs"].(map[string]any)
	if logs["Status"] != "ENABLED" || logs["GroupName"] == nil {
		t.Errorf("build logs: got %s, want its own log group", asJSON(logs))
	}
	if p["Environment"].(map[string]any)["PrivilegedMode"] == true {
		t.Error("default project runs privileged")
	}
}

// starResourceActions may have Resource "*": AWS offers no resource-level permission for
// them (Step Functions' log delivery and X-Ray, as CDK grants them to machine roles).
var starResourceActions = map[string]bool{
	"logs:CreateLogDelivery": true, "logs:GetLogDelivery": true, "logs:UpdateLogDelivery": true,
	"logs:DeleteLogDelivery": true, "logs:ListLogDeliveries": true, "logs:PutResourcePolicy": true,
	"logs:DescribeResourcePolicies": true, "logs:DescribeLogGroups": true,
	"xray:PutTraceSegments": true, "xray:PutTelemetryRecords": true, "xray:GetSamplingRules": true,
	"xray:GetSamplingTargets": true,
}

func list(v any) []any {
	if l, ok := v.([]any); ok {
		return l
	}
	return []any{v}
}

// TestPolicyStatements walks every IAM statement of the template: no "*" action (nor a
// whole service's), no "*" resource but for the actions AWS offers no resource for, no
// managed policy on a role.
func TestPolicyStatements(t *testing.T) {
	s := synth(t)
	var docs []struct {
		where string
		doc   any
	}
	for id, p := range s.resources("AWS::IAM::Policy") {
		docs = append(docs, struct {
			where string
			doc   any
		}{id, p["PolicyDocument"]})
	}
	for id, r := range s.resources("AWS::IAM::Role") {
		if r["ManagedPolicyArns"] != nil {
			t.Errorf("role %s: got managed policies %s, want none", id, asJSON(r["ManagedPolicyArns"]))
		}
		for _, p := range list(r["Policies"]) {
			if p != nil {
				docs = append(docs, struct {
					where string
					doc   any
				}{id, p.(map[string]any)["PolicyDocument"]})
			}
		}
	}
	n := 0
	for _, d := range docs {
		for _, st := range list(d.doc.(map[string]any)["Statement"]) {
			st := st.(map[string]any)
			if st["Effect"] != "Allow" {
				continue
			}
			n++
			starResource := false
			for _, r := range list(st["Resource"]) {
				if r == "*" {
					starResource = true
				}
			}
			for _, a := range list(st["Action"]) {
				a := a.(string)
				if a == "*" || strings.HasSuffix(a, ":*") {
					t.Errorf("%s: statement %s allows %q", d.where, asJSON(st), a)
				}
				if starResource && !starResourceActions[a] {
					t.Errorf("%s: statement %s allows %q on every resource", d.where, asJSON(st), a)
				}
			}
		}
	}
	if n < 20 {
		t.Errorf("got %d Allow statements, want the walk to have found the stack's (at least 20)", n)
	}
}

func TestNagFindings(t *testing.T) {
	s := synth(t)
	for _, e := range s.errors {
		t.Errorf("cdk-nag error: %s", e)
	}
	for _, w := range s.warnings {
		t.Errorf("cdk-nag warning: %s", w)
	}
}

func TestLoadPipelinesRefusesWhatAWSCannotRun(t *testing.T) {
	dir := t.TempDir()
	raw, err := os.ReadFile(filepath.Join("..", "pipelines", "hello.json"))
	if err != nil {
		t.Fatal(err)
	}
	bad := strings.Replace(string(raw), `"name": "hello"`, `"name": "bad name!"`, 1)
	if err := os.WriteFile(filepath.Join(dir, "bad.json"), []byte(bad), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := loadPipelines(dir); err == nil || !strings.Contains(err.Error(), "cannot run on AWS") {
		t.Errorf("got %v, want a validation error", err)
	}
	// Same name twice.
	for _, f := range []string{"a.json", "b.json"} {
		if err := os.WriteFile(filepath.Join(dir, f), raw, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	os.Remove(filepath.Join(dir, "bad.json"))
	if _, err := loadPipelines(dir); err == nil || !strings.Contains(err.Error(), "both named") {
		t.Errorf("got %v, want a duplicate name error", err)
	}
}

func TestDeclaredResources(t *testing.T) {
	ps := mustPipelines(t)
	byName := map[string]declared{}
	for _, p := range ps {
		byName[p.Name] = p
	}
	resources := func(p declared) map[string][]string {
		out := map[string][]string{}
		for k, v := range map[string][]string{"projects": p.Projects, "deploy": p.DeployBuckets, "acl": p.ACLBuckets,
			"keys": p.DeployKeys, "functions": p.Functions, "stacks": p.Stacks, "changesets": p.ChangeSets, "roles": p.StackRoles, "topics": p.Topics, "sources": p.SourceBuckets} {
			if len(v) > 0 {
				out[k] = v
			}
		}
		return out
	}
	want := map[string]map[string][]string{
		"hello": {"projects": {"relais-hello"}, "deploy": {"relais-hello-site"}},
		"web": {
			"projects": {"relais-web"}, "deploy": {"relais-web-public", "relais-web-reports"}, "acl": {"relais-web-public"},
			// The reports bucket's key is an alias: not grantable.
			"keys":      {"arn:aws:kms:eu-west-1:123456789012:key/1b2c3d4e-0000-4000-8000-000000000001"},
			"functions": {"relais-notify", "arn:aws:lambda:eu-west-1:123456789012:function:relais-audit:live", "relais-smoke:prod"},
			// The preview stack's name holds a variable: not grantable.
			"stacks": {"relais-web-infra"}, "changesets": {"relais-web-changes"},
			"roles":   {"arn:aws:iam::123456789012:role/relais-cfn-deploy"},
			"topics":  {"arn:aws:sns:eu-west-1:123456789012:relais-web-reviews"},
			"sources": {"relais-web-assets"},
		},
	}
	for name, w := range want {
		if diff := cmp.Diff(w, resources(byName[name])); diff != "" {
			t.Errorf("resources of %s (-want +got):\n%s", name, diff)
		}
	}
	var p declared
	p.addResources(pipeline.Action{ActionTypeID: pipeline.ActionTypeID{Category: "Build", Owner: "AWS", Provider: "CodeBuild"},
		Configuration: map[string]string{"ProjectName": "#{variables.project}"}})
	if len(p.Projects) != 0 {
		t.Errorf("got projects %v for a name resolved at run time, want none", p.Projects)
	}
}
