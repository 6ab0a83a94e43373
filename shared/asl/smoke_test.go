package asl

import (
	"context"
	"testing"
)

func TestSmoke(t *testing.T) {
	h := newHarness(t)
	h.eng.Tasks().HandleLambda("double", func(ctx context.Context, p any) (any, error) {
		n, _ := intValue(p.(map[string]any)["n"])
		return map[string]any{"n": n * 2}, nil
	})
	x := h.run(`{"StartAt":"A","States":{
	 "A":{"Type":"Pass","Result":{"n":21},"ResultPath":"$.r","Next":"T"},
	 "T":{"Type":"Task","Resource":"arn:aws:states:::lambda:invoke","Parameters":{"FunctionName":"double","Payload.$":"$.r"},"ResultSelector":{"v.$":"$.Payload.n"},"ResultPath":"$.t","Next":"W"},
	 "W":{"Type":"Wait","Seconds":10,"Next":"C"},
	 "C":{"Type":"Choice","Choices":[{"Variable":"$.t.v","NumericEquals":42,"Next":"S"}],"Default":"F"},
	 "F":{"Type":"Fail","Error":"E"},
	 "S":{"Type":"Succeed"}}}`, `{"a":1}`)
	if x.Status != StatusSucceeded {
		t.Fatalf("got %+v", x)
	}
	t.Log(x.Output)
	for _, e := range h.history(x.ARN) {
		t.Log(mustJSON(t, e))
	}
}
