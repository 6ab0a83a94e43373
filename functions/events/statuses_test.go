package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/relais-ci/relais/shared/core"
	"github.com/relais-ci/relais/shared/webhook"
)

// gitHub is an httptest GitHub that records commit statuses as the REST API takes
// them (POST /repos/{owner}/{repo}/statuses/{sha}, 201) and answers the first fail
// requests with failStatus.
type gitHub struct {
	mu         sync.Mutex
	posts      []statusPost
	fail       int
	failStatus int
}

type statusPost struct {
	Method, Path, Auth, Accept string
	Body                       map[string]any
}

func (g *gitHub) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	raw, _ := io.ReadAll(r.Body)
	var body map[string]any
	_ = json.Unmarshal(raw, &body)
	g.mu.Lock()
	defer g.mu.Unlock()
	g.posts = append(g.posts, statusPost{Method: r.Method, Path: r.URL.Path, Auth: r.Header.Get("Authorization"), Accept: r.Header.Get("Accept"), Body: body})
	if g.fail > 0 {
		g.fail--
		w.WriteHeader(g.failStatus)
		io.WriteString(w, `{"message":"try again"}`)
		return
	}
	w.WriteHeader(http.StatusCreated)
	io.WriteString(w, `{"id":1}`)
}

// executions answers GetExecution with each snapshot in turn, the last one from then on.
type executions struct {
	mu        sync.Mutex
	snapshots []core.Execution
	reads     int
}

func (x *executions) GetExecution(_ context.Context, pipelineName, id string) (core.Execution, error) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if len(x.snapshots) == 0 {
		return core.Execution{}, core.ErrNotFound
	}
	e := x.snapshots[min(x.reads, len(x.snapshots)-1)]
	x.reads++
	if e.PipelineName != pipelineName || e.ID != id {
		return core.Execution{}, core.ErrNotFound
	}
	return e, nil
}

const (
	execID  = "6f1c1b8e-2f0a-4c55-9a51-0c4f0f4b2b11"
	commit  = "3f786850e387550fdab836ed7e6dc881de23001b"
	pageURL = "https://eu-west-1.console.aws.amazon.com/states/home?region=eu-west-1#/v2/executions/details/" +
		"arn:aws:states:eu-west-1:123456789012:execution:Relais-hello:" + execID
)

// fromGitHub is execution execID of hello as a push to relais-ci/hello started it.
func fromGitHub(status core.ExecutionStatus) core.Execution {
	detail := webhook.TriggerDetail{Provider: webhook.ProviderGitHub, Delivery: "d-1", Event: "push",
		Repository: "relais-ci/hello", Ref: "refs/heads/main", Branch: "main", Commit: commit, Author: "octocat"}
	return core.Execution{PipelineName: "hello", ID: execID, Status: status,
		Trigger: core.Trigger{Type: core.TriggerWebhookV2, Detail: detail.String()}}
}

func post(state, desc string) statusPost {
	return statusPost{Method: http.MethodPost, Path: "/repos/relais-ci/hello/statuses/" + commit, Auth: "Bearer gh-token",
		Accept: "application/vnd.github+json",
		Body:   map[string]any{"state": state, "context": "relais/hello", "description": "Relais: execution " + desc, "target_url": pageURL}}
}

// TestExecutionStatusesPostCommitStatuses drives the handler with Step Functions
// events and checks the commit statuses a GitHub stand-in receives: pending when a run
// starts, the final state when it ends, whatever order the events come in.
func TestExecutionStatusesPostCommitStatuses(t *testing.T) {
	retried := fromGitHub(core.ExecutionInProgress)
	retried.EngineRun = execID + "-retry-1"
	manual := fromGitHub(core.ExecutionSucceeded)
	manual.Trigger = core.Trigger{Type: core.TriggerStartPipelineExecution, Detail: "alice"}
	tests := []struct {
		name       string
		sample     string
		snapshots  []core.Execution
		fail       int
		failStatus int
		want       Output
		wantPosts  []statusPost
		wantEnded  int
	}{
		{name: "run started", sample: "stepfunctions-running.json", snapshots: []core.Execution{fromGitHub(core.ExecutionInProgress)},
			want: Output{Outcome: outcomeReported}, wantPosts: []statusPost{post("pending", "in progress")}},
		{name: "run succeeded", sample: "stepfunctions-succeeded.json", snapshots: []core.Execution{fromGitHub(core.ExecutionSucceeded)},
			want: Output{Outcome: outcomeReported}, wantPosts: []statusPost{post("success", "succeeded")}},
		{name: "run timed out", sample: "stepfunctions-timed-out.json", snapshots: []core.Execution{fromGitHub(core.ExecutionFailed)},
			want: Output{Outcome: outcomeEnded}, wantPosts: []statusPost{post("failure", "failed")}, wantEnded: 1},
		{name: "run aborted", sample: "stepfunctions-aborted.json", snapshots: []core.Execution{fromGitHub(core.ExecutionStopped)},
			want: Output{Outcome: outcomeEnded}, wantPosts: []statusPost{post("error", "stopped")}, wantEnded: 1},
		{
			// The start is handled while the execution ends: the final state is posted last.
			name: "ended while its start was reported", sample: "stepfunctions-running.json",
			snapshots: []core.Execution{fromGitHub(core.ExecutionInProgress), fromGitHub(core.ExecutionSucceeded)},
			want:      Output{Outcome: outcomeReported}, wantPosts: []statusPost{post("pending", "in progress"), post("success", "succeeded")},
		},
		{
			// The start is delivered after the end: the end is posted, not pending.
			name: "start delivered after the end", sample: "stepfunctions-running.json", snapshots: []core.Execution{fromGitHub(core.ExecutionFailed)},
			want: Output{Outcome: outcomeReported}, wantPosts: []statusPost{post("failure", "failed")},
		},
		{name: "older run of a retried execution", sample: "stepfunctions-succeeded.json", snapshots: []core.Execution{retried},
			want: Output{Outcome: outcomeReported}},
		{name: "not started by GitHub", sample: "stepfunctions-succeeded.json", snapshots: []core.Execution{manual},
			want: Output{Outcome: outcomeReported}},
		{name: "unknown execution", sample: "stepfunctions-succeeded.json", want: Output{Outcome: outcomeReported}},
		{
			name: "GitHub unavailable, then back", sample: "stepfunctions-succeeded.json", snapshots: []core.Execution{fromGitHub(core.ExecutionSucceeded)},
			fail: 2, failStatus: http.StatusBadGateway,
			want:      Output{Outcome: outcomeReported},
			wantPosts: []statusPost{post("success", "succeeded"), post("success", "succeeded"), post("success", "succeeded")},
		},
		{
			// Every attempt fails: logged, and the event is still handled.
			name: "GitHub down", sample: "stepfunctions-timed-out.json", snapshots: []core.Execution{fromGitHub(core.ExecutionFailed)},
			fail: 100, failStatus: http.StatusInternalServerError,
			want: Output{Outcome: outcomeEnded}, wantEnded: 1,
			wantPosts: []statusPost{post("failure", "failed"), post("failure", "failed"), post("failure", "failed")},
		},
		{
			// A refused token is not retried.
			name: "token refused", sample: "stepfunctions-succeeded.json", snapshots: []core.Execution{fromGitHub(core.ExecutionSucceeded)},
			fail: 100, failStatus: http.StatusUnauthorized,
			want: Output{Outcome: outcomeReported}, wantPosts: []statusPost{post("success", "succeeded")},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			gh := &gitHub{fail: tt.fail, failStatus: tt.failStatus}
			srv := httptest.NewServer(gh)
			defer srv.Close()
			runs := &fakeRuns{}
			statuses := Statuses{
				GitHub: webhook.NewGitHub(srv.URL, "gh-token", srv.Client()),
				Link: RunLink(func(p, run string) string {
					return "arn:aws:states:eu-west-1:123456789012:execution:Relais-" + p + ":" + run
				}),
				Backoff: time.Millisecond, Logger: discard,
			}
			h := New(Deps{Builds: &fakeCompleter{}, Runs: runs, Executions: &executions{snapshots: tt.snapshots}, Statuses: statuses, Logger: discard})
			out, err := h.Invoke(context.Background(), sample(t, tt.sample))
			if err != nil {
				t.Fatalf("invoke: %v", err)
			}
			if out != tt.want {
				t.Errorf("got %+v, want %+v", out, tt.want)
			}
			if diff := cmp.Diff(tt.wantPosts, gh.posts); diff != "" {
				t.Errorf("commit statuses (-want +got):\n%s", diff)
			}
			if len(runs.got) != tt.wantEnded {
				t.Errorf("got %d runs ended, want %d", len(runs.got), tt.wantEnded)
			}
		})
	}
}

func TestExecutionConsoleURL(t *testing.T) {
	tests := map[string]string{
		"arn:aws:states:eu-west-1:123456789012:execution:Relais-hello:x": "https://eu-west-1.console.aws.amazon.com/states/home?region=eu-west-1#/v2/executions/details/arn:aws:states:eu-west-1:123456789012:execution:Relais-hello:x",
		"arn:aws-cn:states:cn-north-1:123456789012:execution:m:x":        "https://cn-north-1.console.amazonaws.cn/states/home?region=cn-north-1#/v2/executions/details/arn:aws-cn:states:cn-north-1:123456789012:execution:m:x",
		"arn:aws:codebuild:eu-west-1:123456789012:build/p:1":             "",
		"not an arn": "",
	}
	for in, want := range tests {
		if got := ExecutionConsoleURL(in); got != want {
			t.Errorf("ExecutionConsoleURL(%q) = %q, want %q", in, got, want)
		}
	}
}
