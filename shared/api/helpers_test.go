package api_test

import (
	"context"
	"errors"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/codepipeline"
	"github.com/aws/aws-sdk-go-v2/service/codepipeline/types"
	"github.com/aws/smithy-go"

	"github.com/relais-ci/relais/shared/api/apitest"
	"github.com/relais-ci/relais/shared/core"
)

// errorCode returns the CodePipeline error type of err ("" for nil).
func errorCode(t *testing.T, err error) string {
	t.Helper()
	if err == nil {
		return ""
	}
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		t.Fatalf("got error %v, want an API error", err)
	}
	return ae.ErrorCode()
}

// wantCode fails the test unless err is an API error of type code.
func wantCode(t *testing.T, err error, code string) {
	t.Helper()
	if got := errorCode(t, err); got != code {
		t.Errorf("got error %q (%v), want %s", got, err, code)
	}
}

// setup installs the demo pipeline and returns the env and a client.
func setup(t *testing.T) (*apitest.Env, *codepipeline.Client) {
	t.Helper()
	env := apitest.New(t)
	env.Install(t, apitest.Pipeline)
	return env, env.Client()
}

// start starts an execution of the demo pipeline through the API.
func start(t *testing.T, c *codepipeline.Client) string {
	t.Helper()
	out, err := c.StartPipelineExecution(context.Background(), &codepipeline.StartPipelineExecutionInput{Name: aws.String("demo")})
	if err != nil {
		t.Fatalf("start execution: %v", err)
	}
	return aws.ToString(out.PipelineExecutionId)
}

// pendingApproval runs an execution to the approval and returns its id.
func pendingApproval(t *testing.T, env *apitest.Env, c *codepipeline.Client) string {
	t.Helper()
	id := start(t, c)
	env.RunStage(t, "demo", id, "Source", false)
	env.RunStage(t, "demo", id, "Build", false)
	env.EnterStage(t, "demo", id, "Approval")
	env.RunAction(t, "demo", id, "Approval", "Release")
	return id
}

// stageView is what tests compare of a stage state.
type stageView struct {
	Stage      string
	Transition string // "" (none), "enabled", "disabled: reason by who"
	Execution  string
	Status     string
	Actions    []actionView
}

type actionView struct {
	Action   string
	Status   string
	Summary  string
	HasToken bool
	Revision string
}

func viewState(out *codepipeline.GetPipelineStateOutput) []stageView {
	var views []stageView
	for _, s := range out.StageStates {
		v := stageView{Stage: aws.ToString(s.StageName)}
		if tr := s.InboundTransitionState; tr != nil {
			v.Transition = "enabled"
			if !tr.Enabled {
				v.Transition = "disabled: " + aws.ToString(tr.DisabledReason) + " by " + aws.ToString(tr.LastChangedBy)
			}
		}
		if le := s.LatestExecution; le != nil {
			v.Execution, v.Status = aws.ToString(le.PipelineExecutionId), string(le.Status)
		}
		for _, a := range s.ActionStates {
			av := actionView{Action: aws.ToString(a.ActionName), Revision: revisionOf(a)}
			if le := a.LatestExecution; le != nil {
				av.Status, av.Summary, av.HasToken = string(le.Status), aws.ToString(le.Summary), le.Token != nil
			}
			v.Actions = append(v.Actions, av)
		}
		views = append(views, v)
	}
	return views
}

func revisionOf(a types.ActionState) string {
	if a.CurrentRevision == nil {
		return ""
	}
	return aws.ToString(a.CurrentRevision.RevisionId)
}

func getExecution(t *testing.T, env *apitest.Env, id string) core.Execution {
	t.Helper()
	e, err := env.Store.GetExecution(context.Background(), "demo", id)
	if err != nil {
		t.Fatalf("get execution %s: %v", id, err)
	}
	return e
}
