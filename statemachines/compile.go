// Package statemachines compiles a pipeline declaration into the Amazon States Language
// machine that runs it: Step Functions on AWS, shared/asl on one machine.
//
// Shape of a compiled machine (see DESIGN.md, "The compiled state machine"):
//
//	Start (Choice) ── resumeAt = stage? ──▶ that stage's enter, else the first stage's
//	per stage i:
//	  "i Stage: enter"        callback task on the gate function: waits until the inbound
//	                          transition is enabled and the stage is free for this execution
//	  per runOrder group:     one action → a callback task on the action function;
//	                          several → a Parallel whose branches catch their own action's
//	                          failure (so a failing action never cancels its siblings, as
//	                          in CodePipeline) and report "Succeeded" or "Failed"; a Choice
//	                          after the Parallel sends the stage to its failed path when
//	                          any branch failed
//	  "i Stage: leave"        task on the gate function: record success, free the stage
//	  "i Stage: failed"       task on the gate function: record the failure, free the stage
//	Done (Succeed), Ended (Succeed: superseded or stopped at a gate), "i Stage: stage failed" (Fail)
//
// Tasks use only lambda:invoke and lambda:invoke.waitForTaskToken, on the functions named
// by the placeholders GateFunction and ActionFunction, which the AWS stack substitutes
// with function ARNs and the local engine with its own handlers. Payloads carry names and
// ids only (core.GateTask, core.ActionTask): the workers read the rest from the stores.
package statemachines

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/relais-ci/relais/shared/core"
	"github.com/relais-ci/relais/shared/pipeline"
)

// Placeholders substituted when a compiled machine is deployed.
const (
	GateFunction   = "${GateFunction}"
	ActionFunction = "${ActionFunction}"
)

// Task resources the compiled machines use, and nothing else.
const (
	resourceInvoke         = "arn:aws:states:::lambda:invoke"
	resourceInvokeCallback = "arn:aws:states:::lambda:invoke.waitForTaskToken"
)

// Step Functions limits a compiled machine must respect.
const (
	maxStateName       = 80
	maxDefinitionBytes = 1 << 20
	// defaultApprovalTimeout is CodePipeline's: 7 days.
	defaultApprovalTimeout = 7 * 24 * 60 * 60
)

// Machine is an ASL state machine as the compiler writes it; fields are declared in the
// order a reader expects them.
type Machine struct {
	Comment string            `json:"Comment,omitempty"`
	StartAt string            `json:"StartAt"`
	States  map[string]*State `json:"States"`
}

// State is any ASL state the compiler emits.
type State struct {
	Type           string         `json:"Type"`
	Comment        string         `json:"Comment,omitempty"`
	Resource       string         `json:"Resource,omitempty"`
	Parameters     map[string]any `json:"Parameters,omitempty"`
	Result         any            `json:"Result,omitempty"`
	Branches       []*Machine     `json:"Branches,omitempty"`
	ResultSelector map[string]any `json:"ResultSelector,omitempty"`
	ResultPath     *string        `json:"ResultPath,omitempty"`
	resultPathNull bool
	OutputPath     string   `json:"OutputPath,omitempty"`
	TimeoutSeconds int      `json:"TimeoutSeconds,omitempty"`
	Choices        []Choice `json:"Choices,omitempty"`
	Default        string   `json:"Default,omitempty"`
	Retry          []Retry  `json:"Retry,omitempty"`
	Catch          []Catch  `json:"Catch,omitempty"`
	Error          string   `json:"Error,omitempty"`
	Cause          string   `json:"Cause,omitempty"`
	Next           string   `json:"Next,omitempty"`
	End            bool     `json:"End,omitempty"`
}

// MarshalJSON writes ResultPath null when the state discards its result.
func (s *State) MarshalJSON() ([]byte, error) {
	type plain State
	b, err := json.Marshal((*plain)(s))
	if err != nil || !s.resultPathNull {
		return b, err
	}
	// Insert "ResultPath":null before the closing brace; json.Marshal cannot express a
	// present-but-null field with omitempty.
	return append(b[:len(b)-1], []byte(`,"ResultPath":null}`)...), nil
}

// Choice is one rule of a Choice state.
type Choice struct {
	And           []Choice `json:"And,omitempty"`
	Variable      string   `json:"Variable,omitempty"`
	IsPresent     *bool    `json:"IsPresent,omitempty"`
	StringEquals  *string  `json:"StringEquals,omitempty"`
	BooleanEquals *bool    `json:"BooleanEquals,omitempty"`
	Next          string   `json:"Next,omitempty"`
}

// Retry is a retrier.
type Retry struct {
	ErrorEquals     []string `json:"ErrorEquals"`
	IntervalSeconds int      `json:"IntervalSeconds,omitempty"`
	MaxAttempts     int      `json:"MaxAttempts"`
	BackoffRate     float64  `json:"BackoffRate,omitempty"`
}

// Catch is a catcher.
type Catch struct {
	ErrorEquals []string `json:"ErrorEquals"`
	ResultPath  string   `json:"ResultPath,omitempty"`
	Next        string   `json:"Next"`
}

// Compile returns the ASL JSON of the machine that runs d. d must be valid (see
// pipeline.Validate); Compile reports only what makes a machine impossible to build.
func Compile(d *pipeline.Declaration) ([]byte, error) {
	m, err := Build(d)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(m); err != nil {
		return nil, fmt.Errorf("encode machine of pipeline %s: %w", d.Name, err)
	}
	if buf.Len() > maxDefinitionBytes {
		return nil, fmt.Errorf("compile pipeline %s: definition is %d bytes, over Step Functions' limit of %d", d.Name, buf.Len(), maxDefinitionBytes)
	}
	return buf.Bytes(), nil
}

// Build returns the machine that runs d, before encoding.
func Build(d *pipeline.Declaration) (*Machine, error) {
	if len(d.Stages) == 0 {
		return nil, fmt.Errorf("compile pipeline %s: no stages", d.Name)
	}
	c := &compiler{decl: d, names: map[string]bool{}, m: &Machine{
		Comment: fmt.Sprintf("Relais pipeline %s, compiled from its declaration; do not edit.", d.Name),
		StartAt: "Start",
		States:  map[string]*State{},
	}}
	c.compile()
	if c.err != nil {
		return nil, c.err
	}
	return c.m, nil
}

type compiler struct {
	decl  *pipeline.Declaration
	m     *Machine
	names map[string]bool
	err   error
}

const (
	stateStart = "Start"
	stateDone  = "Done"
	stateEnded = "Ended"
)

func (c *compiler) compile() {
	start := &State{Type: "Choice", Comment: "Resume a retried execution at the stage it failed in.", Default: c.enterName(0)}
	yes := true
	for i, st := range c.decl.Stages {
		if i == 0 {
			continue
		}
		name := st.Name
		start.Choices = append(start.Choices, Choice{
			And: []Choice{
				{Variable: "$.resumeAt", IsPresent: &yes},
				{Variable: "$.resumeAt", StringEquals: &name},
			},
			Next: c.enterName(i),
		})
	}
	if len(start.Choices) == 0 {
		// A Choice needs at least one rule; a machine of one stage never resumes.
		start = &State{Type: "Pass", Next: c.enterName(0)}
	}
	c.add(stateStart, start)
	c.add(stateDone, &State{Type: "Succeed", Comment: "Every stage succeeded."})
	c.add(stateEnded, &State{Type: "Succeed", Comment: "Superseded or stopped at a stage gate; the gate recorded the outcome."})
	for i := range c.decl.Stages {
		c.stage(i)
	}
}

func (c *compiler) stage(i int) {
	st := c.decl.Stages[i]
	failed := c.stateName(i, st.Name, ": failed")
	next := c.stateName(i, st.Name, ": leave")

	groups := runOrderGroups(st.Actions)
	// Build from the last group back, so each state knows its Next.
	for g := len(groups) - 1; g >= 0; g-- {
		next = c.group(i, g, groups[g], next, failed)
	}

	enter := c.gateTask(core.GateEnter, st.Name, true)
	enter.Comment = fmt.Sprintf("Wait until stage %s is open to this execution.", st.Name)
	enter.Next = next
	enter.Catch = []Catch{
		{ErrorEquals: []string{core.ErrorSuperseded, core.ErrorStopped}, Next: stateEnded},
		{ErrorEquals: []string{core.ErrorStatesAll}, ResultPath: "$.failure", Next: failed},
	}
	c.add(c.enterName(i), enter)

	leave := c.gateTask(core.GateLeave, st.Name, false)
	leave.Parameters["Payload"].(map[string]any)["last"] = i == len(c.decl.Stages)-1
	leave.Retry = lambdaRetry()
	leave.Catch = []Catch{
		{ErrorEquals: []string{core.ErrorStopped}, Next: stateEnded},
		{ErrorEquals: []string{core.ErrorStatesAll}, ResultPath: "$.failure", Next: failed},
	}
	if i == len(c.decl.Stages)-1 {
		leave.Next = stateDone
	} else {
		leave.Next = c.enterName(i + 1)
	}
	c.add(c.stateName(i, st.Name, ": leave"), leave)

	fail := c.gateTask(core.GateFail, st.Name, false)
	fail.Parameters["Payload"].(map[string]any)["failure.$"] = "$.failure"
	fail.Retry = lambdaRetry()
	fail.Next = c.stateName(i, st.Name, ": stage failed")
	c.add(failed, fail)
	c.add(fail.Next, &State{Type: "Fail", Error: core.ErrorStageFailed, Cause: fmt.Sprintf("stage %s failed", st.Name)})
}

// group adds the states of one runOrder group and returns the name of its first state.
func (c *compiler) group(i, g int, actions []pipeline.Action, next, failed string) string {
	st := c.decl.Stages[i]
	if len(actions) == 1 {
		a := actions[0]
		name := c.stateName(i, st.Name, "/"+a.Name, fmt.Sprintf(" #%d", actionIndex(st, a)))
		t := c.actionTask(st.Name, a)
		t.setResultPathNull()
		t.Next = next
		t.Catch = []Catch{{ErrorEquals: []string{core.ErrorStatesAll}, ResultPath: "$.failure", Next: failed}}
		c.add(name, t)
		return name
	}

	runOrder := actions[0].RunOrder
	par := &State{
		Type:    "Parallel",
		Comment: fmt.Sprintf("Actions of stage %s with runOrder %d, side by side.", st.Name, runOrder),
		// Branch outputs are "Succeeded" or "Failed"; any "Failed" fails the stage once
		// every branch has ended.
		ResultSelector: map[string]any{"failed.$": "States.ArrayContains($, 'Failed')"},
		ResultPath:     ptr("$.group"),
		Catch:          []Catch{{ErrorEquals: []string{core.ErrorStatesAll}, ResultPath: "$.failure", Next: failed}},
	}
	for _, a := range actions {
		tag := fmt.Sprintf(" #%d", actionIndex(st, a))
		run := c.stateName(i, st.Name, "/"+a.Name, tag)
		failedBranch := c.stateName(i, st.Name, "/"+a.Name+": failed", tag+" failed")
		t := c.actionTask(st.Name, a)
		t.OutputPath = "$.status"
		t.End = true
		t.Catch = []Catch{{ErrorEquals: []string{core.ErrorStatesAll}, Next: failedBranch}}
		par.Branches = append(par.Branches, &Machine{
			StartAt: run,
			States: map[string]*State{
				run:          t,
				failedBranch: {Type: "Pass", Result: string(core.ActionFailed), End: true},
			},
		})
		c.claim(run)
		c.claim(failedBranch)
	}
	name := c.stateName(i, st.Name, fmt.Sprintf(": run order %d", runOrder))
	check := c.stateName(i, st.Name, fmt.Sprintf(": run order %d check", runOrder))
	anyFailed := c.stateName(i, st.Name, fmt.Sprintf(": run order %d failed", runOrder))
	par.Next = check
	c.add(name, par)
	yes := true
	c.add(check, &State{
		Type:    "Choice",
		Choices: []Choice{{Variable: "$.group.failed", BooleanEquals: &yes, Next: anyFailed}},
		Default: next,
	})
	c.add(anyFailed, &State{
		Type: "Pass",
		Result: core.TaskFailure{
			Error: core.ErrorActionFailed,
			Cause: fmt.Sprintf("an action of stage %s with runOrder %d failed", st.Name, runOrder),
		},
		ResultPath: ptr("$.failure"),
		Next:       failed,
	})
	return name
}

func (c *compiler) actionTask(stage string, a pipeline.Action) *State {
	t := &State{
		Type:     "Task",
		Comment:  fmt.Sprintf("%s action %s (%s/%s).", a.ActionTypeID.Category, a.Name, a.ActionTypeID.Owner, a.ActionTypeID.Provider),
		Resource: resourceInvokeCallback,
		Parameters: map[string]any{
			"FunctionName": ActionFunction,
			"Payload": map[string]any{
				"pipeline.$":    "$.pipeline",
				"executionId.$": "$.executionId",
				"stage":         stage,
				"action":        a.Name,
				"token.$":       "$$.Task.Token",
			},
		},
	}
	if a.ActionTypeID.Category == pipeline.CategoryApproval {
		t.TimeoutSeconds = defaultApprovalTimeout
		if a.TimeoutInMinutes > 0 {
			t.TimeoutSeconds = a.TimeoutInMinutes * 60
		}
	}
	return t
}

func (c *compiler) gateTask(op, stage string, callback bool) *State {
	payload := map[string]any{
		"op":            op,
		"pipeline.$":    "$.pipeline",
		"executionId.$": "$.executionId",
		"stage":         stage,
	}
	t := &State{Type: "Task", Resource: resourceInvoke, Parameters: map[string]any{"FunctionName": GateFunction, "Payload": payload}}
	if callback {
		t.Resource = resourceInvokeCallback
		payload["token.$"] = "$$.Task.Token"
		payload["resumeAt.$"] = "$.resumeAt"
		payload["retryMode.$"] = "$.retryMode"
	}
	t.setResultPathNull()
	return t
}

func (s *State) setResultPathNull() { s.resultPathNull = true; s.ResultPath = nil }

func lambdaRetry() []Retry {
	return []Retry{{ErrorEquals: core.LambdaTransientErrors, IntervalSeconds: 1, MaxAttempts: 3, BackoffRate: 2}}
}

func (c *compiler) enterName(i int) string {
	return c.stateName(i, c.decl.Stages[i].Name, ": enter")
}

// stateName names a state of stage i: "i Stage<suffix>". When the whole would pass Step
// Functions' 80-character limit, the stage name keeps its first 30 characters and the
// suffix what room is left, and tag (unique within the stage) is appended so that
// shortened names stay unique; the stage index keeps stages apart.
func (c *compiler) stateName(i int, stage, suffix string, tag ...string) string {
	prefix := fmt.Sprintf("%d ", i+1)
	name := prefix + stage + suffix
	if utf8.RuneCountInString(name) <= maxStateName {
		return name
	}
	t := strings.Join(tag, "")
	stg := shorten(stage, 30)
	room := maxStateName - utf8.RuneCountInString(prefix+stg+t)
	return prefix + stg + shorten(suffix, room) + t
}

// shorten cuts s to n runes, marking the cut with an ellipsis.
func shorten(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	if n <= 1 {
		return string(r[:max(n, 0)])
	}
	return string(r[:n-1]) + "…"
}

func (c *compiler) add(name string, s *State) {
	c.claim(name)
	c.m.States[name] = s
}

// claim records a state name as used; ASL needs names unique across the whole machine,
// branches included.
func (c *compiler) claim(name string) {
	if c.err != nil {
		return
	}
	if c.names[name] {
		c.err = fmt.Errorf("compile pipeline %s: two states would be named %q (shorten stage or action names)", c.decl.Name, name)
	}
	c.names[name] = true
}

// actionIndex is the 1-based position of a in its stage, a tag unique within the stage.
func actionIndex(st pipeline.Stage, a pipeline.Action) int {
	for j := range st.Actions {
		if st.Actions[j].Name == a.Name {
			return j + 1
		}
	}
	return 0
}

// runOrderGroups groups a stage's actions by runOrder, in ascending order, keeping the
// declaration order within a group.
func runOrderGroups(actions []pipeline.Action) [][]pipeline.Action {
	byOrder := map[int][]pipeline.Action{}
	for _, a := range actions {
		ro := a.RunOrder
		if ro == 0 {
			ro = 1
		}
		byOrder[ro] = append(byOrder[ro], a)
	}
	orders := make([]int, 0, len(byOrder))
	for ro := range byOrder {
		orders = append(orders, ro)
	}
	sort.Ints(orders)
	groups := make([][]pipeline.Action, 0, len(orders))
	for _, ro := range orders {
		groups = append(groups, byOrder[ro])
	}
	return groups
}

func ptr[T any](v T) *T { return &v }
