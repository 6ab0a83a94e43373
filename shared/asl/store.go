package asl

import (
	"context"
	"sort"
	"sync"
	"time"
)

// Store is the persistence port of the Engine. An implementation must be safe for
// concurrent use. "Not found" is reported as an error wrapping ErrNotFound.
//
// The engine writes an execution only through Checkpoint: one call is one transaction
// that upserts the execution's row and appends its new history events. A process that
// dies between checkpoints loses only the work done since the last one, which the engine
// redoes on Resume (see the package doc on at-least-once task invocation).
type Store interface {
	// PutMachine creates or replaces the state machine named rec.Name; a nil Definition
	// deletes it (deleting a missing machine is not an error). Idempotent.
	PutMachine(ctx context.Context, rec MachineRecord) error
	// Machine returns the stored state machine named name.
	Machine(ctx context.Context, name string) (MachineRecord, error)
	// Machines returns every stored state machine, in no particular order.
	Machines(ctx context.Context) ([]MachineRecord, error)
	// Checkpoint atomically writes cp.Execution (insert when cp.Create, else update) and
	// appends cp.Events, whose IDs continue the execution's history without gaps. With
	// cp.Create it fails with an error wrapping ErrExecutionAlreadyExists when a row with
	// that ARN exists, and writes nothing. The Store must not keep cp.Events or
	// cp.Execution.Snapshot after it returns (the engine reuses them).
	Checkpoint(ctx context.Context, cp Checkpoint) error
	// Execution returns the execution row by ARN.
	Execution(ctx context.Context, arn string) (ExecutionRecord, error)
	// Executions returns the rows matching f, newest StartDate first (ties by ARN).
	Executions(ctx context.Context, f ExecutionFilter) ([]ExecutionRecord, error)
	// Events returns up to limit events (all when limit <= 0) of an execution with
	// ID > afterID, in ID order.
	Events(ctx context.Context, arn string, afterID int64, limit int) ([]Event, error)
}

// MachineRecord is a stored state machine.
type MachineRecord struct {
	Name         string    `json:"name"`
	ARN          string    `json:"stateMachineArn"`
	Definition   []byte    `json:"definition"`
	RoleArn      string    `json:"roleArn,omitempty"`
	CreationDate time.Time `json:"creationDate"`
	UpdateDate   time.Time `json:"updateDate,omitempty"`
}

// ExecutionRecord is the row of one execution. Snapshot is the interpreter's opaque
// resume state (JSON); a store keeps it as bytes.
type ExecutionRecord struct {
	ARN             string    `json:"executionArn"`
	Name            string    `json:"name"`
	StateMachineARN string    `json:"stateMachineArn"`
	Status          string    `json:"status"`
	Input           string    `json:"input"`
	Output          string    `json:"output,omitempty"`
	Error           string    `json:"error,omitempty"`
	Cause           string    `json:"cause,omitempty"`
	StartDate       time.Time `json:"startDate"`
	StopDate        time.Time `json:"stopDate,omitempty"`
	RedriveCount    int       `json:"redriveCount"`
	RedriveDate     time.Time `json:"redriveDate,omitempty"`
	// Definition is the definition the execution runs (redrive uses the same one).
	Definition []byte `json:"definition"`
	RoleArn    string `json:"roleArn,omitempty"`
	// EventCount is the ID of the last history event written.
	EventCount int64  `json:"eventCount"`
	Snapshot   []byte `json:"snapshot,omitempty"`
}

// ExecutionFilter selects executions; zero fields match everything.
type ExecutionFilter struct {
	StateMachineARN string
	Status          string
}

// Checkpoint is one atomic write: the execution row and the events to append.
type Checkpoint struct {
	Execution ExecutionRecord
	Events    []Event
	Create    bool
}

// MemStore is an in-memory Store. Records are copied in and out, so callers never share
// memory with it.
type MemStore struct {
	mu       sync.RWMutex
	machines map[string]MachineRecord
	execs    map[string]*memExec
}

type memExec struct {
	rec    ExecutionRecord
	chunks [][]Event // one per checkpoint: appending never copies old events
	count  int
}

var _ Store = (*MemStore)(nil)

// NewMemStore returns an empty in-memory Store.
func NewMemStore() *MemStore {
	return &MemStore{machines: map[string]MachineRecord{}, execs: map[string]*memExec{}}
}

func (s *MemStore) PutMachine(ctx context.Context, rec MachineRecord) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if rec.Definition == nil {
		delete(s.machines, rec.Name)
		return nil
	}
	rec.Definition = append([]byte(nil), rec.Definition...)
	s.machines[rec.Name] = rec
	return nil
}

func (s *MemStore) Machine(ctx context.Context, name string) (MachineRecord, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	m, ok := s.machines[name]
	if !ok {
		return MachineRecord{}, ErrNotFound
	}
	m.Definition = append([]byte(nil), m.Definition...)
	return m, nil
}

func (s *MemStore) Machines(ctx context.Context) ([]MachineRecord, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]MachineRecord, 0, len(s.machines))
	for _, m := range s.machines {
		out = append(out, m)
	}
	return out, nil
}

func (s *MemStore) Checkpoint(ctx context.Context, cp Checkpoint) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	rec := cp.Execution
	rec.Snapshot = append([]byte(nil), rec.Snapshot...)
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.execs[rec.ARN]
	if cp.Create {
		if ok {
			return ErrExecutionAlreadyExists
		}
		e = &memExec{}
		s.execs[rec.ARN] = e
	} else if !ok {
		return ErrNotFound
	}
	e.rec = rec
	if len(cp.Events) > 0 {
		e.chunks = append(e.chunks, append([]Event(nil), cp.Events...))
		e.count += len(cp.Events)
	}
	return nil
}

func (s *MemStore) Execution(ctx context.Context, arn string) (ExecutionRecord, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	e, ok := s.execs[arn]
	if !ok {
		return ExecutionRecord{}, ErrNotFound
	}
	return e.rec, nil
}

func (s *MemStore) Executions(ctx context.Context, f ExecutionFilter) ([]ExecutionRecord, error) {
	s.mu.RLock()
	var out []ExecutionRecord
	for _, e := range s.execs {
		if (f.StateMachineARN == "" || e.rec.StateMachineARN == f.StateMachineARN) && (f.Status == "" || e.rec.Status == f.Status) {
			out = append(out, e.rec)
		}
	}
	s.mu.RUnlock()
	sort.Slice(out, func(i, j int) bool {
		if !out[i].StartDate.Equal(out[j].StartDate) {
			return out[i].StartDate.After(out[j].StartDate)
		}
		return out[i].ARN > out[j].ARN
	})
	return out, nil
}

func (s *MemStore) Events(ctx context.Context, arn string, afterID int64, limit int) ([]Event, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	e, ok := s.execs[arn]
	if !ok {
		return nil, ErrNotFound
	}
	var out []Event
	for _, c := range e.chunks {
		if len(c) == 0 || c[len(c)-1].ID <= afterID {
			continue
		}
		i := sort.Search(len(c), func(i int) bool { return c[i].ID > afterID })
		out = append(out, c[i:]...)
		if limit > 0 && len(out) >= limit {
			return out[:limit], nil
		}
	}
	return out, nil
}
