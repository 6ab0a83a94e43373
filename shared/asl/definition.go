package asl

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/relais-ci/relais/shared/asl/jsonpath"
)

// Machine is a parsed and validated state machine definition. It is immutable and safe
// for concurrent use by any number of executions.
type Machine struct {
	Branch
	Comment        string
	Version        string
	TimeoutSeconds int64 // 0: no execution timeout
	// Definition is the JSON text the machine was parsed from.
	Definition []byte
}

// Branch is a set of states with a start state: the machine itself, a Parallel branch or
// a Map's ItemProcessor.
type Branch struct {
	StartAt string
	States  map[string]State
	// Order lists state names in definition order.
	Order []string
	// ProcessorMode is "INLINE" or "DISTRIBUTED" for a Map's ItemProcessor, "" otherwise.
	ProcessorMode string
}

// State is one state of a machine. Each kind has its own type: *PassState, *TaskState,
// *ChoiceState, *WaitState, *SucceedState, *FailState, *ParallelState, *MapState.
type State interface {
	Name() string
	// Type is the ASL "Type" value, e.g. "Task".
	Type() string
	common() *stateBase
}

// stateBase holds the fields every kind may use; a kind leaves unused ones zero.
type stateBase struct {
	name, kind     string
	Comment        string
	Next           string
	End            bool
	InputPath      optPath
	OutputPath     optPath
	ResultPath     optPath
	Parameters     *template
	ResultSelector *template
	Retry          []Retrier
	Catch          []Catcher
	// usesContext: some field of the state reads the context object ($$).
	usesContext bool
}

func (s *stateBase) Name() string       { return s.name }
func (s *stateBase) Type() string       { return s.kind }
func (s *stateBase) common() *stateBase { return s }

// optPath is a path field that may be absent (default "$"), null, or a path.
type optPath struct {
	null bool
	path *jsonpath.Path // nil with null false: "$"
}

// PassState is a "Pass" state.
type PassState struct {
	stateBase
	Result    any
	HasResult bool
}

// TaskState is a "Task" state.
type TaskState struct {
	stateBase
	Resource             string
	TimeoutSeconds       int64 // 0: use TimeoutSecondsPath or the default
	TimeoutSecondsPath   *jsonpath.Path
	HeartbeatSeconds     int64
	HeartbeatSecondsPath *jsonpath.Path
	Credentials          any
}

// ChoiceState is a "Choice" state.
type ChoiceState struct {
	stateBase
	Choices []ChoiceRule
	Default string
}

// ChoiceRule is one top-level Choice rule with its Next.
type ChoiceRule struct {
	Next string
	rule choiceEvaluator
}

// WaitState is a "Wait" state; exactly one of the four duration fields is set.
type WaitState struct {
	stateBase
	Seconds       int64
	HasSeconds    bool
	Timestamp     time.Time
	HasTimestamp  bool
	SecondsPath   *jsonpath.Path
	TimestampPath *jsonpath.Path
}

// SucceedState is a "Succeed" state.
type SucceedState struct{ stateBase }

// FailState is a "Fail" state.
type FailState struct {
	stateBase
	Error, Cause         string
	ErrorPath, CausePath *template // a path or an intrinsic, held as a one-value template
}

// ParallelState is a "Parallel" state.
type ParallelState struct {
	stateBase
	Branches []*Branch
}

// MapState is a "Map" state. Parameters (legacy) is stored as ItemSelector.
type MapState struct {
	stateBase
	ItemsPath                      optPath
	ItemSelector                   *template
	Processor                      *Branch
	MaxConcurrency                 int64
	MaxConcurrencyPath             *jsonpath.Path
	ToleratedFailureCount          int64
	ToleratedFailureCountPath      *jsonpath.Path
	ToleratedFailurePercentage     float64
	ToleratedFailurePercentagePath *jsonpath.Path
	HasTolerance                   bool
	// Distributed is set for ProcessorConfig Mode DISTRIBUTED or an ItemReader: parsed,
	// but running it fails with ErrUnsupported.
	Distributed bool
	Label       string
}

// Retrier is one entry of a Retry field.
type Retrier struct {
	ErrorEquals     []string
	IntervalSeconds float64
	MaxAttempts     int
	BackoffRate     float64
	MaxDelaySeconds float64 // 0: no cap
	JitterStrategy  string  // "FULL" or "NONE"
}

// Catcher is one entry of a Catch field.
type Catcher struct {
	ErrorEquals []string
	ResultPath  optPath
	Next        string
}

// Parse decodes and validates a state machine definition the way Step Functions'
// ValidateStateMachineDefinition does. On any problem it returns a *ValidationError
// listing every problem found, each with its JSON Pointer location.
//
// Definitions with QueryLanguage JSONata and unresolved ${...} DefinitionSubstitutions
// placeholders are refused with a problem that says so.
func Parse(def []byte) (*Machine, error) {
	p := &parser{}
	m := p.parse(def)
	if len(p.problems) > 0 {
		sort.SliceStable(p.problems, func(i, j int) bool { return p.problems[i].Location < p.problems[j].Location })
		return nil, &ValidationError{Problems: p.problems}
	}
	return m, nil
}

// MustParse is Parse for definitions known to be valid (tests, examples); it panics on error.
func MustParse(def string) *Machine {
	m, err := Parse([]byte(def))
	if err != nil {
		panic(err)
	}
	return m
}

type parser struct {
	problems []Problem
}

func (p *parser) add(loc, code, format string, args ...any) {
	p.problems = append(p.problems, Problem{Location: loc, Code: code, Message: fmt.Sprintf(format, args...)})
}

// decodeJSON decodes a JSON document with numbers as json.Number, rejecting trailing data.
func decodeJSON(data []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err == nil {
		return nil, fmt.Errorf("unexpected data after the JSON value")
	}
	return v, nil
}

var placeholderRE = regexp.MustCompile(`\$\{[^}]*\}`)

func (p *parser) parse(def []byte) *Machine {
	if len(def) > DefinitionLimit {
		p.add("", CodeSchema, "definition is %d bytes, more than the %d-byte limit", len(def), DefinitionLimit)
		return nil
	}
	raw, err := decodeJSON(def)
	if err != nil {
		p.add("", CodeInvalidJSON, "definition is not valid JSON: %v", err)
		return nil
	}
	top, ok := raw.(map[string]any)
	if !ok {
		p.add("", CodeSchema, "definition must be a JSON object")
		return nil
	}
	if ql, ok := top["QueryLanguage"]; ok {
		if ql == "JSONata" {
			p.add("/QueryLanguage", CodeUnsupported, "QueryLanguage JSONata is not supported by this interpreter: only JSONPath definitions run")
			return nil
		}
		if ql != "JSONPath" {
			p.add("/QueryLanguage", CodeSchema, "QueryLanguage must be \"JSONPath\" or \"JSONata\"")
		}
	}
	p.placeholders(raw, "")
	p.duplicateKeys(def)
	m := &Machine{Definition: append([]byte(nil), def...)}
	p.fields(top, "", []string{"StartAt", "States"}, []string{"Comment", "Version", "TimeoutSeconds", "QueryLanguage"})
	m.Comment = p.optString(top, "", "Comment")
	m.Version = p.optString(top, "", "Version")
	if _, ok := top["TimeoutSeconds"]; ok {
		m.TimeoutSeconds = p.posInt(top, "", "TimeoutSeconds", 1, 99999999)
	}
	b := p.branch(top, "", "")
	if b != nil {
		m.Branch = *b
	}
	return m
}

// placeholders reports every ${...} left in a string: DefinitionSubstitutions must be
// resolved before a definition can run.
func (p *parser) placeholders(v any, loc string) {
	switch v := v.(type) {
	case map[string]any:
		for _, k := range sortedKeys(v) {
			p.placeholders(v[k], loc+"/"+escapePointer(k))
		}
	case []any:
		for i, e := range v {
			p.placeholders(e, loc+"/"+strconv.Itoa(i))
		}
	case string:
		if m := placeholderRE.FindString(v); m != "" {
			p.add(loc, CodePlaceholder, "unresolved DefinitionSubstitutions placeholder %s: substitute it before running the definition", m)
		}
	}
}

// duplicateKeys reports object keys that appear twice (encoding/json keeps the last
// silently; a duplicated state name is an authoring mistake).
func (p *parser) duplicateKeys(def []byte) {
	dec := json.NewDecoder(bytes.NewReader(def))
	dec.UseNumber()
	var walk func(loc string) error
	walk = func(loc string) error {
		tok, err := dec.Token()
		if err != nil {
			return err
		}
		switch tok {
		case json.Delim('{'):
			seen := map[string]bool{}
			for dec.More() {
				kt, err := dec.Token()
				if err != nil {
					return err
				}
				k, _ := kt.(string)
				if seen[k] {
					code := CodeSchema
					if strings.HasSuffix(loc, "/States") {
						code = CodeDuplicateState
					}
					p.add(loc+"/"+escapePointer(k), code, "duplicate key %q", k)
				}
				seen[k] = true
				if err := walk(loc + "/" + escapePointer(k)); err != nil {
					return err
				}
			}
			_, err = dec.Token()
			return err
		case json.Delim('['):
			for i := 0; dec.More(); i++ {
				if err := walk(loc + "/" + strconv.Itoa(i)); err != nil {
					return err
				}
			}
			_, err = dec.Token()
			return err
		}
		return nil
	}
	_ = walk("")
}

func escapePointer(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "~", "~0"), "/", "~1")
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// fields checks required and unknown fields of an object.
func (p *parser) fields(obj map[string]any, loc string, required, optional []string) {
	for _, f := range required {
		if _, ok := obj[f]; !ok {
			p.add(loc, CodeMissingField, "missing required field %q", f)
		}
	}
	for _, k := range sortedKeys(obj) {
		if !contains(required, k) && !contains(optional, k) {
			p.add(loc+"/"+escapePointer(k), CodeUnknownField, "field %q is not supported here", k)
		}
	}
}

func contains(list []string, s string) bool {
	for _, e := range list {
		if e == s {
			return true
		}
	}
	return false
}

func (p *parser) optString(obj map[string]any, loc, key string) string {
	v, ok := obj[key]
	if !ok {
		return ""
	}
	s, ok := v.(string)
	if !ok {
		p.add(loc+"/"+key, CodeSchema, "%s must be a string", key)
	}
	return s
}

func (p *parser) reqString(obj map[string]any, loc, key string) string {
	v, ok := obj[key]
	if !ok {
		return "" // reported by fields
	}
	s, ok := v.(string)
	if !ok || s == "" {
		p.add(loc+"/"+key, CodeSchema, "%s must be a non-empty string", key)
	}
	return s
}

// number reads a JSON number field as float64.
func (p *parser) number(obj map[string]any, loc, key string) (float64, bool) {
	v, ok := obj[key]
	if !ok {
		return 0, false
	}
	n, ok := v.(json.Number)
	if !ok {
		p.add(loc+"/"+key, CodeSchema, "%s must be a number", key)
		return 0, false
	}
	f, err := n.Float64()
	if err != nil {
		p.add(loc+"/"+key, CodeSchema, "%s: %v", key, err)
		return 0, false
	}
	return f, true
}

func (p *parser) posInt(obj map[string]any, loc, key string, min, max int64) int64 {
	f, ok := p.number(obj, loc, key)
	if !ok {
		return 0
	}
	if f != math.Trunc(f) || f < float64(min) || f > float64(max) {
		p.add(loc+"/"+key, CodeSchema, "%s must be an integer from %d to %d", key, min, max)
		return 0
	}
	return int64(f)
}

func (p *parser) path(obj map[string]any, loc, key string, reference bool) *jsonpath.Path {
	v, ok := obj[key]
	if !ok {
		return nil
	}
	s, ok := v.(string)
	if !ok {
		p.add(loc+"/"+key, CodeSchema, "%s must be a JSONPath string", key)
		return nil
	}
	return p.parsePath(s, loc+"/"+key, key, reference)
}

func (p *parser) parsePath(s, loc, what string, reference bool) *jsonpath.Path {
	jp, err := jsonpath.Parse(s)
	if err != nil {
		p.add(loc, CodeInvalidPath, "%s: invalid JSONPath %q: %v", what, s, err)
		return nil
	}
	if reference && !jp.IsReference() {
		p.add(loc, CodeInvalidPath, "%s: %q must be a reference path (names and indexes only)", what, s)
		return nil
	}
	return jp
}

// optionalPath reads InputPath, OutputPath, ResultPath or ItemsPath: absent, null or a path.
func (p *parser) optionalPath(obj map[string]any, loc, key string, reference bool) optPath {
	v, ok := obj[key]
	if !ok {
		return optPath{}
	}
	if v == nil {
		return optPath{null: true}
	}
	s, ok := v.(string)
	if !ok {
		p.add(loc+"/"+key, CodeSchema, "%s must be a JSONPath string or null", key)
		return optPath{}
	}
	jp := p.parsePath(s, loc+"/"+key, key, reference)
	if jp != nil && jp.Context() && key == "ResultPath" {
		p.add(loc+"/"+key, CodeInvalidPath, "ResultPath cannot refer to the context object")
	}
	return optPath{path: jp}
}

var stateFields = map[string][]string{
	"Pass":     {"Next", "End", "InputPath", "OutputPath", "Parameters", "ResultPath", "Result"},
	"Task":     {"Next", "End", "InputPath", "OutputPath", "Parameters", "ResultSelector", "ResultPath", "Retry", "Catch", "Resource", "TimeoutSeconds", "TimeoutSecondsPath", "HeartbeatSeconds", "HeartbeatSecondsPath", "Credentials"},
	"Choice":   {"InputPath", "OutputPath", "Choices", "Default"},
	"Wait":     {"Next", "End", "InputPath", "OutputPath", "Seconds", "Timestamp", "SecondsPath", "TimestampPath"},
	"Succeed":  {"InputPath", "OutputPath"},
	"Fail":     {"Error", "Cause", "ErrorPath", "CausePath"},
	"Parallel": {"Next", "End", "InputPath", "OutputPath", "Parameters", "ResultSelector", "ResultPath", "Retry", "Catch", "Branches"},
	"Map": {"Next", "End", "InputPath", "OutputPath", "Parameters", "ResultSelector", "ResultPath", "Retry", "Catch",
		"ItemsPath", "ItemSelector", "ItemProcessor", "Iterator", "MaxConcurrency", "MaxConcurrencyPath",
		"ToleratedFailureCount", "ToleratedFailureCountPath", "ToleratedFailurePercentage", "ToleratedFailurePercentagePath",
		"ItemReader", "ItemBatcher", "ResultWriter", "Label"},
}

// branch parses {StartAt, States} at loc and checks transitions and reachability.
func (p *parser) branch(obj map[string]any, loc, mode string) *Branch {
	b := &Branch{States: map[string]State{}, ProcessorMode: mode}
	b.StartAt = p.reqString(obj, loc, "StartAt")
	rawStates, ok := obj["States"].(map[string]any)
	if !ok {
		if _, present := obj["States"]; present {
			p.add(loc+"/States", CodeSchema, "States must be an object")
		}
		return b
	}
	if len(rawStates) == 0 {
		p.add(loc+"/States", CodeSchema, "States must hold at least one state")
	}
	b.Order = orderedKeys(rawStates)
	for _, name := range b.Order {
		sloc := loc + "/States/" + escapePointer(name)
		if len(name) > 80 {
			p.add(sloc, CodeSchema, "state name %q is longer than 80 characters", name)
		}
		so, ok := rawStates[name].(map[string]any)
		if !ok {
			p.add(sloc, CodeSchema, "state must be an object")
			continue
		}
		if st := p.state(name, so, sloc); st != nil {
			b.States[name] = st
		}
	}
	if b.StartAt != "" {
		if _, ok := rawStates[b.StartAt]; !ok {
			p.add(loc+"/StartAt", CodeMissingTarget, "StartAt %q names no state", b.StartAt)
		}
	}
	p.checkTransitions(b, loc)
	return b
}

// orderedKeys returns an object's keys; Go maps lose definition order, so sort them.
func orderedKeys(m map[string]any) []string { return sortedKeys(m) }

func transitions(st State) []string {
	var out []string
	c := st.common()
	if c.Next != "" {
		out = append(out, c.Next)
	}
	for _, k := range c.Catch {
		out = append(out, k.Next)
	}
	if ch, ok := st.(*ChoiceState); ok {
		for _, r := range ch.Choices {
			out = append(out, r.Next)
		}
		if ch.Default != "" {
			out = append(out, ch.Default)
		}
	}
	return out
}

func (p *parser) checkTransitions(b *Branch, loc string) {
	for _, name := range b.Order {
		st, ok := b.States[name]
		if !ok {
			continue
		}
		sloc := loc + "/States/" + escapePointer(name)
		c := st.common()
		if c.Next != "" {
			if _, ok := b.States[c.Next]; !ok {
				p.add(sloc+"/Next", CodeMissingTarget, "Next %q names no state in this scope", c.Next)
			}
		}
		for i, k := range c.Catch {
			if _, ok := b.States[k.Next]; !ok && k.Next != "" {
				p.add(fmt.Sprintf("%s/Catch/%d/Next", sloc, i), CodeMissingTarget, "Next %q names no state in this scope", k.Next)
			}
		}
		if ch, ok := st.(*ChoiceState); ok {
			for i, r := range ch.Choices {
				if _, ok := b.States[r.Next]; !ok && r.Next != "" {
					p.add(fmt.Sprintf("%s/Choices/%d/Next", sloc, i), CodeMissingTarget, "Next %q names no state in this scope", r.Next)
				}
			}
			if ch.Default != "" {
				if _, ok := b.States[ch.Default]; !ok {
					p.add(sloc+"/Default", CodeMissingTarget, "Default %q names no state in this scope", ch.Default)
				}
			}
		}
	}
	if _, ok := b.States[b.StartAt]; !ok {
		return
	}
	seen := map[string]bool{b.StartAt: true}
	queue := []string{b.StartAt}
	terminal := false
	for len(queue) > 0 {
		st := b.States[queue[0]]
		queue = queue[1:]
		if st == nil {
			continue
		}
		switch st.(type) {
		case *SucceedState, *FailState:
			terminal = true
		default:
			if st.common().End {
				terminal = true
			}
		}
		for _, n := range transitions(st) {
			if _, ok := b.States[n]; ok && !seen[n] {
				seen[n] = true
				queue = append(queue, n)
			}
		}
	}
	for _, name := range b.Order {
		if _, ok := b.States[name]; ok && !seen[name] {
			p.add(loc+"/States/"+escapePointer(name), CodeUnreachable, "state %q is not reachable from StartAt", name)
		}
	}
	if !terminal {
		p.add(loc+"/States", CodeNoTerminal, "no terminal state (End, Succeed or Fail) is reachable")
	}
}

func (p *parser) state(name string, obj map[string]any, loc string) State {
	kind, _ := obj["Type"].(string)
	allowed, known := stateFields[kind]
	if !known {
		if _, ok := obj["Type"]; !ok {
			p.add(loc, CodeMissingField, "missing required field \"Type\"")
		} else {
			p.add(loc+"/Type", CodeSchema, "unknown state Type %v", obj["Type"])
		}
		return nil
	}
	if ql, ok := obj["QueryLanguage"]; ok {
		if ql == "JSONata" {
			p.add(loc+"/QueryLanguage", CodeUnsupported, "QueryLanguage JSONata is not supported by this interpreter: only JSONPath definitions run")
		}
	}
	for _, f := range []string{"Assign", "Arguments", "Output", "Variables"} {
		if _, ok := obj[f]; ok {
			p.add(loc+"/"+f, CodeUnsupported, "field %q (JSONata or variables) is not supported by this interpreter", f)
			delete(obj, f)
		}
	}
	delete(obj, "QueryLanguage")
	var required []string
	switch kind {
	case "Task":
		required = []string{"Resource"}
	case "Choice":
		required = []string{"Choices"}
	case "Parallel":
		required = []string{"Branches"}
	}
	optional := append([]string{"Type", "Comment"}, allowed...)
	p.fields(obj, loc, required, optional)

	base := stateBase{name: name, kind: kind, usesContext: refersToContext(obj)}
	base.Comment = p.optString(obj, loc, "Comment")
	if contains(allowed, "Next") {
		base.Next = p.optString(obj, loc, "Next")
		if e, ok := obj["End"]; ok {
			if eb, ok := e.(bool); !ok {
				p.add(loc+"/End", CodeSchema, "End must be a boolean")
			} else {
				base.End = eb
			}
		}
		_, hasNext := obj["Next"]
		switch {
		case hasNext && base.End:
			p.add(loc, CodeSchema, "a state cannot have both Next and End: true")
		case !hasNext && !base.End:
			p.add(loc, CodeMissingTarget, "state has neither Next nor End: true")
		}
	}
	if contains(allowed, "InputPath") {
		base.InputPath = p.optionalPath(obj, loc, "InputPath", false)
		base.OutputPath = p.optionalPath(obj, loc, "OutputPath", false)
	}
	if contains(allowed, "ResultPath") {
		base.ResultPath = p.optionalPath(obj, loc, "ResultPath", true)
	}
	if contains(allowed, "Parameters") && kind != "Map" {
		if v, ok := obj["Parameters"]; ok {
			base.Parameters = p.template(v, loc+"/Parameters")
		}
	}
	if contains(allowed, "ResultSelector") {
		if v, ok := obj["ResultSelector"]; ok {
			base.ResultSelector = p.template(v, loc+"/ResultSelector")
		}
	}
	if contains(allowed, "Retry") {
		base.Retry = p.retriers(obj["Retry"], loc+"/Retry")
		base.Catch = p.catchers(obj["Catch"], loc+"/Catch")
	}

	switch kind {
	case "Pass":
		s := &PassState{stateBase: base}
		s.Result, s.HasResult = obj["Result"]
		return s
	case "Task":
		return p.task(base, obj, loc)
	case "Choice":
		return p.choiceState(base, obj, loc)
	case "Wait":
		return p.wait(base, obj, loc)
	case "Succeed":
		return &SucceedState{stateBase: base}
	case "Fail":
		s := &FailState{stateBase: base}
		s.Error = p.optString(obj, loc, "Error")
		s.Cause = p.optString(obj, loc, "Cause")
		if _, ok := obj["ErrorPath"]; ok {
			if s.Error != "" {
				p.add(loc, CodeSchema, "Error and ErrorPath are mutually exclusive")
			}
			s.ErrorPath = p.pathOrIntrinsic(obj["ErrorPath"], loc+"/ErrorPath")
		}
		if _, ok := obj["CausePath"]; ok {
			if s.Cause != "" {
				p.add(loc, CodeSchema, "Cause and CausePath are mutually exclusive")
			}
			s.CausePath = p.pathOrIntrinsic(obj["CausePath"], loc+"/CausePath")
		}
		return s
	case "Parallel":
		s := &ParallelState{stateBase: base}
		arr, ok := obj["Branches"].([]any)
		if !ok || len(arr) == 0 {
			if _, present := obj["Branches"]; present {
				p.add(loc+"/Branches", CodeSchema, "Branches must be a non-empty array")
			}
			return s
		}
		for i, bv := range arr {
			bloc := fmt.Sprintf("%s/Branches/%d", loc, i)
			bo, ok := bv.(map[string]any)
			if !ok {
				p.add(bloc, CodeSchema, "branch must be an object")
				continue
			}
			p.fields(bo, bloc, []string{"StartAt", "States"}, []string{"Comment"})
			s.Branches = append(s.Branches, p.branch(bo, bloc, ""))
		}
		return s
	case "Map":
		return p.mapState(base, obj, loc)
	}
	return nil
}

func (p *parser) pathOrIntrinsic(v any, loc string) *template {
	s, ok := v.(string)
	if !ok {
		p.add(loc, CodeSchema, "must be a JSONPath or an intrinsic function string")
		return nil
	}
	return p.template(map[string]any{"v.$": s}, loc)
}

func (p *parser) task(base stateBase, obj map[string]any, loc string) State {
	s := &TaskState{stateBase: base}
	s.Resource = p.reqString(obj, loc, "Resource")
	if s.Resource != "" && !strings.HasPrefix(s.Resource, "arn:") && !placeholderRE.MatchString(s.Resource) {
		p.add(loc+"/Resource", CodeSchema, "Resource %q is not an ARN", s.Resource)
	}
	if _, ok := obj["TimeoutSeconds"]; ok {
		s.TimeoutSeconds = p.posInt(obj, loc, "TimeoutSeconds", 1, 99999999)
	}
	if _, ok := obj["HeartbeatSeconds"]; ok {
		s.HeartbeatSeconds = p.posInt(obj, loc, "HeartbeatSeconds", 1, 99999999)
	}
	s.TimeoutSecondsPath = p.path(obj, loc, "TimeoutSecondsPath", true)
	s.HeartbeatSecondsPath = p.path(obj, loc, "HeartbeatSecondsPath", true)
	if _, a := obj["TimeoutSeconds"]; a {
		if _, b := obj["TimeoutSecondsPath"]; b {
			p.add(loc, CodeSchema, "TimeoutSeconds and TimeoutSecondsPath are mutually exclusive")
		}
	}
	if _, a := obj["HeartbeatSeconds"]; a {
		if _, b := obj["HeartbeatSecondsPath"]; b {
			p.add(loc, CodeSchema, "HeartbeatSeconds and HeartbeatSecondsPath are mutually exclusive")
		}
	}
	if s.HeartbeatSeconds > 0 && s.TimeoutSeconds > 0 && s.HeartbeatSeconds >= s.TimeoutSeconds {
		p.add(loc+"/HeartbeatSeconds", CodeSchema, "HeartbeatSeconds must be smaller than TimeoutSeconds")
	}
	s.Credentials = obj["Credentials"]
	return s
}

func (p *parser) wait(base stateBase, obj map[string]any, loc string) State {
	s := &WaitState{stateBase: base}
	n := 0
	if _, ok := obj["Seconds"]; ok {
		n++
		s.HasSeconds = true
		s.Seconds = p.posInt(obj, loc, "Seconds", 0, 99999999)
	}
	if v, ok := obj["Timestamp"]; ok {
		n++
		s.HasTimestamp = true
		str, _ := v.(string)
		t, err := parseTimestamp(str)
		if err != nil {
			p.add(loc+"/Timestamp", CodeSchema, "Timestamp must be an RFC 3339 timestamp: %q", str)
		}
		s.Timestamp = t
	}
	if _, ok := obj["SecondsPath"]; ok {
		n++
		s.SecondsPath = p.path(obj, loc, "SecondsPath", true)
	}
	if _, ok := obj["TimestampPath"]; ok {
		n++
		s.TimestampPath = p.path(obj, loc, "TimestampPath", true)
	}
	if n != 1 {
		p.add(loc, CodeSchema, "a Wait state needs exactly one of Seconds, Timestamp, SecondsPath, TimestampPath")
	}
	return s
}

// parseTimestamp accepts the RFC 3339 forms Step Functions accepts (uppercase T and Z,
// or an offset).
func parseTimestamp(s string) (time.Time, error) {
	if strings.ContainsAny(s, "tz") {
		return time.Time{}, fmt.Errorf("lowercase t or z in %q", s)
	}
	return time.Parse(time.RFC3339Nano, s)
}

func (p *parser) choiceState(base stateBase, obj map[string]any, loc string) State {
	s := &ChoiceState{stateBase: base}
	s.Default = p.optString(obj, loc, "Default")
	arr, ok := obj["Choices"].([]any)
	if !ok || len(arr) == 0 {
		if _, present := obj["Choices"]; present {
			p.add(loc+"/Choices", CodeSchema, "Choices must be a non-empty array")
		}
		return s
	}
	for i, rv := range arr {
		rloc := fmt.Sprintf("%s/Choices/%d", loc, i)
		ro, ok := rv.(map[string]any)
		if !ok {
			p.add(rloc, CodeSchema, "a Choice rule must be an object")
			continue
		}
		next, _ := ro["Next"].(string)
		rule := p.choiceRule(ro, rloc)
		s.Choices = append(s.Choices, ChoiceRule{Next: next, rule: rule})
	}
	return s
}

func (p *parser) mapState(base stateBase, obj map[string]any, loc string) State {
	s := &MapState{stateBase: base}
	s.ItemsPath = p.optionalPath(obj, loc, "ItemsPath", false)
	if s.ItemsPath.null {
		p.add(loc+"/ItemsPath", CodeSchema, "ItemsPath cannot be null")
	}
	_, hasSel := obj["ItemSelector"]
	_, hasParams := obj["Parameters"]
	switch {
	case hasSel && hasParams:
		p.add(loc, CodeSchema, "ItemSelector and Parameters are mutually exclusive")
	case hasSel:
		s.ItemSelector = p.template(obj["ItemSelector"], loc+"/ItemSelector")
	case hasParams:
		s.ItemSelector = p.template(obj["Parameters"], loc+"/Parameters")
	}
	procKey := "ItemProcessor"
	_, hasProc := obj["ItemProcessor"]
	_, hasIter := obj["Iterator"]
	switch {
	case hasProc && hasIter:
		p.add(loc, CodeSchema, "ItemProcessor and Iterator are mutually exclusive")
	case hasIter:
		procKey = "Iterator"
	case !hasProc:
		p.add(loc, CodeMissingField, "missing required field \"ItemProcessor\"")
	}
	if po, ok := obj[procKey].(map[string]any); ok {
		ploc := loc + "/" + procKey
		p.fields(po, ploc, []string{"StartAt", "States"}, []string{"Comment", "ProcessorConfig"})
		mode := "INLINE"
		if pc, ok := po["ProcessorConfig"].(map[string]any); ok {
			p.fields(pc, ploc+"/ProcessorConfig", nil, []string{"Mode", "ExecutionType"})
			if m, ok := pc["Mode"].(string); ok {
				if m != "INLINE" && m != "DISTRIBUTED" {
					p.add(ploc+"/ProcessorConfig/Mode", CodeSchema, "Mode must be INLINE or DISTRIBUTED")
				}
				mode = m
			}
		}
		s.Processor = p.branch(po, ploc, mode)
		s.Distributed = mode == "DISTRIBUTED"
	} else if _, ok := obj[procKey]; ok {
		p.add(loc+"/"+procKey, CodeSchema, "%s must be an object", procKey)
	}
	for _, f := range []string{"ItemReader", "ItemBatcher", "ResultWriter"} {
		if _, ok := obj[f]; ok {
			s.Distributed = true
		}
	}
	if _, ok := obj["MaxConcurrency"]; ok {
		s.MaxConcurrency = p.posInt(obj, loc, "MaxConcurrency", 0, math.MaxInt32)
	}
	s.MaxConcurrencyPath = p.path(obj, loc, "MaxConcurrencyPath", true)
	if _, ok := obj["ToleratedFailureCount"]; ok {
		s.HasTolerance = true
		s.ToleratedFailureCount = p.posInt(obj, loc, "ToleratedFailureCount", 0, math.MaxInt32)
	}
	if f, ok := p.number(obj, loc, "ToleratedFailurePercentage"); ok {
		s.HasTolerance = true
		if f < 0 || f > 100 {
			p.add(loc+"/ToleratedFailurePercentage", CodeSchema, "ToleratedFailurePercentage must be from 0 to 100")
		}
		s.ToleratedFailurePercentage = f
	}
	s.ToleratedFailureCountPath = p.path(obj, loc, "ToleratedFailureCountPath", true)
	s.ToleratedFailurePercentagePath = p.path(obj, loc, "ToleratedFailurePercentagePath", true)
	if s.ToleratedFailureCountPath != nil || s.ToleratedFailurePercentagePath != nil {
		s.HasTolerance = true
	}
	s.Label = p.optString(obj, loc, "Label")
	return s
}

func (p *parser) errorEquals(obj map[string]any, loc string) []string {
	arr, ok := obj["ErrorEquals"].([]any)
	if !ok || len(arr) == 0 {
		p.add(loc+"/ErrorEquals", CodeSchema, "ErrorEquals must be a non-empty array of strings")
		return nil
	}
	out := make([]string, 0, len(arr))
	for i, v := range arr {
		s, ok := v.(string)
		if !ok {
			p.add(fmt.Sprintf("%s/ErrorEquals/%d", loc, i), CodeSchema, "error name must be a string")
			continue
		}
		out = append(out, s)
	}
	if contains(out, ErrNameALL) && len(out) > 1 {
		p.add(loc+"/ErrorEquals", CodeInvalidErrorEquals, "States.ALL must appear alone in ErrorEquals")
	}
	return out
}

func (p *parser) retriers(v any, loc string) []Retrier {
	if v == nil {
		return nil
	}
	arr, ok := v.([]any)
	if !ok {
		p.add(loc, CodeSchema, "Retry must be an array")
		return nil
	}
	var out []Retrier
	for i, rv := range arr {
		rloc := fmt.Sprintf("%s/%d", loc, i)
		ro, ok := rv.(map[string]any)
		if !ok {
			p.add(rloc, CodeSchema, "a retrier must be an object")
			continue
		}
		p.fields(ro, rloc, []string{"ErrorEquals"}, []string{"IntervalSeconds", "MaxAttempts", "BackoffRate", "MaxDelaySeconds", "JitterStrategy", "Comment"})
		r := Retrier{ErrorEquals: p.errorEquals(ro, rloc), IntervalSeconds: 1, MaxAttempts: 3, BackoffRate: 2, JitterStrategy: "NONE"}
		if _, ok := ro["IntervalSeconds"]; ok {
			r.IntervalSeconds = float64(p.posInt(ro, rloc, "IntervalSeconds", 1, 99999999))
		}
		if _, ok := ro["MaxAttempts"]; ok {
			r.MaxAttempts = int(p.posInt(ro, rloc, "MaxAttempts", 0, 99999999))
		}
		if f, ok := p.number(ro, rloc, "BackoffRate"); ok {
			if f < 1 {
				p.add(rloc+"/BackoffRate", CodeSchema, "BackoffRate must be at least 1.0")
			}
			r.BackoffRate = f
		}
		if _, ok := ro["MaxDelaySeconds"]; ok {
			r.MaxDelaySeconds = float64(p.posInt(ro, rloc, "MaxDelaySeconds", 1, 31622400))
		}
		if js, ok := ro["JitterStrategy"]; ok {
			if js != "FULL" && js != "NONE" {
				p.add(rloc+"/JitterStrategy", CodeSchema, "JitterStrategy must be FULL or NONE")
			} else {
				r.JitterStrategy = js.(string)
			}
		}
		if contains(r.ErrorEquals, ErrNameALL) && i != len(arr)-1 {
			p.add(rloc+"/ErrorEquals", CodeInvalidErrorEquals, "a retrier with States.ALL must be the last one")
		}
		out = append(out, r)
	}
	return out
}

func (p *parser) catchers(v any, loc string) []Catcher {
	if v == nil {
		return nil
	}
	arr, ok := v.([]any)
	if !ok {
		p.add(loc, CodeSchema, "Catch must be an array")
		return nil
	}
	var out []Catcher
	for i, cv := range arr {
		cloc := fmt.Sprintf("%s/%d", loc, i)
		co, ok := cv.(map[string]any)
		if !ok {
			p.add(cloc, CodeSchema, "a catcher must be an object")
			continue
		}
		p.fields(co, cloc, []string{"ErrorEquals", "Next"}, []string{"ResultPath", "Comment"})
		c := Catcher{ErrorEquals: p.errorEquals(co, cloc), Next: p.reqString(co, cloc, "Next")}
		c.ResultPath = p.optionalPath(co, cloc, "ResultPath", true)
		if contains(c.ErrorEquals, ErrNameALL) && i != len(arr)-1 {
			p.add(cloc+"/ErrorEquals", CodeInvalidErrorEquals, "a catcher with States.ALL must be the last one")
		}
		out = append(out, c)
	}
	return out
}

// refersToContext reports whether any string in v mentions "$$" (a context object path,
// possibly inside an intrinsic function); conservative by design.
func refersToContext(v any) bool {
	switch v := v.(type) {
	case map[string]any:
		for _, e := range v {
			if refersToContext(e) {
				return true
			}
		}
	case []any:
		for _, e := range v {
			if refersToContext(e) {
				return true
			}
		}
	case string:
		return strings.Contains(v, "$$")
	}
	return false
}
