package cfnaction

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http/httptest"
	"net/url"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/google/go-cmp/cmp"
	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"

	"github.com/relais-ci/relais/shared/action"
	"github.com/relais-ci/relais/shared/aws/s3artifact"
	"github.com/relais-ci/relais/shared/core"
	"github.com/relais-ci/relais/shared/pipeline"
)

const bucket = "relais-artifacts"

// fixture is a Deployer over the fake CloudFormation, gofakes3 through s3artifact, and
// hand-written action and pipeline stores.
type fixture struct {
	t       *testing.T
	cfn     *fakeCFN
	s3      *s3.Client
	store   *s3artifact.Store
	actions *actionStore
	pipes   *pipelineStore
	dep     *Deployer
	client  *cloudformation.Client
	sleeps  []time.Duration
	n       int
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	s3srv := httptest.NewServer(gofakes3.New(s3mem.New()).Server())
	t.Cleanup(s3srv.Close)
	creds := credentials.NewStaticCredentialsProvider("AKID", "secret", "")
	s3c := s3.New(s3.Options{Region: "eu-west-1", BaseEndpoint: aws.String(s3srv.URL), UsePathStyle: true,
		Credentials: creds, RetryMaxAttempts: 1})
	if _, err := s3c.CreateBucket(t.Context(), &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
		t.Fatal(err)
	}
	f := &fixture{t: t, s3: s3c, store: s3artifact.New(s3c, s3.NewPresignClient(s3c), bucket),
		actions: &actionStore{byExt: map[string]core.ActionExecution{}}, pipes: &pipelineStore{}}
	f.cfn = newFakeCFN(t, s3c)
	srv := httptest.NewServer(f.cfn)
	t.Cleanup(srv.Close)
	f.client = cloudformation.New(cloudformation.Options{Region: "eu-west-1", BaseEndpoint: aws.String(srv.URL),
		Credentials: creds, RetryMaxAttempts: 1})
	f.dep = New(Deps{CloudFormation: f.client, Artifacts: f.store, S3: s3c, Bucket: bucket, Region: "eu-west-1",
		Actions: f.actions, Pipelines: f.pipes, Logger: slog.New(slog.DiscardHandler)})
	f.dep.sleep = func(ctx context.Context, d time.Duration) error {
		f.sleeps = append(f.sleeps, d)
		return ctx.Err()
	}
	return f
}

// actionStore finds recorded actions by external id, as the action store's index does.
type actionStore struct {
	mu    sync.Mutex
	byExt map[string]core.ActionExecution
}

func (s *actionStore) FindActionByExternalID(_ context.Context, id string) (core.ActionExecution, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a, ok := s.byExt[id]
	if !ok {
		return core.ActionExecution{}, fmt.Errorf("find action by external id %q: %w", id, core.ErrNotFound)
	}
	return a, nil
}

type pipelineStore struct{ decl json.RawMessage }

func (s *pipelineStore) GetPipeline(_ context.Context, name string) (core.Pipeline, error) {
	if s.decl == nil || name != "web" {
		return core.Pipeline{}, fmt.Errorf("get pipeline %s: %w", name, core.ErrNotFound)
	}
	return core.Pipeline{Name: name, Version: 1, Declaration: s.decl}, nil
}

func zipOf(t *testing.T, files map[string]string) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		w, err := zw.Create(n)
		if err != nil {
			t.Fatal(err)
		}
		io.WriteString(w, files[n])
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// files are the input artifacts of a job: name → file → content.
type files map[string]map[string]string

// job builds a CloudFormation action of pipeline web, execution exec-1, stage Deploy,
// with its input artifacts stored and a fresh action execution id. The declaration is
// stored too, for StackEvent.
func (f *fixture) job(cfg map[string]string, ins files, outs ...string) action.Job {
	f.t.Helper()
	f.n++
	id := fmt.Sprintf("0f8fad5b-d9cb-469f-a165-%012d", f.n)
	j := action.Job{
		Execution: core.Execution{PipelineName: "web", ID: "exec-1"},
		Stage:     "Deploy",
		Declared: pipeline.Action{Name: "Deploy", Configuration: cfg,
			ActionTypeID: pipeline.ActionTypeID{Category: "Deploy", Owner: "AWS", Provider: "CloudFormation", Version: "1"}},
		Record: core.ActionExecution{ID: id, PipelineName: "web", ExecutionID: "exec-1", StageName: "Deploy",
			ActionName: "Deploy", Configuration: cfg, Status: core.ActionInProgress,
			Type: core.ActionType{Category: "Deploy", Owner: "AWS", Provider: "CloudFormation", Version: "1"}},
	}
	names := make([]string, 0, len(ins))
	for n := range ins {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		var body []byte
		if ins[n] == nil {
			body = []byte("not a zip")
		} else {
			body = zipOf(f.t, ins[n])
		}
		loc, err := f.store.PutArtifact(f.t.Context(), "web", "exec-0", n, bytes.NewReader(body))
		if err != nil {
			f.t.Fatal(err)
		}
		j.Declared.InputArtifacts = append(j.Declared.InputArtifacts, pipeline.Artifact{Name: n})
		j.Record.InputArtifacts = append(j.Record.InputArtifacts, core.Artifact{Name: n, Location: loc})
	}
	for _, n := range outs {
		j.Declared.OutputArtifacts = append(j.Declared.OutputArtifacts, pipeline.Artifact{Name: n})
	}
	decl := map[string]any{"pipeline": map[string]any{
		"name": "web", "roleArn": "arn:aws:iam::123456789012:role/relais",
		"artifactStore": map[string]any{"type": "S3", "location": bucket},
		"stages": []any{
			map[string]any{"name": "Source", "actions": []any{map[string]any{"name": "Source",
				"actionTypeId":    map[string]any{"category": "Source", "owner": "AWS", "provider": "S3", "version": "1"},
				"configuration":   map[string]any{"S3Bucket": "src", "S3ObjectKey": "src.zip"},
				"outputArtifacts": j.Declared.InputArtifacts}}},
			map[string]any{"name": "Deploy", "actions": []any{j.Declared}},
		},
	}}
	raw, err := json.Marshal(decl)
	if err != nil {
		f.t.Fatal(err)
	}
	f.pipes.decl = raw
	return j
}

// run runs a job and records it as the action service does: InProgress with its
// external id, so that StackEvent finds it.
func (f *fixture) run(j action.Job) action.Result {
	f.t.Helper()
	res, err := f.dep.Run(f.t.Context(), j)
	if err != nil {
		f.t.Fatalf("Run: %v", err)
	}
	if res.Status == core.ActionInProgress {
		rec := j.Record
		rec.ExternalExecutionID = res.ExternalID
		f.actions.mu.Lock()
		f.actions.byExt[res.ExternalID] = rec
		f.actions.mu.Unlock()
	}
	return res
}

// event hands an event to StackEvent.
func (f *fixture) event(raw json.RawMessage) (string, action.Result, bool) {
	f.t.Helper()
	ext, res, done, err := f.dep.StackEvent(f.t.Context(), raw)
	if err != nil {
		f.t.Fatalf("StackEvent: %v", err)
	}
	return ext, res, done
}

// artifactFiles reads an output artifact back from the store.
func (f *fixture) artifactFiles(a core.Artifact) map[string]string {
	f.t.Helper()
	rc, err := f.store.OpenArtifact(f.t.Context(), a.Location)
	if err != nil {
		f.t.Fatal(err)
	}
	defer rc.Close()
	data, _ := io.ReadAll(rc)
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		f.t.Fatal(err)
	}
	out := map[string]string{}
	for _, zf := range zr.File {
		r, _ := zf.Open()
		b, _ := io.ReadAll(r)
		r.Close()
		out[zf.Name] = string(b)
	}
	return out
}

// writes are the requests that change something at CloudFormation.
func (f *fixture) writes() []string {
	var out []string
	for _, c := range f.cfn.calls() {
		if !strings.HasPrefix(c, "Describe") {
			out = append(out, c)
		}
	}
	return out
}

// The template of most tests: two parameters, a bucket, outputs that echo them.
const appTemplate = `{
  "Parameters": {"Env": {"Type": "String"}, "Size": {"Type": "String", "Default": "small"},
    "CodeBucket": {"Type": "String", "Default": "-"}, "CodeKey": {"Type": "String", "Default": "-"},
    "Endpoint": {"Type": "String", "Default": "-"}},
  "Resources": {"Bucket": {"Type": "AWS::S3::Bucket"}},
  "Outputs": {"EnvOut": {"Value": {"Ref": "Env"}}, "SizeOut": {"Value": {"Ref": "Size"}},
    "CodeKeyOut": {"Value": {"Ref": "CodeKey"}}, "Fixed": {"Value": "42"}}
}`

func stackCfg(mode string, extra ...string) map[string]string {
	cfg := map[string]string{"ActionMode": mode, "StackName": "web-app",
		"RoleArn": "arn:aws:iam::123456789012:role/cfn", "TemplatePath": "Source::infra/app.json"}
	for i := 0; i+1 < len(extra); i += 2 {
		if extra[i+1] == "" {
			delete(cfg, extra[i])
			continue
		}
		cfg[extra[i]] = extra[i+1]
	}
	return cfg
}

func source() files { return files{"Source": {"infra/app.json": appTemplate}} }

func appDeployment(env string) deployment {
	return deployment{template: appTemplate, params: map[string]string{"Env": env}, tags: map[string]string{}}
}

// form picks fields of a request.
func form(v url.Values, keys ...string) map[string]string {
	out := map[string]string{}
	for _, k := range keys {
		if v.Has(k) {
			out[k] = v.Get(k)
		}
	}
	return out
}

func TestCreateStack(t *testing.T) {
	f := newFixture(t)
	cfg := stackCfg(ModeCreateUpdate,
		"TemplateConfiguration", "Source::infra/prod.json",
		"ParameterOverrides", `{"Size": "large", "Endpoint": {"Fn::GetParam": ["Other", "stack.json", "Url"]},
			"CodeBucket": {"Fn::GetArtifactAtt": ["Lambda", "BucketName"]}, "CodeKey": {"Fn::GetArtifactAtt": ["Lambda", "ObjectKey"]}}`,
		"Capabilities", "CAPABILITY_IAM,CAPABILITY_AUTO_EXPAND",
		"OutputFileName", "outputs.json")
	j := f.job(cfg, files{
		"Source": {"infra/app.json": appTemplate,
			"infra/prod.json": `{"Parameters": {"Env": "prod", "Size": "medium"}, "Tags": {"team": "web", "cost": 7},
				"StackPolicy": {"Statement": [{"Effect": "Allow", "Action": "Update:*", "Principal": "*", "Resource": "*"}]}}`},
		"Other":  {"stack.json": `{"Url": "https://api.example.com", "Count": 3}`},
		"Lambda": {"handler.js": "exports.handler = 1"},
	}, "StackOutput")

	res := f.run(j)
	stem := "relais-" + j.Record.ID
	want := action.Result{Status: core.ActionInProgress, ExternalID: stem, Summary: "Creating stack web-app",
		ExternalURL: "https://eu-west-1.console.aws.amazon.com/cloudformation/home?region=eu-west-1#/stacks/stackinfo?stackId=" +
			url.QueryEscape(f.cfn.stack("web-app").id)}
	if diff := cmp.Diff(want, res); diff != "" {
		t.Errorf("Run (-want +got):\n%s", diff)
	}
	lambdaKey := j.Record.InputArtifacts[0].Location.Key
	got := f.cfn.last("CreateStack")
	wantForm := map[string]string{
		"StackName": "web-app", "TemplateBody": appTemplate, "RoleARN": "arn:aws:iam::123456789012:role/cfn",
		"ClientRequestToken":               stem + "-c",
		"Capabilities.member.1":            "CAPABILITY_IAM",
		"Capabilities.member.2":            "CAPABILITY_AUTO_EXPAND",
		"Parameters.member.1.ParameterKey": "CodeBucket", "Parameters.member.1.ParameterValue": bucket,
		"Parameters.member.2.ParameterKey": "CodeKey", "Parameters.member.2.ParameterValue": lambdaKey,
		"Parameters.member.3.ParameterKey": "Endpoint", "Parameters.member.3.ParameterValue": "https://api.example.com",
		"Parameters.member.4.ParameterKey": "Env", "Parameters.member.4.ParameterValue": "prod",
		"Parameters.member.5.ParameterKey": "Size", "Parameters.member.5.ParameterValue": "large",
		"Tags.member.1.Key": "cost", "Tags.member.1.Value": "7",
		"Tags.member.2.Key": "team", "Tags.member.2.Value": "web",
		"StackPolicyBody": `{"Statement":[{"Effect":"Allow","Action":"Update:*","Principal":"*","Resource":"*"}]}`,
	}
	keys := []string{"TemplateURL", "Parameters.member.6.ParameterKey", "Tags.member.3.Key", "Capabilities.member.3"}
	for k := range wantForm {
		keys = append(keys, k)
	}
	if diff := cmp.Diff(wantForm, form(got, keys...)); diff != "" {
		t.Errorf("CreateStack request (-want +got):\n%s", diff)
	}

	// CloudFormation ends the operation; its event ends the action.
	ev := f.cfn.finish("web-app", "CREATE_COMPLETE", "")
	ext, end, done := f.event(ev)
	if ext != stem || !done {
		t.Fatalf("StackEvent: got external id %q, done %v; want %q, true", ext, done, stem)
	}
	if end.Status != core.ActionSucceeded || end.Summary != "Stack web-app created" || end.ExternalID != stem {
		t.Errorf("got %s %q (external id %q), want Succeeded %q", end.Status, end.Summary, end.ExternalID, "Stack web-app created")
	}
	wantVars := map[string]string{"EnvOut": "prod", "SizeOut": "large", "CodeKeyOut": lambdaKey, "Fixed": "42"}
	if diff := cmp.Diff(wantVars, end.OutputVariables); diff != "" {
		t.Errorf("output variables (-want +got):\n%s", diff)
	}
	if len(end.OutputArtifacts) != 1 || end.OutputArtifacts[0].Name != "StackOutput" {
		t.Fatalf("got output artifacts %+v, want StackOutput", end.OutputArtifacts)
	}
	files := f.artifactFiles(end.OutputArtifacts[0])
	var outputs map[string]string
	if err := json.Unmarshal([]byte(files["outputs.json"]), &outputs); err != nil {
		t.Fatalf("outputs.json %q: %v", files["outputs.json"], err)
	}
	if diff := cmp.Diff(wantVars, outputs); diff != "" {
		t.Errorf("outputs.json (-want +got):\n%s", diff)
	}
	if got, want := end.OutputArtifacts[0].Location.Key, "web/exec-1/StackOutput.zip"; got != want {
		t.Errorf("output artifact at %s, want %s", got, want)
	}
}

func TestUpdateStack(t *testing.T) {
	f := newFixture(t)
	f.cfn.put("web-app", "CREATE_COMPLETE", appDeployment("test"), "Console-CreateStack-1")
	j := f.job(stackCfg(ModeCreateUpdate, "ParameterOverrides", `{"Env": "prod"}`), source())
	res := f.run(j)
	if res.Status != core.ActionInProgress || res.Summary != "Updating stack web-app" {
		t.Fatalf("got %s %q, want InProgress updating", res.Status, res.Summary)
	}
	up := f.cfn.last("UpdateStack")
	if diff := cmp.Diff(map[string]string{"StackName": "web-app", "ClientRequestToken": "relais-" + j.Record.ID + "-u",
		"Parameters.member.1.ParameterKey": "Env", "Parameters.member.1.ParameterValue": "prod", "RoleARN": "arn:aws:iam::123456789012:role/cfn"},
		form(up, "StackName", "ClientRequestToken", "Parameters.member.1.ParameterKey", "Parameters.member.1.ParameterValue", "RoleARN", "Parameters.member.2.ParameterKey")); diff != "" {
		t.Errorf("UpdateStack request (-want +got):\n%s", diff)
	}
	_, end, done := f.event(f.cfn.finish("web-app", "UPDATE_COMPLETE", ""))
	if !done || end.Status != core.ActionSucceeded || end.Summary != "Stack web-app updated" || end.OutputVariables["EnvOut"] != "prod" {
		t.Errorf("got done %v, %+v; want Succeeded, updated, EnvOut prod", done, end)
	}

	// The same deployment again: nothing to update, the action succeeds at once.
	j2 := f.job(stackCfg(ModeCreateUpdate, "ParameterOverrides", `{"Env": "prod"}`), source())
	res = f.run(j2)
	if res.Status != core.ActionSucceeded || res.Summary != "Stack web-app is up to date: no updates are to be performed" {
		t.Errorf("got %s %q, want Succeeded, up to date", res.Status, res.Summary)
	}
	if res.OutputVariables["EnvOut"] != "prod" {
		t.Errorf("got variables %v, want the stack's outputs", res.OutputVariables)
	}
}

func TestUpdateFailsWithFirstFailure(t *testing.T) {
	f := newFixture(t)
	f.cfn.pageSize = 2 // the first failure is pages back
	s := f.cfn.put("web-app", "UPDATE_COMPLETE", appDeployment("test"), "Console-UpdateStack-1")
	f.cfn.mu.Lock()
	f.cfn.addEvent(s, "Old", "", "AWS::S3::Bucket", "UPDATE_FAILED", "an older failure")
	f.cfn.mu.Unlock()
	j := f.job(stackCfg(ModeCreateUpdate, "ParameterOverrides", `{"Env": "prod"}`), source())
	f.run(j)
	ev := f.cfn.finish("web-app", "UPDATE_ROLLBACK_COMPLETE", "The following resource(s) failed to update: [Bucket].",
		resourceFailure{"Bucket", "UPDATE_FAILED", "web-assets already exists"},
		resourceFailure{"Queue", "UPDATE_FAILED", "Resource update cancelled"},
		resourceFailure{"Topic", "UPDATE_FAILED", "a later failure, in the rollback"},
		resourceFailure{"Bucket", "UPDATE_IN_PROGRESS", ""},
		resourceFailure{"Bucket", "UPDATE_COMPLETE", ""},
		resourceFailure{"Bucket", "UPDATE_COMPLETE_CLEANUP_IN_PROGRESS", ""},
	)
	_, end, done := f.event(ev)
	want := "Stack web-app ended UPDATE_ROLLBACK_COMPLETE: The following resource(s) failed to update: [Bucket].; " +
		"first failure: [Bucket] UPDATE_FAILED: web-assets already exists"
	if !done || end.Status != core.ActionFailed || end.Error == nil || end.Error.Message != want {
		t.Errorf("got done %v, %s %+v;\nwant Failed %q", done, end.Status, end.Error, want)
	}
	// The failure of the console's update before ours is not ours.
	if strings.Count(end.Error.Message, "first failure") != 1 {
		t.Errorf("got %q", end.Error.Message)
	}
}

func TestCreateFailedWaitsForRollback(t *testing.T) {
	f := newFixture(t)
	j := f.job(stackCfg(ModeCreateUpdate, "ParameterOverrides", `{"Env": "prod"}`), source())
	f.run(j)
	// A CREATE_FAILED status with the rollback under way: the action goes on.
	f.cfn.mu.Lock()
	s := f.cfn.stacks["web-app"]
	f.cfn.addEvent(s, "Bucket", "", "AWS::S3::Bucket", "CREATE_FAILED", "Bucket name not available")
	s.status = "ROLLBACK_IN_PROGRESS"
	early := f.cfn.event(s, "CREATE_FAILED", "The following resource(s) failed to create: [Bucket].")
	f.cfn.mu.Unlock()
	if ext, _, done := f.event(early); done || ext != "relais-"+j.Record.ID {
		t.Errorf("CREATE_FAILED during the rollback: got done %v (external id %q), want not done", done, ext)
	}
	_, end, done := f.event(f.cfn.finish("web-app", "ROLLBACK_COMPLETE", "The following resource(s) failed to create: [Bucket]."))
	if !done || end.Status != core.ActionFailed ||
		!strings.Contains(end.Error.Message, "Stack web-app ended ROLLBACK_COMPLETE") ||
		!strings.Contains(end.Error.Message, "first failure: [Bucket] CREATE_FAILED: Bucket name not available") {
		t.Errorf("got done %v, %+v", done, end.Error)
	}
}

func TestCreateUpdateOnFailedStack(t *testing.T) {
	f := newFixture(t)
	f.cfn.put("web-app", "ROLLBACK_COMPLETE", appDeployment("test"), "Console-CreateStack-1")
	res := f.run(f.job(stackCfg(ModeCreateUpdate, "ParameterOverrides", `{"Env": "prod"}`), source()))
	if res.Status != core.ActionFailed || res.Error.Code != "JobFailed" ||
		!strings.Contains(res.Error.Message, "is in ROLLBACK_COMPLETE state and can not be updated") {
		t.Errorf("got %s %+v, want Failed with CloudFormation's refusal", res.Status, res.Error)
	}
	if got := f.writes(); len(got) != 1 || got[0] != "UpdateStack" {
		t.Errorf("got writes %v, want only the refused UpdateStack (no delete)", got)
	}
}

func TestDeleteOnly(t *testing.T) {
	f := newFixture(t)
	// Absent: success at once, nothing written.
	res := f.run(f.job(stackCfg(ModeDeleteOnly, "TemplatePath", ""), nil))
	if res.Status != core.ActionSucceeded || res.Summary != "Stack web-app does not exist: nothing to delete" {
		t.Errorf("got %s %q, want Succeeded, nothing to delete", res.Status, res.Summary)
	}
	if w := f.writes(); len(w) != 0 {
		t.Errorf("got writes %v, want none", w)
	}

	f.cfn.put("web-app", "UPDATE_COMPLETE", appDeployment("test"), "Console-UpdateStack-1")
	j := f.job(stackCfg(ModeDeleteOnly, "TemplatePath", ""), nil)
	res = f.run(j)
	if res.Status != core.ActionInProgress || res.Summary != "Deleting stack web-app" {
		t.Fatalf("got %s %q, want InProgress deleting", res.Status, res.Summary)
	}
	del := f.cfn.last("DeleteStack")
	if diff := cmp.Diff(map[string]string{"StackName": "web-app", "RoleARN": "arn:aws:iam::123456789012:role/cfn",
		"ClientRequestToken": "relais-" + j.Record.ID + "-d"}, form(del, "StackName", "RoleARN", "ClientRequestToken")); diff != "" {
		t.Errorf("DeleteStack request (-want +got):\n%s", diff)
	}
	// Status changes on the way do not end the action.
	f.cfn.mu.Lock()
	mid := f.cfn.event(f.cfn.stacks["web-app"], "DELETE_IN_PROGRESS", "User Initiated")
	f.cfn.mu.Unlock()
	if _, _, done := f.event(mid); done {
		t.Error("DELETE_IN_PROGRESS ended the action")
	}
	_, end, done := f.event(f.cfn.finish("web-app", "DELETE_COMPLETE", ""))
	if !done || end.Status != core.ActionSucceeded || end.Summary != "Stack web-app deleted" {
		t.Errorf("got done %v, %s %q, want Succeeded deleted", done, end.Status, end.Summary)
	}
}

func TestDeleteFails(t *testing.T) {
	f := newFixture(t)
	f.cfn.put("web-app", "CREATE_COMPLETE", appDeployment("test"), "Console-CreateStack-1")
	f.run(f.job(stackCfg(ModeDeleteOnly), nil))
	_, end, done := f.event(f.cfn.finish("web-app", "DELETE_FAILED", "The following resource(s) failed to delete: [Bucket].",
		resourceFailure{"Bucket", "DELETE_FAILED", "The bucket you tried to delete is not empty"}))
	if !done || end.Status != core.ActionFailed || end.Error.Message !=
		"Stack web-app ended DELETE_FAILED: The following resource(s) failed to delete: [Bucket].; first failure: [Bucket] DELETE_FAILED: The bucket you tried to delete is not empty" {
		t.Errorf("got done %v, %+v", done, end.Error)
	}
}

func TestReplaceOnFailure(t *testing.T) {
	f := newFixture(t)
	f.cfn.put("web-app", "ROLLBACK_COMPLETE", appDeployment("test"), "Console-CreateStack-1")
	j := f.job(stackCfg(ModeReplaceOnFailure, "ParameterOverrides", `{"Env": "prod"}`, "OutputFileName", "out.json"), source(), "StackOutput")
	stem := "relais-" + j.Record.ID
	res := f.run(j)
	if res.Status != core.ActionInProgress || res.ExternalID != stem ||
		res.Summary != "Stack web-app is ROLLBACK_COMPLETE: deleting it to create it again" {
		t.Fatalf("got %+v, want InProgress deleting the failed stack", res)
	}
	if got := f.cfn.last("DeleteStack").Get("ClientRequestToken"); got != stem+"-r" {
		t.Errorf("DeleteStack token %q, want %q", got, stem+"-r")
	}
	// Deleted: StackEvent creates the stack again and the action goes on.
	ext, _, done := f.event(f.cfn.finish("web-app", "DELETE_COMPLETE", ""))
	if done || ext != stem {
		t.Fatalf("DELETE_COMPLETE: got done %v, external id %q; want the action going on", done, ext)
	}
	cr := f.cfn.last("CreateStack")
	if cr.Get("ClientRequestToken") != stem+"-c" || cr.Get("Parameters.member.1.ParameterValue") != "prod" {
		t.Errorf("CreateStack after the delete: %v", form(cr, "ClientRequestToken", "Parameters.member.1.ParameterValue"))
	}
	if got := f.cfn.status("web-app"); got != "CREATE_IN_PROGRESS" {
		t.Errorf("stack is %s, want CREATE_IN_PROGRESS", got)
	}
	// The same event again creates nothing more.
	f.cfn.mu.Lock()
	var old *fakeStack
	for _, s := range f.cfn.byID {
		if s.status == "DELETE_COMPLETE" {
			old = s
		}
	}
	again := f.cfn.event(old, "DELETE_COMPLETE", "")
	f.cfn.mu.Unlock()
	if _, _, done := f.event(again); done {
		t.Error("a repeated DELETE_COMPLETE ended the action")
	}
	if n := strings.Count(strings.Join(f.writes(), " "), "CreateStack"); n != 1 {
		t.Errorf("got %d CreateStack, want 1: %v", n, f.writes())
	}
	_, end, done := f.event(f.cfn.finish("web-app", "CREATE_COMPLETE", ""))
	if !done || end.Status != core.ActionSucceeded || end.Summary != "Stack web-app created" || end.OutputVariables["EnvOut"] != "prod" {
		t.Errorf("got done %v, %+v", done, end)
	}
	if files := f.artifactFiles(end.OutputArtifacts[0]); !strings.Contains(files["out.json"], `"EnvOut":"prod"`) {
		t.Errorf("out.json: %q", files["out.json"])
	}
}

// A stack made again by someone else between the deletion and its event is not
// replaced a second time.
func TestReplaceOnFailureRecreatedMeanwhile(t *testing.T) {
	f := newFixture(t)
	f.cfn.put("web-app", "ROLLBACK_COMPLETE", appDeployment("test"), "Console-CreateStack-1")
	f.run(f.job(stackCfg(ModeReplaceOnFailure, "ParameterOverrides", `{"Env": "prod"}`), source()))
	ev := f.cfn.finish("web-app", "DELETE_COMPLETE", "")
	f.cfn.put("web-app", "ROLLBACK_COMPLETE", appDeployment("other"), "Console-CreateStack-2")
	n := len(f.writes())
	_, end, done := f.event(ev)
	if !done || end.Status != core.ActionFailed ||
		!strings.Contains(end.Error.Message, "another operation has made it again (ROLLBACK_COMPLETE): Relais does not replace it twice") {
		t.Errorf("got done %v, %s %+v", done, end.Status, end.Error)
	}
	if len(f.writes()) != n {
		t.Errorf("got writes %v, want none after the delete", f.writes()[n:])
	}
}

func TestReplaceOnFailureHealthyOrAbsent(t *testing.T) {
	f := newFixture(t)
	res := f.run(f.job(stackCfg(ModeReplaceOnFailure, "ParameterOverrides", `{"Env": "a"}`), source()))
	if res.Summary != "Creating stack web-app" {
		t.Errorf("absent stack: got %q, want it created", res.Summary)
	}
	f.event(f.cfn.finish("web-app", "CREATE_COMPLETE", ""))
	res = f.run(f.job(stackCfg(ModeReplaceOnFailure, "ParameterOverrides", `{"Env": "b"}`), source()))
	if res.Summary != "Updating stack web-app" {
		t.Errorf("healthy stack: got %q, want it updated", res.Summary)
	}
	if w := f.writes(); strings.Contains(strings.Join(w, " "), "DeleteStack") {
		t.Errorf("got writes %v, want no delete", w)
	}
}

func TestReplaceOnFailureRefusesBeforeDeleting(t *testing.T) {
	f := newFixture(t)
	f.cfn.put("web-app", "ROLLBACK_COMPLETE", appDeployment("test"), "Console-CreateStack-1")
	res := f.run(f.job(stackCfg(ModeReplaceOnFailure, "TemplatePath", "Source::missing.json"), source()))
	if res.Status != core.ActionFailed || res.Error.Code != "ConfigurationError" {
		t.Errorf("got %s %+v, want a ConfigurationError", res.Status, res.Error)
	}
	if w := f.writes(); len(w) != 0 {
		t.Errorf("got writes %v, want the failed stack left alone", w)
	}
}

func TestChangeSetReplaceAndExecute(t *testing.T) {
	f := newFixture(t)
	f.cfn.polls = 3
	cfg := stackCfg(ModeChangeSetReplace, "ChangeSetName", "release", "ParameterOverrides", `{"Env": "prod"}`)
	j := f.job(cfg, source())
	res := f.run(j)
	if res.Status != core.ActionSucceeded || res.Summary != "Change set release of stack web-app created: 1 changes" {
		t.Fatalf("got %s %q %+v, want Succeeded, created", res.Status, res.Summary, res.Error)
	}
	if !strings.Contains(res.ExternalURL, "#/stacks/changesets/changes?stackId=") {
		t.Errorf("got link %q, want the change set's page", res.ExternalURL)
	}
	if diff := cmp.Diff([]time.Duration{time.Second, 2 * time.Second, 4 * time.Second}, f.sleeps); diff != "" {
		t.Errorf("waits between polls (-want +got):\n%s", diff)
	}
	cs := f.cfn.last("CreateChangeSet")
	if diff := cmp.Diff(map[string]string{"StackName": "web-app", "ChangeSetName": "release", "ChangeSetType": "CREATE",
		"ClientToken": "relais-" + j.Record.ID, "RoleARN": "arn:aws:iam::123456789012:role/cfn",
		"Description": "Created by Relais for action execution " + j.Record.ID, "TemplateBody": appTemplate},
		form(cs, "StackName", "ChangeSetName", "ChangeSetType", "ClientToken", "RoleARN", "Description", "TemplateBody", "TemplateURL")); diff != "" {
		t.Errorf("CreateChangeSet request (-want +got):\n%s", diff)
	}

	// Execute it: the stack is created, the event ends the action.
	x := f.job(stackCfg(ModeChangeSetExecute, "ChangeSetName", "release", "TemplatePath", "", "RoleArn", ""), nil)
	res = f.run(x)
	if res.Status != core.ActionInProgress || res.Summary != "Executing change set release on stack web-app" {
		t.Fatalf("got %s %q %+v", res.Status, res.Summary, res.Error)
	}
	ex := f.cfn.last("ExecuteChangeSet")
	if diff := cmp.Diff(map[string]string{"StackName": "web-app", "ChangeSetName": "release", "ClientRequestToken": "relais-" + x.Record.ID + "-x"},
		form(ex, "StackName", "ChangeSetName", "ClientRequestToken", "RoleARN")); diff != "" {
		t.Errorf("ExecuteChangeSet request (-want +got):\n%s", diff)
	}
	_, end, done := f.event(f.cfn.finish("web-app", "CREATE_COMPLETE", ""))
	if !done || end.Status != core.ActionSucceeded || end.Summary != "Change set release executed on stack web-app" || end.OutputVariables["EnvOut"] != "prod" {
		t.Errorf("got done %v, %+v", done, end)
	}

	// Replacing it on the existing stack: the old change set is deleted first; an
	// unchanged template makes a change set without changes, which is a success.
	f.cfn.mu.Lock()
	f.cfn.stacks["web-app"].changeSets["release"] = &fakeChangeSet{id: "arn:old", name: "release", status: "CREATE_COMPLETE", exec: "AVAILABLE", kind: "UPDATE"}
	f.cfn.mu.Unlock()
	res = f.run(f.job(cfg, source()))
	if res.Status != core.ActionSucceeded || !strings.HasPrefix(res.Summary, "Change set release of stack web-app has no changes: The submitted information didn't contain changes") {
		t.Errorf("got %s %q %+v", res.Status, res.Summary, res.Error)
	}
	if res.OutputVariables["EnvOut"] != "prod" {
		t.Errorf("got variables %v, want the stack's outputs", res.OutputVariables)
	}
	if got := f.cfn.last("DeleteChangeSet").Get("ChangeSetName"); got != "release" {
		t.Errorf("deleted change set %q, want release", got)
	}
	if got := f.cfn.last("CreateChangeSet").Get("ChangeSetType"); got != "UPDATE" {
		t.Errorf("change set type %q, want UPDATE", got)
	}

	// Executing a change set without changes has nothing to do.
	res = f.run(f.job(stackCfg(ModeChangeSetExecute, "ChangeSetName", "release", "TemplatePath", ""), nil))
	if res.Status != core.ActionSucceeded || res.Summary != "Change set release of stack web-app has no changes: nothing to execute" {
		t.Errorf("got %s %q %+v", res.Status, res.Summary, res.Error)
	}
}

func TestChangeSetWaitIsBounded(t *testing.T) {
	f := newFixture(t)
	f.cfn.polls = 1000
	f.dep.d.ChangeSetWait = 20 * time.Second
	res := f.run(f.job(stackCfg(ModeChangeSetReplace, "ChangeSetName", "release", "ParameterOverrides", `{"Env": "prod"}`), source()))
	if res.Status != core.ActionFailed || !strings.Contains(res.Error.Message, "change set release of stack web-app is still CREATE_PENDING after 15s") {
		t.Errorf("got %s %+v", res.Status, res.Error)
	}
	var total time.Duration
	for _, d := range f.sleeps {
		total += d
	}
	if total > 20*time.Second {
		t.Errorf("waited %s in all, want at most 20s", total)
	}
}

func TestChangeSetExecuteRefusals(t *testing.T) {
	f := newFixture(t)
	res := f.run(f.job(stackCfg(ModeChangeSetExecute, "ChangeSetName", "release"), nil))
	if res.Status != core.ActionFailed || !strings.Contains(res.Error.Message, "stack web-app does not exist") {
		t.Errorf("no stack: got %+v", res.Error)
	}
	f.cfn.put("web-app", "CREATE_COMPLETE", appDeployment("test"), "Console-CreateStack-1")
	res = f.run(f.job(stackCfg(ModeChangeSetExecute, "ChangeSetName", "release"), nil))
	if res.Status != core.ActionFailed || !strings.Contains(res.Error.Message, "stack web-app has no such change set") {
		t.Errorf("no change set: got %+v", res.Error)
	}
	f.cfn.mu.Lock()
	f.cfn.stacks["web-app"].changeSets["release"] = &fakeChangeSet{id: "arn:cs", name: "release", status: "CREATE_IN_PROGRESS", exec: "UNAVAILABLE", polls: 100}
	f.cfn.mu.Unlock()
	res = f.run(f.job(stackCfg(ModeChangeSetExecute, "ChangeSetName", "release"), nil))
	if res.Status != core.ActionFailed || !strings.Contains(res.Error.Message, "cannot be executed: it is CREATE_IN_PROGRESS, execution UNAVAILABLE") {
		t.Errorf("change set not ready: got %+v", res.Error)
	}
	if w := f.writes(); len(w) != 0 {
		t.Errorf("got writes %v, want none", w)
	}
}

// A Run repeated for the same action execution (a Lambda retry, a crash before the
// action was recorded) starts nothing new.
func TestRunAgainStartsNothing(t *testing.T) {
	f := newFixture(t)
	j := f.job(stackCfg(ModeCreateUpdate, "ParameterOverrides", `{"Env": "prod"}`), source())
	first := f.run(j)
	again := f.run(j)
	if diff := cmp.Diff(first.ExternalID, again.ExternalID); diff != "" || again.Status != core.ActionInProgress {
		t.Errorf("again: got %s %q, want InProgress with external id %q", again.Status, again.ExternalID, first.ExternalID)
	}
	if got := f.writes(); len(got) != 1 {
		t.Errorf("got writes %v, want one CreateStack", got)
	}
	// Ended before the repeated Run: the Run reports the end.
	f.cfn.finish("web-app", "CREATE_COMPLETE", "")
	end := f.run(j)
	if end.Status != core.ActionSucceeded || end.OutputVariables["EnvOut"] != "prod" {
		t.Errorf("after the end: got %s %+v", end.Status, end)
	}

	// An update, likewise.
	u := f.job(stackCfg(ModeCreateUpdate, "ParameterOverrides", `{"Env": "next"}`), source())
	f.run(u)
	f.run(u)
	if n := strings.Count(strings.Join(f.writes(), " "), "UpdateStack"); n != 1 {
		t.Errorf("got %d UpdateStack, want 1", n)
	}
	f.cfn.finish("web-app", "UPDATE_ROLLBACK_COMPLETE", "boom")
	if res := f.run(u); res.Status != core.ActionFailed || !strings.Contains(res.Error.Message, "ended UPDATE_ROLLBACK_COMPLETE: boom") {
		t.Errorf("after a failed end: got %s %+v", res.Status, res.Error)
	}
}

func TestBusyStack(t *testing.T) {
	f := newFixture(t)
	s := f.cfn.put("web-app", "UPDATE_IN_PROGRESS", appDeployment("test"), "Console-UpdateStack-9")
	_ = s
	for _, mode := range []string{ModeCreateUpdate, ModeDeleteOnly, ModeReplaceOnFailure} {
		res := f.run(f.job(stackCfg(mode, "ParameterOverrides", `{"Env": "x"}`), source()))
		if res.Status != core.ActionFailed || !strings.Contains(res.Error.Message, "stack web-app is UPDATE_IN_PROGRESS: another operation is running on it") {
			t.Errorf("%s: got %s %+v", mode, res.Status, res.Error)
		}
	}
	if w := f.writes(); len(w) != 0 {
		t.Errorf("got writes %v, want none", w)
	}
}

func TestLargeTemplateGoesByURL(t *testing.T) {
	f := newFixture(t)
	big := strings.Replace(appTemplate, `"Resources"`, `"Description": "`+strings.Repeat("x", 60000)+`", "Resources"`, 1)
	j := f.job(stackCfg(ModeCreateUpdate, "ParameterOverrides", `{"Env": "prod"}`), files{"Source": {"infra/app.json": big}})
	res := f.run(j)
	if res.Status != core.ActionInProgress {
		t.Fatalf("got %s %+v", res.Status, res.Error)
	}
	cr := f.cfn.last("CreateStack")
	key := "web/exec-1/cloudformation/relais-" + j.Record.ID + "/app.json"
	if cr.Has("TemplateBody") || cr.Get("TemplateURL") != "https://s3.eu-west-1.amazonaws.com/"+bucket+"/"+key {
		t.Errorf("got TemplateURL %q (body %v), want the uploaded template", cr.Get("TemplateURL"), cr.Has("TemplateBody"))
	}
	f.cfn.mu.Lock()
	got := f.cfn.stacks["web-app"].pending.template
	f.cfn.mu.Unlock()
	if got != big {
		t.Errorf("CloudFormation read %d bytes from the URL, want the %d of the template", len(got), len(big))
	}

	// Without a bucket to pass it through, the action says why it cannot.
	f.dep.d.Bucket = ""
	res = f.run(f.job(stackCfg(ModeCreateUpdate, "StackName", "other"), files{"Source": {"infra/app.json": big}}))
	if res.Status != core.ActionFailed || !strings.Contains(res.Error.Message, "over CloudFormation's 51200-byte limit") {
		t.Errorf("got %s %+v", res.Status, res.Error)
	}
}

func TestCloudFormationRefusals(t *testing.T) {
	iam := strings.Replace(appTemplate, `"AWS::S3::Bucket"`, `"AWS::IAM::Role"`, 1)
	tests := []struct {
		name string
		cfg  map[string]string
		ins  files
		want string
	}{
		{"capabilities", stackCfg(ModeCreateUpdate, "ParameterOverrides", `{"Env": "x"}`), files{"Source": {"infra/app.json": iam}},
			"InsufficientCapabilitiesException: Requires capabilities : [CAPABILITY_IAM]"},
		{"unknown parameter", stackCfg(ModeCreateUpdate, "ParameterOverrides", `{"Env": "x", "Nope": "y"}`), source(),
			"Parameters: [Nope] do not exist in the template"},
		{"missing parameter", stackCfg(ModeCreateUpdate), source(), "Parameters: [Env] must have values"},
		{"bad template", stackCfg(ModeCreateUpdate), files{"Source": {"infra/app.json": "{"}}, "Template format error"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			res := f.run(f.job(tt.cfg, tt.ins))
			if res.Status != core.ActionFailed || res.Error.Code != "JobFailed" || !strings.Contains(res.Error.Message, tt.want) {
				t.Errorf("got %s %+v, want JobFailed with %q", res.Status, res.Error, tt.want)
			}
		})
	}
}

// Every configuration or input problem fails the action with ConfigurationError and a
// message that says what is wrong where, before CloudFormation is asked to change
// anything.
func TestConfigurationProblems(t *testing.T) {
	big := strings.Repeat(" ", maxTemplateSize+1)
	tests := []struct {
		name string
		cfg  map[string]string
		ins  files
		outs []string
		want string
	}{
		{"no stack name", stackCfg(ModeCreateUpdate, "StackName", ""), source(), nil, "configuration StackName is required"},
		{"another region", stackCfg(ModeCreateUpdate), source(), nil, "the action's region is us-east-1: Relais deploys stacks in its own region, eu-west-1, only"},
		{"unknown mode", stackCfg("CREATE"), source(), nil, `configuration ActionMode "CREATE" is not one of`},
		{"no template path", stackCfg(ModeCreateUpdate, "TemplatePath", ""), source(), nil, "TemplatePath is required when ActionMode is REPLACE_ON_FAILURE"},
		{"template path without artifact", stackCfg(ModeCreateUpdate, "TemplatePath", "app.json"), source(), nil,
			`configuration TemplatePath must be ArtifactName::path, not "app.json"`},
		{"template in unknown artifact", stackCfg(ModeCreateUpdate, "TemplatePath", "Build::app.json"), source(), nil,
			`TemplatePath names artifact "Build", which is not an input artifact of the action (inputs: Source)`},
		{"template missing", stackCfg(ModeCreateUpdate, "TemplatePath", "Source::app.json"), source(), nil,
			"TemplatePath: file app.json is not in artifact Source (it holds infra/app.json)"},
		{"template too large", stackCfg(ModeCreateUpdate), files{"Source": {"infra/app.json": big}}, nil,
			"TemplatePath: file infra/app.json in artifact Source is larger than 1048576 bytes"},
		{"artifact not a zip", stackCfg(ModeCreateUpdate), files{"Source": nil}, nil, "input artifact Source is not a zip file"},
		{"config missing", stackCfg(ModeCreateUpdate, "TemplateConfiguration", "Source::prod.json"), source(), nil,
			"TemplateConfiguration: file prod.json is not in artifact Source"},
		{"config not JSON", stackCfg(ModeCreateUpdate, "TemplateConfiguration", "Source::prod.json"),
			files{"Source": {"infra/app.json": appTemplate, "prod.json": `{"Parameters": {`}}, nil,
			"configuration TemplateConfiguration Source::prod.json: the file is not a JSON object: unexpected EOF"},
		{"config parameter not a string", stackCfg(ModeCreateUpdate, "TemplateConfiguration", "Source::prod.json"),
			files{"Source": {"infra/app.json": appTemplate, "prod.json": `{"Parameters": {"Env": ["a"]}}`}}, nil,
			"configuration TemplateConfiguration Source::prod.json: Parameters.Env: value is an array, want a string"},
		{"config unknown key", stackCfg(ModeCreateUpdate, "TemplateConfiguration", "Source::prod.json"),
			files{"Source": {"infra/app.json": appTemplate, "prod.json": `{"Parameter": {}}`}}, nil,
			"unknown key Parameter: a template configuration holds Parameters, Tags and StackPolicy"},
		{"config policy not an object", stackCfg(ModeCreateUpdate, "TemplateConfiguration", "Source::prod.json"),
			files{"Source": {"infra/app.json": appTemplate, "prod.json": `{"StackPolicy": "allow"}`}}, nil,
			"StackPolicy is a string, want an object"},
		{"overrides not JSON", stackCfg(ModeCreateUpdate, "ParameterOverrides", `Env=prod`), source(), nil,
			"configuration ParameterOverrides: ParameterOverrides is not a JSON object"},
		{"overrides an array", stackCfg(ModeCreateUpdate, "ParameterOverrides", `["Env"]`), source(), nil,
			"configuration ParameterOverrides: ParameterOverrides is an array, want a JSON object"},
		{"override null", stackCfg(ModeCreateUpdate, "ParameterOverrides", `{"Env": null}`), source(), nil,
			"configuration ParameterOverrides: Env: value is null, want a string"},
		{"unknown function", stackCfg(ModeCreateUpdate, "ParameterOverrides", `{"Env": {"Fn::ImportValue": ["x"]}}`), source(), nil,
			"Env: unknown function Fn::ImportValue"},
		{"GetParam unknown artifact", stackCfg(ModeCreateUpdate, "ParameterOverrides", `{"Env": {"Fn::GetParam": ["Out", "o.json", "k"]}}`), source(), nil,
			`configuration ParameterOverrides Env: Fn::GetParam names artifact "Out", which is not an input artifact of the action (inputs: Source)`},
		{"GetParam file missing", stackCfg(ModeCreateUpdate, "ParameterOverrides", `{"Env": {"Fn::GetParam": ["Source", "o.json", "k"]}}`), source(), nil,
			"configuration ParameterOverrides Env: Fn::GetParam: file o.json is not in artifact Source"},
		{"GetParam key missing", stackCfg(ModeCreateUpdate, "ParameterOverrides", `{"Env": {"Fn::GetParam": ["Source", "o.json", "k"]}}`),
			files{"Source": {"infra/app.json": appTemplate, "o.json": `{"K": "v"}`}}, nil,
			`configuration ParameterOverrides Env: Fn::GetParam: file o.json in artifact Source: it has no key "k"`},
		{"GetParam wrong arity", stackCfg(ModeCreateUpdate, "ParameterOverrides", `{"Env": {"Fn::GetParam": ["Source", "o.json"]}}`), source(), nil,
			`Env: Fn::GetParam takes ["ArtifactName", "file.json", "key"]`},
		{"GetArtifactAtt bad attribute", stackCfg(ModeCreateUpdate, "ParameterOverrides", `{"Env": {"Fn::GetArtifactAtt": ["Source", "Arn"]}}`), source(), nil,
			`Env: Fn::GetArtifactAtt attribute "Arn" is not BucketName, ObjectKey or URL`},
		{"GetArtifactAtt unknown artifact", stackCfg(ModeCreateUpdate, "ParameterOverrides", `{"Env": {"Fn::GetArtifactAtt": ["Out", "URL"]}}`), source(), nil,
			`Fn::GetArtifactAtt names artifact "Out", which is not an input artifact`},
		{"bad capability", stackCfg(ModeCreateUpdate, "Capabilities", "CAPABILITY_IAM,CAPABILITY_ALL"), source(), nil,
			`configuration Capabilities: "CAPABILITY_ALL" is not one of`},
		{"output file without artifact", stackCfg(ModeCreateUpdate, "OutputFileName", "out.json"), source(), nil,
			"configuration OutputFileName out.json: the action declares no output artifact to write it to"},
		{"output file outside", stackCfg(ModeCreateUpdate, "OutputFileName", "../out.json"), source(), []string{"Out"},
			`configuration OutputFileName "../out.json" is not a file name`},
		{"no change set name", stackCfg(ModeChangeSetReplace), source(), nil, "ChangeSetName is required when ActionMode is CHANGE_SET_REPLACE"},
		{"no change set name to execute", stackCfg(ModeChangeSetExecute), nil, nil, "ChangeSetName is required when ActionMode is CHANGE_SET_EXECUTE"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			f.cfn.put("web-app", "ROLLBACK_COMPLETE", appDeployment("test"), "Console-CreateStack-1")
			cfg := tt.cfg
			if cfg["ActionMode"] == ModeCreateUpdate {
				// On a failed stack, so that a problem found late would show as a delete.
				cfg["ActionMode"] = ModeReplaceOnFailure
			}
			j := f.job(cfg, tt.ins, tt.outs...)
			if tt.name == "another region" {
				j.Record.Region = "us-east-1"
			}
			res := f.run(j)
			if res.Status != core.ActionFailed || res.Error == nil || res.Error.Code != "ConfigurationError" || !strings.Contains(res.Error.Message, tt.want) {
				t.Errorf("got %s %+v,\nwant ConfigurationError with %q", res.Status, res.Error, tt.want)
			}
			if w := f.writes(); len(w) != 0 {
				t.Errorf("got writes %v, want none", w)
			}
		})
	}
}
