package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/codepipeline"
	"github.com/google/go-cmp/cmp"

	"github.com/relais-ci/relais/shared/api"
	"github.com/relais-ci/relais/shared/api/apitest"
)

// post sends a raw request and returns the status, the error type and the body.
func post(t *testing.T, url, method, target string, body []byte, header map[string]string) (int, string, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", api.ContentType)
	if target != "" {
		req.Header.Set("X-Amz-Target", target)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	var e struct {
		Type string `json:"__type"`
	}
	json.Unmarshal(data, &e)
	return resp.StatusCode, e.Type, data
}

func TestProtocol(t *testing.T) {
	env := apitest.New(t)
	env.Install(t, apitest.Pipeline)
	url := env.Server.URL
	for _, tc := range []struct {
		name       string
		method     string
		path       string
		target     string
		body       []byte
		wantStatus int
		wantType   string
	}{
		{"operation", "POST", "/", "CodePipeline_20150709.GetPipeline", []byte(`{"name":"demo"}`), 200, ""},
		{"unknown fields are ignored", "POST", "/", "CodePipeline_20150709.GetPipeline", []byte(`{"name":"demo","colour":"red","version":null}`), 200, ""},
		{"unknown operation", "POST", "/", "CodePipeline_20150709.CreatePipeline", []byte(`{}`), 400, "UnknownOperationException"},
		{"other service", "POST", "/", "AWSStepFunctions.StartExecution", []byte(`{}`), 400, "UnknownOperationException"},
		{"no target", "POST", "/", "", []byte(`{}`), 400, "UnknownOperationException"},
		{"malformed body", "POST", "/", "CodePipeline_20150709.GetPipeline", []byte(`{"name":`), 400, "SerializationException"},
		{"wrong member type", "POST", "/", "CodePipeline_20150709.GetPipeline", []byte(`{"name":42}`), 400, "SerializationException"},
		{"empty body", "POST", "/", "CodePipeline_20150709.GetPipeline", nil, 400, "ValidationException"},
		{"body too large", "POST", "/", "CodePipeline_20150709.GetPipeline", bytes.Repeat([]byte(" "), api.MaxBodyBytes+1), 413, "ValidationException"},
		{"GET", "GET", "/", "CodePipeline_20150709.GetPipeline", nil, 405, "UnknownOperationException"},
		{"other path", "POST", "/pipelines", "CodePipeline_20150709.GetPipeline", []byte(`{}`), 404, "UnknownOperationException"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, typ, body := post(t, url+tc.path, tc.method, tc.target, tc.body, nil)
			if status != tc.wantStatus || typ != tc.wantType {
				t.Errorf("got %d %q (%s), want %d %q", status, typ, body, tc.wantStatus, tc.wantType)
			}
		})
	}
}

func TestValidationMessages(t *testing.T) {
	env := apitest.New(t)
	for _, tc := range []struct {
		name, target, body, want string
	}{
		{"one", "StopPipelineExecution", `{"pipelineName":"demo"}`,
			"1 validation error detected: Value null at 'pipelineExecutionId' failed to satisfy constraint: Member must not be null"},
		{"all at once", "RetryStageExecution", `{"pipelineName":"a b","retryMode":"SOME"}`,
			"4 validation errors detected: " +
				"Value 'a b' at 'pipelineName' failed to satisfy constraint: Member must satisfy regular expression pattern: [A-Za-z0-9.@\\-_]+; " +
				"Value null at 'stageName' failed to satisfy constraint: Member must not be null; " +
				"Value null at 'pipelineExecutionId' failed to satisfy constraint: Member must not be null; " +
				"Value 'SOME' at 'retryMode' failed to satisfy constraint: Member must satisfy enum value set: [FAILED_ACTIONS, ALL_ACTIONS]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, typ, body := post(t, env.Server.URL, "POST", api.TargetPrefix+tc.target, []byte(tc.body), nil)
			var e struct{ Message string }
			json.Unmarshal(body, &e)
			if status != 400 || typ != "ValidationException" || e.Message != tc.want {
				t.Errorf("got %d %s %q, want 400 ValidationException %q", status, typ, e.Message, tc.want)
			}
		})
	}
}

func TestOperationsAllAnswered(t *testing.T) {
	want := []string{
		"DisableStageTransition", "EnableStageTransition", "GetPipeline", "GetPipelineExecution", "GetPipelineState",
		"ListActionExecutions", "ListPipelineExecutions", "ListPipelines", "PutApprovalResult", "RetryStageExecution",
		"StartPipelineExecution", "StopPipelineExecution",
	}
	got := api.Operations()
	slices.Sort(got)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("operations (-want +got):\n%s", diff)
	}
}

func TestToken(t *testing.T) {
	env := apitest.New(t, api.WithToken("s3cret"))
	env.Install(t, apitest.Pipeline)
	ctx := context.Background()
	in := &codepipeline.ListPipelinesInput{}
	for _, tc := range []struct {
		name   string
		header map[string]string
		code   string
	}{
		{"no token", nil, "AccessDeniedException"},
		{"wrong token", map[string]string{api.TokenHeader: "s3cret!"}, "AccessDeniedException"},
		{"prefix of the token", map[string]string{api.TokenHeader: "s3c"}, "AccessDeniedException"},
		{"token", map[string]string{api.TokenHeader: "s3cret"}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := env.Client(func(o *codepipeline.Options) {
				for k, v := range tc.header {
					o.APIOptions = append(o.APIOptions, apitest.WithHeader(k, v))
				}
			})
			_, err := c.ListPipelines(ctx, in)
			wantCode(t, err, tc.code)
		})
	}
	status, _, _ := post(t, env.Server.URL, "POST", "CodePipeline_20150709.ListPipelines", []byte(`{}`), nil)
	if status != http.StatusForbidden {
		t.Errorf("got status %d without a token, want 403", status)
	}
}

func TestInternalErrorsSayNothing(t *testing.T) {
	env := apitest.New(t)
	env.Install(t, apitest.Pipeline)
	env.Store.Close() // every store call fails from now on
	status, typ, body := post(t, env.Server.URL, "POST", "CodePipeline_20150709.ListPipelines", []byte(`{}`), nil)
	if status != http.StatusInternalServerError || typ != "InternalFailure" {
		t.Errorf("got %d %q, want 500 InternalFailure", status, typ)
	}
	if strings.Contains(strings.ToLower(string(body)), "sql") || strings.Contains(string(body), "closed") {
		t.Errorf("got body %s, want nothing of the cause", body)
	}
	_, err := env.Client().GetPipeline(context.Background(), &codepipeline.GetPipelineInput{Name: aws.String("demo")})
	wantCode(t, err, "InternalFailure")
}
