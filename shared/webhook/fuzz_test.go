package webhook_test

import (
	"context"
	"github.com/relais-ci/relais/shared/webhook"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/relais-ci/relais/shared/core"
	"github.com/relais-ci/relais/shared/execution"
)

// memStores are in-memory stand-ins of the ports the service reads, for the fuzz test
// and the benchmarks (no I/O: what they measure is the service).
type memStores struct {
	pipelines []core.Pipeline

	mu         sync.Mutex
	deliveries map[string]bool
	executions map[string]core.Execution
}

func newMemStores(t testing.TB, decls map[string]string) *memStores {
	m := &memStores{deliveries: map[string]bool{}, executions: map[string]core.Execution{}}
	for name, d := range decls {
		m.pipelines = append(m.pipelines, core.Pipeline{Name: name, Version: 1, Declaration: []byte(d)})
	}
	return m
}

func (m *memStores) PutPipeline(context.Context, core.Pipeline) (core.Pipeline, error) {
	return core.Pipeline{}, core.ErrInvalid
}
func (m *memStores) GetPipeline(context.Context, string) (core.Pipeline, error) {
	return core.Pipeline{}, core.ErrNotFound
}
func (m *memStores) ListPipelines(context.Context) ([]core.Pipeline, error) { return m.pipelines, nil }
func (m *memStores) DeletePipeline(context.Context, string) error           { return nil }

func (m *memStores) RecordDelivery(_ context.Context, id string, _ time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.deliveries[id] {
		return core.ErrConflict
	}
	m.deliveries[id] = true
	return nil
}

func (m *memStores) Start(_ context.Context, r execution.StartRequest) (core.Execution, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if e, ok := m.executions[r.Pipeline+"/"+r.ID]; ok {
		return e, nil
	}
	e := core.Execution{PipelineName: r.Pipeline, ID: r.ID, Status: core.ExecutionInProgress, Trigger: r.Trigger, SourceRevisions: r.SourceRevisions}
	m.executions[r.Pipeline+"/"+r.ID] = e
	return e, nil
}

// memExecutions answers GetExecution from the started executions.
type memExecutions struct {
	core.ExecutionStore // other methods are not called
	m                   *memStores
}

func (x memExecutions) GetExecution(_ context.Context, p, id string) (core.Execution, error) {
	x.m.mu.Lock()
	defer x.m.mu.Unlock()
	if e, ok := x.m.executions[p+"/"+id]; ok {
		return e, nil
	}
	return core.Execution{}, core.ErrNotFound
}

func newMemService(t testing.TB, decls map[string]string) (*webhook.Service, *memStores) {
	m := newMemStores(t, decls)
	return webhook.New(webhook.Deps{
		Pipelines: m, Executions: memExecutions{m: m}, Deliveries: m, Starter: m,
		Secrets: webhook.NewSecrets(testSecret), Logger: quiet,
	}), m
}

func testDecls() map[string]string {
	out := map[string]string{}
	for name, src := range testPipelines {
		out[name] = decl(name, src)
	}
	return out
}

// FuzzHandle feeds signed deliveries of any body: the service never panics, answers a
// status it documents with a message, and starts executions only on 200.
func FuzzHandle(f *testing.F) {
	events := []string{"push", "pull_request", "ping", "create", ""}
	dir := realDir(f, "webhooks")
	entries, _ := os.ReadDir(dir)
	for _, en := range entries {
		if !strings.HasSuffix(en.Name(), ".json") {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, en.Name()))
		if err != nil {
			f.Fatal(err)
		}
		ev := strings.SplitN(strings.SplitN(en.Name(), "-", 2)[1], "-", 2)[0]
		f.Add(ev, "application/json", b)
	}
	f.Add("push", "application/x-www-form-urlencoded", []byte("payload=%7B%22ref%22%3A1%7D"))
	f.Add("pull_request", "application/json", []byte(`{"action":"edited","changes":{"base":{}},"pull_request":{"head":{"ref":"a","sha":"`+strings.Repeat("a", 40)+`"},"base":{"ref":"master"}},"repository":{"full_name":"Codertocat/Hello-World"}}`))
	for _, e := range events {
		f.Add(e, "application/json", []byte(`{}`))
	}
	svc, m := newMemService(f, testDecls())
	allowed := map[int]bool{200: true, 202: true, 400: true, 415: true}
	n := 0
	f.Fuzz(func(t *testing.T, event, contentType string, body []byte) {
		n++
		m.mu.Lock()
		before := len(m.executions)
		m.mu.Unlock()
		r := webhook.Request{Event: event, Delivery: "fuzz-" + strings.Repeat("x", n%3) + string(rune('a'+n%26)), ContentType: contentType,
			Body: body, Signature: webhook.Sign([]byte(testSecret), body)}
		d := svc.Handle(context.Background(), r)
		if !allowed[d.Status] || d.Message == "" {
			t.Fatalf("got %d %q", d.Status, d.Message)
		}
		m.mu.Lock()
		after := len(m.executions)
		m.mu.Unlock()
		if d.Status != 200 && after != before {
			t.Fatalf("%d answer started %d executions", d.Status, after-before)
		}
		// The same body unsigned never gets past the signature.
		r.Signature = ""
		if d := svc.Handle(context.Background(), r); d.Status != 401 {
			t.Fatalf("unsigned: got %d", d.Status)
		}
	})
}
