package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"

	"github.com/relais-ci/relais/shared/api"
	"github.com/relais-ci/relais/shared/api/apitest"
)

func sample(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "events", "api", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestInvoke answers the samples with the real API over a SQLite store, holding the
// token the samples carry.
func TestInvoke(t *testing.T) {
	hello, err := os.ReadFile(filepath.Join("..", "..", "pipelines", "hello.json"))
	if err != nil {
		t.Fatal(err)
	}
	env := apitest.New(t, api.WithToken("sample-token"))
	env.Install(t, string(hello))
	h := NewHandler(env.Handler)
	tests := []struct {
		sample     string
		wantStatus int
		wantBody   string
	}{
		{"list-pipelines.json", 200, `"name":"hello"`},
		{"get-pipeline-state-base64.json", 200, `"pipelineName":"hello"`},
		{"no-token.json", 403, `AccessDeniedException`},
	}
	for _, tt := range tests {
		t.Run(tt.sample, func(t *testing.T) {
			out, err := lambda.NewHandler(h.Invoke).Invoke(context.Background(), sample(t, tt.sample))
			if err != nil {
				t.Fatalf("invoke: %v", err)
			}
			var res events.APIGatewayV2HTTPResponse
			if err := json.Unmarshal(out, &res); err != nil {
				t.Fatal(err)
			}
			if res.StatusCode != tt.wantStatus || !strings.Contains(res.Body, tt.wantBody) {
				t.Errorf("got %d %s, want %d with %s", res.StatusCode, res.Body, tt.wantStatus, tt.wantBody)
			}
			if got := res.Headers["Content-Type"]; got != api.ContentType {
				t.Errorf("got Content-Type %q, want %q", got, api.ContentType)
			}
		})
	}
}
