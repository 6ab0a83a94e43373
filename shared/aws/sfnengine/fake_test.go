package sfnengine

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	"github.com/aws/aws-sdk-go-v2/service/sfn/types"
	"github.com/aws/smithy-go"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/relais-ci/relais/shared/core"
)

// fakeClient answers the calls a test scripts and records them; an unscripted call
// panics through the nil embedded Client. It plays the parts of Step Functions that the
// façade does not: an ended execution refusing a repeated start, a machine created
// between a failed update and the create.
type fakeClient struct {
	Client
	calls   []string
	creates []*sfn.CreateStateMachineInput
	updates []*sfn.UpdateStateMachineInput
	update  func(n int) error
	create  error
	start   error
	input   string
	status  types.ExecutionStatus
	stop    error
}

func apiErr(code string) error { return &smithy.GenericAPIError{Code: code, Message: code} }

func (f *fakeClient) UpdateStateMachine(_ context.Context, in *sfn.UpdateStateMachineInput, _ ...func(*sfn.Options)) (*sfn.UpdateStateMachineOutput, error) {
	f.calls = append(f.calls, "update")
	f.updates = append(f.updates, in)
	return &sfn.UpdateStateMachineOutput{}, f.update(len(f.updates))
}

func (f *fakeClient) CreateStateMachine(_ context.Context, in *sfn.CreateStateMachineInput, _ ...func(*sfn.Options)) (*sfn.CreateStateMachineOutput, error) {
	f.calls = append(f.calls, "create")
	f.creates = append(f.creates, in)
	return &sfn.CreateStateMachineOutput{}, f.create
}

func (f *fakeClient) StartExecution(context.Context, *sfn.StartExecutionInput, ...func(*sfn.Options)) (*sfn.StartExecutionOutput, error) {
	f.calls = append(f.calls, "start")
	return &sfn.StartExecutionOutput{}, f.start
}

func (f *fakeClient) DescribeExecution(context.Context, *sfn.DescribeExecutionInput, ...func(*sfn.Options)) (*sfn.DescribeExecutionOutput, error) {
	f.calls = append(f.calls, "describe")
	return &sfn.DescribeExecutionOutput{Input: aws.String(f.input), Status: f.status}, nil
}

func (f *fakeClient) StopExecution(context.Context, *sfn.StopExecutionInput, ...func(*sfn.Options)) (*sfn.StopExecutionOutput, error) {
	f.calls = append(f.calls, "stop")
	return &sfn.StopExecutionOutput{}, f.stop
}

func TestDeploy(t *testing.T) {
	logging := &types.LoggingConfiguration{Level: types.LogLevelError, IncludeExecutionData: false}
	cfg := testConfig
	cfg.Logging = logging
	def := `{"StartAt":"A","States":{"A":{"Type":"Task","Parameters":{"FunctionName":"${GateFunction}"},"Next":"B"},"B":{"Type":"Task","Parameters":{"FunctionName":"${ActionFunction}"},"End":true}}}`
	wantDef := strings.NewReplacer("${GateFunction}", cfg.GateFunctionARN, "${ActionFunction}", cfg.ActionFunctionARN).Replace(def)
	for _, tt := range []struct {
		name   string
		update func(n int) error
		create error
		calls  []string
	}{
		{"existing machine: updated", func(int) error { return nil }, nil, []string{"update"}},
		{"new machine: created", func(int) error { return apiErr("StateMachineDoesNotExist") }, nil, []string{"update", "create"}},
		{"created meanwhile: updated", func(n int) error {
			if n == 1 {
				return apiErr("StateMachineDoesNotExist")
			}
			return nil
		}, apiErr("StateMachineAlreadyExists"), []string{"update", "create", "update"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := &fakeClient{update: tt.update, create: tt.create}
			e, err := New(f, cfg)
			if err != nil {
				t.Fatal(err)
			}
			if err := e.Deploy(t.Context(), "build", []byte(def)); err != nil {
				t.Fatalf("deploy: %v", err)
			}
			if diff := cmp.Diff(tt.calls, f.calls); diff != "" {
				t.Errorf("calls (-want +got):\n%s", diff)
			}
			arn := "arn:aws:states:us-east-1:123456789012:stateMachine:relais-build"
			for _, u := range f.updates {
				want := &sfn.UpdateStateMachineInput{StateMachineArn: aws.String(arn), Definition: aws.String(wantDef), RoleArn: aws.String(cfg.RoleARN), LoggingConfiguration: logging}
				if diff := cmp.Diff(want, u, cmpopts.IgnoreUnexported(sfn.UpdateStateMachineInput{}, types.LoggingConfiguration{})); diff != "" {
					t.Errorf("update (-want +got):\n%s", diff)
				}
			}
			for _, c := range f.creates {
				want := &sfn.CreateStateMachineInput{Name: aws.String("relais-build"), Definition: aws.String(wantDef), RoleArn: aws.String(cfg.RoleARN), Type: types.StateMachineTypeStandard, LoggingConfiguration: logging}
				if diff := cmp.Diff(want, c, cmpopts.IgnoreUnexported(sfn.CreateStateMachineInput{}, types.LoggingConfiguration{})); diff != "" {
					t.Errorf("create (-want +got):\n%s", diff)
				}
			}
		})
	}
}

func TestStartOfAnEndedExecution(t *testing.T) {
	// Step Functions refuses to start an ended execution's name again, whatever the
	// input; the port wants the same input to be a no-op.
	for _, tt := range []struct {
		name, stored, input string
		want                error
	}{
		{"same input", `{"pipeline":"build"}`, `{"pipeline":"build"}`, nil},
		{"same JSON, other spacing", `{"pipeline": "build"}`, `{"pipeline":"build"}`, nil},
		{"other input", `{"pipeline":"build"}`, `{"pipeline":"other"}`, core.ErrConflict},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := &fakeClient{start: apiErr("ExecutionAlreadyExists"), input: tt.stored}
			err := newEngine(t, f).StartExecution(t.Context(), "build", "e1", []byte(tt.input))
			if !errors.Is(err, tt.want) || (tt.want == nil && err != nil) {
				t.Errorf("got error %v, want %v", err, tt.want)
			}
		})
	}
}

func TestErrors(t *testing.T) {
	for code, want := range map[string]error{
		"TaskDoesNotExist":         core.ErrNotFound,
		"TaskTimedOut":             core.ErrNotFound,
		"InvalidToken":             core.ErrNotFound,
		"StateMachineDoesNotExist": core.ErrNotFound,
		"ExecutionDoesNotExist":    core.ErrNotFound,
		"ExecutionAlreadyExists":   core.ErrConflict,
		"InvalidDefinition":        core.ErrInvalid,
	} {
		if got := mapErr(apiErr(code)); !errors.Is(got, want) {
			t.Errorf("%s: got %v, want %v", code, got, want)
		}
	}
	f := &fakeClient{stop: apiErr("ExecutionDoesNotExist")}
	if err := newEngine(t, f).StopExecution(t.Context(), "build", "ghost", ""); !errors.Is(err, core.ErrNotFound) {
		t.Errorf("stop of a missing execution: got %v, want ErrNotFound", err)
	}
	f = &fakeClient{stop: apiErr("ValidationException"), status: types.ExecutionStatusRunning}
	if err := newEngine(t, f).StopExecution(t.Context(), "build", "e1", ""); err == nil {
		t.Error("stop refused for a running execution: got nil error")
	}
}

func TestNames(t *testing.T) {
	e := newEngine(t, &fakeClient{})
	long := strings.Repeat("p", 100)
	for _, tt := range []struct{ pipeline, want string }{
		{"build", "relais-build"},
		{"my.pipe@line-1_x", "relais-my.pipe@line-1_x"},
	} {
		if got := e.MachineName(tt.pipeline); got != tt.want {
			t.Errorf("MachineName(%q): got %q, want %q", tt.pipeline, got, tt.want)
		}
	}
	a, b := e.MachineName(long), e.MachineName(long+"q")
	if len(a) > maxName || len(b) > maxName || a == b || !strings.HasPrefix(a, "relais-ppp") {
		t.Errorf("long names: got %q and %q, want distinct names of at most %d characters", a, b, maxName)
	}
	if got := e.MachineName("a b/c"); invalidNameChars.MatchString(got) {
		t.Errorf("MachineName of a name with spaces: got %q, which Step Functions refuses", got)
	}
	if got, want := e.ExecutionARN("build", "e1"), "arn:aws:states:us-east-1:123456789012:execution:relais-build:e1"; got != want {
		t.Errorf("ExecutionARN: got %q, want %q", got, want)
	}
}

func TestConfig(t *testing.T) {
	for _, blank := range []func(*Config){
		func(c *Config) { c.Region = "" },
		func(c *Config) { c.Account = "" },
		func(c *Config) { c.RoleARN = "" },
		func(c *Config) { c.GateFunctionARN = "" },
		func(c *Config) { c.ActionFunctionARN = "" },
	} {
		cfg := testConfig
		blank(&cfg)
		if _, err := New(&fakeClient{}, cfg); !errors.Is(err, core.ErrInvalid) {
			t.Errorf("New(%+v): got error %v, want ErrInvalid", cfg, err)
		}
	}
}
