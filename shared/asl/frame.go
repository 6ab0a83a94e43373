package asl

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strconv"
	"time"
)

// frame is one thread of control in an execution: the top level, a Parallel branch or a
// Map iteration. The frames of an execution form a tree that is the execution's resume
// state: it is what a checkpoint serialises. All fields are guarded by execution.mu;
// the goroutine running a frame is its only writer apart from task callbacks.
type frame struct {
	ID     string `json:"id"`
	Index  int    `json:"index"`
	State  string `json:"state"`
	Input  any    `json:"input"`
	Status string `json:"status"` // frame* constants
	Output any    `json:"output,omitempty"`
	Err    *Error `json:"error,omitempty"`

	// Per-state progress; reset on each transition.
	Visit       int       `json:"visit"` // states entered so far; makes child IDs unique
	Entered     bool      `json:"entered,omitempty"`
	EnteredTime time.Time `json:"enteredTime"`
	RetryCount  int       `json:"retryCount,omitempty"`
	Retries     []int     `json:"retries,omitempty"` // attempts used per retrier
	Phase       string    `json:"phase,omitempty"`   // phase* constants
	Until       time.Time `json:"until"`             // end of a Wait or back-off
	Seq         int       `json:"seq,omitempty"`     // task invocations; part of the token
	TaskStart   time.Time `json:"taskStart"`
	Heartbeat   time.Time `json:"heartbeat"`
	Callback    *callback `json:"callback,omitempty"`  // a result sent with the token
	Children    []*frame  `json:"children,omitempty"`  // branches or iterations of the current state
	FirstFail   int       `json:"firstFail"`           // index+1 of the child that failed first
	LastEvent   int64     `json:"lastEvent"`           // previousEventId for the next event
	Iteration   bool      `json:"iteration,omitempty"` // a Map iteration (not a branch or the top level)
	Restarted   bool      `json:"restarted,omitempty"` // redriven with children to run again

	wake chan struct{} // signalled when Callback or Heartbeat change

	inputJSON string // Input rendered as JSON, when already known
	inputEnc  []byte // Input encoded for snapshots; reset when Input changes
	encoded   []byte // the frame's JSON once it has succeeded (it no longer changes)
}

// appendFrame encodes a frame tree as the JSON that decodeSnapshot reads, by hand: a
// checkpoint encodes the whole tree, so this is hot. Finished and not-yet-started frames
// do not change, so their encoding is cached: a Map's checkpoints re-encode the whole
// tree, and most of it is such iterations.
func appendFrame(buf []byte, f *frame) ([]byte, error) {
	if f.encoded != nil {
		return append(buf, f.encoded...), nil
	}
	start := len(buf)
	if f.inputEnc == nil {
		enc, err := json.Marshal(f.Input)
		if err != nil {
			return buf, err
		}
		f.inputEnc = enc
	}
	buf = append(buf, `{"id":`...)
	buf = appendJSONString(buf, f.ID)
	buf = append(buf, `,"index":`...)
	buf = strconv.AppendInt(buf, int64(f.Index), 10)
	buf = append(buf, `,"state":`...)
	buf = appendJSONString(buf, f.State)
	buf = append(buf, `,"input":`...)
	buf = append(buf, f.inputEnc...)
	buf = append(buf, `,"status":`...)
	buf = appendJSONString(buf, f.Status)
	var err error
	if f.Output != nil {
		buf = append(buf, `,"output":`...)
		if buf, err = appendMarshal(buf, f.Output); err != nil {
			return buf, err
		}
	}
	if f.Err != nil {
		buf = append(buf, `,"error":`...)
		if buf, err = appendMarshal(buf, f.Err); err != nil {
			return buf, err
		}
	}
	buf = appendIntField(buf, "visit", f.Visit)
	if f.Entered {
		buf = append(buf, `,"entered":true`...)
	}
	buf = appendTimeField(buf, "enteredTime", f.EnteredTime)
	buf = appendIntField(buf, "retryCount", f.RetryCount)
	if len(f.Retries) > 0 {
		buf = append(buf, `,"retries":[`...)
		for i, n := range f.Retries {
			if i > 0 {
				buf = append(buf, ',')
			}
			buf = strconv.AppendInt(buf, int64(n), 10)
		}
		buf = append(buf, ']')
	}
	if f.Phase != "" {
		buf = append(buf, `,"phase":`...)
		buf = appendJSONString(buf, f.Phase)
	}
	buf = appendTimeField(buf, "until", f.Until)
	buf = appendIntField(buf, "seq", f.Seq)
	buf = appendTimeField(buf, "taskStart", f.TaskStart)
	buf = appendTimeField(buf, "heartbeat", f.Heartbeat)
	if f.Callback != nil {
		buf = append(buf, `,"callback":`...)
		if buf, err = appendMarshal(buf, f.Callback); err != nil {
			return buf, err
		}
	}
	if f.Children != nil {
		buf = append(buf, `,"children":[`...)
		for i, c := range f.Children {
			if i > 0 {
				buf = append(buf, ',')
			}
			if buf, err = appendFrame(buf, c); err != nil {
				return buf, err
			}
		}
		buf = append(buf, ']')
	}
	buf = appendIntField(buf, "firstFail", f.FirstFail)
	buf = append(buf, `,"lastEvent":`...)
	buf = strconv.AppendInt(buf, f.LastEvent, 10)
	if f.Iteration {
		buf = append(buf, `,"iteration":true`...)
	}
	if f.Restarted {
		buf = append(buf, `,"restarted":true`...)
	}
	buf = append(buf, '}')
	if f.Status == frameSucceeded || f.Status == framePending {
		f.encoded = append([]byte(nil), buf[start:]...)
	}
	return buf, nil
}

func appendIntField(buf []byte, name string, n int) []byte {
	if n == 0 {
		return buf
	}
	buf = append(buf, ',', '"')
	buf = append(buf, name...)
	buf = append(buf, '"', ':')
	return strconv.AppendInt(buf, int64(n), 10)
}

func appendTimeField(buf []byte, name string, t time.Time) []byte {
	if t.IsZero() {
		return buf
	}
	buf = append(buf, ',', '"')
	buf = append(buf, name...)
	buf = append(buf, '"', ':', '"')
	buf = t.AppendFormat(buf, time.RFC3339Nano)
	return append(buf, '"')
}

func appendJSONString(buf []byte, s string) []byte {
	if isPlainString(s) {
		buf = append(buf, '"')
		buf = append(buf, s...)
		return append(buf, '"')
	}
	b, _ := json.Marshal(s)
	return append(buf, b...)
}

func appendMarshal(buf []byte, v any) ([]byte, error) {
	b, err := json.Marshal(v)
	return append(buf, b...), err
}

const (
	framePending   = "PENDING" // a Map iteration not started yet
	frameRunning   = "RUNNING"
	frameSucceeded = "SUCCEEDED"
	frameFailed    = "FAILED"
	frameAborted   = "ABORTED"

	phaseTask     = "task"     // a task invocation is in flight
	phaseCallback = "callback" // waiting for SendTask* with the token
	phaseWait     = "wait"     // a Wait state is sleeping until Until
	phaseBackoff  = "backoff"  // a retry is sleeping until Until
)

// callback is a SendTaskSuccess/SendTaskFailure result waiting to be consumed.
type callback struct {
	Output any    `json:"output,omitempty"`
	Err    *Error `json:"error,omitempty"`
}

// snapshot is the serialised form of an execution's frames.
type snapshot struct {
	Root *frame `json:"root"`
}

func decodeSnapshot(b []byte) (*frame, error) {
	if len(b) == 0 {
		return nil, fmt.Errorf("empty snapshot")
	}
	var s snapshot
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber() // JSON values inside frames keep their number text
	if err := dec.Decode(&s); err != nil {
		return nil, err
	}
	if s.Root == nil {
		return nil, fmt.Errorf("snapshot has no root frame")
	}
	return s.Root, nil
}

// taskToken is what a task token encodes: the execution, the frame and the invocation.
// Tokens are derived, not random, so a token handed out before a crash is still valid
// after Resume.
type taskToken struct {
	Execution string `json:"e"`
	Frame     string `json:"f"`
	Seq       int    `json:"n"`
}

func (t taskToken) String() string {
	b, _ := json.Marshal(t)
	return base64.RawURLEncoding.EncodeToString(b)
}

func parseToken(s string) (taskToken, error) {
	var t taskToken
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return t, ErrInvalidToken
	}
	if err := json.Unmarshal(b, &t); err != nil || t.Execution == "" {
		return t, ErrInvalidToken
	}
	return t, nil
}
