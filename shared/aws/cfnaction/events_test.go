package cfnaction

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/relais-ci/relais/shared/action"
	"github.com/relais-ci/relais/shared/core"
)

// The samples' stack and action execution.
const (
	sampleStackID = "arn:aws:cloudformation:eu-west-1:111122223333:stack/web-app/ff5d1d30-155a-11f1-8b0b-0a1b2c3d4e5f"
	sampleAction  = "0f8fad5b-d9cb-469f-a165-70867728950e"
)

// sampleFixture has the stack of the samples in testdata, in status, with the outputs of
// env, and the action of the samples recorded InProgress.
func sampleFixture(t *testing.T, status string) *fixture {
	f := newFixture(t)
	s := f.cfn.put("web-app", status, appDeployment("prod"), "relais-"+sampleAction+"-u")
	f.cfn.mu.Lock()
	delete(f.cfn.byID, s.id)
	s.id = sampleStackID
	f.cfn.byID[s.id] = s
	f.cfn.addEvent(s, "Bucket", "", "AWS::S3::Bucket", "UPDATE_FAILED", "Access Denied")
	f.cfn.mu.Unlock()
	j := f.job(stackCfg(ModeCreateUpdate), source())
	j.Record.ID = sampleAction
	j.Record.ExternalExecutionID = ExternalID(sampleAction)
	f.actions.byExt[j.Record.ExternalExecutionID] = j.Record
	return f
}

func readSample(t *testing.T, name string) json.RawMessage {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

func TestStackEventSamples(t *testing.T) {
	stem := "relais-" + sampleAction
	tests := []struct {
		file, status string
		wantExt      string
		wantDone     bool
		want         action.Result
	}{
		{"stack-create-complete.json", "CREATE_COMPLETE", stem, true, action.Result{
			Status: core.ActionSucceeded, Summary: "Stack web-app created", ExternalID: stem,
			OutputVariables: map[string]string{"EnvOut": "prod", "SizeOut": "small", "CodeKeyOut": "-", "Fixed": "42"},
		}},
		{"stack-update-rollback-complete.json", "UPDATE_ROLLBACK_COMPLETE", stem, true, action.Failed("JobFailed", errors.New(
			"Stack web-app ended UPDATE_ROLLBACK_COMPLETE: The following resource(s) failed to update: [Bucket]. ; "+
				"first failure: [Bucket] UPDATE_FAILED: Access Denied")),
		},
		{"stack-update-in-progress.json", "UPDATE_IN_PROGRESS", stem, false, action.Result{}},
		{"stack-console-update-complete.json", "UPDATE_COMPLETE", "", false, action.Result{}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			f := sampleFixture(t, tt.status)
			ext, res, done, err := f.dep.StackEvent(t.Context(), readSample(t, tt.file))
			if err != nil {
				t.Fatal(err)
			}
			if ext != tt.wantExt || done != tt.wantDone {
				t.Errorf("got external id %q, done %v; want %q, %v", ext, done, tt.wantExt, tt.wantDone)
			}
			if tt.want.Status == core.ActionFailed {
				tt.want.Summary, tt.want.ExternalID = tt.want.Error.Message, stem
			}
			if tt.wantDone {
				tt.want.ExternalURL = stackURL(sampleStackID)
			}
			if diff := cmp.Diff(tt.want, res); diff != "" {
				t.Errorf("result (-want +got):\n%s", diff)
			}
		})
	}
}

func TestStackEventIgnores(t *testing.T) {
	f := sampleFixture(t, "CREATE_COMPLETE")
	build := readSample(t, "stack-create-complete.json")
	build = json.RawMessage(strings.Replace(string(build), `"source": "aws.cloudformation"`, `"source": "aws.codebuild"`, 1))
	for name, raw := range map[string]json.RawMessage{
		"another source":   build,
		"not our token":    json.RawMessage(strings.Replace(string(readSample(t, "stack-create-complete.json")), "relais-", "other-", 1)),
		"no token":         json.RawMessage(`{"source": "aws.cloudformation", "detail-type": "CloudFormation Stack Status Change", "detail": {"stack-id": "x", "status-details": {"status": "CREATE_COMPLETE"}}}`),
		"an unknown op":    json.RawMessage(strings.Replace(string(readSample(t, "stack-create-complete.json")), "e-c\"", "e-q\"", 1)),
		"a drift detector": json.RawMessage(`{"source": "aws.cloudformation", "detail-type": "CloudFormation Drift Detection Status Change", "detail": {}}`),
	} {
		ext, _, done, err := f.dep.StackEvent(t.Context(), raw)
		if err != nil || done || ext != "" {
			t.Errorf("%s: got %q, %v, %v; want ignored", name, ext, done, err)
		}
	}
	if _, _, _, err := f.dep.StackEvent(t.Context(), json.RawMessage(`{"source": 1}`)); err == nil {
		t.Error("an unreadable event: got no error")
	}
	if w := f.writes(); len(w) != 0 {
		t.Errorf("got writes %v", w)
	}
}

func TestStackEventUnknownOrEndedAction(t *testing.T) {
	f := sampleFixture(t, "CREATE_COMPLETE")
	raw := readSample(t, "stack-create-complete.json")

	// Not (yet) in the store: an error the events function retries on.
	delete(f.actions.byExt, ExternalID(sampleAction))
	ext, _, done, err := f.dep.StackEvent(t.Context(), raw)
	if !errors.Is(err, core.ErrNotFound) || done || ext != ExternalID(sampleAction) {
		t.Errorf("unknown action: got %q, %v, %v; want ErrNotFound", ext, done, err)
	}

	// Ended already (abandoned by a stop): nothing to do.
	f.actions.byExt[ExternalID(sampleAction)] = core.ActionExecution{ID: sampleAction, Status: core.ActionAbandoned,
		PipelineName: "web", Configuration: map[string]string{"StackName": "web-app"}}
	ext, _, done, err = f.dep.StackEvent(t.Context(), raw)
	if err != nil || done || ext != ExternalID(sampleAction) {
		t.Errorf("ended action: got %q, %v, %v; want not done", ext, done, err)
	}
}

func TestCancelAction(t *testing.T) {
	f := newFixture(t)
	f.cfn.put("web-app", "CREATE_COMPLETE", appDeployment("test"), "Console-CreateStack-1")
	j := f.job(stackCfg(ModeCreateUpdate, "ParameterOverrides", `{"Env": "prod"}`), source())
	res := f.run(j)
	rec := j.Record
	rec.ExternalExecutionID = res.ExternalID

	other := rec
	other.ID = "another-action"
	other.ExternalExecutionID = ExternalID(other.ID)
	build := core.ActionExecution{ID: "b", ActionName: "Build", ExternalExecutionID: "p:1",
		Type: core.ActionType{Category: "Build", Owner: "AWS", Provider: "CodeBuild"}}
	for _, a := range []core.ActionExecution{other, build} {
		if err := f.dep.CancelAction(t.Context(), a); err != nil {
			t.Fatal(err)
		}
	}
	if w := f.writes(); strings.Contains(strings.Join(w, " "), "CancelUpdateStack") {
		t.Fatalf("cancelled another action's update: %v", w)
	}
	if err := f.dep.CancelAction(t.Context(), rec); err != nil {
		t.Fatal(err)
	}
	if got := f.cfn.last("CancelUpdateStack").Get("StackName"); got != f.cfn.stack("web-app").id {
		t.Errorf("cancelled %q", got)
	}
	if got := f.cfn.status("web-app"); got != "UPDATE_ROLLBACK_IN_PROGRESS" {
		t.Errorf("stack is %s, want UPDATE_ROLLBACK_IN_PROGRESS", got)
	}
	// Again, with nothing left to cancel: no error, no request.
	n := len(f.writes())
	if err := f.dep.CancelAction(t.Context(), rec); err != nil {
		t.Fatal(err)
	}
	if len(f.writes()) != n {
		t.Errorf("cancelled again: %v", f.writes())
	}

	// A stack that is gone has nothing to cancel.
	gone := rec
	gone.Configuration = map[string]string{"StackName": "gone"}
	if err := f.dep.CancelAction(t.Context(), gone); err != nil {
		t.Errorf("stack gone: got %v", err)
	}

	// A creation cannot be cancelled.
	c := f.job(stackCfg(ModeCreateUpdate, "StackName", "new-app", "ParameterOverrides", `{"Env": "prod"}`), source())
	res = f.run(c)
	c.Record.ExternalExecutionID = res.ExternalID
	if err := f.dep.CancelAction(t.Context(), c.Record); err != nil {
		t.Fatal(err)
	}
	if len(f.writes()) != n+1 {
		t.Errorf("got writes %v, want only the CreateStack", f.writes())
	}
}

func TestExternalID(t *testing.T) {
	tokenRE := regexp.MustCompile(`^[a-zA-Z0-9][-a-zA-Z0-9]*$`)
	for _, id := range []string{"0f8fad5b-d9cb-469f-a165-70867728950e", "act_1", "", strings.Repeat("a", 101), "ünï"} {
		ext := ExternalID(id)
		for _, op := range []string{opCreate, opUpdate, opDelete, opReplace, opExecute} {
			tok := token(ext, op)
			if len(tok) > 128 || !tokenRE.MatchString(tok) {
				t.Errorf("id %q: token %q is not one CloudFormation takes", id, tok)
			}
			stem, gotOp, ok := parseToken(tok)
			if !ok || stem != ext || gotOp != op {
				t.Errorf("parseToken(%q) = %q, %q, %v; want %q, %q", tok, stem, gotOp, ok, ext, op)
			}
		}
	}
	if got := ExternalID("0f8fad5b-d9cb-469f-a165-70867728950e"); got != "relais-0f8fad5b-d9cb-469f-a165-70867728950e" {
		t.Errorf("got %q", got)
	}
	if ExternalID("a_1") == ExternalID("a_2") {
		t.Error("two ids share an external id")
	}
	for _, tok := range []string{"", "relais-", "relais-c", "relais--c", "Console-CreateStack-1", "relais-abc", "relais-abc-cc"} {
		if _, _, ok := parseToken(tok); ok {
			t.Errorf("parseToken(%q): got ok", tok)
		}
	}
}
