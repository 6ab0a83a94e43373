package asl

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestParallelMap(t *testing.T) {
	parallel := `{"StartAt":"P","States":{"P":{"Type":"Parallel","Parameters":{"v.$":"$.v"},"ResultSelector":{"both.$":"$"},"ResultPath":"$.r","Branches":[
		{"StartAt":"A","States":{"A":{"Type":"Pass","InputPath":"$.v","End":true}}},
		{"StartAt":"B","States":{"B":{"Type":"Task","Resource":"` + echo + `","Parameters":{"b.$":"$.v"},"End":true}}}],"End":true}}}`
	failing := `{"StartAt":"P","States":{"P":{"Type":"Parallel","Branches":[
		{"StartAt":"A","States":{"A":{"Type":"Wait","Seconds":100,"End":true}}},
		{"StartAt":"B","States":{"B":{"Type":"Fail","Error":"BranchBoom","Cause":"b"}}}],
		"Catch":[{"ErrorEquals":["BranchBoom"],"ResultPath":"$.caught","Next":"Done"}],"End":true},"Done":{"Type":"Succeed"}}}`
	mapDef := func(fields string) string {
		return `{"StartAt":"M","States":{"M":{"Type":"Map",` + fields + `,"ItemProcessor":{"StartAt":"X","States":{
			"X":{"Type":"Choice","Choices":[{"Variable":"$.fail","IsPresent":true,"Next":"Bad"}],"Default":"Good"},
			"Bad":{"Type":"Fail","Error":"ItemFailed","Cause":"bad item"},
			"Good":{"Type":"Pass","End":true}}},"End":true}}}`
	}
	runCases(t, []runCase{
		{"parallel outputs in branch order", parallel, `{"v":1}`, StatusSucceeded, `{"v":1,"r":{"both":[1,{"b":1}]}}`, ""},
		{"parallel branch failure caught", failing, `{"x":1}`, StatusSucceeded, `{"x":1,"caught":{"Error":"BranchBoom","Cause":"b"}}`, ""},
		{"map ItemsPath and ItemSelector", `{"StartAt":"M","States":{"M":{"Type":"Map","ItemsPath":"$.xs","MaxConcurrency":2,
			"ItemSelector":{"i.$":"$$.Map.Item.Index","v.$":"$$.Map.Item.Value","k.$":"$.k"},
			"ItemProcessor":{"StartAt":"X","States":{"X":{"Type":"Pass","End":true}}},"ResultPath":"$.out","End":true}}}`,
			`{"xs":["a","b","c"],"k":9}`, StatusSucceeded, `{"xs":["a","b","c"],"k":9,"out":[{"i":0,"v":"a","k":9},{"i":1,"v":"b","k":9},{"i":2,"v":"c","k":9}]}`, ""},
		{"map legacy Iterator and Parameters", `{"StartAt":"M","States":{"M":{"Type":"Map","Parameters":{"v.$":"$$.Map.Item.Value"},
			"Iterator":{"StartAt":"X","States":{"X":{"Type":"Pass","OutputPath":"$.v","End":true}}},"End":true}}}`,
			`[1,2]`, StatusSucceeded, `[1,2]`, ""},
		{"map empty", mapDef(`"ItemsPath":"$.xs"`), `{"xs":[]}`, StatusSucceeded, `[]`, ""},
		{"map iteration failure", mapDef(`"ItemsPath":"$.xs"`), `{"xs":[{},{"fail":true},{}]}`, StatusFailed, ``, "ItemFailed"},
		{"map tolerated count", mapDef(`"ToleratedFailureCount":1`), `[{},{"fail":true},{}]`, StatusSucceeded,
			`[{},{"Error":"ItemFailed","Cause":"bad item"},{}]`, ""},
		{"map tolerance exceeded", mapDef(`"ToleratedFailureCount":1`), `[{"fail":true},{"fail":true},{}]`, StatusFailed, ``, ErrNameExceedToleratedFailureThreshold},
		{"map tolerated percentage path", mapDef(`"ItemsPath":"$.xs","ToleratedFailurePercentagePath":"$.pct"`), `{"pct":50,"xs":[{"fail":true},{}]}`, StatusSucceeded,
			`[{"Error":"ItemFailed","Cause":"bad item"},{}]`, ""},
		{"map tolerated count path", mapDef(`"ItemsPath":"$.xs","ToleratedFailureCountPath":"$.n"`), `{"n":2,"xs":[{"fail":true},{"fail":true},{}]}`, StatusSucceeded,
			`[{"Error":"ItemFailed","Cause":"bad item"},{"Error":"ItemFailed","Cause":"bad item"},{}]`, ""},
		{"map tolerated count path exceeded", mapDef(`"ItemsPath":"$.xs","ToleratedFailureCountPath":"$.n"`), `{"n":1,"xs":[{"fail":true},{"fail":true},{}]}`, StatusFailed, ``, ErrNameExceedToleratedFailureThreshold},
		{"map items not array", mapDef(`"ItemsPath":"$.xs"`), `{"xs":{}}`, StatusFailed, ``, ErrNameRuntime},
		{"distributed map refused at run time", `{"StartAt":"M","States":{"M":{"Type":"Map","ItemProcessor":{"ProcessorConfig":{"Mode":"DISTRIBUTED","ExecutionType":"STANDARD"},"StartAt":"X","States":{"X":{"Type":"Succeed"}}},"End":true}}}`,
			`[1]`, StatusFailed, ``, ErrNameRuntime},
		{"nested map in parallel", `{"StartAt":"P","States":{"P":{"Type":"Parallel","Branches":[{"StartAt":"M","States":{"M":{"Type":"Map","ItemProcessor":{"StartAt":"X","States":{"X":{"Type":"Task","Resource":"` + echo + `","End":true}}},"End":true}}}],"End":true}}}`,
			`[1,2,3]`, StatusSucceeded, `[[1,2,3]]`, ""},
	}, nil)
}

func TestMapMaxConcurrency(t *testing.T) {
	for _, tt := range []struct {
		fields string
		input  string
		want   int32
	}{
		{`"MaxConcurrency":3`, `{"xs":[1,2,3,4,5,6,7,8,9,10]}`, 3},
		{`"MaxConcurrencyPath":"$.c"`, `{"c":2,"xs":[1,2,3,4,5,6]}`, 2},
		{`"MaxConcurrency":1`, `{"xs":[1,2,3]}`, 1},
	} {
		t.Run(tt.fields, func(t *testing.T) {
			h := newHarness(t)
			var cur, peak atomic.Int32
			release := make(chan struct{})
			h.eng.Tasks().HandleFunc("arn:aws:states:::slow", func(ctx context.Context, req *TaskRequest) (any, error) {
				n := cur.Add(1)
				for {
					p := peak.Load()
					if n <= p || peak.CompareAndSwap(p, n) {
						break
					}
				}
				<-release
				cur.Add(-1)
				return req.Parameters, nil
			})
			x := h.start(`{"StartAt":"M","States":{"M":{"Type":"Map","ItemsPath":"$.xs",`+tt.fields+`,"ItemProcessor":{"StartAt":"X","States":{"X":{"Type":"Task","Resource":"arn:aws:states:::slow","End":true}}},"End":true}}}`, tt.input)
			go func() {
				for {
					select {
					case release <- struct{}{}:
					case <-h.eng.liveDone(x.ARN):
						return
					}
				}
			}()
			d := h.wait(x.ARN)
			if d.Status != StatusSucceeded {
				t.Fatalf("got %s %s", d.Status, d.Cause)
			}
			if got := peak.Load(); got > tt.want {
				t.Errorf("got %d concurrent iterations, want at most %d", got, tt.want)
			}
		})
	}
}

// TestParallelBranchesConcurrent: each branch waits for all the others to have started,
// which only finishes if branches run at the same time.
func TestParallelBranchesConcurrent(t *testing.T) {
	h := newHarness(t)
	var started sync.WaitGroup
	started.Add(3)
	h.eng.Tasks().HandleFunc("arn:aws:states:::barrier", func(ctx context.Context, req *TaskRequest) (any, error) {
		started.Done()
		done := make(chan struct{})
		go func() { started.Wait(); close(done) }()
		select {
		case <-done:
			return "ok", nil
		case <-time.After(5 * time.Second):
			return nil, &Error{Name: "NotConcurrent"}
		}
	})
	branch := `{"StartAt":"B","States":{"B":{"Type":"Task","Resource":"arn:aws:states:::barrier","End":true}}}`
	x := h.run(`{"StartAt":"P","States":{"P":{"Type":"Parallel","Branches":[`+branch+`,`+branch+`,`+branch+`],"End":true}}}`, `{}`)
	if x.Status != StatusSucceeded || x.Output != `["ok","ok","ok"]` {
		t.Fatalf("got %s %s %s", x.Status, x.Error, x.Output)
	}
}
