package action_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/relais-ci/relais/shared/action"
	"github.com/relais-ci/relais/shared/core"
	"github.com/relais-ci/relais/shared/core/coretest"
	"github.com/relais-ci/relais/shared/local/sqlitestore"
)

// endsMeanwhile is an action store where another run ends an action just before it is
// recorded InProgress, or just before it is recorded ended: as when Resume runs an
// action left InProgress by a crash while the engine invokes its task again.
type endsMeanwhile struct {
	*sqlitestore.Store
	status core.ActionStatus // how the other run ends it
	before core.ActionStatus // the write it overtakes
	done   bool
}

func (s *endsMeanwhile) PutAction(ctx context.Context, a core.ActionExecution) error {
	if a.Status == s.before && !s.done {
		s.done = true
		other := a
		other.Status, other.TaskToken = s.status, "old-token"
		if err := s.Store.PutAction(ctx, other); err != nil {
			return err
		}
	}
	return s.Store.PutAction(ctx, a)
}

const declaration = `{"pipeline": {"name": "p", "roleArn": "arn:aws:iam::123456789012:role/relais",
 "artifactStore": {"type": "S3", "location": "artifacts"},
 "stages": [
  {"name": "Source", "actions": [{"name": "Src",
    "actionTypeId": {"category": "Source", "owner": "AWS", "provider": "S3", "version": "1"},
    "configuration": {"S3Bucket": "src", "S3ObjectKey": "src.zip"}, "outputArtifacts": [{"name": "Code"}]}]},
  {"name": "Build", "actions": [{"name": "Compile",
    "actionTypeId": {"category": "Build", "owner": "AWS", "provider": "CodeBuild", "version": "1"},
    "configuration": {"ProjectName": "p"}, "inputArtifacts": [{"name": "Code"}]}]}
 ]}}`

// TestActionEndedByAnotherRun: whichever run of an action records its end first, the
// token the engine waits for now gets the recorded outcome, and Handle does not fail
// the stage.
func TestActionEndedByAnotherRun(t *testing.T) {
	for _, tc := range []struct {
		name           string
		other, before  core.ActionStatus
		provider, want string
	}{
		{"ended before it is recorded InProgress", core.ActionSucceeded, core.ActionInProgress, "succeed", "new-token success"},
		{"failed before it is recorded InProgress", core.ActionFailed, core.ActionInProgress, "succeed", "new-token " + core.ErrorActionFailed},
		{"ended otherwise before this run's end is recorded", core.ActionFailed, core.ActionSucceeded, "succeed", "new-token " + core.ErrorActionFailed},
		{"abandoned before this run's end is recorded", core.ActionAbandoned, core.ActionFailed, "fail", "new-token " + core.ErrorActionAbandoned},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := t.Context()
			db, err := sqlitestore.Open(ctx, filepath.Join(t.TempDir(), "relais.db"))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { db.Close() })
			store := &endsMeanwhile{Store: db, status: tc.other, before: tc.before}
			must := func(err error) {
				t.Helper()
				if err != nil {
					t.Fatal(err)
				}
			}
			_, err = db.PutPipeline(ctx, core.Pipeline{Name: "p", Declaration: json.RawMessage(declaration)})
			must(err)
			now := time.Now().UTC()
			_, err = db.CreateExecution(ctx, core.Execution{PipelineName: "p", ID: "e1", Status: core.ExecutionInProgress,
				Mode: core.ModeSuperseded, StartTime: now, LastUpdateTime: now})
			must(err)
			for _, st := range []string{"Source", "Build"} {
				must(db.PutStage(ctx, core.StageExecution{PipelineName: "p", ExecutionID: "e1", StageName: st,
					Status: core.StageInProgress, Attempt: 1, StartTime: now, LastUpdateTime: now}))
			}
			must(db.PutAction(ctx, core.ActionExecution{ID: "src", PipelineName: "p", ExecutionID: "e1", StageName: "Source",
				ActionName: "Src", Attempt: 1, Status: core.ActionSucceeded, StartTime: now, LastUpdateTime: now,
				OutputArtifacts: []core.Artifact{{Name: "Code", Location: core.ArtifactLocation{Store: "artifacts", Key: "p/e1/Code.zip"}}}}))
			// The run from before the crash, still InProgress.
			must(db.PutAction(ctx, core.ActionExecution{ID: "build", PipelineName: "p", ExecutionID: "e1", StageName: "Build",
				ActionName: "Compile", Attempt: 1, Status: core.ActionInProgress, TaskToken: "old-token",
				StartTime: now, LastUpdateTime: now}))

			engine := make(coretest.Answers, 4)
			provider := action.ProviderFunc(func(context.Context, action.Job) (action.Result, error) {
				if tc.provider == "fail" {
					return action.Failed("JobFailed", fmt.Errorf("broke")), nil
				}
				return action.Result{Status: core.ActionSucceeded}, nil
			})
			svc := action.New(action.Deps{Pipelines: db, Executions: db, Stages: db, Actions: store, Engine: engine,
				Providers: map[string]action.Provider{"Build/AWS/CodeBuild": provider}, Logger: slog.New(slog.DiscardHandler)})
			if err := svc.Handle(ctx, core.ActionTask{Pipeline: "p", ExecutionID: "e1", Stage: "Build", Action: "Compile", Token: "new-token"}); err != nil {
				t.Fatalf("Handle: %v", err)
			}
			select {
			case got := <-engine:
				if !strings.HasPrefix(got, tc.want) {
					t.Errorf("engine got %q, want %q…", got, tc.want)
				}
			default:
				t.Fatal("the new token was not answered")
			}
			got, err := db.GetAction(ctx, "p", "build")
			must(err)
			if got.Status != tc.other {
				t.Errorf("recorded %s, want %s (the first end recorded stands)", got.Status, tc.other)
			}
		})
	}
}
