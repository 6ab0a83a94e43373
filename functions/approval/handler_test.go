package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"

	"github.com/relais-ci/relais/shared/approval"
	"github.com/relais-ci/relais/shared/approval/web"
	"github.com/relais-ci/relais/shared/core"
	"github.com/relais-ci/relais/shared/local/sqlitestore"
)

const approvalID = "0b5e8d1c-7f36-4c4e-9d1b-3f0d2c9a1e01"

// TestInvoke serves the sample GET through the real approval pages: as sampled (its
// signature is made up) the link is refused; signed by the server it shows the form.
func TestInvoke(t *testing.T) {
	ctx := context.Background()
	now := time.Now().UTC()
	st, err := sqlitestore.Open(ctx, filepath.Join(t.TempDir(), "relais.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.CreateApproval(ctx, core.Approval{ID: approvalID, PipelineName: "hello", ExecutionID: "e1", StageName: "Approval",
		ActionName: "Release", ActionExecutionID: approvalID, Status: core.ApprovalPending, TaskToken: "token",
		RequestedAt: now, ExpiresAt: now.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	links, err := approval.NewLinks("https://a1b2c3d4e5.execute-api.eu-west-1.amazonaws.com", []byte(strings.Repeat("k", 32)))
	if err != nil {
		t.Fatal(err)
	}
	h := NewHandler(web.New(web.Deps{Service: approval.New(approval.Deps{Approvals: st, Links: links})}))

	raw, err := os.ReadFile(filepath.Join("..", "..", "events", "approval", "get.json"))
	if err != nil {
		t.Fatal(err)
	}
	signed := func() []byte {
		var e map[string]any
		if err := json.Unmarshal(raw, &e); err != nil {
			t.Fatal(err)
		}
		q := links.Query(approval.Link{ApprovalID: approvalID, Page: approval.PageApprove, Recipient: "alice@example.com", Expires: now.Add(time.Hour)})
		e["rawQueryString"] = q.Encode()
		b, _ := json.Marshal(e)
		return b
	}
	tests := []struct {
		name       string
		payload    []byte
		wantStatus int
		wantBody   string
		wantCookie bool
	}{
		{"sample with a made-up signature", raw, 403, "Invalid link", false},
		{"signed by the server", signed(), 200, "<form", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := lambda.NewHandler(h.Invoke).Invoke(ctx, tt.payload)
			if err != nil {
				t.Fatalf("invoke: %v", err)
			}
			var res events.APIGatewayV2HTTPResponse
			if err := json.Unmarshal(out, &res); err != nil {
				t.Fatal(err)
			}
			if res.StatusCode != tt.wantStatus || !strings.Contains(res.Body, tt.wantBody) {
				t.Errorf("got %d with body %.300q, want %d with %q", res.StatusCode, res.Body, tt.wantStatus, tt.wantBody)
			}
			if got := len(res.Cookies) > 0; got != tt.wantCookie {
				t.Errorf("got cookies %v, want some: %v", res.Cookies, tt.wantCookie)
			}
		})
	}
}
