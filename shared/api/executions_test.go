package api_test

import (
	"context"
	"encoding/json"
	"errors"
	"regexp"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/codepipeline"
	"github.com/aws/aws-sdk-go-v2/service/codepipeline/types"
	"github.com/google/go-cmp/cmp"

	"github.com/relais-ci/relais/shared/action"
	"github.com/relais-ci/relais/shared/api"
	"github.com/relais-ci/relais/shared/api/apitest"
	"github.com/relais-ci/relais/shared/core"
)

func TestStartPipelineExecution(t *testing.T) {
	ctx := context.Background()

	t.Run("variables and trigger", func(t *testing.T) {
		env, c := setup(t)
		out, err := c.StartPipelineExecution(ctx, &codepipeline.StartPipelineExecutionInput{
			Name:      aws.String("demo"),
			Variables: []types.PipelineVariable{{Name: aws.String("greeting"), Value: aws.String("bonjour")}},
		}, func(o *codepipeline.Options) {
			o.APIOptions = append(o.APIOptions, apitest.WithHeader(api.UserHeader, "bob"))
		})
		if err != nil {
			t.Fatalf("start: %v", err)
		}
		id := aws.ToString(out.PipelineExecutionId)
		e := getExecution(t, env, id)
		want := core.Execution{
			PipelineName: "demo", ID: id, PipelineVersion: 1, Status: core.ExecutionInProgress, Mode: core.ModeSuperseded,
			Trigger:   core.Trigger{Type: core.TriggerStartPipelineExecution, Detail: "bob"},
			Variables: []core.Variable{{Name: "greeting", Value: "bonjour"}},
		}
		got := core.Execution{
			PipelineName: e.PipelineName, ID: e.ID, PipelineVersion: e.PipelineVersion, Status: e.Status, Mode: e.Mode,
			Trigger: e.Trigger, Variables: e.Variables,
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("execution (-want +got):\n%s", diff)
		}
		starts := env.Engine.CallsOf("StartExecution")
		if len(starts) != 1 || starts[0].Execution != id {
			t.Errorf("got engine starts %+v, want one of %s", starts, id)
		}
	})

	t.Run("client request token is idempotent", func(t *testing.T) {
		env, c := setup(t)
		in := &codepipeline.StartPipelineExecutionInput{Name: aws.String("demo"), ClientRequestToken: aws.String("deploy-42")}
		first, err := c.StartPipelineExecution(ctx, in)
		if err != nil {
			t.Fatalf("first start: %v", err)
		}
		second, err := c.StartPipelineExecution(ctx, in)
		if err != nil {
			t.Fatalf("second start: %v", err)
		}
		if a, b := aws.ToString(first.PipelineExecutionId), aws.ToString(second.PipelineExecutionId); a != b {
			t.Errorf("got execution ids %s and %s, want the same", a, b)
		}
		if got, want := aws.ToString(first.PipelineExecutionId), api.ExecutionIDForToken("demo", "deploy-42"); got != want {
			t.Errorf("got id %s, want %s", got, want)
		}
		if n := len(env.Engine.CallsOf("StartExecution")); n != 1 {
			t.Errorf("got %d engine starts, want 1", n)
		}
		_, err = c.StartPipelineExecution(ctx, &codepipeline.StartPipelineExecutionInput{
			Name: aws.String("demo"), ClientRequestToken: aws.String("deploy-42"),
			Variables: []types.PipelineVariable{{Name: aws.String("greeting"), Value: aws.String("other")}},
		})
		wantCode(t, err, "ConflictException")
	})

	t.Run("engine refuses: execution recorded as Failed", func(t *testing.T) {
		env, c := setup(t)
		env.Engine.StartErr = errors.New("engine down")
		id := start(t, c)
		if e := getExecution(t, env, id); e.Status != core.ExecutionFailed {
			t.Errorf("got status %s, want Failed", e.Status)
		}
	})

	_, c := setup(t)
	for _, tc := range []struct {
		name string
		in   codepipeline.StartPipelineExecutionInput
		code string
	}{
		{"missing pipeline", codepipeline.StartPipelineExecutionInput{Name: aws.String("nope")}, "PipelineNotFoundException"},
		{"undeclared variable", codepipeline.StartPipelineExecutionInput{Name: aws.String("demo"),
			Variables: []types.PipelineVariable{{Name: aws.String("colour"), Value: aws.String("red")}}}, "ValidationException"},
		{"duplicate variable", codepipeline.StartPipelineExecutionInput{Name: aws.String("demo"),
			Variables: []types.PipelineVariable{{Name: aws.String("greeting"), Value: aws.String("a")}, {Name: aws.String("greeting"), Value: aws.String("b")}}}, "ValidationException"},
		{"bad token", codepipeline.StartPipelineExecutionInput{Name: aws.String("demo"), ClientRequestToken: aws.String("no spaces")}, "ValidationException"},
		{"source revision override", codepipeline.StartPipelineExecutionInput{Name: aws.String("demo"),
			SourceRevisions: []types.SourceRevisionOverride{{ActionName: aws.String("Checkout"), RevisionType: types.SourceRevisionTypeCommitId, RevisionValue: aws.String("abc")}}}, "ValidationException"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := c.StartPipelineExecution(ctx, &tc.in)
			wantCode(t, err, tc.code)
		})
	}
}

func TestExecutionIDForToken(t *testing.T) {
	uuid := regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
	a, b := api.ExecutionIDForToken("demo", "t1"), api.ExecutionIDForToken("demo", "t1")
	if a != b {
		t.Errorf("got %s and %s for one token, want the same", a, b)
	}
	if !uuid.MatchString(a) {
		t.Errorf("got %s, want a version 8 UUID", a)
	}
	for _, other := range []string{api.ExecutionIDForToken("demo", "t2"), api.ExecutionIDForToken("other", "t1")} {
		if other == a {
			t.Errorf("got %s for another pipeline or token, want a different id", other)
		}
	}
}

func TestGetPipelineExecution(t *testing.T) {
	env, c := setup(t)
	ctx := context.Background()
	env.SetResult("Checkout", action.Result{
		Status: core.ActionSucceeded, OutputVariables: map[string]string{"CommitId": "abc123"},
		OutputArtifacts: []core.Artifact{{Name: "SourceOutput", Location: core.ArtifactLocation{Store: "relais-artifacts", Key: "src.zip"}}},
		Revision:        &core.SourceRevision{RevisionID: "abc123", RevisionSummary: "Fix", RevisionURL: "https://example.com/abc123"},
	})
	id := start(t, c)
	env.RunStage(t, "demo", id, "Source", false)

	out, err := c.GetPipelineExecution(ctx, &codepipeline.GetPipelineExecutionInput{PipelineName: aws.String("demo"), PipelineExecutionId: aws.String(id)})
	if err != nil {
		t.Fatalf("get execution: %v", err)
	}
	pe := out.PipelineExecution
	type view struct {
		ID, Status, Mode, Type, Trigger string
		Version                         int32
		Revisions                       []string
		Variables                       map[string]string
	}
	got := view{
		ID: aws.ToString(pe.PipelineExecutionId), Status: string(pe.Status), Mode: string(pe.ExecutionMode), Type: string(pe.ExecutionType),
		Trigger: string(pe.Trigger.TriggerType) + " " + aws.ToString(pe.Trigger.TriggerDetail), Version: aws.ToInt32(pe.PipelineVersion),
		Variables: map[string]string{},
	}
	for _, r := range pe.ArtifactRevisions {
		got.Revisions = append(got.Revisions, aws.ToString(r.Name)+"@"+aws.ToString(r.RevisionId)+" "+aws.ToString(r.RevisionUrl))
	}
	for _, v := range pe.Variables {
		got.Variables[aws.ToString(v.Name)] = aws.ToString(v.ResolvedValue)
	}
	want := view{
		ID: id, Status: "InProgress", Mode: "SUPERSEDED", Type: "STANDARD", Trigger: "StartPipelineExecution api", Version: 1,
		Revisions: []string{"SourceOutput@abc123 https://example.com/abc123"},
		Variables: map[string]string{"greeting": "hello"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("execution (-want +got):\n%s", diff)
	}

	for _, tc := range []struct {
		name           string
		pipeline, exec string
		code           string
	}{
		{"missing execution", "demo", "00000000-0000-4000-8000-000000000000", "PipelineExecutionNotFoundException"},
		{"missing pipeline", "nope", id, "PipelineNotFoundException"},
		{"empty id", "demo", "", "ValidationException"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := c.GetPipelineExecution(ctx, &codepipeline.GetPipelineExecutionInput{PipelineName: aws.String(tc.pipeline), PipelineExecutionId: aws.String(tc.exec)})
			wantCode(t, err, tc.code)
		})
	}
}

func TestListPipelineExecutions(t *testing.T) {
	env, c := setup(t)
	ctx := context.Background()
	var ids []string
	for range 3 {
		env.Clock.Advance(time.Minute)
		ids = append(ids, start(t, c))
	}
	// The oldest gets through Source; the newest is stopped.
	env.RunStage(t, "demo", ids[0], "Source", false)
	if _, err := c.StopPipelineExecution(ctx, &codepipeline.StopPipelineExecutionInput{
		PipelineName: aws.String("demo"), PipelineExecutionId: aws.String(ids[2]), Reason: aws.String("not today"),
	}); err != nil {
		t.Fatalf("stop: %v", err)
	}

	var got []string
	var token *string
	pages := 0
	for {
		out, err := c.ListPipelineExecutions(ctx, &codepipeline.ListPipelineExecutionsInput{
			PipelineName: aws.String("demo"), MaxResults: aws.Int32(2), NextToken: token,
		})
		if err != nil {
			t.Fatalf("list executions: %v", err)
		}
		pages++
		for _, s := range out.PipelineExecutionSummaries {
			line := aws.ToString(s.PipelineExecutionId) + " " + string(s.Status) + " " + string(s.Trigger.TriggerType)
			if s.StopTrigger != nil {
				line += " stop: " + aws.ToString(s.StopTrigger.Reason)
			}
			got = append(got, line)
		}
		if token = out.NextToken; token == nil {
			break
		}
	}
	want := []string{
		ids[2] + " Stopping StartPipelineExecution stop: not today",
		ids[1] + " InProgress StartPipelineExecution",
		ids[0] + " InProgress StartPipelineExecution",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("executions, newest first (-want +got):\n%s", diff)
	}
	if pages < 2 {
		t.Errorf("got %d pages of at most 2, want at least 2", pages)
	}

	t.Run("succeeded in stage", func(t *testing.T) {
		out, err := c.ListPipelineExecutions(ctx, &codepipeline.ListPipelineExecutionsInput{
			PipelineName: aws.String("demo"),
			Filter:       &types.PipelineExecutionFilter{SucceededInStage: &types.SucceededInStageFilter{StageName: aws.String("Source")}},
		})
		if err != nil {
			t.Fatalf("list executions: %v", err)
		}
		var got []string
		for _, s := range out.PipelineExecutionSummaries {
			got = append(got, aws.ToString(s.PipelineExecutionId))
		}
		if diff := cmp.Diff([]string{ids[0]}, got); diff != "" {
			t.Errorf("executions that passed Source (-want +got):\n%s", diff)
		}
	})

	for _, tc := range []struct {
		name string
		in   codepipeline.ListPipelineExecutionsInput
		code string
	}{
		{"bad token", codepipeline.ListPipelineExecutionsInput{PipelineName: aws.String("demo"), NextToken: aws.String("garbage")}, "InvalidNextTokenException"},
		{"missing pipeline", codepipeline.ListPipelineExecutionsInput{PipelineName: aws.String("nope")}, "PipelineNotFoundException"},
		{"too many", codepipeline.ListPipelineExecutionsInput{PipelineName: aws.String("demo"), MaxResults: aws.Int32(101)}, "ValidationException"},
		{"filter on a missing stage", codepipeline.ListPipelineExecutionsInput{PipelineName: aws.String("demo"),
			Filter: &types.PipelineExecutionFilter{SucceededInStage: &types.SucceededInStageFilter{StageName: aws.String("Nope")}}}, "StageNotFoundException"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := c.ListPipelineExecutions(ctx, &tc.in)
			wantCode(t, err, tc.code)
		})
	}
}

func TestStopPipelineExecution(t *testing.T) {
	ctx := context.Background()
	stop := func(c *codepipeline.Client, id string, abandon bool) error {
		_, err := c.StopPipelineExecution(ctx, &codepipeline.StopPipelineExecutionInput{
			PipelineName: aws.String("demo"), PipelineExecutionId: aws.String(id), Abandon: abandon, Reason: aws.String("bad build"),
		}, func(o *codepipeline.Options) {
			o.APIOptions = append(o.APIOptions, apitest.WithHeader(api.UserHeader, "carol"))
		})
		return err
	}

	t.Run("wait, then abandon", func(t *testing.T) {
		env, c := setup(t)
		id := start(t, c)
		env.EnterStage(t, "demo", id, "Source")
		if err := stop(c, id, false); err != nil {
			t.Fatalf("stop and wait: %v", err)
		}
		e := getExecution(t, env, id)
		if e.Status != core.ExecutionStopping || e.Stop == nil || e.Stop.By != "carol" || e.Stop.Reason != "bad build" {
			t.Errorf("got status %s, stop %+v; want Stopping by carol for bad build", e.Status, e.Stop)
		}
		wantCode(t, stop(c, id, false), "DuplicatedStopRequestException")
		if err := stop(c, id, true); err != nil {
			t.Fatalf("stop and abandon: %v", err)
		}
		if e := getExecution(t, env, id); e.Status != core.ExecutionStopped {
			t.Errorf("got status %s, want Stopped", e.Status)
		}
		if stops := env.Engine.CallsOf("StopExecution"); len(stops) != 1 || stops[0].Execution != id {
			t.Errorf("got engine stops %+v, want one of %s", stops, id)
		}
		wantCode(t, stop(c, id, true), "PipelineExecutionNotStoppableException")
	})

	env, c := setup(t)
	done := start(t, c)
	env.RunStage(t, "demo", done, "Source", false)
	env.RunStage(t, "demo", done, "Build", false)
	env.RunStage(t, "demo", done, "Approval", false)
	env.RunStage(t, "demo", done, "Deploy", true)
	for _, tc := range []struct {
		name, pipeline, id, code string
	}{
		{"succeeded", "demo", done, "PipelineExecutionNotStoppableException"},
		{"unknown execution", "demo", "00000000-0000-4000-8000-000000000000", "PipelineExecutionNotStoppableException"},
		{"missing pipeline", "nope", done, "PipelineNotFoundException"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := c.StopPipelineExecution(ctx, &codepipeline.StopPipelineExecutionInput{
				PipelineName: aws.String(tc.pipeline), PipelineExecutionId: aws.String(tc.id),
			})
			wantCode(t, err, tc.code)
		})
	}
}

func TestRetryStageExecution(t *testing.T) {
	ctx := context.Background()
	retry := func(c *codepipeline.Client, id, stage string, mode types.StageRetryMode) error {
		_, err := c.RetryStageExecution(ctx, &codepipeline.RetryStageExecutionInput{
			PipelineName: aws.String("demo"), PipelineExecutionId: aws.String(id), StageName: aws.String(stage), RetryMode: mode,
		})
		return err
	}
	failAtBuild := func(t *testing.T, env *apitest.Env, c *codepipeline.Client) string {
		env.SetResult("Compile", action.Result{Status: core.ActionFailed, Error: &core.ErrorDetails{Code: "BuildFailed", Message: "exit 2"}})
		id := start(t, c)
		env.RunStage(t, "demo", id, "Source", false)
		env.EnterStage(t, "demo", id, "Build")
		env.RunAction(t, "demo", id, "Build", "Compile")
		env.FailStage(t, "demo", id, "Build", "exit 2")
		return id
	}

	t.Run("failed actions", func(t *testing.T) {
		env, c := setup(t)
		id := failAtBuild(t, env, c)
		if err := retry(c, id, "Build", types.StageRetryModeFailedActions); err != nil {
			t.Fatalf("retry: %v", err)
		}
		if e := getExecution(t, env, id); e.Status != core.ExecutionInProgress {
			t.Errorf("got status %s, want InProgress", e.Status)
		}
		starts := env.Engine.CallsOf("StartExecution")
		last := starts[len(starts)-1]
		var in core.MachineInput
		if err := json.Unmarshal([]byte(last.Detail), &in); err != nil {
			t.Fatalf("machine input %q: %v", last.Detail, err)
		}
		want := core.MachineInput{Pipeline: "demo", ExecutionID: id, ResumeAt: "Build", RetryMode: core.RetryFailedActions}
		if diff := cmp.Diff(want, in); diff != "" {
			t.Errorf("retry run input (-want +got):\n%s", diff)
		}
		if last.Execution != id+"-retry-1" {
			t.Errorf("got engine run %s, want %s-retry-1", last.Execution, id)
		}
	})

	t.Run("not the latest", func(t *testing.T) {
		env, c := setup(t)
		older := failAtBuild(t, env, c)
		env.Clock.Advance(time.Minute)
		failAtBuild(t, env, c)
		wantCode(t, retry(c, older, "Build", types.StageRetryModeAllActions), "NotLatestPipelineExecutionException")
	})

	env, c := setup(t)
	id := failAtBuild(t, env, c)
	for _, tc := range []struct {
		name, id, stage string
		mode            types.StageRetryMode
		code            string
	}{
		{"succeeded stage", id, "Source", types.StageRetryModeAllActions, "StageNotRetryableException"},
		{"stage not entered", id, "Deploy", types.StageRetryModeAllActions, "StageNotRetryableException"},
		{"unknown stage", id, "Nope", types.StageRetryModeAllActions, "StageNotFoundException"},
		{"unknown execution", "00000000-0000-4000-8000-000000000000", "Build", types.StageRetryModeAllActions, "PipelineExecutionNotFoundException"},
		{"bad mode", id, "Build", "SOME_ACTIONS", "ValidationException"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wantCode(t, retry(c, tc.id, tc.stage, tc.mode), tc.code)
		})
	}
}

func TestStageTransitions(t *testing.T) {
	env, c := setup(t)
	ctx := context.Background()
	as := func(user string) func(*codepipeline.Options) {
		return func(o *codepipeline.Options) {
			o.APIOptions = append(o.APIOptions, apitest.WithHeader(api.UserHeader, user))
		}
	}
	transitions := func() map[string]string {
		got := map[string]string{}
		for _, st := range []string{"Source", "Build", "Approval", "Deploy"} {
			tr, err := env.Store.GetTransition(ctx, "demo", st)
			if err != nil {
				t.Fatalf("get transition %s: %v", st, err)
			}
			if !tr.Enabled {
				got[st] = tr.Reason + " by " + tr.LastChangedBy
			}
		}
		return got
	}

	steps := []struct {
		name    string
		do      func() error
		code    string
		enabled map[string]string // disabled transitions after the step
	}{
		{"disable inbound", func() error {
			_, err := c.DisableStageTransition(ctx, &codepipeline.DisableStageTransitionInput{PipelineName: aws.String("demo"), StageName: aws.String("Deploy"),
				TransitionType: types.StageTransitionTypeInbound, Reason: aws.String("Freeze")}, as("dave"))
			return err
		}, "", map[string]string{"Deploy": "Freeze by dave"}},
		{"disable outbound is the next stage's inbound", func() error {
			_, err := c.DisableStageTransition(ctx, &codepipeline.DisableStageTransitionInput{PipelineName: aws.String("demo"), StageName: aws.String("Source"),
				TransitionType: types.StageTransitionTypeOutbound, Reason: aws.String("Hold")})
			return err
		}, "", map[string]string{"Deploy": "Freeze by dave", "Build": "Hold by api"}},
		{"enable inbound", func() error {
			_, err := c.EnableStageTransition(ctx, &codepipeline.EnableStageTransitionInput{PipelineName: aws.String("demo"), StageName: aws.String("Deploy"),
				TransitionType: types.StageTransitionTypeInbound})
			return err
		}, "", map[string]string{"Build": "Hold by api"}},
		{"enable outbound", func() error {
			_, err := c.EnableStageTransition(ctx, &codepipeline.EnableStageTransitionInput{PipelineName: aws.String("demo"), StageName: aws.String("Source"),
				TransitionType: types.StageTransitionTypeOutbound})
			return err
		}, "", map[string]string{}},
		{"outbound of the last stage", func() error {
			_, err := c.DisableStageTransition(ctx, &codepipeline.DisableStageTransitionInput{PipelineName: aws.String("demo"), StageName: aws.String("Deploy"),
				TransitionType: types.StageTransitionTypeOutbound, Reason: aws.String("x")})
			return err
		}, "ValidationException", map[string]string{}},
		{"no reason", func() error {
			_, err := c.DisableStageTransition(ctx, &codepipeline.DisableStageTransitionInput{PipelineName: aws.String("demo"), StageName: aws.String("Build"),
				TransitionType: types.StageTransitionTypeInbound, Reason: aws.String("")})
			return err
		}, "ValidationException", map[string]string{}},
		{"reason with characters AWS refuses", func() error {
			_, err := c.DisableStageTransition(ctx, &codepipeline.DisableStageTransitionInput{PipelineName: aws.String("demo"), StageName: aws.String("Build"),
				TransitionType: types.StageTransitionTypeInbound, Reason: aws.String("no; way")})
			return err
		}, "ValidationException", map[string]string{}},
		{"bad transition type", func() error {
			_, err := c.EnableStageTransition(ctx, &codepipeline.EnableStageTransitionInput{PipelineName: aws.String("demo"), StageName: aws.String("Build"),
				TransitionType: "Sideways"})
			return err
		}, "ValidationException", map[string]string{}},
		{"unknown stage", func() error {
			_, err := c.EnableStageTransition(ctx, &codepipeline.EnableStageTransitionInput{PipelineName: aws.String("demo"), StageName: aws.String("Nope"),
				TransitionType: types.StageTransitionTypeInbound})
			return err
		}, "StageNotFoundException", map[string]string{}},
		{"missing pipeline", func() error {
			_, err := c.DisableStageTransition(ctx, &codepipeline.DisableStageTransitionInput{PipelineName: aws.String("nope"), StageName: aws.String("Build"),
				TransitionType: types.StageTransitionTypeInbound, Reason: aws.String("x")})
			return err
		}, "PipelineNotFoundException", map[string]string{}},
	}
	for _, step := range steps {
		t.Run(step.name, func(t *testing.T) {
			wantCode(t, step.do(), step.code)
			if diff := cmp.Diff(step.enabled, transitions()); diff != "" {
				t.Errorf("disabled transitions (-want +got):\n%s", diff)
			}
		})
	}
}
