// Package webhook is a load test of the GitHub webhook intake on the local runtime:
// signed push deliveries over loopback HTTP to the handler relais serve mounts, with
// dedupe on and executions started (and run) on the local runtime.
//
// It is bounded in count and time. Without RELAIS_LOAD it is a small run (200
// deliveries, 20 pipelines) that checks the outcome — one execution per distinct
// delivery, each with its engine run — as part of go test ./...; with RELAIS_LOAD set
// it is the measurement:
//
//	RELAIS_LOAD=1 go test ./test/load/webhook -run TestLoad -v
//
// RELAIS_LOAD_DELIVERIES (default 2000), RELAIS_LOAD_CONCURRENCY (default 16),
// RELAIS_LOAD_PIPELINES (default 100) and RELAIS_LOAD_SECONDS (default 30, the most it
// sends for) tune it. RELAIS_LOAD_MODE says what a delivery does past the intake:
//
//	run      (default) start an execution, which runs on meanwhile (Source → Build)
//	hold     start an execution whose actions never end (no work after the start)
//	record   record the delivery, then "start" with a no-op starter (intake + dedupe)
//	nomatch  push to a branch no pipeline selects (intake alone: verify, parse, match)
//
// One delivery in ten is a redelivery of an earlier one (answered "duplicate",
// starting nothing). CPU time and allocations are counted over the whole process while
// deliveries are sent: client, server, intake and the executions' background work.
package webhook

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/relais-ci/relais/shared/action"
	"github.com/relais-ci/relais/shared/asl"
	"github.com/relais-ci/relais/shared/core"
	"github.com/relais-ci/relais/shared/execution"
	"github.com/relais-ci/relais/shared/local/serve"
	"github.com/relais-ci/relais/shared/webhook"
)

const secret = "relais load test secret"

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

// declaration is Source → Build on repo, firing on pushes to main (PARALLEL: every
// execution runs, none waits or is superseded).
func declaration(name, repo, branch string) []byte {
	return []byte(fmt.Sprintf(`{"pipeline": {
  "name": %q, "roleArn": "arn:aws:iam::123456789012:role/relais",
  "artifactStore": {"type": "S3", "location": "relais-artifacts"},
  "pipelineType": "V2", "executionMode": "PARALLEL",
  "stages": [
    {"name": "Source", "actions": [{"name": "Checkout",
      "actionTypeId": {"category": "Source", "owner": "AWS", "provider": "CodeStarSourceConnection", "version": "1"},
      "configuration": {"ConnectionArn": "arn:aws:codeconnections:us-east-1:123456789012:connection/00000000-0000-0000-0000-000000000000",
        "FullRepositoryId": %q, "BranchName": %q},
      "outputArtifacts": [{"name": "Src"}]}]},
    {"name": "Build", "actions": [{"name": "Compile",
      "actionTypeId": {"category": "Build", "owner": "AWS", "provider": "CodeBuild", "version": "1"},
      "configuration": {"ProjectName": "p"}, "inputArtifacts": [{"name": "Src"}]}]}
  ]}}`, name, repo, branch))
}

func TestLoad(t *testing.T) {
	total, pipelines := 200, 20
	if os.Getenv("RELAIS_LOAD") != "" {
		total, pipelines = envInt("RELAIS_LOAD_DELIVERIES", 2000), envInt("RELAIS_LOAD_PIPELINES", 100)
	}
	workers := envInt("RELAIS_LOAD_CONCURRENCY", 16)
	limit := time.Duration(envInt("RELAIS_LOAD_SECONDS", 30)) * time.Second
	ctx := context.Background()
	logger := slog.New(slog.DiscardHandler)

	var rt *serve.Runtime
	ready := make(chan struct{})
	var actions atomic.Int64
	mode := os.Getenv("RELAIS_LOAD_MODE")
	if mode == "" {
		mode = "run"
	}
	hold := mode == "hold"
	run := action.ProviderFunc(func(ctx context.Context, job action.Job) (action.Result, error) {
		<-ready
		actions.Add(1)
		if hold {
			return action.Result{Status: core.ActionInProgress}, nil
		}
		res := action.Result{Status: core.ActionSucceeded}
		for _, out := range job.Declared.OutputArtifacts {
			loc, err := rt.Artifacts.PutArtifact(ctx, job.Record.PipelineName, job.Record.ExecutionID, out.Name, strings.NewReader("src"))
			if err != nil {
				return action.Result{}, err
			}
			res.OutputArtifacts = append(res.OutputArtifacts, core.Artifact{Name: out.Name, Location: loc})
		}
		return res, nil
	})
	var err error
	rt, err = serve.Open(ctx, serve.Config{DataDir: t.TempDir(), Logger: logger, Providers: map[string]action.Provider{
		"Source/AWS/CodeStarSourceConnection": run, "Build/AWS/CodeBuild": run,
	}})
	if err != nil {
		t.Fatal(err)
	}
	close(ready)
	defer rt.Close()
	// One pipeline fires on the pushes sent; the others read other repositories or
	// branches (nine of them another branch of the same repository).
	installStart := time.Now()
	for i := range pipelines {
		repo, branch := fmt.Sprintf("org/repo-%d", i), "main"
		switch {
		case i == 0:
			repo = "org/app"
		case i < 10:
			repo, branch = "org/app", fmt.Sprintf("release-%d", i)
		}
		if _, err := rt.Executions.Install(ctx, declaration(fmt.Sprintf("p%03d", i), repo, branch)); err != nil {
			t.Fatal(err)
		}
	}
	installed := time.Since(installStart)
	starts, records := &timings{}, &timings{}
	var starter webhook.Starter = timedStarter{rt.Executions, starts}
	if mode == "record" {
		starter = timedStarter{noStart{}, starts}
	}
	svc := webhook.New(webhook.Deps{
		Pipelines: rt.Store, Executions: rt.Store,
		Deliveries: timedDeliveries{rt.Store, records}, Starter: starter,
		Secrets: webhook.NewSecrets(secret), Logger: logger, PipelinesTTL: time.Second,
	})
	mux := http.NewServeMux()
	mux.Handle("POST "+webhook.Path, webhook.HTTPHandler(svc))
	srv := httptest.NewServer(mux) // loopback only
	defer srv.Close()

	body := push("main")
	if mode == "nomatch" {
		body = push("feature/x")
	}
	sig := webhook.Sign([]byte(secret), body)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: workers}, Timeout: 15 * time.Second}

	type result struct {
		latency time.Duration
		status  int
		dup     bool
	}
	results := make([]result, 0, total)
	var mu sync.Mutex
	var next atomic.Int64
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	cpu0 := cpuTime()
	deadline := time.Now().Add(limit)
	start := time.Now()
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(deadline) {
				i := next.Add(1)
				if i > int64(total) {
					return
				}
				id := i
				if i%10 == 0 {
					id = i - 5 // a redelivery of an earlier delivery
				}
				req, _ := http.NewRequest(http.MethodPost, srv.URL+webhook.Path, bytes.NewReader(body))
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set(webhook.HeaderEvent, "push")
				req.Header.Set(webhook.HeaderDelivery, fmt.Sprintf("load-%d", id))
				req.Header.Set(webhook.HeaderSignature, sig)
				t0 := time.Now()
				resp, err := client.Do(req)
				lat := time.Since(t0)
				if err != nil {
					t.Errorf("delivery %d: %v", i, err)
					return
				}
				var d webhook.Decision
				json.NewDecoder(resp.Body).Decode(&d)
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				mu.Lock()
				results = append(results, result{lat, resp.StatusCode, d.Message == "duplicate"})
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	cpu := cpuTime() - cpu0
	runtime.ReadMemStats(&after)
	// The executions go on after their deliveries are answered: wait (bounded) until each
	// has run its actions — one (hold) or two (run) — to count all the work they cost.
	distinct := 0
	for i := 1; i <= len(results); i++ {
		if i%10 != 0 {
			distinct++
		}
	}
	wantActions := map[string]int{"hold": distinct, "run": 2 * distinct}[mode]
	settleStart := time.Now()
	for int(actions.Load()) < wantActions && time.Since(settleStart) < limit {
		time.Sleep(10 * time.Millisecond)
	}
	settled, cpuAll := time.Since(settleStart), cpuTime()-cpu0

	lats := make([]time.Duration, len(results))
	codes := map[int]int{}
	dups := 0
	for i, r := range results {
		lats[i] = r.latency
		codes[r.status]++
		if r.dup {
			dups++
		}
	}
	slices.Sort(lats)
	pct := func(p float64) time.Duration {
		if len(lats) == 0 {
			return 0
		}
		return lats[min(len(lats)-1, int(float64(len(lats))*p))]
	}
	execs := 0
	for page := (core.Page{Limit: 100}); ; {
		xs, tok, err := rt.Store.ListExecutions(ctx, "p000", page)
		if err != nil {
			t.Fatal(err)
		}
		execs += len(xs)
		if tok == "" {
			break
		}
		page.Token = tok
	}
	t.Logf("mode %s: %d deliveries in %v with %d workers: %.0f deliveries/s; latency p50 %v, p99 %v, max %v",
		mode, len(results), elapsed.Round(time.Millisecond), workers, float64(len(results))/elapsed.Seconds(),
		pct(0.50).Round(10*time.Microsecond), pct(0.99).Round(10*time.Microsecond), lats[len(lats)-1].Round(10*time.Microsecond))
	t.Logf("statuses %v; %d duplicates; %d executions recorded; %d actions run meanwhile", codes, dups, execs, actions.Load())
	n := uint64(max(len(results), 1))
	t.Logf("while sending: %v CPU, %d allocs, %d KB allocated per delivery; %d GCs; %d pipelines installed in %v",
		(cpu / time.Duration(n)).Round(time.Microsecond), (after.Mallocs-before.Mallocs)/n,
		(after.TotalAlloc-before.TotalAlloc)/n/1024, after.NumGC-before.NumGC, pipelines, installed.Round(time.Millisecond))
	if wantActions > 0 {
		t.Logf("executions settled (%d of %d actions run) %v after the last answer: %v CPU per delivery in all",
			actions.Load(), wantActions, settled.Round(time.Millisecond), (cpuAll / time.Duration(n)).Round(time.Microsecond))
	}
	t.Logf("inside: RecordDelivery p50 %v p99 %v; execution.Service.Start p50 %v p99 %v", records.pct(0.5), records.pct(0.99), starts.pct(0.5), starts.pct(0.99))
	if codes[200] != len(results) {
		t.Errorf("statuses: got %v, want every delivery answered 200", codes)
	}
	if want := len(results) - dups; (mode == "run" || mode == "hold") && execs != want {
		t.Errorf("executions: got %d, want one per distinct delivery (%d)", execs, want)
	}
	if mode == "run" || mode == "hold" {
		// Every execution recorded has its engine run: started, not merely recorded.
		runs := 0
		for in := (asl.ListExecutionsInput{StateMachine: "p000"}); ; {
			xs, next, err := rt.Interp.ListExecutions(ctx, in)
			if err != nil {
				t.Fatal(err)
			}
			runs += len(xs)
			if next == "" {
				break
			}
			in.NextToken = next
		}
		if runs != execs {
			t.Errorf("engine runs: got %d, want one per execution recorded (%d)", runs, execs)
		}
	}
}

// cpuTime is the CPU time (user and system) the process has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// timings collects durations of calls.
type timings struct {
	mu sync.Mutex
	ds []time.Duration
}

func (x *timings) add(d time.Duration) {
	x.mu.Lock()
	x.ds = append(x.ds, d)
	x.mu.Unlock()
}

func (x *timings) pct(p float64) time.Duration {
	x.mu.Lock()
	defer x.mu.Unlock()
	if len(x.ds) == 0 {
		return 0
	}
	slices.Sort(x.ds)
	return x.ds[min(len(x.ds)-1, int(float64(len(x.ds))*p))].Round(10 * time.Microsecond)
}

type timedStarter struct {
	next webhook.Starter
	t    *timings
}

func (s timedStarter) Start(ctx context.Context, r execution.StartRequest) (core.Execution, error) {
	t0 := time.Now()
	defer func() { s.t.add(time.Since(t0)) }()
	return s.next.Start(ctx, r)
}

// noStart starts nothing and says it did.
type noStart struct{}

func (noStart) Start(_ context.Context, r execution.StartRequest) (core.Execution, error) {
	return core.Execution{PipelineName: r.Pipeline, ID: r.ID, Status: core.ExecutionInProgress, Trigger: r.Trigger}, nil
}

type timedDeliveries struct {
	next core.DeliveryStore
	t    *timings
}

func (s timedDeliveries) RecordDelivery(ctx context.Context, id string, exp time.Time) error {
	t0 := time.Now()
	defer func() { s.t.add(time.Since(t0)) }()
	return s.next.RecordDelivery(ctx, id, exp)
}

// push is a push of one commit to org/app main, as GitHub sends it.
func push(branch string) []byte {
	sha := strings.Repeat("c", 40)
	b, _ := json.Marshal(map[string]any{
		"ref": "refs/heads/" + branch, "before": strings.Repeat("b", 40), "after": sha,
		"commits": []map[string]any{{"id": sha, "message": "Load", "modified": []string{"README.md"},
			"author": map[string]string{"name": "Ada", "email": "ada@example.com", "username": "ada"}}},
		"head_commit": map[string]any{"id": sha, "message": "Load", "url": "https://github.com/org/app/commit/" + sha,
			"author": map[string]string{"name": "Ada"}},
		"repository": map[string]string{"full_name": "org/app", "html_url": "https://github.com/org/app"},
		"pusher":     map[string]string{"name": "ada"},
	})
	return b
}
