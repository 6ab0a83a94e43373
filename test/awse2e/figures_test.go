package awse2e

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	sfntypes "github.com/aws/aws-sdk-go-v2/service/sfn/types"

	"github.com/relais-ci/relais/shared/core"
)

// Prices (us-east-1, as published): Step Functions Standard per state transition; Lambda
// per request and per GB-second on arm64; CodePipeline V2 per action execution minute
// (each action rounded up to the minute; manual approvals are free).
const (
	pricePerTransition   = 0.025 / 1000
	pricePerRequest      = 0.20 / 1e6
	pricePerGBSecondArm  = 0.0000133334
	pricePerMs128MBArm   = 0.0000000017
	pricePerActionMinute = 0.002
)

// unit is what one part of the pipeline costs in one execution.
type unit struct {
	transitions int
	machineInv  int // Lambda invocations by the state machine
	otherInv    int // by API Gateway (webhook, approval pages) and EventBridge (build ended)
	ms          float64
	gbs         float64 // GB-seconds at the stack's memory sizes
}

func (u *unit) add(v unit) {
	u.transitions += v.transitions
	u.machineInv += v.machineInv
	u.otherInv += v.otherInv
	u.ms += v.ms
	u.gbs += v.gbs
}

func (u unit) invocations() int { return u.machineInv + u.otherInv }

func (u unit) cost() float64 {
	return float64(u.transitions)*pricePerTransition + float64(u.invocations())*pricePerRequest + u.gbs*pricePerGBSecondArm
}

func (u unit) cost128() float64 {
	return float64(u.transitions)*pricePerTransition + float64(u.invocations())*pricePerRequest + u.ms*pricePerMs128MBArm
}

// figures are the per-execution counts of one run of hello.
type figures struct {
	stages  []string
	byStage map[string]*unit
	// byAction is keyed "Stage/Action".
	byAction map[string]*unit
	actions  []string
	// overhead is what belongs to no stage: the machine's Start and Done, the webhook,
	// the run's start and end events (commit statuses).
	overhead unit
	total    unit
	// actionMinutes are CodePipeline V2's billable minutes per action.
	actionMinutes map[string]int
	durations     map[string]time.Duration
	// inits are the init durations of each function's environments.
	inits map[string][]time.Duration
}

// figures counts, from the machine's history read through the Step Functions API, each
// state entered (a transition, as Step Functions bills them) and each Lambda task, and
// from the Lambda service the invocations the execution caused and their durations.
func (s *stack) figures(ctx context.Context, t *testing.T, runARN string, invs []*invocation) *figures {
	var events []sfntypes.HistoryEvent
	p := sfn.NewGetExecutionHistoryPaginator(s.sfn, &sfn.GetExecutionHistoryInput{ExecutionArn: aws.String(runARN), IncludeExecutionData: aws.Bool(false)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		events = append(events, page.Events...)
	}
	f := &figures{byStage: map[string]*unit{}, byAction: map[string]*unit{}, actionMinutes: map[string]int{}, durations: map[string]time.Duration{},
		inits: map[string][]time.Duration{}}
	for name, fn := range s.lambda.fns {
		f.inits[name] = fn.initDurations()
	}
	// A state's name says what it is: "<n> <Stage>: enter|leave|failed" is the stage's
	// gate, "<n> <Stage>/<Action>" an action, anything else the machine's own.
	where := func(state string) (stage, action string) {
		_, rest, ok := strings.Cut(state, " ")
		if !ok {
			return "", ""
		}
		if st, a, ok := strings.Cut(rest, "/"); ok {
			return st, a
		}
		if st, _, ok := strings.Cut(rest, ": "); ok {
			return st, ""
		}
		return "", ""
	}
	unitOf := func(stage, action string) *unit {
		if stage == "" {
			return &f.overhead
		}
		if f.byStage[stage] == nil {
			f.byStage[stage] = &unit{}
			f.stages = append(f.stages, stage)
		}
		if action == "" {
			return f.byStage[stage]
		}
		k := stage + "/" + action
		if f.byAction[k] == nil {
			f.byAction[k] = &unit{}
			f.actions = append(f.actions, k)
		}
		return f.byAction[k]
	}
	byID := map[int64]sfntypes.HistoryEvent{}
	for _, ev := range events {
		byID[ev.Id] = ev
	}
	enteredName := func(ev sfntypes.HistoryEvent) string {
		for seen := 0; seen < len(events); seen++ {
			if ev.StateEnteredEventDetails != nil {
				return aws.ToString(ev.StateEnteredEventDetails.Name)
			}
			prev, ok := byID[ev.PreviousEventId]
			if !ok {
				return ""
			}
			ev = prev
		}
		return ""
	}
	for _, ev := range events {
		switch {
		case strings.HasSuffix(string(ev.Type), "StateEntered"):
			unitOf(where(aws.ToString(ev.StateEnteredEventDetails.Name))).transitions++
		case ev.Type == sfntypes.HistoryEventTypeTaskScheduled && aws.ToString(ev.TaskScheduledEventDetails.ResourceType) == "lambda",
			ev.Type == sfntypes.HistoryEventTypeLambdaFunctionScheduled:
			unitOf(where(enteredName(ev))).machineInv++
		}
	}

	// The invocations, by what their payload names; their durations at the stack's
	// memory sizes.
	memory := map[string]int{}
	for name, fn := range s.lambda.fns {
		memory[name] = fn.memoryMB
	}
	for _, inv := range invs {
		ms := math.Ceil(float64(inv.Duration()) / float64(time.Millisecond))
		cost := unit{ms: ms, gbs: ms / 1000 * float64(memory[inv.Function]) / 1024}
		var payload struct {
			Stage, Action string
			Source        string `json:"source"`
		}
		_ = json.Unmarshal(inv.Payload, &payload)
		switch inv.Function {
		case fnGate:
			unitOf(payload.Stage, "").add(cost)
		case fnAction:
			unitOf(payload.Stage, payload.Action).add(cost)
		case fnEvents:
			cost.otherInv = 1
			if payload.Source == "aws.states" {
				// The run's start and end: commit statuses.
				f.overhead.add(cost)
				break
			}
			unitOf("Build", "BuildAndTest").add(cost)
		case fnApproval:
			cost.otherInv = 1
			unitOf("Approval", "Release").add(cost)
		case fnWebhook:
			cost.otherInv = 1
			f.overhead.add(cost)
		case fnAPI:
			// The install is the deploy's, not the execution's.
		}
	}
	for _, st := range f.stages {
		f.total.add(*f.byStage[st])
	}
	for _, a := range f.actions {
		f.total.add(*f.byAction[a])
	}
	f.total.add(f.overhead)

	// CodePipeline V2 bills each action but manual approvals by the started minute.
	list, _, err := s.store.ListActions(ctx, core.ActionFilter{PipelineName: "hello"}, core.Page{Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range list {
		d := a.LastUpdateTime.Sub(a.StartTime)
		k := a.StageName + "/" + a.ActionName
		f.durations[k] = d
		if a.Type.Category == "Approval" {
			continue
		}
		f.actionMinutes[k] = max(1, int(math.Ceil(d.Minutes())))
	}
	return f
}

func (f *figures) log(t *testing.T) {
	var b strings.Builder
	fmt.Fprintf(&b, "Figures for pipelines/hello.json, one execution (history read through the Step Functions API):\n")
	fmt.Fprintf(&b, "%-30s %11s %12s %12s %10s %12s\n", "", "transitions", "SFN→Lambda", "other Lambda", "Lambda ms", "cost (USD)")
	row := func(name string, u unit) {
		fmt.Fprintf(&b, "%-30s %11d %12d %12d %10.0f %12.8f\n", name, u.transitions, u.machineInv, u.otherInv, u.ms, u.cost())
	}
	row("execution", f.overhead)
	for _, st := range f.stages {
		stage := *f.byStage[st]
		row("stage "+st+" (gates)", stage)
		all := stage
		var names []string
		for _, a := range f.actions {
			if strings.HasPrefix(a, st+"/") {
				names = append(names, a)
			}
		}
		sort.Strings(names)
		for _, a := range names {
			row("  action "+a, *f.byAction[a])
			all.add(*f.byAction[a])
		}
		row("  stage "+st+" total", all)
	}
	row("total per execution", f.total)
	sfnCost := float64(f.total.transitions) * pricePerTransition
	reqCost := float64(f.total.invocations()) * pricePerRequest
	fmt.Fprintf(&b, "Step Functions Standard: %d transitions × $0.000025 = $%.6f\n", f.total.transitions, sfnCost)
	fmt.Fprintf(&b, "Lambda requests: %d × $0.0000002 = $%.7f\n", f.total.invocations(), reqCost)
	fmt.Fprintf(&b, "Lambda duration, measured here (race detector: %v; local stand-ins on a small machine): %.0f ms\n", raceEnabled, f.total.ms)
	fmt.Fprintf(&b, "  at the stack's memory (256 MB; action 1024 MB), arm64 $0.0000133334/GB-s: %.3f GB-s = $%.7f → $%.6f per execution\n",
		f.total.gbs, f.total.gbs*pricePerGBSecondArm, f.total.cost())
	fmt.Fprintf(&b, "  at 128 MB arm64 ($0.0000000017/ms): $%.7f → $%.6f per execution\n", f.total.ms*pricePerMs128MBArm, f.total.cost128())
	var mins []string
	total := 0
	for _, a := range sortedKeys(f.actionMinutes) {
		mins = append(mins, fmt.Sprintf("%s %d (ran %v)", a, f.actionMinutes[a], f.durations[a].Round(time.Millisecond)))
		total += f.actionMinutes[a]
	}
	fmt.Fprintf(&b, "CodePipeline V2: %d action-minutes (%s; the approval is free) × $0.002 = $%.3f per execution\n",
		total, strings.Join(mins, ", "), float64(total)*pricePerActionMinute)
	fmt.Fprintf(&b, "  (CodeBuild's own minutes are billed alike either way and are left out of both.)\n")
	fmt.Fprintf(&b, "Environments started and their init (process start to first request for work; race detector: %v):\n", raceEnabled)
	for _, name := range sortedKeys(f.inits) {
		var ds []string
		for _, d := range f.inits[name] {
			ds = append(ds, d.Round(time.Millisecond).String())
		}
		fmt.Fprintf(&b, "  %-28s %s\n", name, strings.Join(ds, ", "))
	}
	t.Log(b.String())
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
