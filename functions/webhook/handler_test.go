package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"flag"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/relais-ci/relais/shared/api/apitest"
	"github.com/relais-ci/relais/shared/webhook"
)

var update = flag.Bool("update", false, "rewrite events/webhook/*.json from the real deliveries")

// SampleSecret signs the samples in events/webhook (see its README.md).
const SampleSecret = "relais-sample-webhook-secret"

// samples are the events/webhook files: the real delivery each wraps, how, and the
// decision the handler must reach.
var samples = []struct {
	file, real, event string
	form, base64      bool
	status            int
	message           string
	pipelines         []string
}{
	{"push.json", "goscm-push-branch.json", "push", false, false, 200, "started 1 executions", []string{"hello"}},
	{"push-form-base64.json", "octokit-push-branch-created.json", "push", true, true, 200, "started 1 executions", []string{"hello"}},
	{"push-tag.json", "octokit-push-tag-created.json", "push", false, false, 200, "started 1 executions", []string{"hello-v2"}},
	{"push-branch-deleted.json", "goscm-push-branch-deleted.json", "push", false, false, 200, "ignored: ref refs/heads/feature-branch was deleted", nil},
	{"pull_request-opened.json", "octokit-pull_request-opened.json", "pull_request", false, false, 200, "started 1 executions", []string{"hello-v2"}},
	{"pull_request-synchronize.json", "octokit-pull_request-synchronize.json", "pull_request", false, false, 200, "started 1 executions", []string{"hello-v2"}},
	{"pull_request-closed-merged.json", "reallyfastci-pull_request-closed-merged.json", "pull_request", false, false, 200, "no pipeline matches pull request #3 (CLOSED into master) of ailisp/gcbapp-buildconfig-example", nil},
	{"ping.json", "octokit-ping-repository.json", "ping", false, false, 200, "pong", nil},
	{"create-ignored.json", "octokit-create-tag.json", "create", false, false, 202, "ignored: event create", nil},
}

const samplePipeline = `{"pipeline": {
  "name": %q, "roleArn": "arn:aws:iam::123456789012:role/relais",
  "artifactStore": {"type": "S3", "location": "relais-artifacts"},
  "pipelineType": "V2", "executionMode": "QUEUED", %s
  "stages": [
    {"name": "Source", "actions": [{"name": "Checkout",
      "actionTypeId": {"category": "Source", "owner": "AWS", "provider": "CodeStarSourceConnection", "version": "1"},
      "configuration": {"ConnectionArn": "arn:aws:codeconnections:us-east-1:123456789012:connection/00000000-0000-0000-0000-000000000000",
        "FullRepositoryId": "Codertocat/Hello-World", "BranchName": "master"},
      "outputArtifacts": [{"name": "Src"}]}]},
    {"name": "Build", "actions": [{"name": "Compile",
      "actionTypeId": {"category": "Build", "owner": "AWS", "provider": "CodeBuild", "version": "1"},
      "configuration": {"ProjectName": "hello"}, "inputArtifacts": [{"name": "Src"}]}]}
  ]}}`

const v2Triggers = `"triggers": [{"providerType": "CodeStarSourceConnection", "gitConfiguration": {"sourceActionName": "Checkout",
  "push": [{"tags": {"includes": ["simple-*"]}}], "pullRequest": [{"branches": {"includes": ["master"]}}]}}],`

// root is the folder holding go.mod.
func root(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		if filepath.Dir(dir) == dir {
			t.Fatal("no go.mod above the working directory")
		}
		dir = filepath.Dir(dir)
	}
}

func TestSamples(t *testing.T) {
	eventsDir := filepath.Join(root(t), "events", "webhook")
	if *update {
		writeSamples(t, eventsDir)
	}
	env := apitest.New(t)
	env.Install(t, fmt.Sprintf(samplePipeline, "hello", ""))
	env.Install(t, fmt.Sprintf(samplePipeline, "hello-v2", v2Triggers))
	svc := webhook.New(webhook.Deps{
		Pipelines: env.Store, Executions: env.Store, Deliveries: env.Store, Starter: env.Execution,
		Secrets: webhook.NewSecrets(SampleSecret), Clock: env.Clock, Logger: slog.New(slog.DiscardHandler),
	})
	h := handler{intake: svc}
	for _, s := range samples {
		t.Run(s.file, func(t *testing.T) {
			b, err := os.ReadFile(filepath.Join(eventsDir, s.file))
			if err != nil {
				t.Fatalf("%v (run with -update to write the samples)", err)
			}
			var req events.APIGatewayV2HTTPRequest
			if err := json.Unmarshal(b, &req); err != nil {
				t.Fatal(err)
			}
			resp, err := h.Handle(context.Background(), req)
			if err != nil {
				t.Fatal(err)
			}
			var d webhook.Decision
			if err := json.Unmarshal([]byte(resp.Body), &d); err != nil {
				t.Fatalf("body %q: %v", resp.Body, err)
			}
			if resp.StatusCode != s.status || d.Message != s.message || resp.Headers["content-type"] != "application/json" {
				t.Fatalf("got %d %q, want %d %q", resp.StatusCode, d.Message, s.status, s.message)
			}
			var got []string
			for _, x := range d.Executions {
				got = append(got, x.Pipeline)
			}
			if strings.Join(got, ",") != strings.Join(s.pipelines, ",") {
				t.Errorf("started %v, want %v", got, s.pipelines)
			}
			// Every sample is signed: without its signature, or with another secret, it is refused.
			forged := req
			forged.Headers = map[string]string{}
			for k, v := range req.Headers {
				forged.Headers[k] = v
			}
			forged.Headers["x-hub-signature-256"] = "sha256=" + strings.Repeat("0", 64)
			resp, _ = h.Handle(context.Background(), forged)
			if resp.StatusCode != 401 {
				t.Errorf("forged signature: got %d, want 401", resp.StatusCode)
			}
		})
	}
	t.Run("method", func(t *testing.T) {
		var req events.APIGatewayV2HTTPRequest
		req.RequestContext.HTTP.Method = "GET"
		resp, _ := h.Handle(context.Background(), req)
		if resp.StatusCode != 405 {
			t.Errorf("GET: got %d, want 405", resp.StatusCode)
		}
	})
}

// writeSamples wraps each real delivery in the request API Gateway (HTTP API, payload
// format 2.0) passes to the Lambda, signed with SampleSecret.
func writeSamples(t *testing.T, dir string) {
	real := filepath.Join(root(t), "..", "shared", "testdata", "real", "webhooks")
	secrets := webhook.NewSecrets(SampleSecret)
	at := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	for i, s := range samples {
		payload, err := os.ReadFile(filepath.Join(real, s.real))
		if err != nil {
			t.Fatal(err)
		}
		body, ct := payload, "application/json"
		if s.form {
			body, ct = []byte("payload="+url.QueryEscape(string(payload))), "application/x-www-form-urlencoded"
		}
		delivery := fmt.Sprintf("0b5e3f00-ca6a-11f0-8a0b-%012x", i+1)
		req := events.APIGatewayV2HTTPRequest{
			Version: "2.0", RouteKey: "POST /webhooks/github", RawPath: "/webhooks/github",
			Headers: map[string]string{
				"accept": "*/*", "content-type": ct, "user-agent": "GitHub-Hookshot/87e258b",
				"x-github-event": s.event, "x-github-delivery": delivery, "x-github-hook-id": "109948940",
				"x-hub-signature-256": secrets.Sign(body),
				"content-length":      fmt.Sprint(len(body)), "host": "abc123.execute-api.us-east-1.amazonaws.com",
			},
			RequestContext: events.APIGatewayV2HTTPRequestContext{
				RouteKey: "POST /webhooks/github", AccountID: "123456789012", Stage: "$default",
				RequestID: fmt.Sprintf("sample-%d", i+1), APIID: "abc123",
				DomainName: "abc123.execute-api.us-east-1.amazonaws.com", DomainPrefix: "abc123",
				Time: at.Format("02/Jan/2006:15:04:05 -0700"), TimeEpoch: at.UnixMilli(),
				HTTP: events.APIGatewayV2HTTPRequestContextHTTPDescription{
					Method: "POST", Path: "/webhooks/github", Protocol: "HTTP/1.1", SourceIP: "140.82.115.1", UserAgent: "GitHub-Hookshot/87e258b",
				},
			},
			Body: string(body),
		}
		if s.base64 {
			req.Body, req.IsBase64Encoded = base64.StdEncoding.EncodeToString(body), true
		}
		out, err := json.MarshalIndent(req, "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, s.file), append(out, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
