package asl

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"sort"
	"strconv"
	"sync"
	"time"
)

// Execution statuses, as Step Functions reports them.
const (
	StatusRunning        = "RUNNING"
	StatusSucceeded      = "SUCCEEDED"
	StatusFailed         = "FAILED"
	StatusTimedOut       = "TIMED_OUT"
	StatusAborted        = "ABORTED"
	StatusPendingRedrive = "PENDING_REDRIVE"
)

// Limits Step Functions applies, enforced here the same way.
const (
	// HistoryLimit is the maximum number of events in an execution's history; the
	// execution fails with States.Runtime when it would exceed it.
	HistoryLimit = 25000
	// RedriveWindow is how long after it stopped an execution can be redriven.
	RedriveWindow = 14 * 24 * time.Hour
	// MaxRedrives is how many times an execution can be redriven.
	MaxRedrives = 1000
	// PayloadLimit is the largest execution input, state output or task result (bytes of
	// JSON); a larger state output fails the execution with States.DataLimitExceeded.
	PayloadLimit = 256 * 1024
	// DefinitionLimit is the largest definition Parse accepts (bytes).
	DefinitionLimit = 1024 * 1024
)

// Options configures an Engine. Zero fields take defaults.
type Options struct {
	Store  Store        // default: NewMemStore()
	Clock  Clock        // default: SystemClock{}
	Tasks  *Registry    // default: NewRegistry()
	Logger *slog.Logger // default: slog.Default()
	// Region and AccountID make up ARNs; defaults us-east-1 and 123456789012.
	Region, AccountID string
	// HistoryLimit overrides the 25,000-event history limit (tests).
	HistoryLimit int
	// CheckpointInterval is the least time between two background checkpoints of one
	// execution: changes made meanwhile go into the next one. 0 means 10ms; negative means
	// checkpoint after every change. Terminal states, Stop and History always checkpoint
	// at once. A crash loses at most this much progress, which Resume redoes.
	CheckpointInterval time.Duration
}

// Engine runs state machines. It is safe for concurrent use; every execution runs in its
// own goroutines, and executions share no lock on the hot path.
type Engine struct {
	store              Store
	clock              Clock
	tasks              *Registry
	log                *slog.Logger
	region             string
	account            string
	historyLimit       int
	checkpointInterval time.Duration

	mu       sync.RWMutex
	machines map[string]*machineEntry // by name
	live     map[string]*execution    // running in this process, by ARN
	closed   bool
	wg       sync.WaitGroup
}

type machineEntry struct {
	rec MachineRecord
	m   *Machine
}

// New returns an Engine. Call Resume to continue executions left running in the Store by
// an earlier process.
func New(o Options) *Engine {
	e := &Engine{store: o.Store, clock: o.Clock, tasks: o.Tasks, log: o.Logger, region: o.Region, account: o.AccountID,
		historyLimit: o.HistoryLimit, checkpointInterval: o.CheckpointInterval, machines: map[string]*machineEntry{}, live: map[string]*execution{}}
	if e.store == nil {
		e.store = NewMemStore()
	}
	if e.clock == nil {
		e.clock = SystemClock{}
	}
	if e.tasks == nil {
		e.tasks = NewRegistry()
	}
	if e.log == nil {
		e.log = slog.Default()
	}
	if e.region == "" {
		e.region = "us-east-1"
	}
	if e.account == "" {
		e.account = "123456789012"
	}
	if e.checkpointInterval == 0 {
		e.checkpointInterval = 10 * time.Millisecond
	}
	if e.historyLimit <= 0 {
		e.historyLimit = HistoryLimit
	}
	return e
}

// Tasks returns the engine's task registry, to register handlers on.
func (e *Engine) Tasks() *Registry { return e.tasks }

// Clock returns the engine's clock.
func (e *Engine) Clock() Clock { return e.clock }

// StateMachine describes a state machine (DescribeStateMachine).
type StateMachine struct {
	Name         string    `json:"name"`
	ARN          string    `json:"stateMachineArn"`
	Definition   string    `json:"definition"`
	RoleArn      string    `json:"roleArn,omitempty"`
	Status       string    `json:"status"`
	Type         string    `json:"type"`
	CreationDate time.Time `json:"creationDate"`
	UpdateDate   time.Time `json:"updateDate,omitempty"`
}

func (r MachineRecord) describe() StateMachine {
	return StateMachine{Name: r.Name, ARN: r.ARN, Definition: string(r.Definition), RoleArn: r.RoleArn,
		Status: "ACTIVE", Type: "STANDARD", CreationDate: r.CreationDate, UpdateDate: r.UpdateDate}
}

var nameRE = regexp.MustCompile(`^[^\s<>{}\[\]?*"#%\\^|~` + "`" + `$&,;:/\x00-\x1f\x7f-\x9f]{1,80}$`)

func validName(s string) bool { return nameRE.MatchString(s) }

// MachineARN returns the ARN of the state machine with that name.
func (e *Engine) MachineARN(name string) string {
	return fmt.Sprintf("arn:aws:states:%s:%s:stateMachine:%s", e.region, e.account, name)
}

// ExecutionARN returns the ARN of an execution of a machine.
func (e *Engine) ExecutionARN(machine, name string) string {
	return fmt.Sprintf("arn:aws:states:%s:%s:execution:%s:%s", e.region, e.account, machine, name)
}

func (e *Engine) machineName(nameOrARN string) string {
	const marker = ":stateMachine:"
	for i := 0; i+len(marker) <= len(nameOrARN); i++ {
		if nameOrARN[i:i+len(marker)] == marker {
			return nameOrARN[i+len(marker):]
		}
	}
	return nameOrARN
}

// machine returns a machine by name or ARN, reading it from the store on a miss (one
// record: a lookup never costs more as more machines are installed).
func (e *Engine) machine(ctx context.Context, nameOrARN string) (*machineEntry, error) {
	name := e.machineName(nameOrARN)
	e.mu.RLock()
	me := e.machines[name]
	e.mu.RUnlock()
	if me != nil {
		return me, nil
	}
	r, err := e.store.Machine(ctx, name)
	if errors.Is(err, ErrNotFound) {
		return nil, fmt.Errorf("state machine %s: %w", nameOrARN, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("load state machine %s: %w", name, err)
	}
	m, err := Parse(r.Definition)
	if err != nil {
		e.log.Warn("stored state machine does not parse", "state_machine", r.Name, "err", err)
		return nil, fmt.Errorf("state machine %s: %w", nameOrARN, ErrNotFound)
	}
	return e.cacheMachine(r, m), nil
}

// cacheMachine keeps a machine read from the store unless one is cached already (a
// concurrent Create or Update, which is newer), and returns the cached one.
func (e *Engine) cacheMachine(r MachineRecord, m *Machine) *machineEntry {
	e.mu.Lock()
	defer e.mu.Unlock()
	if me, ok := e.machines[r.Name]; ok {
		return me
	}
	me := &machineEntry{rec: r, m: m}
	e.machines[r.Name] = me
	return me
}

// loadMachines caches every stored machine not cached yet; only those are parsed.
func (e *Engine) loadMachines(ctx context.Context) error {
	recs, err := e.store.Machines(ctx)
	if err != nil {
		return fmt.Errorf("load state machines: %w", err)
	}
	for _, r := range recs {
		e.mu.RLock()
		_, ok := e.machines[r.Name]
		e.mu.RUnlock()
		if ok {
			continue
		}
		m, err := Parse(r.Definition)
		if err != nil {
			e.log.Warn("stored state machine does not parse", "state_machine", r.Name, "err", err)
			continue
		}
		e.cacheMachine(r, m)
	}
	return nil
}

// CreateStateMachine validates and stores a definition. Creating a machine that exists
// with the same definition and role returns it (idempotent); with another one, it fails
// with ErrStateMachineAlreadyExists. An invalid definition yields a *ValidationError.
func (e *Engine) CreateStateMachine(ctx context.Context, name string, definition []byte, roleArn string) (StateMachine, error) {
	if !validName(name) {
		return StateMachine{}, fmt.Errorf("state machine name %q: %w", name, ErrInvalidName)
	}
	m, err := Parse(definition)
	if err != nil {
		return StateMachine{}, err
	}
	if me, err := e.machine(ctx, name); err == nil {
		if string(me.rec.Definition) == string(definition) && me.rec.RoleArn == roleArn {
			return me.rec.describe(), nil
		}
		return StateMachine{}, fmt.Errorf("state machine %s: %w", name, ErrStateMachineAlreadyExists)
	}
	rec := MachineRecord{Name: name, ARN: e.MachineARN(name), Definition: definition, RoleArn: roleArn, CreationDate: e.clock.Now()}
	if err := e.store.PutMachine(ctx, rec); err != nil {
		return StateMachine{}, fmt.Errorf("create state machine %s: %w", name, err)
	}
	e.mu.Lock()
	e.machines[name] = &machineEntry{rec: rec, m: m}
	e.mu.Unlock()
	return rec.describe(), nil
}

// UpdateStateMachine replaces a machine's definition (and role, when roleArn is not
// empty). Running executions keep the definition they started with.
func (e *Engine) UpdateStateMachine(ctx context.Context, nameOrARN string, definition []byte, roleArn string) (StateMachine, error) {
	me, err := e.machine(ctx, nameOrARN)
	if err != nil {
		return StateMachine{}, err
	}
	m, err := Parse(definition)
	if err != nil {
		return StateMachine{}, err
	}
	rec := me.rec
	rec.Definition = definition
	if roleArn != "" {
		rec.RoleArn = roleArn
	}
	rec.UpdateDate = e.clock.Now()
	if err := e.store.PutMachine(ctx, rec); err != nil {
		return StateMachine{}, fmt.Errorf("update state machine %s: %w", rec.Name, err)
	}
	e.mu.Lock()
	e.machines[rec.Name] = &machineEntry{rec: rec, m: m}
	e.mu.Unlock()
	return rec.describe(), nil
}

// DescribeStateMachine returns a machine by name or ARN.
func (e *Engine) DescribeStateMachine(ctx context.Context, nameOrARN string) (StateMachine, error) {
	me, err := e.machine(ctx, nameOrARN)
	if err != nil {
		return StateMachine{}, err
	}
	return me.rec.describe(), nil
}

// DeleteStateMachine deletes a machine. Its running executions go on to completion.
func (e *Engine) DeleteStateMachine(ctx context.Context, nameOrARN string) error {
	name := e.machineName(nameOrARN)
	if err := e.store.PutMachine(ctx, MachineRecord{Name: name}); err != nil {
		return fmt.Errorf("delete state machine %s: %w", name, err)
	}
	e.mu.Lock()
	delete(e.machines, name)
	e.mu.Unlock()
	return nil
}

// ListStateMachines returns every machine, sorted by name.
func (e *Engine) ListStateMachines(ctx context.Context) ([]StateMachine, error) {
	if err := e.loadMachines(ctx); err != nil {
		return nil, err
	}
	e.mu.RLock()
	out := make([]StateMachine, 0, len(e.machines))
	for _, me := range e.machines {
		out = append(out, me.rec.describe())
	}
	e.mu.RUnlock()
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// Execution describes an execution (DescribeExecution).
type Execution struct {
	ARN                 string    `json:"executionArn"`
	StateMachineARN     string    `json:"stateMachineArn"`
	Name                string    `json:"name"`
	Status              string    `json:"status"`
	Input               string    `json:"input"`
	Output              string    `json:"output,omitempty"`
	Error               string    `json:"error,omitempty"`
	Cause               string    `json:"cause,omitempty"`
	StartDate           time.Time `json:"startDate"`
	StopDate            time.Time `json:"stopDate,omitempty"`
	RedriveCount        int       `json:"redriveCount"`
	RedriveDate         time.Time `json:"redriveDate,omitempty"`
	RedriveStatus       string    `json:"redriveStatus,omitempty"`
	RedriveStatusReason string    `json:"redriveStatusReason,omitempty"`
}

func (e *Engine) describe(r ExecutionRecord) Execution {
	x := Execution{ARN: r.ARN, StateMachineARN: r.StateMachineARN, Name: r.Name, Status: r.Status, Input: r.Input,
		Output: r.Output, Error: r.Error, Cause: r.Cause, StartDate: r.StartDate, StopDate: r.StopDate,
		RedriveCount: r.RedriveCount, RedriveDate: r.RedriveDate}
	if reason := e.notRedrivable(r); reason != "" {
		x.RedriveStatus, x.RedriveStatusReason = "NOT_REDRIVABLE", reason
	} else {
		x.RedriveStatus = "REDRIVABLE"
	}
	return x
}

// StartInput names what to start. StateMachine is a name or ARN; an empty Name gets a
// random UUID; Input defaults to "{}".
type StartInput struct {
	StateMachine string
	Name         string
	Input        string
}

func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}

// StartExecution starts an execution. Names are unique per machine: starting again with
// the same name and input returns the existing execution (idempotent), with another input
// it fails with ErrExecutionAlreadyExists. The execution runs in the background and
// outlives ctx; ctx only bounds the store writes of the start itself.
func (e *Engine) StartExecution(ctx context.Context, in StartInput) (Execution, error) {
	if e.isClosed() {
		return Execution{}, ErrClosed
	}
	me, err := e.machine(ctx, in.StateMachine)
	if err != nil {
		return Execution{}, err
	}
	if in.Name == "" {
		in.Name = newUUID()
	}
	if !validName(in.Name) {
		return Execution{}, fmt.Errorf("execution name %q: %w", in.Name, ErrInvalidName)
	}
	if in.Input == "" {
		in.Input = "{}"
	}
	if len(in.Input) > PayloadLimit {
		return Execution{}, fmt.Errorf("execution input is %d bytes, more than the %d-byte limit: %w", len(in.Input), PayloadLimit, ErrInvalidInput)
	}
	inputDoc, err := decodeJSON([]byte(in.Input))
	if err != nil {
		return Execution{}, fmt.Errorf("execution input: invalid JSON: %v: %w", err, ErrInvalidInput)
	}
	arn := e.ExecutionARN(me.rec.Name, in.Name)
	existing := func() (Execution, error) {
		r, err := e.executionRecord(ctx, arn)
		if err != nil {
			return Execution{}, err
		}
		if r.Input != in.Input {
			return Execution{}, fmt.Errorf("execution %s: %w", arn, ErrExecutionAlreadyExists)
		}
		return e.describe(r), nil
	}
	if e.liveExecution(arn) != nil {
		return existing()
	}
	// Not running here: create it. When the store has it already (ended, or started by
	// another process), the create is refused and the existing one answers — without
	// reading the store first for every start.
	now := e.clock.Now()
	rec := ExecutionRecord{ARN: arn, Name: in.Name, StateMachineARN: me.rec.ARN, Status: StatusRunning, Input: in.Input,
		StartDate: now, Definition: me.rec.Definition, RoleArn: me.rec.RoleArn}
	x := e.newExecution(rec, me.m, inputDoc)
	x.root = &frame{ID: "r", State: me.m.StartAt, Input: inputDoc, Status: frameRunning}
	x.frames[x.root.ID] = x.root
	x.emitLocked(nil, Event{Type: EventExecutionStarted, EventDetails: &EventDetails{ExecutionStartedEventDetails: &ExecutionStartedEventDetails{
		Input: compactJSON(inputDoc), InputDetails: &DataDetails{}, RoleArn: rec.RoleArn}}})
	x.root.LastEvent = 1
	cp, err := x.checkpointData()
	if err != nil {
		return Execution{}, err
	}
	cp.Create = true
	if err := e.store.Checkpoint(ctx, cp); err != nil {
		if errors.Is(err, ErrExecutionAlreadyExists) {
			return existing()
		}
		return Execution{}, fmt.Errorf("start execution %s: %w", arn, err)
	}
	if err := e.launch(ctx, x); err != nil {
		return Execution{}, err
	}
	return e.describe(rec), nil
}

// ErrInvalidInput: an execution input or task output is not valid JSON.
var ErrInvalidInput = errors.New("asl: invalid JSON input")

func (e *Engine) newExecution(rec ExecutionRecord, m *Machine, inputDoc any) *execution {
	return &execution{eng: e, m: m, inputDoc: inputDoc, machineName: e.machineName(rec.StateMachineARN), rec: rec,
		frames: map[string]*frame{}, nextID: rec.EventCount + 1, dirty: make(chan struct{}, 1), done: make(chan struct{})}
}

// launch starts the goroutines of a live execution.
func (e *Engine) launch(ctx context.Context, x *execution) error {
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return ErrClosed
	}
	if _, ok := e.live[x.rec.ARN]; ok {
		e.mu.Unlock()
		return nil
	}
	e.live[x.rec.ARN] = x
	e.wg.Add(1)
	e.mu.Unlock()
	rctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	x.cancel = cancel
	go func() {
		defer e.wg.Done()
		x.run(rctx)
	}()
	return nil
}

func (e *Engine) isClosed() bool {
	e.mu.RLock()
	defer e.mu.RUnlock()
	return e.closed
}

func (e *Engine) liveExecution(arn string) *execution {
	e.mu.RLock()
	defer e.mu.RUnlock()
	return e.live[arn]
}

func (e *Engine) executionRecord(ctx context.Context, arn string) (ExecutionRecord, error) {
	if x := e.liveExecution(arn); x != nil {
		x.mu.Lock()
		defer x.mu.Unlock()
		return x.rec, nil
	}
	r, err := e.store.Execution(ctx, arn)
	if err != nil {
		if errors.Is(err, ErrNotFound) {
			return r, fmt.Errorf("execution %s: %w", arn, ErrNotFound)
		}
		return r, fmt.Errorf("read execution %s: %w", arn, err)
	}
	return r, nil
}

// DescribeExecution returns an execution's current status.
func (e *Engine) DescribeExecution(ctx context.Context, arn string) (Execution, error) {
	r, err := e.executionRecord(ctx, arn)
	if err != nil {
		return Execution{}, err
	}
	return e.describe(r), nil
}

// WaitExecution blocks until the execution is no longer running in this process (or ctx
// ends) and returns its description.
func (e *Engine) WaitExecution(ctx context.Context, arn string) (Execution, error) {
	if x := e.liveExecution(arn); x != nil {
		select {
		case <-x.done:
		case <-ctx.Done():
			return Execution{}, ctx.Err()
		}
	}
	return e.DescribeExecution(ctx, arn)
}

// StopExecution aborts a running execution with the given error and cause, and returns
// once it is recorded ABORTED. Stopping an execution that has ended fails with
// ErrExecutionNotRunning.
func (e *Engine) StopExecution(ctx context.Context, arn, errName, cause string) (Execution, error) {
	x := e.liveExecution(arn)
	if x == nil {
		r, err := e.executionRecord(ctx, arn)
		if err != nil {
			return Execution{}, err
		}
		if r.Status != StatusRunning {
			return Execution{}, fmt.Errorf("stop execution %s: %w", arn, ErrExecutionNotRunning)
		}
		// Running in the store but not in this process (not resumed): record the abort
		// directly; the frames stay where they were, for a redrive.
		now := e.clock.Now()
		ev := Event{ID: r.EventCount + 1, PreviousEventID: r.EventCount, Timestamp: now, Type: EventExecutionAborted,
			EventDetails: &EventDetails{ExecutionAbortedEventDetails: &ErrorEventDetails{Error: errName, Cause: cause}}}
		r.Status, r.Error, r.Cause, r.StopDate, r.EventCount = StatusAborted, errName, cause, now, ev.ID
		if err := e.store.Checkpoint(ctx, Checkpoint{Execution: r, Events: []Event{ev}}); err != nil {
			return Execution{}, fmt.Errorf("stop execution %s: %w", arn, err)
		}
		return e.describe(r), nil
	}
	x.requestEnd(&endRequest{status: StatusAborted, err: &Error{Name: errName, Cause: cause}})
	select {
	case <-x.done:
	case <-ctx.Done():
		return Execution{}, ctx.Err()
	}
	return e.DescribeExecution(ctx, arn)
}

// DescribeStateMachineForExecution returns the state machine an execution runs, with the
// definition it started with (a later UpdateStateMachine does not change it).
func (e *Engine) DescribeStateMachineForExecution(ctx context.Context, arn string) (StateMachine, error) {
	r, err := e.executionRecord(ctx, arn)
	if err != nil {
		return StateMachine{}, err
	}
	name := e.machineName(r.StateMachineARN)
	sm := MachineRecord{Name: name, ARN: r.StateMachineARN, Definition: r.Definition, RoleArn: r.RoleArn}
	if me, err := e.machine(ctx, name); err == nil {
		sm.CreationDate, sm.UpdateDate = me.rec.CreationDate, me.rec.UpdateDate
	}
	return sm.describe(), nil
}

// ListExecutionsInput filters and pages ListExecutions. NextToken comes from a previous
// call; MaxResults 0 means 100.
type ListExecutionsInput struct {
	StateMachine string
	Status       string
	MaxResults   int
	NextToken    string
}

// ListExecutions lists executions, newest first, one page at a time; the returned token
// is empty on the last page.
func (e *Engine) ListExecutions(ctx context.Context, in ListExecutionsInput) ([]Execution, string, error) {
	f := ExecutionFilter{Status: in.Status}
	if in.StateMachine != "" {
		f.StateMachineARN = e.MachineARN(e.machineName(in.StateMachine))
	}
	recs, err := e.store.Executions(ctx, f)
	if err != nil {
		return nil, "", fmt.Errorf("list executions: %w", err)
	}
	start := 0
	if in.NextToken != "" {
		start, err = strconv.Atoi(in.NextToken)
		if err != nil || start < 0 || start > len(recs) {
			return nil, "", fmt.Errorf("list executions: invalid NextToken %q", in.NextToken)
		}
	}
	limit := in.MaxResults
	if limit <= 0 {
		limit = 100
	}
	end := min(start+limit, len(recs))
	out := make([]Execution, 0, end-start)
	for _, r := range recs[start:end] {
		if x := e.liveExecution(r.ARN); x != nil {
			x.mu.Lock()
			r = x.rec
			x.mu.Unlock()
		}
		out = append(out, e.describe(r))
	}
	next := ""
	if end < len(recs) {
		next = strconv.Itoa(end)
	}
	return out, next, nil
}

// HistoryInput pages GetExecutionHistory. MaxResults 0 means 1000.
type HistoryInput struct {
	MaxResults   int
	NextToken    string
	ReverseOrder bool
}

// History returns an execution's history events, one page at a time.
func (e *Engine) History(ctx context.Context, arn string, in HistoryInput) ([]Event, string, error) {
	if x := e.liveExecution(arn); x != nil {
		x.flush(ctx)
	}
	evs, err := e.store.Events(ctx, arn, 0, 0)
	if err != nil {
		return nil, "", fmt.Errorf("history of %s: %w", arn, err)
	}
	if in.ReverseOrder {
		for i, j := 0, len(evs)-1; i < j; i, j = i+1, j-1 {
			evs[i], evs[j] = evs[j], evs[i]
		}
	}
	start := 0
	if in.NextToken != "" {
		start, err = strconv.Atoi(in.NextToken)
		if err != nil || start < 0 || start > len(evs) {
			return nil, "", fmt.Errorf("history of %s: invalid NextToken %q", arn, in.NextToken)
		}
	}
	limit := in.MaxResults
	if limit <= 0 {
		limit = 1000
	}
	end := min(start+limit, len(evs))
	next := ""
	if end < len(evs) {
		next = strconv.Itoa(end)
	}
	return evs[start:end], next, nil
}

// SendTaskSuccess completes the waiting task that the token names with output (JSON).
// It fails with ErrTaskTimedOut when no task waits for that token (any more).
func (e *Engine) SendTaskSuccess(ctx context.Context, token, output string) error {
	if len(output) > PayloadLimit {
		return fmt.Errorf("task output is %d bytes, more than the %d-byte limit: %w", len(output), PayloadLimit, ErrInvalidInput)
	}
	doc, err := decodeJSON([]byte(output))
	if err != nil {
		return fmt.Errorf("task output: %v: %w", err, ErrInvalidInput)
	}
	return e.deliver(token, func(fr *frame) { fr.Callback = &callback{Output: doc} })
}

// SendTaskFailure fails the waiting task that the token names.
func (e *Engine) SendTaskFailure(ctx context.Context, token, errName, cause string) error {
	return e.deliver(token, func(fr *frame) { fr.Callback = &callback{Err: &Error{Name: errName, Cause: cause}} })
}

// SendTaskHeartbeat records a heartbeat for the waiting task that the token names.
func (e *Engine) SendTaskHeartbeat(ctx context.Context, token string) error {
	return e.deliver(token, func(fr *frame) { fr.Heartbeat = e.clock.Now() })
}

func (e *Engine) deliver(token string, apply func(fr *frame)) error {
	t, err := parseToken(token)
	if err != nil {
		return err
	}
	x := e.liveExecution(t.Execution)
	if x == nil {
		return ErrTaskTimedOut
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	fr := x.frames[t.Frame]
	if fr == nil || fr.Seq != t.Seq || (fr.Phase != phaseTask && fr.Phase != phaseCallback) || fr.Status != frameRunning || fr.Callback != nil {
		return ErrTaskTimedOut
	}
	apply(fr)
	if fr.wake != nil {
		select {
		case fr.wake <- struct{}{}:
		default:
		}
	}
	x.markDirtyLocked()
	return nil
}

// notRedrivable says why an execution cannot be redriven, or "" when it can.
func (e *Engine) notRedrivable(r ExecutionRecord) string {
	switch {
	case r.Status == StatusRunning:
		return "Execution is RUNNING and cannot be redriven"
	case r.Status == StatusSucceeded:
		return "Execution is SUCCEEDED and cannot be redriven"
	case r.RedriveCount >= MaxRedrives:
		return fmt.Sprintf("Execution has been redriven %d times, the maximum", MaxRedrives)
	case r.EventCount >= int64(e.historyLimit)-1:
		return "Execution history event limit exceeded"
	case e.clock.Now().Sub(r.StopDate) > RedriveWindow:
		return "Execution stopped more than 14 days ago"
	case len(r.Snapshot) == 0:
		return "Execution has no resume state"
	}
	return ""
}

// RedriveExecution restarts a FAILED, ABORTED or TIMED_OUT execution from the states
// that did not succeed, within 14 days of its end: successful states are not re-run,
// and in a Parallel or Map only the failed or aborted branches and iterations run again.
// It uses the execution's original definition and increments its redriveCount.
func (e *Engine) RedriveExecution(ctx context.Context, arn string) (Execution, error) {
	if e.isClosed() {
		return Execution{}, ErrClosed
	}
	r, err := e.executionRecord(ctx, arn)
	if err != nil {
		return Execution{}, err
	}
	if reason := e.notRedrivable(r); reason != "" {
		return Execution{}, fmt.Errorf("redrive execution %s: %s: %w", arn, reason, ErrExecutionNotRedrivable)
	}
	m, err := Parse(r.Definition)
	if err != nil {
		return Execution{}, fmt.Errorf("redrive execution %s: %w", arn, err)
	}
	root, err := decodeSnapshot(r.Snapshot)
	if err != nil {
		return Execution{}, fmt.Errorf("redrive execution %s: %v: %w", arn, err, ErrExecutionNotRedrivable)
	}
	inputDoc, _ := decodeJSON([]byte(r.Input))
	prev := r
	r.Status = StatusRunning
	r.RedriveCount++
	r.RedriveDate = e.clock.Now()
	r.StopDate = time.Time{}
	r.Output, r.Error, r.Cause = "", "", ""
	x := e.newExecution(r, m, inputDoc)
	x.root = root
	resetForRedrive(root)
	x.registerLocked(root)
	x.emitLocked(nil, Event{Type: EventExecutionRedriven, EventDetails: &EventDetails{ExecutionRedrivenEventDetails: &ExecutionRedrivenEventDetails{RedriveCount: r.RedriveCount}}})
	// State events continue from the redrive event.
	setLastEvent(root, x.nextID-1)
	cp, err := x.checkpointData()
	if err != nil {
		return Execution{}, err
	}
	// Guard against a concurrent redrive: re-read and compare before writing.
	if cur, err := e.store.Execution(ctx, arn); err != nil || cur.EventCount != prev.EventCount || cur.Status != prev.Status {
		return Execution{}, fmt.Errorf("redrive execution %s: execution changed concurrently: %w", arn, ErrExecutionNotRedrivable)
	}
	if err := e.store.Checkpoint(ctx, cp); err != nil {
		return Execution{}, fmt.Errorf("redrive execution %s: %w", arn, err)
	}
	if err := e.launch(ctx, x); err != nil {
		return Execution{}, err
	}
	return e.describe(r), nil
}

// resetForRedrive marks every unsuccessful frame runnable again, from the state it
// stopped in, with fresh retry counters.
func resetForRedrive(fr *frame) {
	if fr.Status == frameSucceeded || fr.Status == framePending {
		return
	}
	fr.Status = frameRunning
	if fr.Iteration {
		fr.Status = framePending // started again, with a new MapIterationStarted
	}
	fr.Restarted = fr.Children != nil
	fr.encoded = nil
	fr.Err = nil
	fr.Entered = false
	fr.RetryCount = 0
	fr.Retries = nil
	fr.Callback = nil
	if fr.Phase != phaseWait {
		fr.Phase = ""
	}
	fr.FirstFail = 0
	for _, c := range fr.Children {
		resetForRedrive(c)
	}
}

func setLastEvent(fr *frame, id int64) {
	if fr.Status == frameSucceeded {
		return
	}
	fr.LastEvent = id
	for _, c := range fr.Children {
		setLastEvent(c, id)
	}
}

// Resume continues, in this process, every execution the Store holds as RUNNING that is
// not already live here: after a crash or restart, each resumes from its last
// checkpoint. Waiting task tokens stay valid; a task whose invocation was in flight is
// invoked again.
func (e *Engine) Resume(ctx context.Context) error {
	if err := e.loadMachines(ctx); err != nil {
		return err
	}
	recs, err := e.store.Executions(ctx, ExecutionFilter{Status: StatusRunning})
	if err != nil {
		return fmt.Errorf("resume: list running executions: %w", err)
	}
	// The executions of a machine version share its definition: parse each once.
	parsed := map[string]*Machine{}
	var errs []error
	for _, r := range recs {
		if e.liveExecution(r.ARN) != nil {
			continue
		}
		m, ok := parsed[string(r.Definition)]
		if !ok {
			if m, err = Parse(r.Definition); err != nil {
				errs = append(errs, fmt.Errorf("resume %s: %w", r.ARN, err))
				continue
			}
			parsed[string(r.Definition)] = m
		}
		if err := e.resume(ctx, r, m); err != nil {
			errs = append(errs, fmt.Errorf("resume %s: %w", r.ARN, err))
		}
	}
	return errors.Join(errs...)
}

// resume continues r, whose definition is m.
func (e *Engine) resume(ctx context.Context, r ExecutionRecord, m *Machine) error {
	root, err := decodeSnapshot(r.Snapshot)
	if err != nil {
		return err
	}
	inputDoc, err := decodeJSON([]byte(r.Input))
	if err != nil {
		return err
	}
	x := e.newExecution(r, m, inputDoc)
	x.root = root
	x.registerLocked(root)
	e.log.Info("resuming execution", "execution_id", r.ARN, "events", r.EventCount)
	return e.launch(ctx, x)
}

// Close stops every live execution where it is, without recording anything, as if the
// process had died: the Store keeps them RUNNING for a later Resume. It waits for the
// engine's goroutines to return (task handlers get their ctx cancelled).
func (e *Engine) Close() {
	e.mu.Lock()
	e.closed = true
	live := make([]*execution, 0, len(e.live))
	for _, x := range e.live {
		live = append(live, x)
	}
	e.mu.Unlock()
	for _, x := range live {
		x.mu.Lock()
		x.abandoned = true
		x.mu.Unlock()
		x.cancel()
	}
	e.wg.Wait()
}

// marshalSnapshot serialises the frame tree; the caller holds x.mu.
func marshalSnapshot(buf []byte, root *frame) ([]byte, error) {
	buf = append(buf[:0], `{"root":`...)
	buf, err := appendFrame(buf, root)
	return append(buf, '}'), err
}

// liveDone returns a channel closed when the execution is no longer live here.
func (e *Engine) liveDone(arn string) <-chan struct{} {
	if x := e.liveExecution(arn); x != nil {
		return x.done
	}
	ch := make(chan struct{})
	close(ch)
	return ch
}
