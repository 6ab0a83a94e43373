package sfnengine

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"os"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	"github.com/google/go-cmp/cmp"

	"github.com/relais-ci/relais/shared/asl"
	"github.com/relais-ci/relais/shared/asl/sfnapi"
	"github.com/relais-ci/relais/shared/core"
	"github.com/relais-ci/relais/shared/core/coretest"
	"github.com/relais-ci/relais/shared/local/aslengine"
	"github.com/relais-ci/relais/shared/pipeline"
	"github.com/relais-ci/relais/statemachines"
)

// The façade's engine makes ARNs in us-east-1 and account 123456789012 by default.
var testConfig = Config{
	Region: "us-east-1", Account: "123456789012",
	RoleARN:           "arn:aws:iam::123456789012:role/relais-machines",
	GateFunctionARN:   "arn:aws:lambda:us-east-1:123456789012:function:relais-gate",
	ActionFunctionARN: "arn:aws:lambda:us-east-1:123456789012:function:relais-action",
}

// facade returns an interpreter served behind the Step Functions API (shared/asl/sfnapi)
// and a real SDK client of it: the stand-in for Step Functions.
func facade(t *testing.T) (*asl.Engine, *sfn.Client) {
	t.Helper()
	eng := asl.New(asl.Options{})
	t.Cleanup(eng.Close)
	srv := httptest.NewServer(sfnapi.New(eng))
	t.Cleanup(srv.Close)
	return eng, sfn.New(sfn.Options{
		Region:           "us-east-1",
		BaseEndpoint:     aws.String(srv.URL),
		Credentials:      credentials.NewStaticCredentialsProvider("AKIDEXAMPLE", "secret", ""),
		RetryMaxAttempts: 1,
	})
}

// serve registers tasks as the Lambda functions named by the config's ARNs, answering as
// the Lambda Go runtime does: an error is named after its type.
func serve(eng *asl.Engine, cfg Config, tasks coretest.EngineTasks) {
	eng.Tasks().HandleLambda(cfg.GateFunctionARN, func(ctx context.Context, payload any) (any, error) {
		var g core.GateTask
		if err := decode(payload, &g); err != nil {
			return nil, err
		}
		return map[string]any{}, named(tasks.Gate(ctx, g))
	})
	eng.Tasks().HandleLambda(cfg.ActionFunctionARN, func(ctx context.Context, payload any) (any, error) {
		var a core.ActionTask
		if err := decode(payload, &a); err != nil {
			return nil, err
		}
		return map[string]any{}, named(tasks.Action(ctx, a))
	})
}

func decode(payload any, v any) error {
	b, err := json.Marshal(payload)
	if err == nil {
		err = json.Unmarshal(b, v)
	}
	if err != nil {
		return asl.NewError("States.Runtime", "decode task payload: %v", err)
	}
	return nil
}

func named(err error) error {
	if name := core.ErrorName(err); name != "" {
		return asl.NewError(name, "%s", err.Error())
	}
	return err
}

func newEngine(t *testing.T, client Client) *Engine {
	t.Helper()
	e, err := New(client, testConfig)
	if err != nil {
		t.Fatalf("new engine: %v", err)
	}
	return e
}

func TestEngine(t *testing.T) {
	coretest.Engine(t, func(t *testing.T, tasks coretest.EngineTasks) core.Engine {
		eng, client := facade(t)
		serve(eng, testConfig, tasks)
		return newEngine(t, client)
	})
}

// TestLocalEngine runs the same contract against the local engine, so that both
// adapters of core.Engine are held to one suite.
func TestLocalEngine(t *testing.T) {
	coretest.Engine(t, func(t *testing.T, tasks coretest.EngineTasks) core.Engine {
		eng := asl.New(asl.Options{})
		t.Cleanup(eng.Close)
		local := aslengine.New(eng)
		local.Serve(aslengine.Handlers{Gate: tasks.Gate, Action: tasks.Action})
		return local
	})
}

// TestCompiledPipeline runs the compiled machine of pipelines/hello.json end to end:
// SDK → Step Functions API façade → interpreter → gate and action functions.
func TestCompiledPipeline(t *testing.T) {
	ctx := t.Context()
	data, err := os.ReadFile("../../../pipelines/hello.json")
	if err != nil {
		t.Fatal(err)
	}
	decl, err := pipeline.Parse(data)
	if err != nil {
		t.Fatalf("parse hello.json: %v", err)
	}
	def, err := statemachines.Compile(decl)
	if err != nil {
		t.Fatalf("compile hello.json: %v", err)
	}
	var stages []string
	for _, st := range decl.Stages {
		stages = append(stages, st.Name)
	}

	aslEng, client := facade(t)
	calls := make(chan string, 100)
	tokens := make(chan string, 100)
	serve(aslEng, testConfig, coretest.EngineTasks{
		Gate: func(_ context.Context, g core.GateTask) error {
			calls <- g.Op + " " + g.Stage
			if g.Op == core.GateEnter {
				tokens <- g.Token
			}
			return nil
		},
		Action: func(_ context.Context, a core.ActionTask) error {
			calls <- "action " + a.Stage + "/" + a.Action
			tokens <- a.Token
			return nil
		},
	})
	e := newEngine(t, client)
	if err := e.Deploy(ctx, decl.Name, def); err != nil {
		t.Fatalf("deploy: %v", err)
	}
	in, _ := json.Marshal(core.MachineInput{Pipeline: decl.Name, ExecutionID: "e1"})
	if err := e.StartExecution(ctx, decl.Name, "e1", in); err != nil {
		t.Fatalf("start: %v", err)
	}

	// Every callback task is answered in turn, until the last stage's leave.
	var got, want []string
	for i, st := range stages {
		want = append(want, "enter "+st)
		for _, a := range decl.Stages[i].Actions {
			want = append(want, "action "+st+"/"+a.Name)
		}
		want = append(want, "leave "+st)
	}
	for len(got) < len(want) {
		select {
		case c := <-calls:
			got = append(got, c)
		case tok := <-tokens:
			if err := e.SendTaskSuccess(ctx, tok, []byte(`{"status":"Succeeded"}`)); err != nil {
				t.Fatalf("send task success after %v: %v", got, err)
			}
		case <-ctx.Done():
			t.Fatalf("test ended after %v", got)
		}
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("task invocations (-want +got):\n%s", diff)
	}
	x, err := aslEng.WaitExecution(ctx, e.ExecutionARN(decl.Name, "e1"))
	if err != nil {
		t.Fatalf("wait: %v", err)
	}
	if x.Status != asl.StatusSucceeded {
		t.Errorf("execution status: got %s, want %s", x.Status, asl.StatusSucceeded)
	}
	sm, err := aslEng.DescribeStateMachine(ctx, e.StateMachineARN(decl.Name))
	if err != nil {
		t.Fatalf("describe machine: %v", err)
	}
	if sm.RoleArn != testConfig.RoleARN || sm.Name != "relais-"+decl.Name {
		t.Errorf("machine: got name %q role %q, want %q and %q", sm.Name, sm.RoleArn, "relais-"+decl.Name, testConfig.RoleARN)
	}
}
