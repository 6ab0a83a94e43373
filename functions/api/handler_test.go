package main

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/cfn"
	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"
	"github.com/google/go-cmp/cmp"

	"github.com/relais-ci/relais/shared/api"
	"github.com/relais-ci/relais/shared/api/apitest"
	"github.com/relais-ci/relais/shared/core"
	"github.com/relais-ci/relais/shared/pipeline"
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
	h := NewHandler(env.Handler, nil)
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

type fakeInstaller struct{ got []string }

func (f *fakeInstaller) Install(_ context.Context, raw []byte) (core.Pipeline, error) {
	d, err := pipeline.Parse(raw)
	if err != nil {
		return core.Pipeline{}, err
	}
	f.got = append(f.got, d.Name)
	return core.Pipeline{Name: d.Name, Version: 1}, nil
}

// TestInstallCustomResource answers the custom resource samples through aws-lambda-go's
// cfn wrapper, whose answer to CloudFormation a test server records.
func TestInstallCustomResource(t *testing.T) {
	tests := []struct {
		sample        string
		wantInstalled []string
		wantData      map[string]any
	}{
		{"install-create.json", []string{"hello"}, map[string]any{"Installed": float64(1)}},
		{"install-delete.json", nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.sample, func(t *testing.T) {
			var answer cfn.Response
			cf := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.Method != http.MethodPut {
					t.Errorf("got %s to CloudFormation, want PUT", r.Method)
				}
				json.NewDecoder(r.Body).Decode(&answer)
			}))
			defer cf.Close()
			var e map[string]any
			if err := json.Unmarshal(sample(t, tt.sample), &e); err != nil {
				t.Fatal(err)
			}
			e["ResponseURL"] = cf.URL + "/response"
			payload, _ := json.Marshal(e)
			inst := &fakeInstaller{}
			if _, err := lambda.NewHandler(NewHandler(http.NotFoundHandler(), inst).Invoke).Invoke(context.Background(), payload); err != nil {
				t.Fatalf("invoke: %v", err)
			}
			if diff := cmp.Diff(tt.wantInstalled, inst.got); diff != "" {
				t.Errorf("installed (-want +got):\n%s", diff)
			}
			got := map[string]any{"Status": answer.Status, "PhysicalResourceId": answer.PhysicalResourceID, "Data": answer.Data}
			want := map[string]any{"Status": cfn.StatusSuccess, "PhysicalResourceId": "relais-pipelines", "Data": tt.wantData}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("answer to CloudFormation (-want +got):\n%s", diff)
			}
		})
	}
}
