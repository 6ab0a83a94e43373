package cfnaction

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/relais-ci/relais/shared/action"
	"github.com/relais-ci/relais/shared/core"
	"github.com/relais-ci/relais/shared/core/coretest"
	"github.com/relais-ci/relais/shared/local/sqlitestore"
)

const flowDeclaration = `{"pipeline": {"name": "web", "roleArn": "arn:aws:iam::123456789012:role/relais", "version": 1,
 "artifactStore": {"type": "S3", "location": "relais-artifacts"},
 "stages": [
  {"name": "Source", "actions": [{"name": "Source",
    "actionTypeId": {"category": "Source", "owner": "AWS", "provider": "S3", "version": "1"},
    "configuration": {"S3Bucket": "src", "S3ObjectKey": "src.zip"},
    "outputArtifacts": [{"name": "Source"}]}]},
  {"name": "Deploy", "actions": [{"name": "Stack", "namespace": "StackVariables",
    "actionTypeId": {"category": "Deploy", "owner": "AWS", "provider": "CloudFormation", "version": "1"},
    "configuration": {"ActionMode": "CREATE_UPDATE", "StackName": "web-#{codepipeline.PipelineExecutionId}",
      "RoleArn": "arn:aws:iam::123456789012:role/cfn", "TemplatePath": "Source::infra/app.json",
      "ParameterOverrides": "{\"Env\": \"prod\"}", "OutputFileName": "outputs.json"},
    "inputArtifacts": [{"name": "Source"}], "outputArtifacts": [{"name": "StackOutput"}]}]}
 ]}}`

// TestFlowThroughActionService runs the action through the action service over a real
// action store: Run's external id is recorded, and the stack's event, read by
// StackEvent, completes the action by it and answers the machine's token.
func TestFlowThroughActionService(t *testing.T) {
	ctx := t.Context()
	f := newFixture(t)
	store, err := sqlitestore.Open(ctx, filepath.Join(t.TempDir(), "relais.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	f.dep.d.Actions, f.dep.d.Pipelines = store, store
	engine := make(coretest.Answers, 1)
	svc := action.New(action.Deps{Pipelines: store, Executions: store, Stages: store, Actions: store, Engine: engine,
		Providers: map[string]action.Provider{Provider: f.dep}, Logger: slog.New(slog.DiscardHandler)})

	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	_, err = store.PutPipeline(ctx, core.Pipeline{Name: "web", Declaration: json.RawMessage(flowDeclaration)})
	must(err)
	now := time.Now().UTC()
	_, err = store.CreateExecution(ctx, core.Execution{PipelineName: "web", ID: "e1", Status: core.ExecutionInProgress,
		Mode: core.ModeSuperseded, StartTime: now, LastUpdateTime: now})
	must(err)
	for _, st := range []string{"Source", "Deploy"} {
		must(store.PutStage(ctx, core.StageExecution{PipelineName: "web", ExecutionID: "e1", StageName: st,
			Status: core.StageInProgress, Attempt: 1, StartTime: now, LastUpdateTime: now}))
	}
	src, err := f.store.PutArtifact(ctx, "web", "e1", "Source", bytes.NewReader(zipOf(t, map[string]string{"infra/app.json": appTemplate})))
	must(err)
	must(store.PutAction(ctx, core.ActionExecution{ID: core.NewID(), PipelineName: "web", ExecutionID: "e1", StageName: "Source",
		ActionName: "Source", Attempt: 1, Status: core.ActionSucceeded, StartTime: now, LastUpdateTime: now,
		OutputArtifacts: []core.Artifact{{Name: "Source", Location: src}}}))

	must(svc.Handle(ctx, core.ActionTask{Pipeline: "web", ExecutionID: "e1", Stage: "Deploy", Action: "Stack", Token: "tok"}))
	select {
	case got := <-engine:
		t.Fatalf("the token was answered while the stack is being created: %s", got)
	default:
	}
	recs, _, err := store.ListActions(ctx, core.ActionFilter{PipelineName: "web", ActionName: "Stack"}, core.Page{})
	must(err)
	if len(recs) != 1 || recs[0].Status != core.ActionInProgress || recs[0].ExternalExecutionID != ExternalID(recs[0].ID) {
		t.Fatalf("got %+v, want the action InProgress under its external id", recs)
	}
	if got := f.cfn.last("CreateStack").Get("StackName"); got != "web-e1" {
		t.Errorf("created stack %q, want web-e1 (variables resolved)", got)
	}

	ext, res, done, err := f.dep.StackEvent(ctx, f.cfn.finish("web-e1", "CREATE_COMPLETE", ""))
	must(err)
	if !done {
		t.Fatal("CREATE_COMPLETE did not end the action")
	}
	must(svc.CompleteExternal(ctx, ext, res))
	if got := <-engine; got != "tok success" {
		t.Errorf("engine got %q, want tok success", got)
	}
	got, err := store.GetAction(ctx, "web", recs[0].ID)
	must(err)
	if got.Status != core.ActionSucceeded || got.Summary != "Stack web-e1 created" {
		t.Errorf("got %s %q", got.Status, got.Summary)
	}
	if diff := cmp.Diff(map[string]string{"EnvOut": "prod", "SizeOut": "small", "CodeKeyOut": "-", "Fixed": "42"}, got.OutputVariables); diff != "" {
		t.Errorf("output variables (-want +got):\n%s", diff)
	}
	if len(got.OutputArtifacts) != 1 || got.OutputArtifacts[0].Name != "StackOutput" {
		t.Fatalf("got output artifacts %+v", got.OutputArtifacts)
	}
	if files := f.artifactFiles(got.OutputArtifacts[0]); files["outputs.json"] != `{"CodeKeyOut":"-","EnvOut":"prod","Fixed":"42","SizeOut":"small"}` {
		t.Errorf("outputs.json: %q", files["outputs.json"])
	}
}
