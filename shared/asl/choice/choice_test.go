package choice_test

import (
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/relais-ci/relais/shared/asl/choice"
	"github.com/relais-ci/relais/shared/asl/jsonpath"
)

func doc(tb testing.TB, s string) any {
	tb.Helper()
	d := json.NewDecoder(strings.NewReader(s))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		tb.Fatalf("decode %s: %v", s, err)
	}
	return v
}

const input = `{
  "str": "MyStringABC", "empty": "", "num": 22, "neg": -1.5, "zero": 0, "t": true, "f": false,
  "nul": null, "ts": "2001-01-01T12:00:00Z", "tsOffset": "2001-01-01T14:00:00+02:00",
  "tsFrac": "2001-01-01T12:00:00.5Z", "notTs": "2001-01-01 12:00:00", "tsLower": "2001-01-01t12:00:00z",
  "obj": {"a": 1}, "arr": [1, 2], "file": "log-2024.txt", "star": "a*b", "bs": "a\\b",
  "other": {"str": "MyStringABC", "num": 22, "ts": "2001-01-01T12:00:00Z", "t": true},
  "emoji": "\ud83d\ude00", "halfwidth": "\uff61"
}`

const context = `{"Execution": {"Name": "run-1"}, "State": {"RetryCount": 2}}`

func TestEval(t *testing.T) {
	in, ctx := doc(t, input), doc(t, context)
	tests := []struct {
		rule string
		want bool
	}{
		// String operators; ordering is Java's compareTo (UTF-16 units).
		{`{"Variable":"$.str","StringEquals":"MyStringABC"}`, true},
		{`{"Variable":"$.str","StringEquals":"mystringabc"}`, false},
		{`{"Variable":"$.str","StringGreaterThan":"MyString"}`, true},
		{`{"Variable":"$.str","StringLessThan":"MyStringABD"}`, true},
		{`{"Variable":"$.str","StringLessThan":"MyStringABC"}`, false},
		{`{"Variable":"$.str","StringLessThanEquals":"MyStringABC"}`, true},
		{`{"Variable":"$.str","StringGreaterThanEquals":"MyStringABC"}`, true},
		{`{"Variable":"$.str","StringGreaterThanEquals":"N"}`, false},
		{`{"Variable":"$.emoji","StringLessThan":"\uff61"}`, true},
		{`{"Variable":"$.num","StringEquals":"22"}`, false},
		{`{"Variable":"$.ts","StringEquals":"2001-01-01T12:00:00Z"}`, true},
		// StringMatches.
		{`{"Variable":"$.file","StringMatches":"log-*.txt"}`, true},
		{`{"Variable":"$.file","StringMatches":"log-*.csv"}`, false},
		{`{"Variable":"$.file","StringMatches":"*"}`, true},
		{`{"Variable":"$.empty","StringMatches":"*"}`, true},
		{`{"Variable":"$.empty","StringMatches":""}`, true},
		{`{"Variable":"$.file","StringMatches":""}`, false},
		{`{"Variable":"$.file","StringMatches":"*2024*"}`, true},
		{`{"Variable":"$.file","StringMatches":"l*g*4*t"}`, true},
		{`{"Variable":"$.file","StringMatches":"l*g*4*x"}`, false},
		{`{"Variable":"$.file","StringMatches":"log-2024.txt"}`, true},
		{`{"Variable":"$.file","StringMatches":"log"}`, false},
		{`{"Variable":"$.star","StringMatches":"a\\*b"}`, true},
		{`{"Variable":"$.str","StringMatches":"a\\*b"}`, false},
		{`{"Variable":"$.bs","StringMatches":"a\\\\b"}`, true},
		{`{"Variable":"$.num","StringMatches":"*"}`, false},
		// Numeric operators; a string never compares as a number.
		{`{"Variable":"$.num","NumericEquals":22}`, true},
		{`{"Variable":"$.num","NumericEquals":22.0}`, true},
		{`{"Variable":"$.num","NumericEquals":21}`, false},
		{`{"Variable":"$.num","NumericLessThan":30}`, true},
		{`{"Variable":"$.num","NumericGreaterThan":20}`, true},
		{`{"Variable":"$.num","NumericLessThanEquals":22}`, true},
		{`{"Variable":"$.num","NumericGreaterThanEquals":22.5}`, false},
		{`{"Variable":"$.neg","NumericLessThan":-1}`, true},
		{`{"Variable":"$.str","NumericEquals":22}`, false},
		{`{"Variable":"$.nul","NumericEquals":0}`, false},
		{`{"Variable":"$.t","NumericEquals":1}`, false},
		// BooleanEquals.
		{`{"Variable":"$.t","BooleanEquals":true}`, true},
		{`{"Variable":"$.f","BooleanEquals":true}`, false},
		{`{"Variable":"$.str","BooleanEquals":true}`, false},
		// Timestamps compare as instants; a non-timestamp never matches.
		{`{"Variable":"$.ts","TimestampEquals":"2001-01-01T12:00:00Z"}`, true},
		{`{"Variable":"$.tsOffset","TimestampEquals":"2001-01-01T12:00:00Z"}`, true},
		{`{"Variable":"$.tsFrac","TimestampGreaterThan":"2001-01-01T12:00:00Z"}`, true},
		{`{"Variable":"$.ts","TimestampLessThan":"2001-01-01T12:00:01Z"}`, true},
		{`{"Variable":"$.ts","TimestampLessThanEquals":"2001-01-01T12:00:00Z"}`, true},
		{`{"Variable":"$.ts","TimestampGreaterThanEquals":"2001-01-02T00:00:00Z"}`, false},
		{`{"Variable":"$.notTs","TimestampEquals":"2001-01-01T12:00:00Z"}`, false},
		{`{"Variable":"$.tsLower","TimestampEquals":"2001-01-01T12:00:00Z"}`, false},
		{`{"Variable":"$.num","TimestampEquals":"2001-01-01T12:00:00Z"}`, false},
		// …Path operators read the second value from the input or the context.
		{`{"Variable":"$.str","StringEqualsPath":"$.other.str"}`, true},
		{`{"Variable":"$.str","StringLessThanPath":"$.other.str"}`, false},
		{`{"Variable":"$.num","NumericEqualsPath":"$.other.num"}`, true},
		{`{"Variable":"$.num","NumericGreaterThanEqualsPath":"$.other.num"}`, true},
		{`{"Variable":"$.num","NumericEqualsPath":"$.other.str"}`, false},
		{`{"Variable":"$.t","BooleanEqualsPath":"$.other.t"}`, true},
		{`{"Variable":"$.ts","TimestampEqualsPath":"$.other.ts"}`, true},
		{`{"Variable":"$.ts","TimestampLessThanPath":"$.other.str"}`, false},
		{`{"Variable":"$$.State.RetryCount","NumericLessThan":3}`, true},
		{`{"Variable":"$.num","NumericGreaterThanPath":"$$.State.RetryCount"}`, true},
		// Type tests.
		{`{"Variable":"$.nul","IsNull":true}`, true},
		{`{"Variable":"$.str","IsNull":true}`, false},
		{`{"Variable":"$.str","IsNull":false}`, true},
		{`{"Variable":"$.str","IsPresent":true}`, true},
		{`{"Variable":"$.missing","IsPresent":true}`, false},
		{`{"Variable":"$.missing","IsPresent":false}`, true},
		{`{"Variable":"$.obj.missing","IsPresent":false}`, true},
		{`{"Variable":"$.str.deeper","IsPresent":true}`, false},
		{`{"Variable":"$.nul","IsPresent":true}`, true},
		{`{"Variable":"$.str","IsString":true}`, true},
		{`{"Variable":"$.num","IsString":true}`, false},
		{`{"Variable":"$.num","IsNumeric":true}`, true},
		{`{"Variable":"$.str","IsNumeric":false}`, true},
		{`{"Variable":"$.f","IsBoolean":true}`, true},
		{`{"Variable":"$.nul","IsBoolean":true}`, false},
		{`{"Variable":"$.ts","IsTimestamp":true}`, true},
		{`{"Variable":"$.notTs","IsTimestamp":true}`, false},
		{`{"Variable":"$.obj","IsTimestamp":false}`, true},
		// Boolean combinations, with short circuits that make IsPresent a guard.
		{`{"And":[{"Variable":"$.num","NumericGreaterThanEquals":20},{"Variable":"$.num","NumericLessThan":30}]}`, true},
		{`{"And":[{"Variable":"$.num","NumericGreaterThanEquals":20},{"Variable":"$.num","NumericLessThan":21}]}`, false},
		{`{"And":[{"Variable":"$.missing","IsPresent":true},{"Variable":"$.missing","StringEquals":"x"}]}`, false},
		{`{"Or":[{"Variable":"$.missing","IsPresent":false},{"Variable":"$.missing","StringEquals":"x"}]}`, true},
		{`{"Or":[{"Variable":"$.num","NumericEquals":1},{"Variable":"$.str","StringEquals":"MyStringABC"}]}`, true},
		{`{"Or":[{"Variable":"$.num","NumericEquals":1},{"Variable":"$.str","StringEquals":"x"}]}`, false},
		{`{"Not":{"Variable":"$.str","StringEquals":"Private"}}`, true},
		{`{"Not":{"Not":{"Variable":"$.t","BooleanEquals":true}}}`, true},
		{`{"Not":{"And":[{"Variable":"$.t","BooleanEquals":true},{"Or":[{"Variable":"$.f","BooleanEquals":true},{"Variable":"$.zero","NumericEquals":0}]}]}}`, false},
		{`{"Variable":"$['str']","StringEquals":"MyStringABC"}`, true},
		{`{"Variable":"$.arr[1]","NumericEquals":2}`, true},
	}
	for _, tt := range tests {
		t.Run(tt.rule, func(t *testing.T) {
			top := strings.TrimSuffix(tt.rule, "}") + `,"Next":"X"}`
			r, err := choice.ParseJSON([]byte(top), "Choices[0]")
			if err != nil {
				t.Fatalf("ParseJSON: %v", err)
			}
			got, err := r.Eval(in, ctx)
			if err != nil {
				t.Fatalf("Eval: %v", err)
			}
			if got != tt.want {
				t.Errorf("Eval(%s) = %v, want %v", tt.rule, got, tt.want)
			}
			if r.Next != "X" {
				t.Errorf("Next = %q, want %q", r.Next, "X")
			}
		})
	}
}

func TestEvalRuntimeErrors(t *testing.T) {
	in := doc(t, input)
	tests := []struct {
		rule, loc string
	}{
		{`{"Variable":"$.missing","StringEquals":"x","Next":"N"}`, "Variable"},
		{`{"Variable":"$.missing","IsNull":true,"Next":"N"}`, "Variable"},
		{`{"Variable":"$.str","StringEqualsPath":"$.missing","Next":"N"}`, "StringEqualsPath"},
		{`{"And":[{"Variable":"$.t","BooleanEquals":true},{"Variable":"$.obj.b","NumericEquals":1}],"Next":"N"}`, "And[1].Variable"},
		{`{"Not":{"Variable":"$.arr[5]","NumericEquals":1},"Next":"N"}`, "Not.Variable"},
		{`{"Variable":"$$.Execution.Missing","StringEquals":"x","Next":"N"}`, "Variable"},
	}
	for _, tt := range tests {
		t.Run(tt.rule, func(t *testing.T) {
			r, err := choice.ParseJSON([]byte(tt.rule), "Choices[0]")
			if err != nil {
				t.Fatalf("ParseJSON: %v", err)
			}
			got, err := r.Eval(in, doc(t, context))
			if !errors.Is(err, choice.ErrRuntime) || !errors.Is(err, jsonpath.ErrNoMatch) {
				t.Fatalf("Eval = %v, %v; want an error wrapping ErrRuntime and jsonpath.ErrNoMatch", got, err)
			}
			var ee *choice.EvalError
			if !errors.As(err, &ee) || ee.Loc != tt.loc {
				t.Errorf("Eval error = %v, want an *EvalError at %q", err, tt.loc)
			}
		})
	}
}

func TestParseProblems(t *testing.T) {
	tests := []struct {
		name, rule string
		want       []string // Problem strings
	}{
		{"not an object", `[1]`, []string{`C: a Choice rule must be an object, found an array`}},
		{"missing Next", `{"Variable":"$.a","StringEquals":"x"}`, []string{`C: missing Next: a top-level Choice rule must name the state to go to`}},
		{"empty Next", `{"Variable":"$.a","StringEquals":"x","Next":""}`, []string{`C.Next: must be a non-empty string, found the string ""`}},
		{"no operator", `{"Variable":"$.a","Next":"N"}`, []string{`C: no comparison operator: a rule needs exactly one of And, Or, Not, Is…, String…, Numeric…, Boolean… or Timestamp…`}},
		{"two operators", `{"Variable":"$.a","StringEquals":"x","IsNull":true,"Next":"N"}`, []string{`C: more than one comparison operator (IsNull, StringEquals): a rule holds exactly one`}},
		{"unknown operator", `{"Variable":"$.a","StringEqual":"x","Next":"N"}`, []string{
			`C.StringEqual: unknown field; a Choice rule holds Variable, one comparison operator, Next (top level only), Assign (top level only) and Comment`,
			`C: no comparison operator: a rule needs exactly one of And, Or, Not, Is…, String…, Numeric…, Boolean… or Timestamp…`,
		}},
		{"misspelt case", `{"Variable":"$.a","stringEquals":"x","Next":"N"}`, []string{
			`C.stringEquals: unknown field; did you mean StringEquals?`,
			`C: no comparison operator: a rule needs exactly one of And, Or, Not, Is…, String…, Numeric…, Boolean… or Timestamp…`,
		}},
		{"missing Variable", `{"NumericEquals":1,"Next":"N"}`, []string{`C: missing Variable: NumericEquals compares the value it selects`}},
		{"bad Variable path", `{"Variable":"a","NumericEquals":1,"Next":"N"}`, []string{`C.Variable: invalid JSONPath "a" at offset 0: expected '$' at the start of the path, found 'a'`}},
		{"Variable not a reference path", `{"Variable":"$.a[*]","NumericEquals":1,"Next":"N"}`, []string{`C.Variable: "$.a[*]" is not a reference path: only .name, ['name'] and [index] may follow $ or $$`}},
		{"Variable not a string", `{"Variable":1,"NumericEquals":1,"Next":"N"}`, []string{`C.Variable: must be a reference path string, found the number 1`}},
		{"wrong operand types", `{"And":[
			{"Variable":"$.a","StringEquals":1},
			{"Variable":"$.a","NumericEquals":"1"},
			{"Variable":"$.a","BooleanEquals":"true"},
			{"Variable":"$.a","TimestampEquals":"yesterday"},
			{"Variable":"$.a","IsNull":1},
			{"Variable":"$.a","StringMatches":null},
			{"Variable":"$.a","StringEqualsPath":"$.b[0:1]"}
		],"Next":"N"}`, []string{
			`C.And[0].StringEquals: must be a string, found the number 1`,
			`C.And[1].NumericEquals: must be a number, found the string "1"`,
			`C.And[2].BooleanEquals: must be true or false, found the string "true"`,
			`C.And[3].TimestampEquals: must be an RFC 3339 timestamp such as 2016-08-18T17:33:00Z, found the string "yesterday"`,
			`C.And[4].IsNull: must be true or false, found the number 1`,
			`C.And[5].StringMatches: must be a string pattern, found null`,
			`C.And[6].StringEqualsPath: "$.b[0:1]" is not a reference path: only .name, ['name'] and [index] may follow $ or $$`,
		}},
		{"Next in nested rules", `{"Not":{"Variable":"$.a","IsNull":true,"Next":"M"},"Or":[],"Next":"N"}`, []string{
			`C: more than one comparison operator (Not, Or): a rule holds exactly one`,
		}},
		{"nested Next and Assign", `{"Not":{"Variable":"$.a","IsNull":true,"Next":"M","Assign":{}},"Next":"N"}`, []string{
			`C.Not.Next: not allowed in a nested rule; only top-level Choice rules have Next`,
			`C.Not.Assign: not allowed in a nested rule; only top-level Choice rules have Assign`,
		}},
		{"empty And", `{"And":[],"Next":"N"}`, []string{`C.And: must be a non-empty array of Choice rules, found an empty array`}},
		{"Or not an array", `{"Or":{"Variable":"$.a","IsNull":true},"Next":"N"}`, []string{`C.Or: must be a non-empty array of Choice rules, found an object`}},
		{"Variable beside And", `{"Variable":"$.a","And":[{"Variable":"$.a","IsNull":true}],"Next":"N"}`, []string{`C.Variable: not allowed with And, whose nested rules carry their own`}},
		{"Not of a non-object", `{"Not":"x","Next":"N"}`, []string{`C.Not: a Choice rule must be an object, found the string "x"`}},
		{"deep problems all reported", `{"And":[{"Or":[{"Variable":"$.a"},{"Variable":"$.b","NumericEquals":true}]},{"Variable":"$.c","IsPresent":true,"Next":"X"}],"Next":"N"}`, []string{
			`C.And[0].Or[0]: no comparison operator: a rule needs exactly one of And, Or, Not, Is…, String…, Numeric…, Boolean… or Timestamp…`,
			`C.And[0].Or[1].NumericEquals: must be a number, found the boolean true`,
			`C.And[1].Next: not allowed in a nested rule; only top-level Choice rules have Next`,
		}},
		{"Comment must be a string", `{"Variable":"$.a","IsNull":true,"Next":"N","Comment":1}`, []string{`C.Comment: must be a string, found the number 1`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := choice.ParseJSON([]byte(tt.rule), "C")
			var ve *choice.ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("ParseJSON error = %v, want a *ValidationError", err)
			}
			var got []string
			for _, p := range ve.Problems {
				got = append(got, p.String())
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("problems mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseAccepts(t *testing.T) {
	r, err := choice.ParseJSON([]byte(`{"Variable":"$.a","IsPresent":true,"Next":"N","Comment":"why","Assign":{"x.$":"$.a"}}`), "C")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(map[string]any{"x.$": "$.a"}, r.Assign); diff != "" {
		t.Errorf("Assign mismatch (-want +got):\n%s", diff)
	}
}

func TestParseChoices(t *testing.T) {
	choices := doc(t, `[
		{"Variable":"$.a","IsNull":true,"Next":"A"},
		{"Variable":"$.a","Nope":1,"Next":"B"},
		{"Variable":"$.a","IsNull":false}
	]`)
	_, err := choice.ParseChoices(choices, "States.Pick.Choices")
	var ve *choice.ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("ParseChoices error = %v, want *ValidationError", err)
	}
	var got []string
	for _, p := range ve.Problems {
		got = append(got, p.Loc)
	}
	want := []string{"States.Pick.Choices[1].Nope", "States.Pick.Choices[1]", "States.Pick.Choices[2]"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("problem locations mismatch (-want +got):\n%s", diff)
	}
	if _, err := choice.ParseChoices(doc(t, `[]`), "Choices"); err == nil {
		t.Errorf("ParseChoices([]) succeeded, want an error: Choices must not be empty")
	}
	rules, err := choice.ParseChoices(doc(t, `[{"Variable":"$.a","IsNull":true,"Next":"A"},{"Variable":"$.a","IsNull":false,"Next":"B"}]`), "Choices")
	if err != nil {
		t.Fatal(err)
	}
	if len(rules) != 2 || rules[1].Next != "B" {
		t.Errorf("ParseChoices = %d rules (second Next %q), want 2 with Next B", len(rules), rules[1].Next)
	}
}

func FuzzParseJSON(f *testing.F) {
	for _, s := range []string{
		`{"Variable":"$.a","StringEquals":"x","Next":"N"}`,
		`{"And":[{"Variable":"$.a","NumericLessThan":1},{"Not":{"Variable":"$$.b","IsNull":true}}],"Next":"N"}`,
		`{"Variable":"$.a","StringMatches":"a*\\*b\\\\","Next":"N"}`,
		`{"Variable":"$.t","TimestampEqualsPath":"$.u","Next":"N"}`,
		`{"Or":[]}`,
	} {
		f.Add([]byte(s))
	}
	in := doc(f, input)
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := choice.ParseJSON(data, "C")
		if err != nil {
			var ve *choice.ValidationError
			if !errors.As(err, &ve) || len(ve.Problems) == 0 {
				t.Fatalf("ParseJSON error %v, want a *ValidationError with problems", err)
			}
			return
		}
		if _, err := r.Eval(in, nil); err != nil && !errors.Is(err, choice.ErrRuntime) {
			t.Fatalf("Eval error %v does not wrap ErrRuntime", err)
		}
	})
}

func BenchmarkEval(b *testing.B) {
	in := doc(b, input)
	r, err := choice.ParseJSON([]byte(`{"And":[{"Variable":"$.num","NumericGreaterThanEquals":20},{"Variable":"$.str","StringMatches":"My*ABC"},{"Variable":"$.other.t","BooleanEquals":true}],"Next":"N"}`), "C")
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if ok, err := r.Eval(in, nil); err != nil || !ok {
			b.Fatal(ok, err)
		}
	}
}

// TestConcurrentUse evaluates one parsed rule from many goroutines; go test -race checks
// the claim that a *Rule is safe for concurrent use.
func TestConcurrentUse(t *testing.T) {
	in := doc(t, input)
	r, err := choice.ParseJSON([]byte(`{"Or":[{"Variable":"$.missing","IsPresent":true},{"Variable":"$.file","StringMatches":"log-*.txt"}],"Next":"N"}`), "C")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 100 {
				if ok, err := r.Eval(in, nil); err != nil || !ok {
					t.Errorf("Eval = %v, %v; want true", ok, err)
					return
				}
			}
		})
	}
	wg.Wait()
}

func TestErrorStrings(t *testing.T) {
	r, err := choice.ParseJSON([]byte(`{"Variable":"$.nope","IsNull":true,"Next":"N"}`), "C")
	if err != nil {
		t.Fatal(err)
	}
	_, err = r.Eval(map[string]any{}, nil)
	if got, want := err.Error(), `choice rule Variable: path $.nope: no member "nope" at $`; got != want {
		t.Errorf("EvalError = %q, want %q", got, want)
	}
	_, err = choice.ParseJSON([]byte(`{`), "C")
	if err == nil || !strings.HasPrefix(err.Error(), "invalid Choice rule: C: not valid JSON") {
		t.Errorf("ParseJSON({) error = %v, want one saying the JSON is invalid", err)
	}
}
