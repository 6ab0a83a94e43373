package webhook_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"github.com/relais-ci/relais/shared/webhook"
	"strings"
	"testing"
)

// benchPipelines returns 100 declarations: 10 on the pushed repository (defaults, branch
// and file-path triggers, tag triggers, pull-request triggers), 90 on other repositories.
func benchPipelines() map[string]string {
	out := map[string]string{}
	for i := range 100 {
		name := fmt.Sprintf("p%03d", i)
		src := source{repo: fmt.Sprintf("org/repo-%d", i), branch: "main"}
		if i < 10 {
			src.repo = "org/app"
			switch i % 4 {
			case 0:
				src.branch = fmt.Sprintf("branch-%d", i) // default: fires for its own branch only
			case 1:
				src.triggers = `{"push": [{"branches": {"includes": ["main", "release/**"], "excludes": ["release/old-*"]},
					"filePaths": {"includes": ["services/` + fmt.Sprint(i) + `/**", "docs/**/*.md"], "excludes": ["**/*_test.go"]}}]}`
			case 2:
				src.triggers = `{"push": [{"tags": {"includes": ["v*"]}}]}`
			case 3:
				src.triggers = `{"pullRequest": [{"events": ["OPEN"], "branches": {"includes": ["main"]}}]}`
			}
		}
		out[name] = decl(name, src)
	}
	return out
}

// benchPush is a push of 19 commits (below GitHub's truncation) to org/app main, about
// 25 KB like a busy monorepo push.
func benchPush() []byte {
	var commits []map[string]any
	for i := range 19 {
		var files []string
		for j := range 18 {
			files = append(files, fmt.Sprintf("services/%d/internal/handlers/file_%02d_%02d.go", (i+j)%40+20, i, j))
		}
		commits = append(commits, map[string]any{
			"id": fmt.Sprintf("%040x", i+1), "message": "Change the handlers, again\n\nWith a longer body explaining why.",
			"url": "https://github.com/org/app/commit/" + fmt.Sprintf("%040x", i+1), "distinct": true,
			"author": map[string]string{"name": "Ada Lovelace", "email": "ada@example.com", "username": "ada"},
			"added":  files[:3], "removed": files[3:4], "modified": files[4:],
			"timestamp": "2026-11-25T10:00:00Z",
		})
	}
	commits[18]["modified"] = []string{"services/5/api/handler.go"} // selected by p005 only
	b, _ := json.Marshal(map[string]any{
		"ref": "refs/heads/main", "before": strings.Repeat("b", 40), "after": fmt.Sprintf("%040x", 19),
		"commits": commits, "head_commit": commits[18], "created": false, "deleted": false, "forced": false,
		"repository": map[string]any{"full_name": "org/app", "html_url": "https://github.com/org/app", "private": false},
		"pusher":     map[string]string{"name": "ada", "email": "ada@example.com"},
		"compare":    "https://github.com/org/app/compare/bbbbbbbbbbbb...0000000013",
	})
	return b
}

// BenchmarkIntake measures the signature check of a 25 KB push, then verify + parse +
// match against 100 installed pipelines (in-memory stores: the service's own cost), then
// the whole decision with the delivery recorded and an execution "started" in memory.
func BenchmarkIntake(b *testing.B) {
	body := benchPush()
	secrets := webhook.NewSecrets(testSecret)
	sig := secrets.Sign(body)
	b.Logf("push body: %d bytes", len(body))

	b.Run("verify", func(b *testing.B) {
		b.SetBytes(int64(len(body)))
		for b.Loop() {
			if !secrets.Verify(sig, body) {
				b.Fatal("refused")
			}
		}
	})
	b.Run("verify+parse+match", func(b *testing.B) {
		// A push to a branch no pipeline selects: every one of the 100 declarations is
		// evaluated (10 name the repository), nothing is recorded or started.
		other := bytes.Replace(body, []byte(`"ref":"refs/heads/main"`), []byte(`"ref":"refs/heads/feature/x"`), 1)
		otherSig := secrets.Sign(other)
		svc, _ := newMemService(b, benchPipelines())
		b.SetBytes(int64(len(other)))
		for b.Loop() {
			d := svc.Handle(context.Background(), webhook.Request{Event: "push", Delivery: "d", Signature: otherSig, ContentType: "application/json", Body: other})
			if d.Status != 200 || !strings.HasPrefix(d.Message, "no pipeline matches") {
				b.Fatalf("got %+v", d)
			}
		}
	})
	b.Run("handle", func(b *testing.B) {
		svc, _ := newMemService(b, benchPipelines())
		b.SetBytes(int64(len(body)))
		i := 0
		for b.Loop() {
			i++
			d := svc.Handle(context.Background(), webhook.Request{Event: "push", Delivery: fmt.Sprint("d-", i), Signature: sig, ContentType: "application/json", Body: body})
			if d.Status != 200 || len(d.Executions) != 1 {
				b.Fatalf("got %+v", d)
			}
		}
	})
}
