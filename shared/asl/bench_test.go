package asl

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

func passChain(n int) string {
	var b strings.Builder
	b.WriteString(`{"StartAt":"S0","States":{`)
	for i := 0; i < n; i++ {
		if i > 0 {
			b.WriteString(",")
		}
		if i == n-1 {
			fmt.Fprintf(&b, `"S%d":{"Type":"Pass","End":true}`, i)
		} else {
			fmt.Fprintf(&b, `"S%d":{"Type":"Pass","Result":%d,"ResultPath":"$.r","Next":"S%d"}`, i, i, i+1)
		}
	}
	b.WriteString("}}")
	return b.String()
}

func parallelTasks(branches, tasks int) string {
	var b strings.Builder
	b.WriteString(`{"StartAt":"P","States":{"P":{"Type":"Parallel","End":true,"Branches":[`)
	for i := 0; i < branches; i++ {
		if i > 0 {
			b.WriteString(",")
		}
		b.WriteString(`{"StartAt":"T0","States":{`)
		for j := 0; j < tasks; j++ {
			if j > 0 {
				b.WriteString(",")
			}
			next := fmt.Sprintf(`"Next":"T%d"`, j+1)
			if j == tasks-1 {
				next = `"End":true`
			}
			fmt.Fprintf(&b, `"T%d":{"Type":"Task","Resource":"arn:aws:states:::bench:noop","ResultPath":"$.r",%s}`, j, next)
		}
		b.WriteString("}}")
	}
	b.WriteString("]}}}")
	return b.String()
}

const mapDef = `{"StartAt":"M","States":{"M":{"Type":"Map","ItemsPath":"$.items","ItemSelector":{"v.$":"$$.Map.Item.Value"},
 "ItemProcessor":{"StartAt":"X","States":{"X":{"Type":"Pass","End":true}}},"End":true}}}`

// benchRun starts b.N executions, `concurrent` at a time, and reports state transitions
// (states entered) per second.
func benchRun(b *testing.B, def, input string, transitions int, concurrent int) {
	// Default batching of checkpoints, and a checkpoint after every change (the
	// worst case for durability cost; MemStore still copies every snapshot).
	for _, iv := range []time.Duration{0, -1} {
		name := "checkpoint=batched"
		if iv < 0 {
			name = "checkpoint=every-change"
		}
		b.Run(name, func(b *testing.B) { benchRunWith(b, def, input, transitions, concurrent, iv) })
	}
}

func benchRunWith(b *testing.B, def, input string, transitions int, concurrent int, interval time.Duration) {
	ctx := context.Background()
	reg := NewRegistry()
	reg.HandleFunc("arn:aws:states:::bench:noop", func(ctx context.Context, req *TaskRequest) (any, error) { return "ok", nil })
	eng := New(Options{Tasks: reg, Logger: slog.New(slog.DiscardHandler), CheckpointInterval: interval})
	defer eng.Close()
	if _, err := eng.CreateStateMachine(ctx, "m", []byte(def), ""); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	cpu0 := cpuTime()
	sem := make(chan struct{}, concurrent)
	var wg sync.WaitGroup
	for i := 0; i < b.N; i++ {
		sem <- struct{}{}
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			defer func() { <-sem }()
			x, err := eng.StartExecution(ctx, StartInput{StateMachine: "m", Name: fmt.Sprintf("x%d", i), Input: input})
			if err != nil {
				b.Error(err)
				return
			}
			d, err := eng.WaitExecution(ctx, x.ARN)
			if err != nil || d.Status != StatusSucceeded {
				b.Errorf("execution: %v %s %s", err, d.Status, d.Cause)
			}
		}(i)
	}
	wg.Wait()
	b.ReportMetric(float64(b.N*transitions)/b.Elapsed().Seconds(), "transitions/s")
	// The machine is shared: CPU time says what the interpreter costs whatever the load.
	b.ReportMetric(float64(b.N*transitions)/(cpuTime()-cpu0).Seconds(), "transitions/cpu-s")
}

// cpuTime is the user+system CPU time of this process so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func BenchmarkPassChain100(b *testing.B) {
	benchRun(b, passChain(100), `{}`, 100, 4)
}

func BenchmarkParallel10x10(b *testing.B) {
	benchRun(b, parallelTasks(10, 10), `{}`, 1+100, 4)
}

func BenchmarkMap1000(b *testing.B) {
	items := make([]string, 1000)
	for i := range items {
		items[i] = fmt.Sprint(i)
	}
	benchRun(b, mapDef, `{"items":[`+strings.Join(items, ",")+`]}`, 1+1000, 1)
}
