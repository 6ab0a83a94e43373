package webhook

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/relais-ci/relais/shared/asl"
	"github.com/relais-ci/relais/shared/core"
	"github.com/relais-ci/relais/shared/execution"
	"github.com/relais-ci/relais/shared/local/aslengine"
	"github.com/relais-ci/relais/shared/local/aslstore"
	"github.com/relais-ci/relais/shared/local/sqlitestore"
	"github.com/relais-ci/relais/shared/pipeline"
	"github.com/relais-ci/relais/shared/webhook"
)

// BenchmarkStartPath is the webhook → execution start path alone, without HTTP: a
// signed push is verified, parsed and matched against 100 pipelines, the delivery
// recorded, one execution recorded and its engine run started, all on the local
// runtime's stores — and each run then waits at its first gate, whose task does
// nothing, so no other work runs meanwhile. 16 deliveries at a time; cpu-µs/op is the
// CPU time of the whole process per delivery.
func BenchmarkStartPath(b *testing.B) {
	ctx := context.Background()
	logger := slog.New(slog.DiscardHandler)
	dir := b.TempDir()
	store, err := sqlitestore.Open(ctx, filepath.Join(dir, "relais.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer store.Close()
	engineStore, err := aslstore.Open(ctx, filepath.Join(dir, "engine.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer engineStore.Close()
	interp := asl.New(asl.Options{Store: engineStore, Logger: logger})
	defer interp.Close()
	eng := aslengine.New(interp)
	eng.Serve(aslengine.Handlers{
		Gate:   func(context.Context, core.GateTask) error { return nil },
		Action: func(context.Context, core.ActionTask) error { return nil },
	})
	executions := execution.New(execution.Deps{
		Pipelines: store, Executions: store, Stages: store, Actions: store, Transitions: store,
		Engine: eng, Target: pipeline.TargetLocal, Logger: logger,
	})
	for i := range 100 {
		repo, branch := fmt.Sprintf("org/repo-%d", i), "main"
		switch {
		case i == 0:
			repo = "org/app"
		case i < 10:
			repo, branch = "org/app", fmt.Sprintf("release-%d", i)
		}
		if _, err := executions.Install(ctx, declaration(fmt.Sprintf("p%03d", i), repo, branch)); err != nil {
			b.Fatal(err)
		}
	}
	svc := webhook.New(webhook.Deps{
		Pipelines: store, Executions: store, Deliveries: store, Starter: executions,
		Secrets: webhook.NewSecrets(secret), Logger: logger, PipelinesTTL: time.Second,
	})
	body := push("main")
	sig := webhook.Sign([]byte(secret), body)
	var n atomic.Int64
	b.SetParallelism(8) // 16 at a time on 2 cores
	cpu0 := cpuTime()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			d := svc.Handle(ctx, webhook.Request{Event: "push", Delivery: fmt.Sprint("d-", n.Add(1)), Signature: sig,
				ContentType: "application/json", Body: body})
			if d.Status != 200 || len(d.Executions) != 1 {
				b.Errorf("got %+v", d)
				return
			}
		}
	})
	b.StopTimer()
	b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/float64(b.N), "cpu-µs/op")
}
