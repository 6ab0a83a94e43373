// Package aslstore keeps the state of the local ASL interpreter (shared/asl) in SQLite, so
// that `relais serve` killed at any moment resumes every running execution where its last
// checkpoint left it. It implements asl.Store: one Checkpoint upserts the execution row
// and appends its new history events, all or nothing, in a transaction it may share with
// the checkpoints of other executions (group commit); it returns once committed.
package aslstore

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sync"

	_ "modernc.org/sqlite" // registers the "sqlite" driver

	"github.com/relais-ci/relais/shared/asl"
	"github.com/relais-ci/relais/shared/local/groupcommit"
)

// Store is an asl.Store over one SQLite file.
type Store struct {
	db    *sql.DB              // reads
	stmts map[string]*sql.Stmt // reads, by query text, prepared at Open
	wdb   *sql.DB              // the one connection writes go through
	// writes runs the checkpoints of concurrent executions in shared transactions (one
	// commit per batch); each Checkpoint returns once its own is committed, and stays
	// all or nothing.
	writes *groupcommit.Committer

	mu sync.Mutex
	// stored maps each definition this Store has committed to its hash: an execution
	// row names its definition by hash, and the definition is written once, not with
	// every checkpoint.
	stored map[string]string
}

var _ asl.Store = (*Store)(nil)

// schema is applied in order; schema_version records how far a file has come.
var schema = []step{
	{sql: `CREATE TABLE machines (
		name TEXT PRIMARY KEY,
		record BLOB NOT NULL
	);
	CREATE TABLE executions (
		arn TEXT PRIMARY KEY,
		machine_arn TEXT NOT NULL,
		status TEXT NOT NULL,
		start_date INTEGER NOT NULL,
		event_count INTEGER NOT NULL,
		record BLOB NOT NULL
	);
	CREATE INDEX executions_by_machine ON executions (machine_arn, start_date DESC, arn);
	CREATE TABLE events (
		arn TEXT NOT NULL,
		id INTEGER NOT NULL,
		event BLOB NOT NULL,
		PRIMARY KEY (arn, id)
	) WITHOUT ROWID;`},
	// The definition (kilobytes, the same for every execution of a machine version) is
	// stored once and named by its hash; the snapshot has a column of its own. The
	// record keeps the rest, so a checkpoint rewrites a few hundred bytes, not the
	// definition base64-encoded in JSON.
	{sql: `CREATE TABLE definitions (
		hash TEXT PRIMARY KEY,
		definition BLOB NOT NULL
	);
	ALTER TABLE executions ADD COLUMN definition_hash TEXT;
	ALTER TABLE executions ADD COLUMN snapshot BLOB;`, after: splitRecords},
}

// step is one schema version: its SQL, then an optional data migration.
type step struct {
	sql   string
	after func(ctx context.Context, tx *sql.Tx) error
}

// splitRecords moves the definitions and snapshots of the rows written before schema
// version 2 out of their records.
func splitRecords(ctx context.Context, tx *sql.Tx) error {
	rows, err := tx.QueryContext(ctx, `SELECT arn, record FROM executions WHERE definition_hash IS NULL`)
	if err != nil {
		return err
	}
	type row struct {
		arn string
		rec asl.ExecutionRecord
	}
	var old []row
	for rows.Next() {
		var r row
		var b []byte
		if err := rows.Scan(&r.arn, &b); err != nil {
			rows.Close()
			return err
		}
		if err := json.Unmarshal(b, &r.rec); err != nil {
			rows.Close()
			return fmt.Errorf("decode execution %s: %w", r.arn, err)
		}
		old = append(old, r)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	for _, r := range old {
		var hash sql.NullString
		if r.rec.Definition != nil {
			hash = sql.NullString{String: definitionHash(r.rec.Definition), Valid: true}
			if _, err := tx.ExecContext(ctx, qPutDefinition, hash.String, r.rec.Definition); err != nil {
				return fmt.Errorf("store definition of %s: %w", r.arn, err)
			}
		}
		snapshot := r.rec.Snapshot
		b, err := encodeRecord(r.rec)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE executions SET record = ?, definition_hash = ?, snapshot = ? WHERE arn = ?`,
			b, hash, snapshot, r.arn); err != nil {
			return fmt.Errorf("split execution %s: %w", r.arn, err)
		}
	}
	return nil
}

// The statements of the hot paths (reads prepared at Open, writes by the Committer).
const (
	qPutDefinition   = `INSERT INTO definitions (hash, definition) VALUES (?, ?) ON CONFLICT (hash) DO NOTHING`
	qCreateExecution = `INSERT INTO executions (arn, machine_arn, status, start_date, event_count, record, definition_hash, snapshot)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (arn) DO NOTHING`
	qUpdateExecution = `UPDATE executions SET status = ?, event_count = ?, record = ?, snapshot = ? WHERE arn = ?`
	qAppendEvent     = `INSERT INTO events (arn, id, event) VALUES (?, ?, ?)`
	qExecution       = `SELECT e.record, e.snapshot, d.definition FROM executions e
		LEFT JOIN definitions d ON d.hash = e.definition_hash WHERE e.arn = ?`
	qEvents = `SELECT event FROM events WHERE arn = ? AND id > ? ORDER BY id LIMIT ?`
)

// Open opens (creating if needed) the store at path and brings its schema up to date.
func Open(ctx context.Context, path string) (*Store, error) {
	dsn := "file:" + path + "?_pragma=journal_mode(WAL)&_pragma=busy_timeout(10000)&_pragma=synchronous(NORMAL)&_txlock=immediate"
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("open engine store %s: %w", path, err)
	}
	db.SetMaxOpenConns(2)
	db.SetMaxIdleConns(2)
	wdb, err := sql.Open("sqlite", dsn)
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("open engine store %s: %w", path, err)
	}
	wdb.SetMaxOpenConns(1)
	s := &Store{db: db, wdb: wdb, stmts: map[string]*sql.Stmt{}, stored: map[string]string{}}
	fail := func(err error) (*Store, error) {
		s.Close()
		return nil, fmt.Errorf("open engine store %s: %w", path, err)
	}
	if err := s.migrate(ctx); err != nil {
		return fail(err)
	}
	for _, q := range []string{qExecution, qEvents} {
		st, err := db.PrepareContext(ctx, q)
		if err != nil {
			return fail(fmt.Errorf("prepare: %w", err))
		}
		s.stmts[q] = st
	}
	if s.writes, err = groupcommit.New(ctx, wdb, groupcommit.WithCheckpoints(db)); err != nil {
		return fail(err)
	}
	return s, nil
}

// Close closes the database, once the checkpoints under way are committed.
func (s *Store) Close() error {
	var errs []error
	if s.writes != nil {
		errs = append(errs, s.writes.Close())
	}
	for _, st := range s.stmts {
		st.Close()
	}
	return errors.Join(append(errs, s.db.Close(), s.wdb.Close())...)
}

func (s *Store) migrate(ctx context.Context) error {
	tx, err := s.wdb.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)`); err != nil {
		return fmt.Errorf("create schema_version: %w", err)
	}
	var v int
	switch err := tx.QueryRowContext(ctx, `SELECT version FROM schema_version`).Scan(&v); {
	case errors.Is(err, sql.ErrNoRows):
		if _, err := tx.ExecContext(ctx, `INSERT INTO schema_version (version) VALUES (0)`); err != nil {
			return err
		}
	case err != nil:
		return fmt.Errorf("read schema version: %w", err)
	}
	if v > len(schema) {
		return fmt.Errorf("schema version %d is newer than this build's %d", v, len(schema))
	}
	for ; v < len(schema); v++ {
		if _, err := tx.ExecContext(ctx, schema[v].sql); err != nil {
			return fmt.Errorf("apply schema version %d: %w", v+1, err)
		}
		if schema[v].after != nil {
			if err := schema[v].after(ctx, tx); err != nil {
				return fmt.Errorf("apply schema version %d: %w", v+1, err)
			}
		}
	}
	if _, err := tx.ExecContext(ctx, `UPDATE schema_version SET version = ?`, v); err != nil {
		return err
	}
	return tx.Commit()
}

func definitionHash(def []byte) string {
	sum := sha256.Sum256(def)
	return hex.EncodeToString(sum[:])
}

// encodeRecord returns the JSON of rec without its definition and snapshot, which have
// columns of their own.
func encodeRecord(rec asl.ExecutionRecord) ([]byte, error) {
	rec.Definition, rec.Snapshot = nil, nil
	b, err := json.Marshal(rec)
	if err != nil {
		return nil, fmt.Errorf("encode execution %s: %w", rec.ARN, err)
	}
	return b, nil
}

// decodeRecord is the inverse of encodeRecord.
func decodeRecord(b, snapshot, definition []byte) (asl.ExecutionRecord, error) {
	var rec asl.ExecutionRecord
	if err := json.Unmarshal(b, &rec); err != nil {
		return asl.ExecutionRecord{}, err
	}
	rec.Snapshot, rec.Definition = snapshot, definition
	return rec, nil
}

// PutMachine creates, replaces or (nil Definition) deletes a state machine.
func (s *Store) PutMachine(ctx context.Context, rec asl.MachineRecord) error {
	if rec.Definition == nil {
		if err := s.exec(ctx, `DELETE FROM machines WHERE name = ?`, rec.Name); err != nil {
			return fmt.Errorf("delete machine %s: %w", rec.Name, err)
		}
		return nil
	}
	b, err := json.Marshal(rec)
	if err != nil {
		return fmt.Errorf("encode machine %s: %w", rec.Name, err)
	}
	if err := s.exec(ctx, `INSERT INTO machines (name, record) VALUES (?, ?)
		ON CONFLICT (name) DO UPDATE SET record = excluded.record`, rec.Name, b); err != nil {
		return fmt.Errorf("put machine %s: %w", rec.Name, err)
	}
	return nil
}

// exec runs one writing statement.
func (s *Store) exec(ctx context.Context, query string, args ...any) error {
	return s.writes.Do(ctx, func(tx *groupcommit.Tx) error {
		_, err := tx.Exec(query, args...)
		return err
	})
}

// Machine returns one stored machine.
func (s *Store) Machine(ctx context.Context, name string) (asl.MachineRecord, error) {
	var b []byte
	err := s.db.QueryRowContext(ctx, `SELECT record FROM machines WHERE name = ?`, name).Scan(&b)
	if errors.Is(err, sql.ErrNoRows) {
		return asl.MachineRecord{}, fmt.Errorf("machine %s: %w", name, asl.ErrNotFound)
	}
	if err != nil {
		return asl.MachineRecord{}, fmt.Errorf("get machine %s: %w", name, err)
	}
	var m asl.MachineRecord
	if err := json.Unmarshal(b, &m); err != nil {
		return asl.MachineRecord{}, fmt.Errorf("decode machine %s: %w", name, err)
	}
	return m, nil
}

// Machines returns every stored machine.
func (s *Store) Machines(ctx context.Context) ([]asl.MachineRecord, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT record FROM machines`)
	if err != nil {
		return nil, fmt.Errorf("list machines: %w", err)
	}
	defer rows.Close()
	var out []asl.MachineRecord
	for rows.Next() {
		var b []byte
		var m asl.MachineRecord
		if err := rows.Scan(&b); err != nil {
			return nil, fmt.Errorf("list machines: %w", err)
		}
		if err := json.Unmarshal(b, &m); err != nil {
			return nil, fmt.Errorf("decode machine: %w", err)
		}
		out = append(out, m)
	}
	return out, rows.Err()
}

// Checkpoint writes the execution row and appends its events in one transaction.
func (s *Store) Checkpoint(ctx context.Context, cp asl.Checkpoint) error {
	rec := cp.Execution
	b, err := encodeRecord(rec)
	if err != nil {
		return err
	}
	events := make([][]byte, len(cp.Events))
	for i, ev := range cp.Events {
		if events[i], err = json.Marshal(ev); err != nil {
			return fmt.Errorf("encode event %d of %s: %w", ev.ID, rec.ARN, err)
		}
	}
	var hash sql.NullString // NULL: no definition
	newDefinition := false
	if cp.Create && rec.Definition != nil {
		s.mu.Lock()
		hash.String = s.stored[string(rec.Definition)]
		s.mu.Unlock()
		if hash.String == "" {
			hash.String, newDefinition = definitionHash(rec.Definition), true
		}
		hash.Valid = true
	}
	// refused is the answer when the row's state refuses the checkpoint: then nothing
	// of it was written.
	var refused error
	err = s.writes.Do(ctx, func(tx *groupcommit.Tx) error {
		refused = nil
		if cp.Create {
			res, err := tx.Exec(qCreateExecution,
				rec.ARN, rec.StateMachineARN, rec.Status, rec.StartDate.UnixNano(), rec.EventCount, b, hash, rec.Snapshot)
			if err != nil {
				return fmt.Errorf("create execution %s: %w", rec.ARN, err)
			}
			if n, _ := res.RowsAffected(); n == 0 {
				refused = fmt.Errorf("create execution %s: %w", rec.ARN, asl.ErrExecutionAlreadyExists)
				return nil
			}
			if newDefinition {
				if _, err := tx.Exec(qPutDefinition, hash.String, rec.Definition); err != nil {
					return fmt.Errorf("store definition of %s: %w", rec.ARN, err)
				}
			}
		} else {
			res, err := tx.Exec(qUpdateExecution, rec.Status, rec.EventCount, b, rec.Snapshot, rec.ARN)
			if err != nil {
				return fmt.Errorf("update execution %s: %w", rec.ARN, err)
			}
			if n, _ := res.RowsAffected(); n == 0 {
				refused = fmt.Errorf("update execution %s: %w", rec.ARN, asl.ErrNotFound)
				return nil
			}
		}
		for i, eb := range events {
			if _, err := tx.Exec(qAppendEvent, rec.ARN, cp.Events[i].ID, eb); err != nil {
				return fmt.Errorf("append event %d of %s: %w", cp.Events[i].ID, rec.ARN, err)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("checkpoint %s: %w", rec.ARN, err)
	}
	if refused != nil {
		return refused
	}
	if newDefinition {
		s.mu.Lock()
		if len(s.stored) >= maxStoredDefinitions {
			clear(s.stored)
		}
		s.stored[string(rec.Definition)] = hash.String
		s.mu.Unlock()
	}
	return nil
}

// maxStoredDefinitions bounds the definitions remembered as stored: one per machine
// version in use; forgetting one only costs a redundant (ignored) insert.
const maxStoredDefinitions = 256

// Execution returns one execution row.
func (s *Store) Execution(ctx context.Context, arn string) (asl.ExecutionRecord, error) {
	var b, snapshot, definition []byte
	err := s.stmts[qExecution].QueryRowContext(ctx, arn).Scan(&b, &snapshot, &definition)
	if errors.Is(err, sql.ErrNoRows) {
		return asl.ExecutionRecord{}, fmt.Errorf("execution %s: %w", arn, asl.ErrNotFound)
	}
	if err != nil {
		return asl.ExecutionRecord{}, fmt.Errorf("get execution %s: %w", arn, err)
	}
	rec, err := decodeRecord(b, snapshot, definition)
	if err != nil {
		return asl.ExecutionRecord{}, fmt.Errorf("decode execution %s: %w", arn, err)
	}
	return rec, nil
}

// Executions returns the matching rows, newest first.
func (s *Store) Executions(ctx context.Context, f asl.ExecutionFilter) ([]asl.ExecutionRecord, error) {
	q := `SELECT record, snapshot, definition_hash FROM executions
		WHERE (? = '' OR machine_arn = ?) AND (? = '' OR status = ?) ORDER BY start_date DESC, arn`
	rows, err := s.db.QueryContext(ctx, q, f.StateMachineARN, f.StateMachineARN, f.Status, f.Status)
	if err != nil {
		return nil, fmt.Errorf("list executions: %w", err)
	}
	var out []asl.ExecutionRecord
	var hashes []sql.NullString
	for rows.Next() {
		var b, snapshot []byte
		var hash sql.NullString
		if err := rows.Scan(&b, &snapshot, &hash); err != nil {
			rows.Close()
			return nil, fmt.Errorf("list executions: %w", err)
		}
		rec, err := decodeRecord(b, snapshot, nil)
		if err != nil {
			rows.Close()
			return nil, fmt.Errorf("decode execution: %w", err)
		}
		out, hashes = append(out, rec), append(hashes, hash)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list executions: %w", err)
	}
	// The executions of a machine version share their definition: read each once.
	defs := map[string][]byte{}
	for i, h := range hashes {
		if !h.Valid {
			continue
		}
		def, ok := defs[h.String]
		if !ok {
			if err := s.db.QueryRowContext(ctx, `SELECT definition FROM definitions WHERE hash = ?`, h.String).Scan(&def); err != nil {
				return nil, fmt.Errorf("list executions: definition of %s: %w", out[i].ARN, err)
			}
			defs[h.String] = def
		}
		out[i].Definition = def
	}
	return out, nil
}

// Events returns history events after afterID, in order.
func (s *Store) Events(ctx context.Context, arn string, afterID int64, limit int) ([]asl.Event, error) {
	if limit <= 0 {
		limit = -1
	}
	rows, err := s.stmts[qEvents].QueryContext(ctx, arn, afterID, limit)
	if err != nil {
		return nil, fmt.Errorf("list events of %s: %w", arn, err)
	}
	defer rows.Close()
	var out []asl.Event
	for rows.Next() {
		var b []byte
		var ev asl.Event
		if err := rows.Scan(&b); err != nil {
			return nil, fmt.Errorf("list events of %s: %w", arn, err)
		}
		if err := json.Unmarshal(b, &ev); err != nil {
			return nil, fmt.Errorf("decode event of %s: %w", arn, err)
		}
		out = append(out, ev)
	}
	return out, rows.Err()
}
