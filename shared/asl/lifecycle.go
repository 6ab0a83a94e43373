package asl

import (
	"context"
	"fmt"
	"time"
)

// run drives a live execution to its end (or until the engine closes).
func (x *execution) run(ctx context.Context) {
	stopCk := make(chan struct{})
	ckDone := make(chan struct{})
	wctx := context.WithoutCancel(ctx)
	go func() {
		defer close(ckDone)
		interval := x.eng.checkpointInterval
		for {
			select {
			case <-x.dirty:
			case <-stopCk:
				return
			}
			if interval > 0 {
				// Batch the changes of the next moments into one checkpoint. This is a
				// throughput knob on real time, not execution semantics, so it does not
				// use the engine clock.
				t := time.NewTimer(interval)
				select {
				case <-t.C:
				case <-stopCk:
					t.Stop()
					return
				}
			}
			x.flush(wctx)
		}
	}()
	if x.m.TimeoutSeconds > 0 {
		start := x.rec.StartDate
		if !x.rec.RedriveDate.IsZero() {
			start = x.rec.RedriveDate
		}
		d := start.Add(time.Duration(x.m.TimeoutSeconds) * time.Second).Sub(x.now())
		t := x.eng.clock.NewTimer(d)
		go func() {
			select {
			case <-t.C():
				x.requestEnd(&endRequest{status: StatusTimedOut, err: NewError(ErrNameTimeout,
					"The execution timed out after %d seconds (TimeoutSeconds)", x.m.TimeoutSeconds)})
			case <-ctx.Done():
				t.Stop()
			}
		}()
	}
	x.runFrame(ctx, x.root, &x.m.Branch)
	x.finish()
	x.flush(wctx)
	close(stopCk)
	<-ckDone
	x.cancel()
	x.eng.mu.Lock()
	delete(x.eng.live, x.rec.ARN)
	x.eng.mu.Unlock()
	close(x.done)
}

// requestEnd cuts the execution short (Stop, timeout); the first request wins.
func (x *execution) requestEnd(req *endRequest) {
	x.mu.Lock()
	if x.end == nil {
		x.end = req
	}
	x.mu.Unlock()
	x.cancel()
}

// finish records the execution's terminal status and event.
func (x *execution) finish() {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.abandoned {
		return
	}
	root := x.root
	switch {
	case root.Status == frameSucceeded:
		x.rec.Status = StatusSucceeded
		x.rec.Output = compactJSON(root.Output)
		x.emitLocked(nil, Event{Type: EventExecutionSucceeded, EventDetails: &EventDetails{ExecutionSucceededEventDetails: &ExecutionSucceededEventDetails{
			Output: x.rec.Output, OutputDetails: &DataDetails{}}}})
	case root.Status == frameFailed:
		x.rec.Status = StatusFailed
		x.rec.Error, x.rec.Cause = root.Err.Name, root.Err.Cause
		x.emitLocked(nil, Event{Type: EventExecutionFailed, EventDetails: &EventDetails{ExecutionFailedEventDetails: &ErrorEventDetails{Error: root.Err.Name, Cause: root.Err.Cause}}})
	case x.end != nil:
		x.rec.Status = x.end.status
		x.rec.Error, x.rec.Cause = x.end.err.Name, x.end.err.Cause
		d := &ErrorEventDetails{Error: x.end.err.Name, Cause: x.end.err.Cause}
		switch x.end.status {
		case StatusAborted:
			x.abortStatesLocked(root, &x.m.Branch)
			x.emitLocked(nil, Event{Type: EventExecutionAborted, EventDetails: &EventDetails{ExecutionAbortedEventDetails: d}})
		case StatusTimedOut:
			x.emitLocked(nil, Event{Type: EventExecutionTimedOut, EventDetails: &EventDetails{ExecutionTimedOutEventDetails: d}})
		default:
			x.emitLocked(nil, Event{Type: EventExecutionFailed, EventDetails: &EventDetails{ExecutionFailedEventDetails: d}})
		}
	default:
		return
	}
	x.rec.StopDate = x.now()
}

// checkpointData takes the execution's row and pending events for one checkpoint.
func (x *execution) checkpointData() (Checkpoint, error) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.abandoned {
		return Checkpoint{}, ErrClosed
	}
	snap, err := marshalSnapshot(x.snapBuf, x.root)
	x.snapBuf = snap // reused: the Store does not keep it
	if err != nil {
		return Checkpoint{}, fmt.Errorf("snapshot execution %s: %w", x.rec.ARN, err)
	}
	evs := x.pending
	x.pending = x.spare[:0]
	x.spare = nil
	x.rec.EventCount = x.nextID - 1
	rec := x.rec
	rec.Snapshot = snap
	return Checkpoint{Execution: rec, Events: evs}, nil
}

// flush writes one checkpoint. Flushes are serialised so events reach the store in order.
func (x *execution) flush(ctx context.Context) {
	x.flushMu.Lock()
	defer x.flushMu.Unlock()
	cp, err := x.checkpointData()
	if err != nil {
		return
	}
	err = x.eng.store.Checkpoint(ctx, cp)
	x.mu.Lock()
	defer x.mu.Unlock()
	if err != nil {
		x.eng.log.Error("checkpoint failed", "execution_id", x.rec.ARN, "err", err)
		x.pending = append(cp.Events, x.pending...)
		return
	}
	clear(cp.Events)
	x.spare = cp.Events[:0] // the Store does not keep the slice: reuse it
}

// abortStatesLocked records <Type>StateAborted for every state left running by a Stop,
// innermost first, as Step Functions does.
func (x *execution) abortStatesLocked(fr *frame, b *Branch) {
	if fr.Status != frameRunning || !fr.Entered {
		return
	}
	st := b.States[fr.State]
	if st == nil {
		return
	}
	for _, c := range fr.Children {
		switch s := st.(type) {
		case *ParallelState:
			if c.Index < len(s.Branches) {
				x.abortStatesLocked(c, s.Branches[c.Index])
			}
		case *MapState:
			x.abortStatesLocked(c, s.Processor)
		}
	}
	x.emitLocked(fr, Event{Type: st.Type() + "StateAborted"})
}
