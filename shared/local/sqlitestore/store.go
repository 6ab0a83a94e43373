// Package sqlitestore keeps Relais's state on one machine: one SQLite file (WAL mode,
// through the pure-Go modernc.org/sqlite driver) implements every store port of
// shared/core — pipelines, executions, stages, actions, stage locks, gate queues,
// transitions, approvals and webhook deliveries.
//
// Each record is a row with a column for every field a query selects, orders or
// conditions on, and a JSON column with the whole record. Every conditional write is a
// single statement (INSERT … ON CONFLICT, UPDATE … WHERE revision = ?), so it is atomic
// between goroutines and between processes that share the file. The writes of
// concurrent callers share transactions (package groupcommit): one commit per batch,
// and each write returns only once it is committed.
package sqlitestore

import (
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/relais-ci/relais/shared/core"
	"github.com/relais-ci/relais/shared/local/groupcommit"
)

var (
	_ core.PipelineStore   = (*Store)(nil)
	_ core.ExecutionStore  = (*Store)(nil)
	_ core.StageStore      = (*Store)(nil)
	_ core.ActionStore     = (*Store)(nil)
	_ core.StageLocks      = (*Store)(nil)
	_ core.GateQueue       = (*Store)(nil)
	_ core.TransitionStore = (*Store)(nil)
	_ core.ApprovalStore   = (*Store)(nil)
	_ core.DeliveryStore   = (*Store)(nil)
)

// Store is a SQLite database that implements the store ports. It is safe for concurrent
// use, also by several processes opening the same file.
type Store struct {
	db    *sql.DB // reads
	wdb   *sql.DB // the one connection writes go through
	clock core.Clock
	// writes runs every write of this process on wdb's connection, those of concurrent
	// callers in one transaction (group commit). SQLite serializes writers anyway;
	// queueing here instead of in SQLite's busy handler (which sleeps and polls) keeps
	// contended writes fast, and one commit per batch makes them cheap. Other processes
	// still meet at SQLite's lock, bounded by busy_timeout.
	writes *groupcommit.Committer
	// recorded counts deliveries since the last purge of expired ones.
	recorded atomic.Int64
	// stmts holds the prepared statement of each query text the Store has run: SQLite
	// compiles a statement once per connection instead of at every call.
	stmts sync.Map // string → *sql.Stmt
}

type options struct {
	clock       core.Clock
	busyTimeout time.Duration
	maxConns    int
}

// Option changes how Open sets up a Store.
type Option func(*options)

// WithClock sets the clock that decides whether a recorded delivery has expired. The
// default is core.SystemClock.
func WithClock(c core.Clock) Option { return func(o *options) { o.clock = c } }

// WithBusyTimeout sets how long a write waits for another process's write to finish
// before it fails. The default is 10s.
func WithBusyTimeout(d time.Duration) Option { return func(o *options) { o.busyTimeout = d } }

// WithMaxConns sets the size of the pool of connections that read. Under WAL readers
// run beside the writer, so more connections mean more concurrent reads; writes go
// through one more connection of their own. The default is 4.
func WithMaxConns(n int) Option { return func(o *options) { o.maxConns = n } }

// Open opens the database file at path, creating it when missing, and brings its schema
// up to date. Connections use WAL (readers do not block the writer), synchronous=NORMAL
// (a commit survives a crash of the process; a power cut may lose the last ones), a busy
// timeout and foreign keys. The caller closes the Store.
func Open(ctx context.Context, path string, opts ...Option) (*Store, error) {
	o := options{clock: core.SystemClock, busyTimeout: 10 * time.Second, maxConns: 4}
	for _, opt := range opts {
		opt(&o)
	}
	if path == "" || strings.HasPrefix(path, ":memory:") || strings.HasPrefix(path, "file:") {
		// An in-memory database is one per connection: the pool would see several.
		return nil, fmt.Errorf("open sqlite store %q: want a file path: %w", path, core.ErrInvalid)
	}
	if o.maxConns < 1 {
		return nil, fmt.Errorf("open sqlite store %s: %d connections: %w", path, o.maxConns, core.ErrInvalid)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("open sqlite store %s: %w", path, err)
	}
	q := url.Values{}
	q.Set("_busy_timeout", strconv.FormatInt(o.busyTimeout.Milliseconds(), 10))
	q.Set("_journal_mode", "WAL")
	q.Set("_synchronous", "NORMAL")
	q.Set("_foreign_keys", "1")
	// Transactions take the write lock when they begin: a deferred one that reads and
	// then writes can fail with SQLITE_BUSY_SNAPSHOT instead of waiting.
	q.Set("_txlock", "immediate")
	dsn := (&url.URL{Scheme: "file", Path: filepath.ToSlash(abs), RawQuery: q.Encode()}).String()
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("open sqlite store %s: %w", path, err)
	}
	db.SetMaxOpenConns(o.maxConns)
	db.SetMaxIdleConns(o.maxConns)
	wdb, err := sql.Open("sqlite", dsn)
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("open sqlite store %s: %w", path, err)
	}
	wdb.SetMaxOpenConns(1)
	s := &Store{db: db, wdb: wdb, clock: o.clock}
	fail := func(err error) (*Store, error) {
		s.Close()
		return nil, fmt.Errorf("open sqlite store %s: %w", path, err)
	}
	if err := migrate(ctx, wdb, migrations, o.clock.Now()); err != nil {
		return fail(err)
	}
	if s.writes, err = groupcommit.New(ctx, wdb, groupcommit.WithCheckpoints(db)); err != nil {
		return fail(err)
	}
	if err := s.purgeDeliveries(ctx); err != nil {
		return fail(err)
	}
	return s, nil
}

// Close closes the database, once the writes under way are committed.
func (s *Store) Close() error {
	var errs []error
	if s.writes != nil {
		errs = append(errs, s.writes.Close())
	}
	s.stmts.Range(func(_, st any) bool {
		st.(*sql.Stmt).Close()
		return true
	})
	return errors.Join(append(errs, s.db.Close(), s.wdb.Close())...)
}

// stmt returns the prepared statement of query. The queries are constants or built
// from a handful of optional clauses, so the cache stays small.
func (s *Store) stmt(ctx context.Context, query string) (*sql.Stmt, error) {
	if st, ok := s.stmts.Load(query); ok {
		return st.(*sql.Stmt), nil
	}
	st, err := s.db.PrepareContext(ctx, query)
	if err != nil {
		return nil, mapErr(err)
	}
	if prev, loaded := s.stmts.LoadOrStore(query, st); loaded {
		st.Close()
		return prev.(*sql.Stmt), nil
	}
	return st, nil
}

// queryRow runs a query expected to return at most one row.
func (s *Store) queryRow(ctx context.Context, query string, args []any, dest ...any) error {
	st, err := s.stmt(ctx, query)
	if err != nil {
		return err
	}
	return mapErr(st.QueryRowContext(ctx, args...).Scan(dest...))
}

// exec runs one writing statement; it returns once the statement is committed.
func (s *Store) exec(ctx context.Context, query string, args ...any) (sql.Result, error) {
	var res sql.Result
	err := s.writes.Do(ctx, func(tx *groupcommit.Tx) error {
		var err error
		res, err = tx.Exec(query, args...)
		return err
	})
	if err != nil {
		return nil, mapErr(err)
	}
	return res, nil
}

// changed runs one writing statement and reports whether it changed a row: how a
// conditional write learns whether its condition held.
func (s *Store) changed(ctx context.Context, query string, args ...any) (bool, error) {
	res, err := s.exec(ctx, query, args...)
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, err
	}
	return n > 0, nil
}

// writeRow runs one writing statement with a RETURNING clause and scans its row;
// ErrNotFound when it returned none.
func (s *Store) writeRow(ctx context.Context, query string, args []any, dest ...any) error {
	found := false
	err := s.writes.Do(ctx, func(tx *groupcommit.Tx) error {
		err := tx.QueryRow(query, args...).Scan(dest...)
		found = err == nil
		if errors.Is(err, sql.ErrNoRows) {
			return nil // the statement wrote nothing: an answer, not a failure
		}
		return err
	})
	switch {
	case err != nil:
		return mapErr(err)
	case !found:
		return core.ErrNotFound
	}
	return nil
}

// exists reports whether query finds a row.
func (s *Store) exists(ctx context.Context, query string, args ...any) (bool, error) {
	var one int
	err := s.queryRow(ctx, query, args, &one)
	if errors.Is(err, core.ErrNotFound) {
		return false, nil
	}
	return err == nil, err
}

// getJSON reads the JSON column that query selects into v; ErrNotFound without a row.
func (s *Store) getJSON(ctx context.Context, v any, query string, args ...any) error {
	var data []byte
	if err := s.queryRow(ctx, query, args, &data); err != nil {
		return err
	}
	return decode(data, v)
}

// listJSON reads the JSON column that every row of query selects.
func listJSON[T any](ctx context.Context, s *Store, query string, args ...any) ([]T, error) {
	st, err := s.stmt(ctx, query)
	if err != nil {
		return nil, err
	}
	rows, err := st.QueryContext(ctx, args...)
	if err != nil {
		return nil, mapErr(err)
	}
	defer rows.Close()
	var out []T
	for rows.Next() {
		var data []byte
		if err := rows.Scan(&data); err != nil {
			return nil, mapErr(err)
		}
		var v T
		if err := decode(data, &v); err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, mapErr(rows.Err())
}

// encode returns v as JSON text (the data columns are STRICT TEXT, which refuses bytes).
// The records hold nothing JSON cannot encode but raw JSON, so a failure is bad input.
func encode(v any) (string, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return "", fmt.Errorf("encode record: %w: %w", core.ErrInvalid, err)
	}
	return string(b), nil
}

func decode(data []byte, v any) error {
	if err := json.Unmarshal(data, v); err != nil {
		return fmt.Errorf("decode stored record: %w", err)
	}
	return nil
}

// mapErr turns driver errors into core sentinels: a uniqueness or reference violation
// is a lost conditional write (ErrConflict); any other constraint (a value of the wrong
// type, a missing value) is bad input (ErrInvalid); a missing row is ErrNotFound. The
// driver error stays in the chain.
func mapErr(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, sql.ErrNoRows) {
		return core.ErrNotFound
	}
	var se *sqlite.Error
	if !errors.As(err, &se) || se.Code()&0xff != sqlite3.SQLITE_CONSTRAINT {
		return err
	}
	switch se.Code() {
	case sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY, sqlite3.SQLITE_CONSTRAINT_UNIQUE, sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY:
		return fmt.Errorf("%w: %w", core.ErrConflict, err)
	}
	return fmt.Errorf("%w: %w", core.ErrInvalid, err)
}

// need returns ErrInvalid when one of the key fields is empty.
func need(keys ...string) error {
	for _, k := range keys {
		if k == "" {
			return fmt.Errorf("missing key: %w", core.ErrInvalid)
		}
	}
	return nil
}

// timeLayout writes times as fixed-width UTC text, so that columns sort and compare as
// the instants they hold.
const timeLayout = "2006-01-02T15:04:05.000000000Z"

func timeKey(t time.Time) string { return t.UTC().Format(timeLayout) }

func parseTimeKey(s string) (time.Time, error) {
	t, err := time.Parse(timeLayout, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("decode stored time %q: %w", s, err)
	}
	return t, nil
}

const (
	defaultLimit = 100
	maxLimit     = 100
)

// limit returns how many items a page holds.
func limit(p core.Page) int {
	if p.Limit <= 0 || p.Limit > maxLimit {
		return defaultLimit
	}
	return p.Limit
}

// cursor is the position a page token names: the sort key of the last item returned,
// and the list it came from, so that a token cannot be replayed on another list.
type cursor struct {
	List  string `json:"l"`
	Start string `json:"t"`
	ID    string `json:"i"`
}

func (c cursor) token() string {
	b, _ := json.Marshal(c) // a struct of strings always encodes
	return base64.RawURLEncoding.EncodeToString(b)
}

// parseToken decodes a page token of list; a zero cursor for "".
func parseToken(token, list string) (cursor, error) {
	if token == "" {
		return cursor{}, nil
	}
	var c cursor
	b, err := base64.RawURLEncoding.DecodeString(token)
	if err == nil {
		err = json.Unmarshal(b, &c)
	}
	if err != nil || c.List != list || c.Start == "" || c.ID == "" {
		return cursor{}, fmt.Errorf("page token %q: %w", token, core.ErrInvalid)
	}
	return c, nil
}
