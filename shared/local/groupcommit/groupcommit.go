// Package groupcommit runs the writes of concurrent callers to one SQLite database in
// shared transactions: the writes that arrive while a transaction commits go into the
// next one, so a busy process pays for one commit (WAL append, locks, wal-index
// update) per batch instead of one per write, while each caller still returns only
// once its own write is committed.
//
// A write is a function of a transaction. Every write of a batch runs in one
// transaction; when one returns an error, the batch is rolled back and each of its
// writes runs again in a transaction of its own, so a failing write fails alone and
// never leaves part of itself or of the others behind.
//
// With WithCheckpoints, WAL checkpoints (copying committed pages into the database
// file) run beside the writer instead of inside the commit that crosses SQLite's
// threshold, so writes do not wait for them, and seldom enough that a page written
// many times is copied once.
package groupcommit

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
)

// ErrClosed is returned by Do after Close.
var ErrClosed = errors.New("groupcommit: closed")

// MaxBatch is the most writes one transaction holds.
const MaxBatch = 128

// Committer owns one connection of a database and runs every write on it, in batches.
// Other connections (for reads, or other processes) are unaffected: SQLite's write lock
// still orders them, bounded by the connection's busy timeout.
type Committer struct {
	conn  *sql.Conn
	stmts map[string]*sql.Stmt // prepared on conn; used by the writer goroutine only
	queue chan *op

	mu     sync.RWMutex // held to submit; Close takes it to stop submissions
	closed bool
	quit   chan struct{}
	done   chan struct{}

	// checkpoints, when not nil, runs checkpoints on another connection; the writer
	// asks for one (kick) every checkpointEvery commits.
	checkpoints *sql.DB
	kick        chan struct{}
	commits     int // by the writer goroutine
	ckptDone    chan struct{}

	transactions atomic.Int64 // begun, for tests
}

// Option changes how New sets up a Committer.
type Option func(*Committer)

// WithCheckpoints runs the WAL checkpoints on a connection of db, not the writer's
// (db is typically the pool that reads the same file). The writer's own automatic
// checkpoint stays, at backstopFrames, for the WAL to restart from its beginning under
// a steady stream of commits (a checkpoint beside the writer cannot finish while
// commits keep coming; one by the writer, between two commits, can).
func WithCheckpoints(db *sql.DB) Option { return func(c *Committer) { c.checkpoints = db } }

const (
	// checkpointEvery is how many commits pass between two checkpoints beside the
	// writer: a few thousand WAL frames, each page copied once however often it was
	// written meanwhile.
	checkpointEvery = 256
	// backstopFrames is the writer's automatic checkpoint threshold when checkpoints
	// run beside it (SQLite's default is 1000): by then they have copied most frames.
	backstopFrames = 10000
)

// Tx is the transaction a write runs its statements in. It is valid only during the
// call of the write function.
type Tx struct {
	c   *Committer
	ctx context.Context
}

// Exec runs a statement (prepared once per query text), with the caller's context
// stripped of its cancellation: a statement interrupted half-way would roll back every
// write of the batch.
func (t *Tx) Exec(query string, args ...any) (sql.Result, error) {
	st, err := t.c.stmt(t.ctx, query)
	if err != nil {
		return nil, err
	}
	return st.ExecContext(t.ctx, args...)
}

// QueryRow runs a statement that returns at most one row (such as one with a RETURNING
// clause), as Exec does; the caller must Scan it.
func (t *Tx) QueryRow(query string, args ...any) *sql.Row {
	st, err := t.c.stmt(t.ctx, query)
	if err != nil {
		return t.c.conn.QueryRowContext(t.ctx, query, args...) // carries the error
	}
	return st.QueryRowContext(t.ctx, args...)
}

const (
	queued int32 = iota
	claimed
	abandoned
)

type op struct {
	ctx   context.Context
	fn    func(*Tx) error
	state atomic.Int32
	err   error
	done  chan struct{}
}

// New takes a connection of db for the Committer's writes until Close.
func New(ctx context.Context, db *sql.DB, opts ...Option) (*Committer, error) {
	conn, err := db.Conn(ctx)
	if err != nil {
		return nil, fmt.Errorf("groupcommit: take a connection: %w", err)
	}
	c := &Committer{conn: conn, stmts: map[string]*sql.Stmt{}, queue: make(chan *op, 4*MaxBatch),
		quit: make(chan struct{}), done: make(chan struct{})}
	for _, opt := range opts {
		opt(c)
	}
	if c.checkpoints != nil {
		if _, err := conn.ExecContext(ctx, fmt.Sprintf("PRAGMA wal_autocheckpoint = %d", backstopFrames)); err != nil {
			conn.Close()
			return nil, fmt.Errorf("groupcommit: set the automatic checkpoint: %w", err)
		}
		c.kick, c.ckptDone = make(chan struct{}, 1), make(chan struct{})
		go c.checkpointLoop(context.WithoutCancel(ctx))
	}
	go c.loop()
	return c, nil
}

// checkpointLoop runs a passive checkpoint (one that waits for nobody) each time the
// writer asks. A failed one is redone by the next, or by the writer's backstop.
func (c *Committer) checkpointLoop(ctx context.Context) {
	defer close(c.ckptDone)
	for {
		select {
		case <-c.kick:
			_, _ = c.checkpoints.ExecContext(ctx, "PRAGMA wal_checkpoint(PASSIVE)")
		case <-c.quit:
			return
		}
	}
}

// committed counts a commit and asks for a checkpoint when one is due.
func (c *Committer) committed() {
	c.commits++
	if c.kick != nil && c.commits%checkpointEvery == 0 {
		select {
		case c.kick <- struct{}{}:
		default: // one is running: it will copy these frames too
		}
	}
}

// Do runs fn in a transaction, shared with the writes of other callers, and returns
// once that transaction has committed (nil) or fn's writes were undone (an error: fn's,
// or the transaction's). fn must return the error of any statement that fails (SQLite
// may have rolled the whole transaction back). fn may run more than once — a batch
// rolled back because another write failed runs again — so it must only assign to
// what it reports, never accumulate, and must have no effect outside the
// transaction. It must not block: the writes of other callers wait for it.
//
// When ctx ends before fn runs, fn never runs and Do returns ctx.Err(); once fn runs,
// Do waits for the outcome, so that a nil error always means committed and any other
// result means nothing of fn was written.
func (c *Committer) Do(ctx context.Context, fn func(*Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	o := &op{ctx: ctx, fn: fn, done: make(chan struct{})}
	c.mu.RLock()
	if c.closed {
		c.mu.RUnlock()
		return ErrClosed
	}
	select {
	case c.queue <- o:
	case <-ctx.Done():
		c.mu.RUnlock()
		return ctx.Err()
	}
	c.mu.RUnlock()
	select {
	case <-o.done:
		return o.err
	case <-ctx.Done():
		if o.state.CompareAndSwap(queued, abandoned) {
			return ctx.Err()
		}
		<-o.done
		return o.err
	}
}

// Close runs the writes already submitted, refuses new ones and releases the
// connection.
func (c *Committer) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	c.mu.Unlock()
	close(c.quit)
	<-c.done
	if c.ckptDone != nil {
		<-c.ckptDone
	}
	for _, st := range c.stmts {
		st.Close()
	}
	return c.conn.Close()
}

func (c *Committer) loop() {
	defer close(c.done)
	batch := make([]*op, 0, MaxBatch)
	for {
		var first *op
		select {
		case first = <-c.queue:
		case <-c.quit:
			// No submission can start any more: run what is left.
			for {
				batch = c.drain(batch[:0])
				if len(batch) == 0 {
					return
				}
				c.run(batch)
			}
		}
		// The callers just answered are runnable but not yet running: let them (and
		// others) submit their next writes before taking the next batch. On an idle
		// process this returns at once.
		runtime.Gosched()
		batch = c.drain(append(batch[:0], first))
		c.run(batch)
		clear(batch) // let the ops go
	}
}

// drain adds the writes waiting in the queue to batch, up to MaxBatch.
func (c *Committer) drain(batch []*op) []*op {
	for len(batch) < MaxBatch {
		select {
		case o := <-c.queue:
			batch = append(batch, o)
		default:
			return batch
		}
	}
	return batch
}

func (c *Committer) run(batch []*op) {
	live := batch[:0]
	for _, o := range batch {
		if o.state.CompareAndSwap(queued, claimed) {
			live = append(live, o)
		}
	}
	switch len(live) {
	case 0:
		return
	case 1:
		c.alone(live[0])
		return
	}
	ctx := context.WithoutCancel(live[0].ctx)
	c.transactions.Add(1)
	if err := c.exec(ctx, "BEGIN IMMEDIATE"); err != nil {
		for _, o := range live {
			c.finish(o, fmt.Errorf("begin transaction: %w", err))
		}
		return
	}
	for _, o := range live {
		if err := o.fn(&Tx{c: c, ctx: context.WithoutCancel(o.ctx)}); err != nil {
			c.rollback(ctx)
			for _, o := range live {
				c.alone(o)
			}
			return
		}
	}
	err := c.exec(ctx, "COMMIT")
	if err != nil {
		c.rollback(ctx)
		err = fmt.Errorf("commit transaction: %w", err)
	} else {
		c.committed()
	}
	for _, o := range live {
		c.finish(o, err)
	}
}

// alone runs one write in a transaction of its own.
func (c *Committer) alone(o *op) {
	ctx := context.WithoutCancel(o.ctx)
	c.transactions.Add(1)
	if err := c.exec(ctx, "BEGIN IMMEDIATE"); err != nil {
		c.finish(o, fmt.Errorf("begin transaction: %w", err))
		return
	}
	if err := o.fn(&Tx{c: c, ctx: ctx}); err != nil {
		c.rollback(ctx)
		c.finish(o, err)
		return
	}
	err := c.exec(ctx, "COMMIT")
	if err != nil {
		c.rollback(ctx)
		err = fmt.Errorf("commit transaction: %w", err)
	} else {
		c.committed()
	}
	c.finish(o, err)
}

func (c *Committer) finish(o *op, err error) {
	o.err = err
	close(o.done)
}

func (c *Committer) exec(ctx context.Context, query string) error {
	st, err := c.stmt(ctx, query)
	if err == nil {
		_, err = st.ExecContext(ctx)
	}
	return err
}

// rollback ends the transaction, if SQLite has not already (some errors roll back by
// themselves; then ROLLBACK fails harmlessly).
func (c *Committer) rollback(ctx context.Context) { _ = c.exec(ctx, "ROLLBACK") }

func (c *Committer) stmt(ctx context.Context, query string) (*sql.Stmt, error) {
	if st, ok := c.stmts[query]; ok {
		return st, nil
	}
	st, err := c.conn.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	c.stmts[query] = st
	return st, nil
}
