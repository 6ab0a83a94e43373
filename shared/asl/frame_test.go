package asl

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// TestSnapshotRoundTrip: the hand-written frame encoder produces what decodeSnapshot
// reads back, field for field.
func TestSnapshotRoundTrip(t *testing.T) {
	at := time.Date(2024, 5, 6, 7, 8, 9, 123456789, time.UTC)
	root := &frame{ID: "r", State: "P \"quoted\" é", Input: map[string]any{"a": json.Number("1.50"), "b": []any{"<x>", nil, true}},
		Status: frameRunning, Visit: 3, Entered: true, EnteredTime: at, RetryCount: 2, Retries: []int{1, 0, 1},
		Phase: phaseBackoff, Until: at.Add(time.Second), Seq: 4, TaskStart: at, Heartbeat: at.Add(time.Minute), FirstFail: 2, LastEvent: 17, Restarted: true,
		Children: []*frame{
			{ID: "r/3.0", Index: 0, State: "A", Input: "in", Status: frameSucceeded, Output: map[string]any{"o": json.Number("2")}, LastEvent: 20, Iteration: true},
			{ID: "r/3.1", Index: 1, State: "B", Input: nil, Status: frameFailed, Err: &Error{Name: "E", Cause: "c"}, Callback: &callback{Output: "x"}, Phase: phaseCallback},
			{ID: "r/3.2", Index: 2, State: "C", Input: []any{}, Status: framePending, Iteration: true},
		}}
	b, err := marshalSnapshot(nil, root)
	if err != nil {
		t.Fatal(err)
	}
	got, err := decodeSnapshot(b)
	if err != nil {
		t.Fatalf("decode %s: %v", b, err)
	}
	opts := cmp.Options{cmpopts.IgnoreUnexported(frame{}), cmp.AllowUnexported()}
	if diff := cmp.Diff(root, got, opts); diff != "" {
		t.Errorf("round trip (-want +got):\n%s\nencoded: %s", diff, b)
	}
	again, _ := marshalSnapshot(nil, got)
	if string(again) != string(b) {
		t.Errorf("second encoding differs:\n%s\n%s", b, again)
	}
}
