package asl

import (
	"context"
	"errors"
	"strings"
	"testing"
)

// echo is a task resource that returns its parameters.
const echo = "arn:aws:states:::test:echo"

func registerEcho(h *harness) {
	h.eng.Tasks().HandleFunc(echo, func(ctx context.Context, req *TaskRequest) (any, error) { return req.Parameters, nil })
}

type runCase struct {
	name       string
	def        string
	input      string
	wantStatus string
	wantOutput string // JSON, compared canonically
	wantError  string
}

func runCases(t *testing.T, tests []runCase, setup func(h *harness)) {
	t.Helper()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			registerEcho(h)
			if setup != nil {
				setup(h)
			}
			input := tt.input
			if input == "" {
				input = "{}"
			}
			x := h.run(tt.def, input)
			if x.Status != tt.wantStatus {
				t.Fatalf("got status %s (%s: %s), want %s", x.Status, x.Error, x.Cause, tt.wantStatus)
			}
			if got, want := canon(t, x.Output), canon(t, tt.wantOutput); got != want {
				t.Errorf("got output %s, want %s", got, want)
			}
			if x.Error != tt.wantError {
				t.Errorf("got error %q (cause %q), want %q", x.Error, x.Cause, tt.wantError)
			}
		})
	}
}

func pass(fields string) string {
	return `{"StartAt":"S","States":{"S":{"Type":"Pass",` + fields + `,"End":true}}}`
}

func task(fields string) string {
	return `{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"` + echo + `",` + fields + `,"End":true}}}`
}

func TestInputOutputProcessing(t *testing.T) {
	runCases(t, []runCase{
		{"pass through", pass(`"Comment":"x"`), `{"a":1}`, StatusSucceeded, `{"a":1}`, ""},
		{"InputPath", pass(`"InputPath":"$.a"`), `{"a":{"b":2}}`, StatusSucceeded, `{"b":2}`, ""},
		{"InputPath null", pass(`"InputPath":null`), `{"a":1}`, StatusSucceeded, `{}`, ""},
		{"OutputPath", pass(`"OutputPath":"$.a.b"`), `{"a":{"b":[1,2]}}`, StatusSucceeded, `[1,2]`, ""},
		{"OutputPath null", pass(`"OutputPath":null`), `{"a":1}`, StatusSucceeded, `{}`, ""},
		{"Result replaces", pass(`"Result":{"x":1}`), `{"a":1}`, StatusSucceeded, `{"x":1}`, ""},
		{"Result into ResultPath", pass(`"Result":"r","ResultPath":"$.new.deep"`), `{"a":1}`, StatusSucceeded, `{"a":1,"new":{"deep":"r"}}`, ""},
		{"ResultPath null keeps input", pass(`"Result":"r","ResultPath":null`), `{"a":1}`, StatusSucceeded, `{"a":1}`, ""},
		{"ResultPath on raw input, not InputPath", pass(`"InputPath":"$.a","Result":5,"ResultPath":"$.r"`), `{"a":{"x":1}}`, StatusSucceeded, `{"a":{"x":1},"r":5}`, ""},
		{"Parameters paths", pass(`"Parameters":{"v.$":"$.a","lit":"$.a","nested":{"w.$":"$.b[1]"},"arr":[{"z.$":"$.a"},3]}`), `{"a":1,"b":[5,6]}`, StatusSucceeded,
			`{"v":1,"lit":"$.a","nested":{"w":6},"arr":[{"z":1},3]}`, ""},
		{"Parameters context object", pass(`"Parameters":{"n.$":"$$.Execution.Name","s.$":"$$.State.Name","m.$":"$$.StateMachine.Name","in.$":"$$.Execution.Input.a","rc.$":"$$.State.RetryCount","t.$":"$$.Execution.StartTime","r.$":"$$.Execution.RedriveCount"}`),
			`{"a":7}`, StatusSucceeded, `{"n":"x","s":"S","m":"m","in":7,"rc":0,"t":"2024-01-02T03:04:05.000Z","r":0}`, ""},
		{"Parameters missing path", pass(`"Parameters":{"v.$":"$.missing"}`), `{}`, StatusFailed, ``, ErrNameParameterPathFailure},
		{"InputPath missing", pass(`"InputPath":"$.missing"`), `{}`, StatusFailed, ``, ErrNameRuntime},
		{"ResultPath mismatch", pass(`"Result":1,"ResultPath":"$.a.b"`), `{"a":"str"}`, StatusFailed, ``, ErrNameResultPathMatchFailure},
		{"task ResultSelector and ResultPath", task(`"Parameters":{"x.$":"$.a"},"ResultSelector":{"got.$":"$.x"},"ResultPath":"$.res"`), `{"a":3}`, StatusSucceeded, `{"a":3,"res":{"got":3}}`, ""},
		{"task OutputPath", task(`"OutputPath":"$.a"`), `{"a":3}`, StatusSucceeded, `3`, ""},
		{"task indefinite Parameters path", task(`"Parameters":{"all.$":"$.l[*].v"}`), `{"l":[{"v":1},{"v":2}]}`, StatusSucceeded, `{"all":[1,2]}`, ""},
	}, nil)
}

func TestStates(t *testing.T) {
	choice := `{"StartAt":"C","States":{
		"C":{"Type":"Choice","InputPath":"$.in","OutputPath":"$.v","Choices":[
			{"Variable":"$.v","NumericGreaterThan":10,"Next":"Big"},
			{"And":[{"Variable":"$.v","IsNumeric":true},{"Variable":"$.v","NumericLessThan":0}],"Next":"Neg"}],"Default":"Small"},
		"Big":{"Type":"Pass","Result":"big","End":true},
		"Neg":{"Type":"Pass","Result":"neg","End":true},
		"Small":{"Type":"Succeed"}}}`
	noDefault := `{"StartAt":"C","States":{"C":{"Type":"Choice","Choices":[{"Variable":"$.v","StringEquals":"x","Next":"E"}]},"E":{"Type":"Succeed"}}}`
	runCases(t, []runCase{
		{"choice first rule", choice, `{"in":{"v":11}}`, StatusSucceeded, `"big"`, ""},
		{"choice And", choice, `{"in":{"v":-1}}`, StatusSucceeded, `"neg"`, ""},
		{"choice Default with OutputPath", choice, `{"in":{"v":5}}`, StatusSucceeded, `5`, ""},
		{"choice no match", noDefault, `{"v":"y"}`, StatusFailed, ``, ErrNameNoChoiceMatched},
		{"choice missing variable", noDefault, `{}`, StatusFailed, ``, ErrNameRuntime},
		{"succeed InputPath", `{"StartAt":"S","States":{"S":{"Type":"Succeed","InputPath":"$.a"}}}`, `{"a":[1]}`, StatusSucceeded, `[1]`, ""},
		{"fail", `{"StartAt":"F","States":{"F":{"Type":"Fail","Error":"Oops","Cause":"because"}}}`, ``, StatusFailed, ``, "Oops"},
		{"fail ErrorPath", `{"StartAt":"F","States":{"F":{"Type":"Fail","ErrorPath":"$.e","CausePath":"$.c"}}}`, `{"e":"E1","c":"C1"}`, StatusFailed, ``, "E1"},
		{"wait seconds", `{"StartAt":"W","States":{"W":{"Type":"Wait","Seconds":3600,"End":true}}}`, `{"a":1}`, StatusSucceeded, `{"a":1}`, ""},
		{"wait timestamp", `{"StartAt":"W","States":{"W":{"Type":"Wait","Timestamp":"2024-01-03T00:00:00Z","End":true}}}`, `{}`, StatusSucceeded, `{}`, ""},
		{"wait SecondsPath", `{"StartAt":"W","States":{"W":{"Type":"Wait","SecondsPath":"$.s","End":true}}}`, `{"s":5}`, StatusSucceeded, `{"s":5}`, ""},
		{"wait SecondsPath bad", `{"StartAt":"W","States":{"W":{"Type":"Wait","SecondsPath":"$.s","End":true}}}`, `{"s":"x"}`, StatusFailed, ``, ErrNameRuntime},
		{"wait TimestampPath", `{"StartAt":"W","States":{"W":{"Type":"Wait","TimestampPath":"$.t","End":true}}}`, `{"t":"2024-01-02T04:00:00+01:00"}`, StatusSucceeded, `{"t":"2024-01-02T04:00:00+01:00"}`, ""},
		{"wait TimestampPath bad", `{"StartAt":"W","States":{"W":{"Type":"Wait","TimestampPath":"$.t","End":true}}}`, `{"t":"yesterday"}`, StatusFailed, ``, ErrNameRuntime},
		{"unknown resource", `{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"arn:aws:states:::nothing:here","End":true}}}`, ``, StatusFailed, ``, ErrNameTaskFailed},
		{"unknown lambda", `{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"arn:aws:states:::lambda:invoke","Parameters":{"FunctionName":"nope"},"End":true}}}`, ``, StatusFailed, ``, "Lambda.ResourceNotFoundException"},
	}, nil)
}

func TestWaitDuration(t *testing.T) {
	h := newHarness(t)
	x := h.run(`{"StartAt":"W","States":{"W":{"Type":"Wait","Seconds":90,"End":true}}}`, `{}`)
	if got, want := x.StopDate.Sub(x.StartDate), 90*1e9; float64(got) != want {
		t.Errorf("got duration %v, want 90s", got)
	}
}

func TestIntrinsics(t *testing.T) {
	runCases(t, []runCase{
		{"format and array", pass(`"Parameters":{"s.$":"States.Format('Hi {} #{}', $.name, $.n)","a.$":"States.Array($.n, 'x')","len.$":"States.ArrayLength($.l)"}`),
			`{"name":"Ann","n":3,"l":[1,2]}`, StatusSucceeded, `{"s":"Hi Ann #3","a":[3,"x"],"len":2}`, ""},
		{"context argument", pass(`"Parameters":{"id.$":"States.ArrayGetItem(States.StringSplit($$.Execution.Id, ':'), 7)"}`), `{}`, StatusSucceeded, `{"id":"x"}`, ""},
		{"intrinsic failure", pass(`"Parameters":{"v.$":"States.StringToJson($.s)"}`), `{"s":"{bad"}`, StatusFailed, ``, ErrNameIntrinsicFailure},
		{"intrinsic in ResultSelector", task(`"ResultSelector":{"j.$":"States.JsonToString($)"}`), `{"a":1}`, StatusSucceeded, `{"j":"{\"a\":1}"}`, ""},
		{"fail CausePath intrinsic", `{"StartAt":"F","States":{"F":{"Type":"Fail","Error":"E","CausePath":"States.Format('bad {}', $.x)"}}}`, `{"x":1}`, StatusFailed, ``, "E"},
	}, nil)
}

func TestPayloadLimits(t *testing.T) {
	big := `"` + strings.Repeat("x", PayloadLimit) + `"`
	runCases(t, []runCase{
		{"state output too large", pass(`"Result":` + big), `{}`, StatusFailed, ``, ErrNameDataLimitExceeded},
		{"not caught", task(`"Parameters":{"v":` + big + `},"Catch":[{"ErrorEquals":["States.ALL"],"Next":"T"}]`), `{}`, StatusFailed, ``, ErrNameDataLimitExceeded},
	}, nil)
	h := newHarness(t)
	h.eng.CreateStateMachine(context.Background(), "m", []byte(pass(`"Comment":""`)), "")
	if _, err := h.eng.StartExecution(context.Background(), StartInput{StateMachine: "m", Input: big}); !errors.Is(err, ErrInvalidInput) {
		t.Errorf("oversized input: got %v, want ErrInvalidInput", err)
	}
	if _, err := Parse([]byte(`{"Comment":"` + strings.Repeat("x", DefinitionLimit) + `"}`)); err == nil {
		t.Error("oversized definition: got no error")
	}
}
