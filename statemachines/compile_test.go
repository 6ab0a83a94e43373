package statemachines

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"

	"github.com/relais-ci/relais/shared/asl"
	"github.com/relais-ci/relais/shared/core"
	"github.com/relais-ci/relais/shared/pipeline"
	"github.com/relais-ci/relais/test/nodetool"
	"github.com/relais-ci/relais/test/realdata"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// sources lists every declaration the compiler is tested on: the project's own examples
// and every real declaration that CodePipeline's rules accept.
func sources(t *testing.T) map[string]*pipeline.Declaration {
	t.Helper()
	files, _ := filepath.Glob("../pipelines/*.json")
	real := filepath.Join(sharedTestdata(t), "pipelines")
	more, _ := filepath.Glob(filepath.Join(real, "*.json"))
	files = append(files, more...)
	decls := map[string]*pipeline.Declaration{}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		d, err := pipeline.Parse(data)
		if err != nil {
			continue // malformed on purpose (FOUND-MALFORMED); the parser's tests cover it
		}
		if v := pipeline.Validate(d, pipeline.TargetRules); len(v) > 0 {
			continue // invalid on purpose (FOUND-INVALID); the validator's tests cover it
		}
		decls[strings.TrimSuffix(filepath.Base(f), ".json")] = d
	}
	if len(decls) < 5 {
		t.Fatalf("got %d compilable declarations, want the examples and the real ones", len(decls))
	}
	return decls
}

// sharedTestdata returns the real inputs' root folder.
func sharedTestdata(t *testing.T) string { return filepath.Dir(realdata.Dir(t, "pipelines")) }

func goldenPath(name string) string { return filepath.Join("testdata", name+".asl.json") }

func TestGolden(t *testing.T) {
	for name, d := range sources(t) {
		t.Run(name, func(t *testing.T) {
			got, err := Compile(d)
			if err != nil {
				t.Fatalf("compile: %v", err)
			}
			if *update {
				if err := os.WriteFile(goldenPath(name), got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(goldenPath(name))
			if err != nil {
				t.Fatalf("read golden (run with -update to create it): %v", err)
			}
			if diff := cmp.Diff(string(want), string(got)); diff != "" {
				t.Errorf("compiled machine differs from %s (-want +got):\n%s", goldenPath(name), diff)
			}
		})
	}
}

// TestASLValidator runs every golden machine through the independent asl-validator.
func TestASLValidator(t *testing.T) {
	goldens, _ := filepath.Glob("testdata/*.asl.json")
	if len(goldens) == 0 {
		t.Fatal("no golden machines")
	}
	args := []string{}
	for _, g := range goldens {
		args = append(args, "--json-path", g)
	}
	out, err := nodetool.Command(t, "asl-validator", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("asl-validator refused a compiled machine: %v\n%s", err, out)
	}
}

// TestASLValidatorCatchesBrokenMachine proves the validator check above can fail.
func TestASLValidatorCatchesBrokenMachine(t *testing.T) {
	broken := filepath.Join(t.TempDir(), "broken.json")
	if err := os.WriteFile(broken, []byte(`{"StartAt":"A","States":{"A":{"Type":"Task","Resource":"arn:aws:states:::lambda:invoke","Next":"Missing"}}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := nodetool.Command(t, "asl-validator", "--json-path", broken).CombinedOutput(); err == nil {
		t.Fatalf("asl-validator accepted a machine whose Next names no state:\n%s", out)
	}
}

// walk calls fn on every object in a decoded JSON document.
func walk(v any, fn func(map[string]any)) {
	switch v := v.(type) {
	case map[string]any:
		fn(v)
		for _, c := range v {
			walk(c, fn)
		}
	case []any:
		for _, c := range v {
			walk(c, fn)
		}
	}
}

func compiled(t *testing.T, d *pipeline.Declaration) any {
	t.Helper()
	b, err := Compile(d)
	if err != nil {
		t.Fatalf("compile %s: %v", d.Name, err)
	}
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("compiled %s is not JSON: %v", d.Name, err)
	}
	return v
}

// TestErrorNamesAreConstants: every ErrorEquals in compiled output is a name that
// shared/core defines, so tasks and machines cannot drift apart.
func TestErrorNamesAreConstants(t *testing.T) {
	for name, d := range sources(t) {
		seen := 0
		walk(compiled(t, d), func(o map[string]any) {
			names, ok := o["ErrorEquals"].([]any)
			if !ok {
				return
			}
			for _, n := range names {
				seen++
				if !slices.Contains(core.StateMachineErrorNames, n.(string)) {
					t.Errorf("%s: ErrorEquals %q is not in core.StateMachineErrorNames", name, n)
				}
			}
		})
		if seen == 0 {
			t.Errorf("%s: no ErrorEquals at all", name)
		}
	}
}

// TestOnlyRelaisResources: tasks only invoke Relais's own functions, named by placeholders.
func TestOnlyRelaisResources(t *testing.T) {
	for name, d := range sources(t) {
		walk(compiled(t, d), func(o map[string]any) {
			if o["Type"] != "Task" {
				return
			}
			if r := o["Resource"]; r != resourceInvoke && r != resourceInvokeCallback {
				t.Errorf("%s: task resource %v", name, r)
			}
			fn := o["Parameters"].(map[string]any)["FunctionName"]
			if fn != GateFunction && fn != ActionFunction {
				t.Errorf("%s: task FunctionName %v is not a placeholder", name, fn)
			}
		})
	}
}

// TestShape checks the structure on a declaration with a parallel runOrder group.
func TestShape(t *testing.T) {
	d := decl(t, "shape", [][]action{
		{{"Src", "Source", 1}},
		{{"Unit", "Test", 1}, {"Lint", "Test", 1}, {"Package", "Build", 2}},
		{{"Approve", "Approval", 1}},
	})
	m, err := Build(d)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for n := range m.States {
		names = append(names, n)
	}
	slices.Sort(names)
	want := []string{
		"1 Source/Src", "1 Source: enter", "1 Source: failed", "1 Source: leave", "1 Source: stage failed",
		"2 Build/Package", "2 Build: enter", "2 Build: failed", "2 Build: leave", "2 Build: run order 1",
		"2 Build: run order 1 check", "2 Build: run order 1 failed", "2 Build: stage failed",
		"3 Approve/Approve", "3 Approve: enter", "3 Approve: failed", "3 Approve: leave", "3 Approve: stage failed",
		"Done", "Ended", "Start",
	}
	if diff := cmp.Diff(want, names); diff != "" {
		t.Errorf("top-level states (-want +got):\n%s", diff)
	}
	par := m.States["2 Build: run order 1"]
	if par.Type != "Parallel" || len(par.Branches) != 2 || par.Next != "2 Build: run order 1 check" {
		t.Errorf("run order 1 of Build: got %s with %d branches → %s, want a Parallel of 2 → its check", par.Type, len(par.Branches), par.Next)
	}
	if got := m.States["2 Build: run order 1 check"].Default; got != "2 Build/Package" {
		t.Errorf("after run order 1: got %q, want runOrder 2's action", got)
	}
	if got := m.States["2 Build/Package"].Next; got != "2 Build: leave" {
		t.Errorf("after the last group: got %q, want the stage's leave", got)
	}
	if got := m.States["3 Approve: leave"].Next; got != "Done" {
		t.Errorf("after the last stage: got %q, want Done", got)
	}
	if got := m.States["3 Approve/Approve"].TimeoutSeconds; got != 7*24*3600 {
		t.Errorf("approval timeout: got %d s, want 7 days", got)
	}
	start := m.States["Start"]
	if start.Default != "1 Source: enter" || len(start.Choices) != 2 || start.Choices[1].Next != "3 Approve: enter" {
		t.Errorf("Start: got default %q and %d choices, want the first stage and a resume choice per later stage", start.Default, len(start.Choices))
	}
}

func TestApprovalTimeoutFromDeclaration(t *testing.T) {
	d := decl(t, "timeout", [][]action{{{"Src", "Source", 1}}, {{"Approve", "Approval", 1}}})
	d.Stages[1].Actions[0].TimeoutInMinutes = 5
	m, err := Build(d)
	if err != nil {
		t.Fatal(err)
	}
	if got := m.States["2 Approve/Approve"].TimeoutSeconds; got != 300 {
		t.Errorf("got TimeoutSeconds %d, want 300", got)
	}
}

// TestLongNames: names of 100 characters (CodePipeline's limit) still give state names
// within Step Functions' 80 and unique.
func TestLongNames(t *testing.T) {
	long := func(c string, n int) string { return strings.Repeat(c, 95) + fmt.Sprint(n) }
	d := decl(t, "long", [][]action{
		{{long("s", 1), "Source", 1}},
		{{long("a", 1), "Build", 1}, {long("a", 2), "Build", 1}, {long("a", 3), "Build", 2}},
	})
	d.Stages[0].Name = long("S", 1)
	d.Stages[1].Name = long("S", 2)
	var all []string
	walk(compiled(t, d), func(o map[string]any) {
		states, ok := o["States"].(map[string]any)
		if !ok {
			return
		}
		for n := range states {
			all = append(all, n)
		}
	})
	seen := map[string]bool{}
	for _, n := range all {
		if utf8.RuneCountInString(n) > maxStateName {
			t.Errorf("state name %q has %d characters, over %d", n, utf8.RuneCountInString(n), maxStateName)
		}
		if seen[n] {
			t.Errorf("state name %q used twice", n)
		}
		seen[n] = true
	}
}

func TestMachineInputFieldsMatchPaths(t *testing.T) {
	// The compiled machine reads these input fields; core.MachineInput must write them.
	b, err := json.Marshal(core.MachineInput{})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{`"pipeline"`, `"executionId"`, `"resumeAt"`, `"retryMode"`} {
		if !bytes.Contains(b, []byte(f)) {
			t.Errorf("core.MachineInput JSON %s lacks %s", b, f)
		}
	}
}

type action struct {
	name, category string
	runOrder       int
}

// decl builds a declaration with the given stages (named after their first action's
// category, or explicitly) — the compiler needs names, categories and runOrders only.
func decl(t *testing.T, name string, stages [][]action) *pipeline.Declaration {
	t.Helper()
	d := &pipeline.Declaration{Name: name}
	for _, acts := range stages {
		st := pipeline.Stage{Name: acts[0].category}
		if acts[0].category == "Test" || acts[0].category == "Build" {
			st.Name = "Build"
		}
		if acts[0].category == "Approval" {
			st.Name = "Approve"
		}
		for _, a := range acts {
			st.Actions = append(st.Actions, pipeline.Action{
				Name:         a.name,
				RunOrder:     a.runOrder,
				ActionTypeID: pipeline.ActionTypeID{Category: a.category, Owner: "AWS", Provider: "X", Version: "1"},
			})
		}
		d.Stages = append(d.Stages, st)
	}
	return d
}

// TestInterpreterAccepts: Relais's own interpreter, which runs these machines locally,
// accepts every compiled machine once the placeholders name functions.
func TestInterpreterAccepts(t *testing.T) {
	for name, d := range sources(t) {
		b, err := Compile(d)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		def := strings.NewReplacer(GateFunction, "gate", ActionFunction, "action").Replace(string(b))
		if _, err := asl.Parse([]byte(def)); err != nil {
			t.Errorf("%s: the interpreter refuses the compiled machine: %v", name, err)
		}
	}
}
