package asl

import (
	"context"
	"math"
	"math/rand/v2"
	"strconv"
	"sync"
	"time"

	"github.com/relais-ci/relais/shared/asl/jsonpath"
)

// execution is a live (running) execution in this process.
type execution struct {
	eng         *Engine
	m           *Machine
	inputDoc    any
	machineName string

	mu      sync.Mutex
	rec     ExecutionRecord // Snapshot and EventCount are filled at checkpoint
	root    *frame
	frames  map[string]*frame
	pending []Event
	spare   []Event // a drained pending slice, reused
	snapBuf []byte  // the last snapshot's buffer, reused

	ctxExecution, ctxMachine map[string]any // shared parts of the context object
	nextID                   int64
	end                      *endRequest // why the run is being cut short, if it is
	abandoned                bool        // engine closed: write nothing more

	flushMu sync.Mutex
	dirty   chan struct{}
	done    chan struct{}
	cancel  context.CancelFunc
}

// endRequest records why an execution is cut short: Stop, execution timeout or a fatal
// runtime condition (history limit).
type endRequest struct {
	status string
	err    *Error
}

// outcome is how a state ended.
type outcome struct {
	exited      State  // the state to record as exited (with outJSON), or nil
	outJSON     string // output rendered for the StateExited event
	next        string
	output      any
	end         bool
	err         *Error
	interrupted bool // ctx cancelled: leave the frame as it is
}

func (x *execution) markDirtyLocked() {
	select {
	case x.dirty <- struct{}{}:
	default:
	}
}

func (x *execution) now() time.Time { return x.eng.clock.Now() }

// emitLocked appends a history event for fr (nil: execution level). It enforces the
// history limit: the event that would reach it is replaced by an execution failure.
func (x *execution) emitLocked(fr *frame, ev Event) int64 {
	if x.end != nil && x.end.status == StatusFailed && !isExecutionEnd(ev.Type) {
		return 0 // the history limit was reached: only the failure itself is recorded
	}
	if limit := x.eng.historyLimit; x.nextID >= int64(limit) && !isExecutionEnd(ev.Type) {
		if x.end == nil {
			x.end = &endRequest{status: StatusFailed, err: NewError(ErrNameRuntime,
				"The execution reached the maximum number of history events (%d).", limit)}
			x.cancel()
		}
		return 0
	}
	ev.ID = x.nextID
	x.nextID++
	ev.Timestamp = x.now()
	if fr != nil {
		if ev.PreviousEventID == 0 { // preset by callers that know better
			ev.PreviousEventID = fr.LastEvent
		}
		fr.LastEvent = ev.ID
	} else {
		ev.PreviousEventID = ev.ID - 1
	}
	x.pending = append(x.pending, ev)
	x.markDirtyLocked()
	return ev.ID
}

func isExecutionEnd(t string) bool {
	switch t {
	case EventExecutionSucceeded, EventExecutionFailed, EventExecutionAborted, EventExecutionTimedOut:
		return true
	}
	return false
}

// ctxFor returns the context object for a state of fr, or nil when the state never
// reads it (building it costs more than many states' whole work).
func (x *execution) ctxFor(fr *frame, st State) any {
	if !st.common().usesContext {
		return nil
	}
	return x.contextDoc(fr, st.Name(), "", nil)
}

// contextDoc builds the context object ($$) for a state of fr.
func (x *execution) contextDoc(fr *frame, stateName, token string, item map[string]any) map[string]any {
	x.mu.Lock()
	entered := fr.EnteredTime
	retries := fr.RetryCount
	if x.ctxExecution == nil {
		// The Execution and StateMachine parts never change during a run: build them once
		// and share them (payload templates only read the context object).
		x.ctxExecution = map[string]any{
			"Id":           x.rec.ARN,
			"Input":        x.inputDoc,
			"Name":         x.rec.Name,
			"RoleArn":      x.rec.RoleArn,
			"StartTime":    formatTime(x.rec.StartDate),
			"RedriveCount": jsonInt(int64(x.rec.RedriveCount)),
		}
		x.ctxMachine = map[string]any{"Id": x.rec.StateMachineARN, "Name": x.machineName}
	}
	doc := map[string]any{
		"Execution":    x.ctxExecution,
		"StateMachine": x.ctxMachine,
		"State": map[string]any{
			"EnteredTime": formatTime(entered),
			"Name":        stateName,
			"RetryCount":  jsonInt(int64(retries)),
		},
	}
	x.mu.Unlock()
	if token != "" {
		doc["Task"] = map[string]any{"Token": token}
	}
	if item != nil {
		doc["Map"] = map[string]any{"Item": item}
	}
	return doc
}

// runFrame runs fr's states until the frame succeeds, fails, or ctx is cancelled.
func (x *execution) runFrame(ctx context.Context, fr *frame, b *Branch) {
	for {
		if ctx.Err() != nil {
			return
		}
		st, ok := b.States[fr.State]
		if !ok {
			x.failFrame(fr, NewError(ErrNameRuntime, "state %q does not exist", fr.State))
			return
		}
		o := x.step(ctx, fr, st, b)
		if o.exited != nil && len(o.outJSON) > PayloadLimit {
			o = outcome{err: NewError(ErrNameDataLimitExceeded,
				"The state/task '%s' returned a result with a size exceeding the maximum number of bytes service limit.", st.Name())}
		}
		if o.interrupted || ctx.Err() != nil && o.err == nil && !o.end && o.next == "" {
			return
		}
		x.mu.Lock()
		if o.exited != nil {
			x.emitLocked(fr, Event{Type: o.exited.Type() + "StateExited", EventDetails: &EventDetails{StateExitedEventDetails: &StateExitedEventDetails{
				Name: o.exited.Name(), Output: o.outJSON, OutputDetails: &DataDetails{}}}})
		}
		switch {
		case o.err != nil:
			fr.Status = frameFailed
			fr.Err = o.err
			fr.Phase = ""
		case o.end:
			fr.Status = frameSucceeded
			fr.Output = o.output
			x.unregisterLocked(fr.Children)
			fr.Children = nil
		default:
			fr.State = o.next
			fr.Input = o.output
			fr.inputEnc = nil
			fr.inputJSON = o.outJSON // the next state's input, already rendered
			fr.Entered = false
			fr.RetryCount = 0
			fr.Retries = nil
			fr.Phase = ""
			fr.Callback = nil
			x.unregisterLocked(fr.Children)
			fr.Children = nil
			fr.FirstFail = 0
		}
		x.markDirtyLocked()
		x.mu.Unlock()
		if o.err != nil || o.end {
			return
		}
	}
}

func (x *execution) failFrame(fr *frame, err *Error) {
	x.mu.Lock()
	fr.Status = frameFailed
	fr.Err = err
	x.markDirtyLocked()
	x.mu.Unlock()
}

func (x *execution) unregisterLocked(children []*frame) {
	for _, c := range children {
		delete(x.frames, c.ID)
		x.unregisterLocked(c.Children)
	}
}

func (x *execution) registerLocked(fr *frame) {
	x.frames[fr.ID] = fr
	for _, c := range fr.Children {
		x.registerLocked(c)
	}
}

// applyPath applies InputPath or OutputPath: absent is "$", null yields {}.
func applyPath(p optPath, doc, ctxDoc any, field string) (any, *Error) {
	if p.null {
		return map[string]any{}, nil
	}
	if p.path == nil {
		return doc, nil
	}
	src := doc
	if p.path.Context() {
		src = ctxDoc
	}
	v, err := p.path.Get(src)
	if err != nil {
		return nil, NewError(ErrNameRuntime, "Invalid path '%s' : %s: %v", p.path, field, err)
	}
	return v, nil
}

// applyResultPath combines the state's raw input with its result.
func applyResultPath(p optPath, raw, result any) (any, *Error) {
	if p.null {
		return raw, nil
	}
	if p.path == nil || p.path.IsRoot() {
		return result, nil
	}
	v, err := jsonpath.Set(raw, p.path, result)
	if err != nil {
		return nil, NewError(ErrNameResultPathMatchFailure, "Unable to apply ResultPath '%s' to input '%s': %v", p.path, compactJSON(raw), err)
	}
	return v, nil
}

func asASLError(err error) *Error {
	if err == nil {
		return nil
	}
	return asError(err)
}

// step runs one state of fr to its end, including Retry and Catch.
func (x *execution) step(ctx context.Context, fr *frame, st State, b *Branch) outcome {
	c := st.common()
	x.mu.Lock()
	raw := fr.Input
	if !fr.Entered {
		fr.Entered = true
		fr.EnteredTime = x.now()
		fr.Visit++
		in := fr.inputJSON
		if in == "" {
			in = compactJSON(raw)
		}
		fr.inputJSON = ""
		x.emitLocked(fr, Event{Type: st.Type() + "StateEntered", EventDetails: &EventDetails{StateEnteredEventDetails: &StateEnteredEventDetails{
			Name: st.Name(), Input: in, InputDetails: &DataDetails{}}}})
	}
	x.mu.Unlock()
	ctxDoc := x.ctxFor(fr, st)

	eff := raw
	if _, isFail := st.(*FailState); !isFail {
		var e *Error
		if eff, e = applyPath(c.InputPath, raw, ctxDoc, "InputPath"); e != nil {
			return outcome{err: e}
		}
	}

	var o outcome
	switch s := st.(type) {
	case *ChoiceState:
		o = x.choose(s, eff, ctxDoc)
	case *SucceedState:
		o = outcome{output: eff, end: true}
	case *FailState:
		return x.fail(s, eff, ctxDoc)
	case *WaitState:
		o = x.wait(ctx, fr, s, eff, ctxDoc)
	default:
		return x.attempts(ctx, fr, st, raw, eff, b)
	}
	if o.err != nil || o.interrupted {
		return o
	}
	out, e := applyPath(c.OutputPath, o.output, ctxDoc, "OutputPath")
	if e != nil {
		return outcome{err: e}
	}
	o.output = out
	o.exited, o.outJSON = st, compactJSON(out)
	if o.next == "" && !o.end {
		o.next, o.end = c.Next, c.End
	}
	return o
}

func (x *execution) choose(s *ChoiceState, eff, ctxDoc any) outcome {
	for _, r := range s.Choices {
		if r.rule == nil {
			return outcome{err: NewError(ErrNameRuntime, "choice rules are not available")}
		}
		ok, err := r.rule.Eval(eff, ctxDoc)
		if err != nil {
			return outcome{err: NewError(ErrNameRuntime, "%v", err)}
		}
		if ok {
			return outcome{output: eff, next: r.Next}
		}
	}
	if s.Default != "" {
		return outcome{output: eff, next: s.Default}
	}
	return outcome{err: NewError(ErrNameNoChoiceMatched, "No Matches!")}
}

func (x *execution) fail(s *FailState, eff, ctxDoc any) outcome {
	e := &Error{Name: s.Error, Cause: s.Cause}
	for _, f := range []struct {
		t   *template
		dst *string
	}{{s.ErrorPath, &e.Name}, {s.CausePath, &e.Cause}} {
		if f.t == nil {
			continue
		}
		v, err := f.t.eval(eff, ctxDoc)
		if err != nil {
			return outcome{err: NewError(ErrNameRuntime, "%v", err)}
		}
		str, ok := v.(map[string]any)["v"].(string)
		if !ok {
			return outcome{err: NewError(ErrNameRuntime, "ErrorPath and CausePath must yield a string")}
		}
		*f.dst = str
	}
	return outcome{err: e}
}

// sleepUntil waits on the engine clock; it reports false when ctx ends first.
func (x *execution) sleepUntil(ctx context.Context, until time.Time) bool {
	d := until.Sub(x.now())
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := x.eng.clock.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C():
		return true
	case <-ctx.Done():
		return false
	}
}

func (x *execution) wait(ctx context.Context, fr *frame, s *WaitState, eff, ctxDoc any) outcome {
	x.mu.Lock()
	resumed := fr.Phase == phaseWait
	until := fr.Until
	x.mu.Unlock()
	if !resumed {
		x.mu.Lock()
		start := fr.EnteredTime
		x.mu.Unlock()
		switch {
		case s.HasSeconds:
			until = start.Add(time.Duration(s.Seconds) * time.Second)
		case s.HasTimestamp:
			until = s.Timestamp
		case s.SecondsPath != nil:
			v, err := s.SecondsPath.Get(eff)
			n, ok := intValue(v)
			if err != nil || !ok || n < 0 {
				return outcome{err: NewError(ErrNameRuntime, "The SecondsPath parameter does not reference a valid non-negative integer: %s", s.SecondsPath)}
			}
			until = start.Add(time.Duration(n) * time.Second)
		case s.TimestampPath != nil:
			v, err := s.TimestampPath.Get(eff)
			str, _ := v.(string)
			t, perr := parseTimestamp(str)
			if err != nil || perr != nil {
				return outcome{err: NewError(ErrNameRuntime, "The TimestampPath parameter does not reference a valid ISO-8601 extended offset date-time format string: %s", s.TimestampPath)}
			}
			until = t
		}
		x.mu.Lock()
		fr.Phase, fr.Until = phaseWait, until
		x.markDirtyLocked()
		x.mu.Unlock()
	}
	if !x.sleepUntil(ctx, until) {
		return outcome{interrupted: true}
	}
	x.mu.Lock()
	fr.Phase = ""
	x.mu.Unlock()
	return outcome{output: eff}
}

// attempts runs a Pass, Task, Parallel or Map state with its Retry and Catch policy.
func (x *execution) attempts(ctx context.Context, fr *frame, st State, raw, eff any, b *Branch) outcome {
	c := st.common()
	for {
		x.mu.Lock()
		if fr.Phase == phaseBackoff {
			until := fr.Until
			x.mu.Unlock()
			if !x.sleepUntil(ctx, until) {
				return outcome{interrupted: true}
			}
			x.mu.Lock()
			fr.Phase = ""
		}
		x.mu.Unlock()

		out, err := x.attempt(ctx, fr, st, raw, eff)
		if err == nil {
			return outcome{output: out, next: c.Next, end: c.End, exited: st, outJSON: compactJSON(out)}
		}
		if ctx.Err() != nil {
			return outcome{interrupted: true}
		}
		if err.terminal() {
			return outcome{err: err}
		}
		if delay, ok := x.retryDelay(fr, c.Retry, err); ok {
			x.mu.Lock()
			fr.RetryCount++
			fr.Phase = phaseBackoff
			fr.Until = x.now().Add(delay)
			x.unregisterLocked(fr.Children)
			fr.Children = nil
			fr.FirstFail = 0
			x.markDirtyLocked()
			x.mu.Unlock()
			continue
		}
		for _, k := range c.Catch {
			if !matchesAny(k.ErrorEquals, err.Name) {
				continue
			}
			errOut := map[string]any{"Error": err.Name, "Cause": err.Cause}
			out, e := applyResultPath(k.ResultPath, raw, errOut)
			if e != nil {
				return outcome{err: e}
			}
			return outcome{output: out, next: k.Next, exited: st, outJSON: compactJSON(out)}
		}
		return outcome{err: err}
	}
}

func matchesAny(patterns []string, name string) bool {
	for _, p := range patterns {
		if matchesError(p, name) {
			return true
		}
	}
	return false
}

// retryDelay finds the retrier for err and, when it has attempts left, counts one and
// returns the back-off delay.
func (x *execution) retryDelay(fr *frame, retriers []Retrier, err *Error) (time.Duration, bool) {
	for i, r := range retriers {
		if !matchesAny(r.ErrorEquals, err.Name) {
			continue
		}
		x.mu.Lock()
		defer x.mu.Unlock()
		if len(fr.Retries) < len(retriers) {
			fr.Retries = append(fr.Retries, make([]int, len(retriers)-len(fr.Retries))...)
		}
		n := fr.Retries[i]
		if n >= r.MaxAttempts {
			return 0, false
		}
		fr.Retries[i] = n + 1
		secs := r.IntervalSeconds * math.Pow(r.BackoffRate, float64(n))
		if r.MaxDelaySeconds > 0 && secs > r.MaxDelaySeconds {
			secs = r.MaxDelaySeconds
		}
		if r.JitterStrategy == "FULL" {
			secs = rand.Float64() * secs
		}
		return time.Duration(secs * float64(time.Second)), true
	}
	return 0, false
}

// attempt runs the middle of the I/O pipeline once: Parameters → work → ResultSelector
// → ResultPath → OutputPath.
func (x *execution) attempt(ctx context.Context, fr *frame, st State, raw, eff any) (any, *Error) {
	c := st.common()
	var result any
	var err *Error
	switch s := st.(type) {
	case *PassState:
		switch {
		case s.HasResult:
			result = s.Result
		case c.Parameters != nil:
			v, e := c.Parameters.eval(eff, x.ctxFor(fr, st))
			if e != nil {
				return nil, asASLError(e)
			}
			result = v
		default:
			result = eff
		}
	case *TaskState:
		result, err = x.runTask(ctx, fr, s, eff)
	case *ParallelState:
		params, e := x.parameters(fr, st, eff)
		if e != nil {
			return nil, e
		}
		result, err = x.runParallel(ctx, fr, s, params)
	case *MapState:
		result, err = x.runMap(ctx, fr, s, eff)
	}
	if err != nil {
		return nil, err
	}
	var ctxDoc any
	if c.ResultSelector != nil || c.OutputPath.path != nil {
		ctxDoc = x.ctxFor(fr, st)
	}
	if c.ResultSelector != nil {
		v, e := c.ResultSelector.eval(result, ctxDoc)
		if e != nil {
			return nil, asASLError(e)
		}
		result = v
	}
	out, e := applyResultPath(c.ResultPath, raw, result)
	if e != nil {
		return nil, e
	}
	return applyPath(c.OutputPath, out, ctxDoc, "OutputPath")
}

func (x *execution) parameters(fr *frame, st State, eff any) (any, *Error) {
	c := st.common()
	if c.Parameters == nil {
		return eff, nil
	}
	v, err := c.Parameters.eval(eff, x.ctxFor(fr, st))
	return v, asASLError(err)
}

const defaultTaskTimeout = 99999999 * time.Second

// secondsField resolves TimeoutSeconds/HeartbeatSeconds or their Path forms.
func secondsField(fixed int64, p *jsonpath.Path, eff any, name string) (int64, *Error) {
	if p == nil {
		return fixed, nil
	}
	v, err := p.Get(eff)
	n, ok := intValue(v)
	if err != nil || !ok || n <= 0 {
		return 0, NewError(ErrNameRuntime, "%sPath '%s' does not reference a positive integer", name, p)
	}
	return n, nil
}

// runTask invokes a Task state's resource once (one attempt).
func (x *execution) runTask(ctx context.Context, fr *frame, s *TaskState, eff any) (any, *Error) {
	timeoutS, e := secondsField(s.TimeoutSeconds, s.TimeoutSecondsPath, eff, "TimeoutSeconds")
	if e != nil {
		return nil, e
	}
	heartbeatS, e := secondsField(s.HeartbeatSeconds, s.HeartbeatSecondsPath, eff, "HeartbeatSeconds")
	if e != nil {
		return nil, e
	}
	timeout := defaultTaskTimeout
	if timeoutS > 0 {
		timeout = time.Duration(timeoutS) * time.Second
	}
	callbackTask := len(s.Resource) > len(waitForTokenSuffix) && s.Resource[len(s.Resource)-len(waitForTokenSuffix):] == waitForTokenSuffix
	lambdaARN := isLambdaFunctionARN(s.Resource)
	resType, resName := resourceNames(s.Resource)

	x.mu.Lock()
	resumeCallback := fr.Phase == phaseCallback
	if fr.Phase != phaseTask && !resumeCallback {
		fr.Seq++
		fr.Phase = phaseTask
		fr.TaskStart = x.now()
		fr.Heartbeat = fr.TaskStart
		x.markDirtyLocked()
	}
	tok := taskToken{Execution: x.rec.ARN, Frame: fr.ID, Seq: fr.Seq}
	start := fr.TaskStart
	x.mu.Unlock()
	token := ""
	if callbackTask {
		token = tok.String()
	}
	deadline := start.Add(timeout)

	fail := func(err *Error, timedOut bool) (any, *Error) {
		x.mu.Lock()
		fr.Phase = ""
		fr.Callback = nil
		switch {
		case lambdaARN && timedOut:
			x.emitLocked(fr, Event{Type: "LambdaFunctionTimedOut", EventDetails: &EventDetails{LambdaFunctionTimedOutEventDetails: &ErrorEventDetails{Error: err.Name, Cause: err.Cause}}})
		case lambdaARN:
			x.emitLocked(fr, Event{Type: "LambdaFunctionFailed", EventDetails: &EventDetails{LambdaFunctionFailedEventDetails: &ErrorEventDetails{Error: err.Name, Cause: err.Cause}}})
		case timedOut:
			x.emitLocked(fr, Event{Type: "TaskTimedOut", EventDetails: &EventDetails{TaskTimedOutEventDetails: &TaskErrorEventDetails{ResourceType: resType, Resource: resName, Error: err.Name, Cause: err.Cause}}})
		default:
			x.emitLocked(fr, Event{Type: "TaskFailed", EventDetails: &EventDetails{TaskFailedEventDetails: &TaskErrorEventDetails{ResourceType: resType, Resource: resName, Error: err.Name, Cause: err.Cause}}})
		}
		x.markDirtyLocked()
		x.mu.Unlock()
		return nil, err
	}
	succeed := func(out any) (any, *Error) {
		x.mu.Lock()
		fr.Phase = ""
		fr.Callback = nil
		if lambdaARN {
			x.emitLocked(fr, Event{Type: "LambdaFunctionSucceeded", EventDetails: &EventDetails{LambdaFunctionSucceededEventDetails: &ExecutionSucceededEventDetails{Output: compactJSON(out), OutputDetails: &DataDetails{}}}})
		} else {
			x.emitLocked(fr, Event{Type: "TaskSucceeded", EventDetails: &EventDetails{TaskSucceededEventDetails: &TaskResultEventDetails{ResourceType: resType, Resource: resName, Output: compactJSON(out), OutputDetails: &DataDetails{}}}})
		}
		x.markDirtyLocked()
		x.mu.Unlock()
		return out, nil
	}

	if !resumeCallback {
		params := eff
		if s.Parameters != nil {
			var tctx any
			if s.usesContext {
				tctx = x.contextDoc(fr, s.Name(), token, nil)
			}
			v, err := s.Parameters.eval(eff, tctx)
			if err != nil {
				x.mu.Lock()
				fr.Phase = ""
				x.mu.Unlock()
				return nil, asASLError(err)
			}
			params = v
		}
		paramsJSON := compactJSON(params)
		if len(paramsJSON) > PayloadLimit {
			x.mu.Lock()
			fr.Phase = ""
			x.mu.Unlock()
			return nil, NewError(ErrNameDataLimitExceeded, "The state/task '%s' input after Parameters exceeds the maximum number of bytes service limit.", s.Name())
		}
		x.mu.Lock()
		if lambdaARN {
			x.emitLocked(fr, Event{Type: "LambdaFunctionScheduled", EventDetails: &EventDetails{LambdaFunctionScheduledEventDetails: &LambdaFunctionScheduledEventDetails{
				Resource: s.Resource, Input: paramsJSON, InputDetails: &DataDetails{}, TimeoutInSeconds: timeoutS}}})
			x.emitLocked(fr, Event{Type: "LambdaFunctionStarted"})
		} else {
			x.emitLocked(fr, Event{Type: "TaskScheduled", EventDetails: &EventDetails{TaskScheduledEventDetails: &TaskScheduledEventDetails{
				ResourceType: resType, Resource: resName, Region: x.eng.region, Parameters: paramsJSON,
				TimeoutInSeconds: timeoutS, HeartbeatInSeconds: heartbeatS}}})
			x.emitLocked(fr, Event{Type: "TaskStarted", EventDetails: &EventDetails{TaskStartedEventDetails: &TaskStartedEventDetails{ResourceType: resType, Resource: resName}}})
		}
		x.mu.Unlock()

		h := x.eng.tasks.lookup(s.Resource)
		if h == nil {
			return fail(NewError(ErrNameTaskFailed, "no task handler is registered for resource %q", s.Resource), false)
		}
		req := &TaskRequest{Resource: s.Resource, Parameters: params, Token: token, ExecutionARN: x.rec.ARN,
			StateName: s.Name(), InvocationID: invocationID(tok), Time: start}
		out, err, timedOut := x.invoke(ctx, h, req, deadline)
		if ctx.Err() != nil {
			return nil, errInterrupted
		}
		if timedOut {
			return fail(NewError(ErrNameTimeout, "The task timed out after %d seconds", int64(timeout/time.Second)), true)
		}
		if err != nil {
			return fail(asError(err), false)
		}
		if !callbackTask {
			return succeed(out)
		}
		x.mu.Lock()
		fr.Phase = phaseCallback
		x.emitLocked(fr, Event{Type: "TaskSubmitted", EventDetails: &EventDetails{TaskSubmittedEventDetails: &TaskResultEventDetails{ResourceType: resType, Resource: resName, Output: compactJSON(out), OutputDetails: &DataDetails{}}}})
		x.markDirtyLocked()
		x.mu.Unlock()
	}

	// Wait for SendTaskSuccess/SendTaskFailure, a heartbeat timeout or the task timeout.
	for {
		x.mu.Lock()
		if cb := fr.Callback; cb != nil {
			x.mu.Unlock()
			if cb.Err != nil {
				return fail(cb.Err, false)
			}
			return succeed(cb.Output)
		}
		if fr.wake == nil {
			fr.wake = make(chan struct{}, 1)
		}
		wake := fr.wake
		beat := fr.Heartbeat
		x.mu.Unlock()
		now := x.now()
		wait := deadline.Sub(now)
		hbTimeout := false
		if heartbeatS > 0 {
			if hb := beat.Add(time.Duration(heartbeatS) * time.Second).Sub(now); hb < wait {
				wait, hbTimeout = hb, true
			}
		}
		if wait <= 0 {
			if hbTimeout {
				return fail(NewError(ErrNameHeartbeatTimeout, "The task did not send a heartbeat within %d seconds", heartbeatS), true)
			}
			return fail(NewError(ErrNameTimeout, "The task timed out after %d seconds", int64(timeout/time.Second)), true)
		}
		t := x.eng.clock.NewTimer(wait)
		select {
		case <-wake:
		case <-t.C():
		case <-ctx.Done():
			t.Stop()
			return nil, errInterrupted
		}
		t.Stop()
	}
}

// invocationID derives a UUID-shaped id from the token, stable across re-invocations.
func invocationID(t taskToken) string {
	key := t.Execution + "\x00" + t.Frame + "\x00" + strconv.Itoa(t.Seq)
	h1, h2 := fnv64(key), fnv64(key+"\x01")
	const hexd = "0123456789abcdef"
	var b [36]byte
	j := 0
	for i := 0; i < 32; i++ {
		if i == 8 || i == 12 || i == 16 || i == 20 {
			b[j] = '-'
			j++
		}
		h := h1
		if i >= 16 {
			h = h2
		}
		b[j] = hexd[(h>>(4*(15-i%16)))&0xf]
		j++
	}
	return string(b[:])
}

func fnv64(s string) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= 1099511628211
	}
	return h
}

// invoke calls a handler with the task deadline; a handler panic fails the task.
func (x *execution) invoke(ctx context.Context, h TaskHandler, req *TaskRequest, deadline time.Time) (out any, err error, timedOut bool) {
	if deadline.Sub(x.now()) >= defaultTaskTimeout/2 {
		// No real timeout: call the handler directly; it watches ctx for Stop and Close.
		v, err := callHandler(ctx, h, req)
		if ctx.Err() != nil {
			return nil, ctx.Err(), false
		}
		return normalizeJSON(v), err, false
	}
	hctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type result struct {
		v   any
		err error
	}
	ch := make(chan result, 1)
	go func() {
		v, err := callHandler(hctx, h, req)
		ch <- result{v, err}
	}()
	d := deadline.Sub(x.now())
	if d <= 0 {
		return nil, nil, true
	}
	t := x.eng.clock.NewTimer(d)
	defer t.Stop()
	select {
	case r := <-ch:
		return normalizeJSON(r.v), r.err, false
	case <-t.C():
		return nil, nil, true
	case <-ctx.Done():
		return nil, ctx.Err(), false
	}
}

// callHandler invokes a handler; a panic fails the task instead of the process.
func callHandler(ctx context.Context, h TaskHandler, req *TaskRequest) (v any, err error) {
	defer func() {
		if p := recover(); p != nil {
			v, err = nil, NewError(ErrNameTaskFailed, "task handler panicked: %v", p)
		}
	}()
	return h.Invoke(ctx, req)
}

// normalizeJSON converts a handler's result to the package's JSON value model by a
// round trip when it holds other Go types (structs, ints, float64...).
func normalizeJSON(v any) any {
	if isJSONValue(v) {
		return v
	}
	b, err := jsonMarshal(v)
	if err != nil {
		return nil
	}
	out, err := decodeJSON(b)
	if err != nil {
		return nil
	}
	return out
}

func isJSONValue(v any) bool {
	switch v := v.(type) {
	case nil, string, bool, jsonNumberType:
		return true
	case map[string]any:
		for _, e := range v {
			if !isJSONValue(e) {
				return false
			}
		}
		return true
	case []any:
		for _, e := range v {
			if !isJSONValue(e) {
				return false
			}
		}
		return true
	}
	return false
}

// runChildren runs the unfinished children of fr (Parallel branches or Map iterations)
// with at most limit at once (0: all). It returns the error that fails the state, if any.
// tolerated reports whether a failure count is still acceptable (Map tolerance).
func (x *execution) runChildren(ctx context.Context, fr *frame, branch func(i int) *Branch, limit int,
	tolerated func(failed int) bool, onStart func(c *frame), onEnd func(c *frame)) *Error {
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	x.mu.Lock()
	var todo []*frame
	failed := 0
	for _, c := range fr.Children {
		switch c.Status {
		case frameFailed:
			failed++
		case frameRunning, framePending:
			todo = append(todo, c)
		}
	}
	x.mu.Unlock()
	var failMu sync.Mutex
	stop := false
	halted := func() bool {
		failMu.Lock()
		defer failMu.Unlock()
		return stop || cctx.Err() != nil
	}
	runOne := func(c *frame) {
		x.mu.Lock()
		pending := c.Status == framePending
		if pending {
			c.Status = frameRunning
			c.encoded = nil
			x.markDirtyLocked()
		}
		x.mu.Unlock()
		if pending && onStart != nil {
			onStart(c)
		}
		x.runFrame(cctx, c, branch(c.Index))
		x.mu.Lock()
		status := c.Status
		if status == frameRunning && ctx.Err() == nil {
			c.Status = frameAborted // a sibling failed
			status = frameAborted
		}
		if status == frameFailed && fr.FirstFail == 0 {
			fr.FirstFail = c.Index + 1
		}
		x.markDirtyLocked()
		x.mu.Unlock()
		if status == frameFailed {
			failMu.Lock()
			failed++
			if !tolerated(failed) || c.Err.terminal() {
				stop = true
				cancel()
			}
			failMu.Unlock()
		}
		if ctx.Err() == nil && onEnd != nil {
			onEnd(c)
		}
	}
	// A fixed pool of workers rather than a goroutine per child: stacks grow once.
	workers := len(todo)
	if limit > 0 && limit < workers {
		workers = limit
	}
	queue := make(chan *frame)
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for c := range queue {
				if !halted() {
					runOne(c)
				}
			}
		}()
	}
	for _, c := range todo {
		if halted() {
			break
		}
		queue <- c
	}
	close(queue)
	wg.Wait()
	if ctx.Err() != nil {
		return errInterrupted
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	if !tolerated(failed) || stop {
		if fr.FirstFail > 0 && fr.FirstFail <= len(fr.Children) {
			return fr.Children[fr.FirstFail-1].Err
		}
		for _, c := range fr.Children {
			if c.Status == frameFailed {
				return c.Err
			}
		}
	}
	return nil
}

func (x *execution) newChildLocked(fr *frame, i int, input any, status string) *frame {
	c := &frame{ID: fr.ID + "/" + strconv.Itoa(fr.Visit) + "." + strconv.Itoa(i), Index: i, Input: input, Status: status, LastEvent: fr.LastEvent}
	x.frames[c.ID] = c
	return c
}

func (x *execution) runParallel(ctx context.Context, fr *frame, s *ParallelState, input any) (any, *Error) {
	x.mu.Lock()
	if fr.Restarted { // redriven: the failed branches start again
		fr.Restarted = false
		x.emitLocked(fr, Event{Type: "ParallelStateStarted"})
	}
	if fr.Children == nil {
		x.emitLocked(fr, Event{Type: "ParallelStateStarted"})
		for i, b := range s.Branches {
			c := x.newChildLocked(fr, i, input, frameRunning)
			c.State = b.StartAt
			fr.Children = append(fr.Children, c)
		}
		x.markDirtyLocked()
	}
	x.mu.Unlock()
	err := x.runChildren(ctx, fr, func(i int) *Branch { return s.Branches[i] }, 0,
		func(failed int) bool { return failed == 0 }, nil, nil)
	if err != nil {
		if err == errInterrupted {
			return nil, err
		}
		x.mu.Lock()
		x.emitLocked(fr, Event{PreviousEventID: x.nextID - 1, Type: "ParallelStateFailed"})
		x.mu.Unlock()
		return nil, err
	}
	x.mu.Lock()
	out := make([]any, len(fr.Children))
	for i, c := range fr.Children {
		out[i] = c.Output
	}
	x.emitLocked(fr, Event{PreviousEventID: x.nextID - 1, Type: "ParallelStateSucceeded"})
	x.mu.Unlock()
	return out, nil
}

// inlineMapMaxConcurrency is Step Functions' limit on concurrent inline Map iterations,
// whatever MaxConcurrency says (0 means "no limit" up to it).
const inlineMapMaxConcurrency = 40

func (x *execution) runMap(ctx context.Context, fr *frame, s *MapState, eff any) (any, *Error) {
	if s.Distributed {
		return nil, NewError(ErrNameRuntime, "Map state %q: Distributed Map (ProcessorConfig Mode DISTRIBUTED, ItemReader, ItemBatcher or ResultWriter) is not supported by this interpreter", s.Name())
	}
	ctxDoc := x.ctxFor(fr, s)
	itemsV, e := applyPath(s.ItemsPath, eff, ctxDoc, "ItemsPath")
	if e != nil {
		return nil, e
	}
	items, ok := itemsV.([]any)
	if !ok {
		return nil, NewError(ErrNameRuntime, "Map state %q: the ItemsPath value must be a JSON array, got %s", s.Name(), compactJSON(itemsV))
	}
	limit, e := secondsField(s.MaxConcurrency, s.MaxConcurrencyPath, eff, "MaxConcurrency")
	if e != nil && s.MaxConcurrencyPath != nil {
		// MaxConcurrencyPath may yield 0 (unlimited).
		v, _ := s.MaxConcurrencyPath.Get(eff)
		n, ok := intValue(v)
		if !ok || n < 0 {
			return nil, e
		}
		limit = n
	}
	if limit == 0 || limit > inlineMapMaxConcurrency {
		limit = inlineMapMaxConcurrency
	}
	maxFail, maxPct := int64(0), float64(0)
	if s.HasTolerance {
		maxFail, maxPct = s.ToleratedFailureCount, s.ToleratedFailurePercentage
		if s.ToleratedFailureCountPath != nil {
			v, _ := s.ToleratedFailureCountPath.Get(eff)
			n, ok := intValue(v)
			if !ok || n < 0 {
				return nil, NewError(ErrNameRuntime, "ToleratedFailureCountPath '%s' does not reference a non-negative integer", s.ToleratedFailureCountPath)
			}
			maxFail = n
		}
		if s.ToleratedFailurePercentagePath != nil {
			v, _ := s.ToleratedFailurePercentagePath.Get(eff)
			f, ok := jsonpath.Number(v)
			if !ok || f < 0 || f > 100 {
				return nil, NewError(ErrNameRuntime, "ToleratedFailurePercentagePath '%s' does not reference a number from 0 to 100", s.ToleratedFailurePercentagePath)
			}
			maxPct = f
		}
	}
	n := len(items)
	// With both thresholds set, exceeding either fails the Map.
	countSet := s.ToleratedFailureCountPath != nil || s.ToleratedFailureCount > 0
	pctSet := s.ToleratedFailurePercentagePath != nil || s.ToleratedFailurePercentage > 0
	tolerated := func(failed int) bool {
		if failed == 0 {
			return true
		}
		if !countSet && !pctSet {
			return false
		}
		return (!countSet || int64(failed) <= maxFail) && (!pctSet || float64(failed)*100/float64(n) <= maxPct)
	}

	x.mu.Lock()
	fresh := fr.Children == nil
	if fr.Restarted { // redriven: the failed iterations start again
		fr.Restarted = false
		x.emitLocked(fr, Event{Type: "MapStateStarted", EventDetails: &EventDetails{MapStateStartedEventDetails: &MapStateStartedEventDetails{Length: len(fr.Children)}}})
	}
	x.mu.Unlock()
	if fresh {
		children := make([]*frame, n)
		for i, item := range items {
			input := item
			if s.ItemSelector != nil {
				var itemCtx any
				if s.usesContext {
					itemCtx = x.contextDoc(fr, s.Name(), "", map[string]any{"Index": jsonInt(int64(i)), "Value": item})
				}
				v, err := s.ItemSelector.eval(eff, itemCtx)
				if err != nil {
					return nil, asASLError(err)
				}
				input = v
			}
			children[i] = &frame{Input: input}
		}
		x.mu.Lock()
		x.emitLocked(fr, Event{Type: "MapStateStarted", EventDetails: &EventDetails{MapStateStartedEventDetails: &MapStateStartedEventDetails{Length: n}}})
		for i, c := range children {
			nc := x.newChildLocked(fr, i, c.Input, framePending)
			nc.State = s.Processor.StartAt
			nc.Iteration = true
			fr.Children = append(fr.Children, nc)
		}
		if fr.Children == nil {
			fr.Children = []*frame{}
		}
		x.markDirtyLocked()
		x.mu.Unlock()
	}
	name := s.Name()
	err := x.runChildren(ctx, fr, func(int) *Branch { return s.Processor }, int(limit), tolerated,
		func(c *frame) {
			x.mu.Lock()
			c.LastEvent = x.emitLocked(fr, Event{Type: "MapIterationStarted", EventDetails: &EventDetails{MapIterationStartedEventDetails: &MapIterationEventDetails{Name: name, Index: c.Index}}})
			x.mu.Unlock()
		},
		func(c *frame) {
			x.mu.Lock()
			d := &MapIterationEventDetails{Name: name, Index: c.Index}
			prev := c.LastEvent
			switch c.Status {
			case frameSucceeded:
				x.emitLocked(fr, Event{PreviousEventID: prev, Type: "MapIterationSucceeded", EventDetails: &EventDetails{MapIterationSucceededEventDetails: d}})
			case frameFailed:
				x.emitLocked(fr, Event{PreviousEventID: prev, Type: "MapIterationFailed", EventDetails: &EventDetails{MapIterationFailedEventDetails: d}})
			case frameAborted:
				x.emitLocked(fr, Event{PreviousEventID: prev, Type: "MapIterationAborted", EventDetails: &EventDetails{MapIterationAbortedEventDetails: d}})
			}
			x.mu.Unlock()
		})
	if err != nil {
		if err == errInterrupted {
			return nil, err
		}
		x.mu.Lock()
		failed := 0
		for _, c := range fr.Children {
			if c.Status == frameFailed {
				failed++
			}
		}
		x.emitLocked(fr, Event{PreviousEventID: x.nextID - 1, Type: "MapStateFailed"})
		x.mu.Unlock()
		if s.HasTolerance && !tolerated(failed) {
			return nil, NewError(ErrNameExceedToleratedFailureThreshold, "The specified tolerated failure threshold was exceeded: %d of %d iterations failed", failed, n)
		}
		return nil, err
	}
	x.mu.Lock()
	out := make([]any, len(fr.Children))
	for i, c := range fr.Children {
		if c.Status == frameFailed {
			out[i] = map[string]any{"Error": c.Err.Name, "Cause": c.Err.Cause}
			continue
		}
		out[i] = c.Output
	}
	x.emitLocked(fr, Event{PreviousEventID: x.nextID - 1, Type: "MapStateSucceeded"})
	x.mu.Unlock()
	return out, nil
}

// errInterrupted is returned inside the interpreter when ctx ended the work (Stop, Close,
// a failing sibling); it is never recorded as a state's error.
var errInterrupted = &Error{Name: "asl.interrupted"}
