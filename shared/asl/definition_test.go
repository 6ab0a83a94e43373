package asl

import (
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseProblems(t *testing.T) {
	tests := []struct {
		name string
		def  string
		want []Problem // Location and Code only
	}{
		{"valid", `{"StartAt":"A","States":{"A":{"Type":"Pass","End":true}}}`, nil},
		{"not json", `{`, []Problem{{"", CodeInvalidJSON, ""}}},
		{"missing StartAt", `{"States":{"A":{"Type":"Pass","End":true}}}`, []Problem{{"", CodeMissingField, ""}}},
		{"unknown top field", `{"StartAt":"A","Foo":1,"States":{"A":{"Type":"Pass","End":true}}}`, []Problem{{"/Foo", CodeUnknownField, ""}}},
		{"unknown state field", `{"StartAt":"A","States":{"A":{"Type":"Pass","End":true,"Resource":"x"}}}`, []Problem{{"/States/A/Resource", CodeUnknownField, ""}}},
		{"StartAt missing state", `{"StartAt":"B","States":{"A":{"Type":"Pass","End":true}}}`, []Problem{{"/StartAt", CodeMissingTarget, ""}}},
		{"no Next nor End", `{"StartAt":"A","States":{"A":{"Type":"Pass"}}}`, []Problem{{"/States", CodeNoTerminal, ""}, {"/States/A", CodeMissingTarget, ""}}},
		{"Next and End", `{"StartAt":"A","States":{"A":{"Type":"Pass","Next":"A","End":true}}}`, []Problem{{"/States/A", CodeSchema, ""}}},
		{"Next to nowhere", `{"StartAt":"A","States":{"A":{"Type":"Pass","Next":"B"}}}`, []Problem{{"/States", CodeNoTerminal, ""}, {"/States/A/Next", CodeMissingTarget, ""}}},
		{"unreachable", `{"StartAt":"A","States":{"A":{"Type":"Pass","End":true},"B":{"Type":"Pass","End":true}}}`, []Problem{{"/States/B", CodeUnreachable, ""}}},
		{"bad path", `{"StartAt":"A","States":{"A":{"Type":"Pass","InputPath":"$.a[","End":true}}}`, []Problem{{"/States/A/InputPath", CodeInvalidPath, ""}}},
		{"ResultPath not reference", `{"StartAt":"A","States":{"A":{"Type":"Pass","ResultPath":"$.a[*]","End":true}}}`, []Problem{{"/States/A/ResultPath", CodeInvalidPath, ""}}},
		{"bad Parameters path", `{"StartAt":"A","States":{"A":{"Type":"Pass","Parameters":{"x.$":"nope"},"End":true}}}`, []Problem{{"/States/A/Parameters/x.$", CodeInvalidPath, ""}}},
		{"choice without Next", `{"StartAt":"C","States":{"C":{"Type":"Choice","Choices":[{"Variable":"$.a","IsPresent":true}],"Default":"E"},"E":{"Type":"Succeed"}}}`, []Problem{{"/States/C/Choices/0", CodeMissingTarget, ""}}},
		{"choice bad operator", `{"StartAt":"C","States":{"C":{"Type":"Choice","Choices":[{"Variable":"$.a","NumericEquals":"x","Next":"E"}]},"E":{"Type":"Succeed"}}}`, []Problem{{"/States/C/Choices/0/NumericEquals", CodeInvalidChoice, ""}}},
		{"States.ALL not last", `{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"arn:aws:states:::x","Retry":[{"ErrorEquals":["States.ALL"]},{"ErrorEquals":["E"]}],"End":true}}}`, []Problem{{"/States/T/Retry/0/ErrorEquals", CodeInvalidErrorEquals, ""}}},
		{"States.ALL not alone", `{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"arn:aws:states:::x","Catch":[{"ErrorEquals":["States.ALL","E"],"Next":"T"}],"End":true}}}`, []Problem{{"/States/T/Catch/0/ErrorEquals", CodeInvalidErrorEquals, ""}}},
		{"JSONata", `{"QueryLanguage":"JSONata","StartAt":"A","States":{"A":{"Type":"Pass","End":true}}}`, []Problem{{"/QueryLanguage", CodeUnsupported, ""}}},
		{"placeholder", `{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"${Fn}","End":true}}}`, []Problem{{"/States/T/Resource", CodePlaceholder, ""}}},
		{"wait needs one field", `{"StartAt":"W","States":{"W":{"Type":"Wait","Seconds":1,"SecondsPath":"$.s","End":true}}}`, []Problem{{"/States/W", CodeSchema, ""}}},
		{"parallel branch problems", `{"StartAt":"P","States":{"P":{"Type":"Parallel","Branches":[{"StartAt":"X","States":{"X":{"Type":"Pass"}}}],"End":true}}}`,
			[]Problem{{"/States/P/Branches/0/States", CodeNoTerminal, ""}, {"/States/P/Branches/0/States/X", CodeMissingTarget, ""}}},
		{"map distributed parses", `{"StartAt":"M","States":{"M":{"Type":"Map","ItemReader":{"Resource":"arn:aws:states:::s3:getObject"},"ItemProcessor":{"ProcessorConfig":{"Mode":"DISTRIBUTED","ExecutionType":"STANDARD"},"StartAt":"X","States":{"X":{"Type":"Succeed"}}},"End":true}}}`, nil},
		{"heartbeat >= timeout", `{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"arn:aws:states:::x","TimeoutSeconds":5,"HeartbeatSeconds":5,"End":true}}}`, []Problem{{"/States/T/HeartbeatSeconds", CodeSchema, ""}}},
		{"duplicate state", `{"StartAt":"A","States":{"A":{"Type":"Pass","End":true},"A":{"Type":"Succeed"}}}`, []Problem{{"/States/A", CodeDuplicateState, ""}}},
		{"duplicate field", `{"StartAt":"A","States":{"A":{"Type":"Pass","End":true,"End":true}}}`, []Problem{{"/States/A/End", CodeSchema, ""}}},
		{"Catch Next missing", `{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"arn:aws:states:::x","Catch":[{"ErrorEquals":["E"],"Next":"Z"}],"End":true}}}`, []Problem{{"/States/T/Catch/0/Next", CodeMissingTarget, ""}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.def))
			var got []Problem
			var ve *ValidationError
			if errors.As(err, &ve) {
				for _, p := range ve.Problems {
					got = append(got, Problem{Location: p.Location, Code: p.Code})
				}
			} else if err != nil {
				t.Fatalf("got error %T %v, want *ValidationError", err, err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("problems (-want +got):\n%s\nerror: %v", diff, err)
			}
		})
	}
}

func TestParseDefaults(t *testing.T) {
	m := MustParse(`{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"arn:aws:states:::x","Retry":[{"ErrorEquals":["E"]}],"End":true}}}`)
	got := m.States["T"].(*TaskState).Retry[0]
	want := Retrier{ErrorEquals: []string{"E"}, IntervalSeconds: 1, MaxAttempts: 3, BackoffRate: 2, JitterStrategy: "NONE"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("retrier defaults (-want +got):\n%s", diff)
	}
}

func FuzzParse(f *testing.F) {
	f.Add(`{"StartAt":"A","States":{"A":{"Type":"Pass","End":true}}}`)
	f.Add(`{"StartAt":"C","States":{"C":{"Type":"Choice","Choices":[{"Variable":"$.a","NumericEquals":1,"Next":"E"}],"Default":"E"},"E":{"Type":"Succeed"}}}`)
	f.Add(`{"StartAt":"M","States":{"M":{"Type":"Map","ItemsPath":"$.x","ItemSelector":{"v.$":"$$.Map.Item.Value"},"ItemProcessor":{"StartAt":"X","States":{"X":{"Type":"Pass","End":true}}},"End":true}}}`)
	f.Add(`{"StartAt":"P","States":{"P":{"Type":"Parallel","Branches":[{"StartAt":"X","States":{"X":{"Type":"Fail","ErrorPath":"$.e"}}}],"Retry":[{"ErrorEquals":["States.ALL"]}],"Catch":[{"ErrorEquals":["States.ALL"],"Next":"P"}],"End":true}}}`)
	f.Fuzz(func(t *testing.T, def string) {
		m, err := Parse([]byte(def))
		if err == nil && m == nil {
			t.Fatal("nil machine without error")
		}
	})
}
