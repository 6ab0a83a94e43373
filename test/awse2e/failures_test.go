package awse2e

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/codepipeline"
	cptypes "github.com/aws/aws-sdk-go-v2/service/codepipeline/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	sfntypes "github.com/aws/aws-sdk-go-v2/service/sfn/types"
	"github.com/google/uuid"

	"github.com/relais-ci/relais/shared/core"
)

// Buildspecs of the commits the failure scenarios push: quick, so that the runs take
// no Go build.
const (
	failingBuildspec = `version: 0.2
phases:
  build:
    commands:
      - echo compiling
      - exit 3
artifacts:
  files:
    - '**/*'
`
	slowBuildspec = `version: 0.2
phases:
  build:
    commands:
      - sleep 120
artifacts:
  files:
    - '**/*'
`
	quickBuildspec = `version: 0.2
env:
  exported-variables:
    - VERSION
phases:
  build:
    commands:
      - export VERSION=quick
      - mkdir -p site && echo "$GREETING from $COMMIT" > site/index.txt
artifacts:
  base-directory: site
  files:
    - '**/*'
`
)

// TestFailuresOnAWS runs hello through the ways an execution fails on AWS: a build that
// fails (CodeBuild's FAILED event), an execution stopped while it builds (StopBuild, the
// machine aborted and Step Functions' status change event), and an approval rejected by
// its link. Each later execution goes through the stages the earlier ones failed in, so
// the failures must have freed them.
func TestFailuresOnAWS(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the functions and runs a pipeline through them")
	}
	bins := functions(t)
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	// The release team's topic hears of every approval request (NotificationArn), as
	// CodePipeline tells it.
	s := deployWith(t, ctx, bins, func(t *testing.T, raw []byte) []byte {
		var doc map[string]any
		if err := json.Unmarshal(raw, &doc); err != nil {
			t.Fatal(err)
		}
		for _, st := range doc["pipeline"].(map[string]any)["stages"].([]any) {
			for _, a := range st.(map[string]any)["actions"].([]any) {
				if a := a.(map[string]any); a["name"] == "Release" {
					a["configuration"].(map[string]any)["NotificationArn"] = teamTopic
				}
			}
		}
		out, _ := json.Marshal(doc)
		return out
	})
	// The commit status each execution's commit must end with.
	finalStatus := map[string]string{}

	t.Run("failed build", func(t *testing.T) {
		sha := s.github.add(t, map[string]string{"buildspec.yml": failingBuildspec, "README.md": "fails\n"})
		finalStatus[sha] = "failure"
		id := s.start(ctx, t, sha)
		x := s.waitExecution(ctx, id)
		if x.Status != core.ExecutionFailed {
			t.Fatalf("execution: got %s (%s), want Failed", x.Status, x.StatusSummary)
		}
		s.checkStages(ctx, t, id, map[string]string{"Source": "Succeeded", "Build": "Failed"})
		a := s.action(ctx, t, id, "BuildAndTest")
		if a.Status != cptypes.ActionExecutionStatusFailed || a.Output == nil || a.Output.ExecutionResult == nil ||
			!strings.Contains(aws.ToString(a.Output.ExecutionResult.ExternalExecutionSummary), "ended FAILED in phase BUILD") {
			t.Errorf("BuildAndTest: got %s %+v, want Failed, its summary naming the BUILD phase", a.Status, a.Output)
		}
		s.checkRun(ctx, t, id, sfntypes.ExecutionStatusFailed)
		s.checkNothingDeployed(ctx, t)
	})

	t.Run("stopped while building", func(t *testing.T) {
		sha := s.github.add(t, map[string]string{"buildspec.yml": slowBuildspec})
		finalStatus[sha] = "error"
		id := s.start(ctx, t, sha)
		var build string
		s.poll(ctx, "the slow build", func() (bool, error) {
			for _, in := range s.codebuild.requests() {
				for _, v := range in.EnvironmentVariablesOverride {
					if v.Name == "COMMIT" && v.Value == sha {
						a := s.action(ctx, t, id, "BuildAndTest")
						if a.Output != nil && a.Output.ExecutionResult != nil {
							build = aws.ToString(a.Output.ExecutionResult.ExternalExecutionId)
						}
						return build != "", nil
					}
				}
			}
			return false, nil
		})
		_, err := s.apiClient().StopPipelineExecution(ctx, &codepipeline.StopPipelineExecutionInput{
			PipelineName: aws.String("hello"), PipelineExecutionId: aws.String(id), Abandon: true, Reason: aws.String("not this one"),
		})
		if err != nil {
			t.Fatal(err)
		}
		x := s.waitExecution(ctx, id)
		if x.Status != core.ExecutionStopped {
			t.Fatalf("execution: got %s (%s), want Stopped", x.Status, x.StatusSummary)
		}
		s.poll(ctx, "the build stopped", func() (bool, error) {
			b, ok := s.codebuild.get(build)
			return ok && b.Status == "STOPPED", nil
		})
		s.checkRun(ctx, t, id, sfntypes.ExecutionStatusAborted)
		// Both events reached the events function: the build's STOPPED and the run's
		// ABORTED.
		s.poll(ctx, "the build's and the run's events handled", func() (bool, error) {
			build, run := false, false
			for _, inv := range s.lambda.invocations(fnEvents) {
				p := string(inv.Payload)
				build = build || strings.Contains(p, `"build-status":"STOPPED"`)
				run = run || (strings.Contains(p, `"status":"ABORTED"`) && strings.Contains(p, id))
			}
			return build && run, nil
		})
		// The late STOPPED event leaves the abandoned action as the stop left it.
		if a := s.action(ctx, t, id, "BuildAndTest"); a.Status != cptypes.ActionExecutionStatusAbandoned {
			t.Errorf("BuildAndTest of the stopped execution: got %s %+v, want Abandoned", a.Status, a.Output.ExecutionResult)
		}
		s.checkNothingDeployed(ctx, t)
	})

	t.Run("rejected approval", func(t *testing.T) {
		sha := s.github.add(t, map[string]string{"buildspec.yml": quickBuildspec})
		finalStatus[sha] = "failure"
		id := s.start(ctx, t, sha)
		msg := s.waitApprovalMessage(ctx, id)
		var reject string
		for _, l := range regexp.MustCompile(`https?://\S+/approvals/\S+`).FindAllString(msg.Message, -1) {
			if u, err := url.Parse(l); err == nil && u.Query().Get("page") == "reject" {
				reject = l
			}
		}
		if reject == "" {
			t.Fatalf("the approval message has no reject link:\n%s", msg.Message)
		}
		team := false
		for _, m := range s.sns.messages() {
			if m.Topic == teamTopic && m.Attributes["execution"] == "String:"+id {
				team = true
				if strings.Contains(m.Message, "/approvals/") {
					t.Errorf("the team topic got personal approval links:\n%s", m.Message)
				}
			}
		}
		if !team {
			t.Errorf("the release team's topic (NotificationArn) got no approval request for %s", id)
		}
		b := newBrowser(t)
		p := b.get(ctx, reject)
		if p.status != http.StatusOK {
			t.Fatalf("reject page: got %d\n%s", p.status, p.body)
		}
		form := p.form()
		form.Set("comment", "not today")
		if got := b.post(ctx, reject, form); got.status != http.StatusOK || !strings.Contains(got.body, "Rejected") {
			t.Fatalf("reject: got %d\n%s", got.status, got.body)
		}
		x := s.waitExecution(ctx, id)
		if x.Status != core.ExecutionFailed {
			t.Fatalf("execution: got %s (%s), want Failed", x.Status, x.StatusSummary)
		}
		s.checkStages(ctx, t, id, map[string]string{"Source": "Succeeded", "Build": "Succeeded", "Approval": "Failed"})
		a := s.action(ctx, t, id, "Release")
		if a.Status != cptypes.ActionExecutionStatusFailed || a.Output == nil || a.Output.ExecutionResult == nil ||
			!strings.Contains(aws.ToString(a.Output.ExecutionResult.ExternalExecutionSummary), "not today") {
			t.Errorf("Release: got %s %+v, want Failed with the approver's comment", a.Status, a.Output)
		}
		s.checkRun(ctx, t, id, sfntypes.ExecutionStatusFailed)
		s.checkNothingDeployed(ctx, t)
	})

	t.Run("superseded at the approval gate", func(t *testing.T) {
		// A waits for its approval; B, built, waits at the Approval gate; C arrives
		// there too and, hello being SUPERSEDED, takes B's place. A's approval lets C in.
		shaA := s.github.add(t, map[string]string{"buildspec.yml": quickBuildspec, "n": "a"})
		finalStatus[shaA] = "failure"
		a := s.start(ctx, t, shaA)
		s.waitApprovalMessage(ctx, a)
		shaB := s.github.add(t, map[string]string{"buildspec.yml": quickBuildspec, "n": "b"})
		finalStatus[shaB] = "error"
		b := s.start(ctx, t, shaB)
		s.waitInbound(ctx, t, "Approval", b)
		shaC := s.github.add(t, map[string]string{"buildspec.yml": quickBuildspec, "n": "c"})
		finalStatus[shaC] = "success"
		c := s.start(ctx, t, shaC)
		if x := s.waitExecution(ctx, b); x.Status != core.ExecutionSuperseded {
			t.Fatalf("execution B: got %s (%s), want Superseded", x.Status, x.StatusSummary)
		}
		s.waitInbound(ctx, t, "Approval", c)
		s.decide(ctx, t, a, "reject", "not A")
		s.decide(ctx, t, c, "approve", "")
		if x := s.waitExecution(ctx, c); x.Status != core.ExecutionSucceeded {
			t.Fatalf("execution C: got %s (%s), want Succeeded", x.Status, x.StatusSummary)
		}
		s.checkStages(ctx, t, b, map[string]string{"Source": "Succeeded", "Build": "Succeeded"})
		// The machine catches SupersededError at the gate into its Ended state.
		s.checkRun(ctx, t, b, sfntypes.ExecutionStatusSucceeded)
		s.checkSiteSays(ctx, t, "hello from "+shaC)
		for _, m := range s.sns.messages() {
			if m.Attributes["execution"] == "String:"+b {
				t.Errorf("the superseded execution B asked for approval: %s", m.Subject)
			}
		}
	})

	t.Run("retry of a failed stage", func(t *testing.T) {
		// The build fails the first time only: the flag is left in the build's
		// workspace-independent folder.
		flag := filepath.Join(t.TempDir(), "built-once")
		spec := strings.Replace(quickBuildspec, "      - export VERSION=quick\n",
			"      - if [ ! -f "+flag+" ]; then touch "+flag+"; exit 1; fi\n      - export VERSION=quick\n", 1)
		sha := s.github.add(t, map[string]string{"buildspec.yml": spec})
		finalStatus[sha] = "success"
		id := s.start(ctx, t, sha)
		if x := s.waitExecution(ctx, id); x.Status != core.ExecutionFailed {
			t.Fatalf("execution: got %s (%s), want Failed", x.Status, x.StatusSummary)
		}
		// The stage's failure is handled (its run's end too) before the retry.
		s.waitRunEvents(ctx)
		_, err := s.apiClient().RetryStageExecution(ctx, &codepipeline.RetryStageExecutionInput{PipelineName: aws.String("hello"),
			PipelineExecutionId: aws.String(id), StageName: aws.String("Build"), RetryMode: cptypes.StageRetryModeFailedActions})
		if err != nil {
			t.Fatal(err)
		}
		s.decide(ctx, t, id, "approve", "")
		x := s.waitExecution(ctx, id)
		if x.Status != core.ExecutionSucceeded {
			t.Fatalf("retried execution: got %s (%s), want Succeeded", x.Status, x.StatusSummary)
		}
		acts, err := s.apiClient().ListActionExecutions(ctx, &codepipeline.ListActionExecutionsInput{PipelineName: aws.String("hello"),
			Filter: &cptypes.ActionExecutionFilter{PipelineExecutionId: aws.String(id)}})
		if err != nil {
			t.Fatal(err)
		}
		runs := map[string][]string{}
		for _, a := range acts.ActionExecutionDetails {
			runs[aws.ToString(a.ActionName)] = append(runs[aws.ToString(a.ActionName)], string(a.Status))
		}
		if len(runs["Source"]) != 1 || len(runs["BuildAndTest"]) != 2 || len(runs["Site"]) != 1 {
			t.Errorf("action executions: got %v, want Source once, BuildAndTest twice (Failed, then Succeeded), Site once", runs)
		}
		s.checkSiteSays(ctx, t, "hello from "+sha)
	})

	// The runs' ends reached the events function too: let them be handled before the
	// checks.
	s.waitRunEvents(ctx)
	t.Run("commit statuses", func(t *testing.T) {
		last := map[string]string{}
		for _, st := range s.github.posted() {
			f := strings.Fields(st) // sha state context
			if len(f) == 3 && f[2] == "relais/hello" {
				last[f[0]] = f[1]
			}
		}
		if !maps(last, finalStatus) {
			t.Errorf("last commit status of each commit: got %v, want %v", last, finalStatus)
		}
	})
	t.Run("stand-ins saw only well-formed requests", func(t *testing.T) { s.checkRequests(t) })
	t.Run("functions", func(t *testing.T) { s.checkFunctions(t) })
	t.Run("least privilege", func(t *testing.T) { s.checkGrants(t) })
}

// start pushes sha as GitHub does and returns the execution it started.
func (s *stack) start(ctx context.Context, t *testing.T, sha string) string {
	t.Helper()
	status, body := s.deliver(ctx, uuid.NewString(), pushEvent(sha))
	var dec struct {
		Executions []struct {
			ID string `json:"pipelineExecutionId"`
		} `json:"executions"`
	}
	if err := json.Unmarshal(body, &dec); err != nil || status != http.StatusOK || len(dec.Executions) != 1 {
		t.Fatalf("push of %s: got %d %s, want 200 and one execution", sha, status, body)
	}
	return dec.Executions[0].ID
}

// checkStages compares the stages' states of execution id, read through the API, with
// want (stage → status); stages not in want must not have run.
func (s *stack) checkStages(ctx context.Context, t *testing.T, id string, want map[string]string) {
	t.Helper()
	acts, err := s.apiClient().ListActionExecutions(ctx, &codepipeline.ListActionExecutionsInput{PipelineName: aws.String("hello"),
		Filter: &cptypes.ActionExecutionFilter{PipelineExecutionId: aws.String(id)}})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, a := range acts.ActionExecutionDetails {
		got[aws.ToString(a.StageName)] = string(a.Status)
	}
	if !maps(got, want) {
		t.Errorf("actions of execution %s by stage: got %v, want %v", id, got, want)
	}
}

// action returns the execution of one action of execution id, read through the API.
func (s *stack) action(ctx context.Context, t *testing.T, id, name string) cptypes.ActionExecutionDetail {
	t.Helper()
	acts, err := s.apiClient().ListActionExecutions(ctx, &codepipeline.ListActionExecutionsInput{PipelineName: aws.String("hello"),
		Filter: &cptypes.ActionExecutionFilter{PipelineExecutionId: aws.String(id)}})
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range acts.ActionExecutionDetails {
		if aws.ToString(a.ActionName) == name {
			return a
		}
	}
	return cptypes.ActionExecutionDetail{}
}

// checkRun compares the state machine run of execution id with want.
func (s *stack) checkRun(ctx context.Context, t *testing.T, id string, want sfntypes.ExecutionStatus) {
	t.Helper()
	out, err := s.sfn.DescribeExecution(ctx, &sfn.DescribeExecutionInput{ExecutionArn: aws.String(s.executionARN(id))})
	if err != nil {
		t.Fatal(err)
	}
	if out.Status != want {
		t.Errorf("state machine run of %s: got %s (%s: %s), want %s", id, out.Status, aws.ToString(out.Error), aws.ToString(out.Cause), want)
	}
}

func (s *stack) checkNothingDeployed(ctx context.Context, t *testing.T) {
	t.Helper()
	list, err := s.s3.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(siteBucket)})
	if err != nil {
		t.Fatal(err)
	}
	if len(list.Contents) > 0 {
		t.Errorf("the site bucket holds %d objects, want none", len(list.Contents))
	}
}

// waitInbound waits until execution id waits at the gate of stage, as GetPipelineState
// reports it (inboundExecutions).
func (s *stack) waitInbound(ctx context.Context, t *testing.T, stage, id string) {
	t.Helper()
	s.poll(ctx, "execution "+id+" waiting at the gate of "+stage, func() (bool, error) {
		out, err := s.apiClient().GetPipelineState(ctx, &codepipeline.GetPipelineStateInput{Name: aws.String("hello")})
		if err != nil {
			return false, err
		}
		for _, st := range out.StageStates {
			if aws.ToString(st.StageName) != stage {
				continue
			}
			for _, in := range st.InboundExecutions {
				if aws.ToString(in.PipelineExecutionId) == id {
					return true, nil
				}
			}
		}
		return false, nil
	})
}

// decide follows the approver's link of execution id's pending approval (the latest
// request for it) to approve or reject it.
func (s *stack) decide(ctx context.Context, t *testing.T, id, page, comment string) {
	t.Helper()
	var link string
	s.poll(ctx, "the approval request of "+id, func() (bool, error) {
		msgs := s.sns.messages()
		for i := len(msgs) - 1; i >= 0 && link == ""; i-- {
			if msgs[i].Attributes["execution"] != "String:"+id {
				continue
			}
			for _, l := range regexp.MustCompile(`https?://\S+/approvals/\S+`).FindAllString(msgs[i].Message, -1) {
				if u, err := url.Parse(l); err == nil && u.Query().Get("page") == page {
					link = l
				}
			}
		}
		return link != "", nil
	})
	b := newBrowser(t)
	p := b.get(ctx, link)
	if p.status != http.StatusOK {
		t.Fatalf("%s page of %s: got %d\n%s", page, id, p.status, p.body)
	}
	form := p.form()
	form.Set("comment", comment)
	if got := b.post(ctx, link, form); got.status != http.StatusOK {
		t.Fatalf("%s %s: got %d\n%s", page, id, got.status, got.body)
	}
}

// checkSiteSays checks the deployed index.txt.
func (s *stack) checkSiteSays(ctx context.Context, t *testing.T, want string) {
	t.Helper()
	obj, err := s.s3.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(siteBucket), Key: aws.String("index.txt")})
	if err != nil {
		t.Fatalf("the site: %v", err)
	}
	defer obj.Body.Close()
	got, _ := io.ReadAll(obj.Body)
	if strings.TrimSpace(string(got)) != want {
		t.Errorf("the site says %q, want %q", got, want)
	}
}
