// Package aslstore keeps the state of the local ASL interpreter (shared/asl) in SQLite, so
// that `relais serve` killed at any moment resumes every running execution where its last
// checkpoint left it. It implements asl.Store: one Checkpoint is one SQLite transaction
// that upserts the execution row and appends its new history events.
package aslstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	_ "modernc.org/sqlite" // registers the "sqlite" driver

	"github.com/relais-ci/relais/shared/asl"
)

// Store is an asl.Store over one SQLite file.
type Store struct {
	db *sql.DB
}

var _ asl.Store = (*Store)(nil)

// schema is applied in order; schema_version records how far a file has come.
var schema = []string{
	`CREATE TABLE machines (
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
	) WITHOUT ROWID;`,
}

// Open opens (creating if needed) the store at path and brings its schema up to date.
func Open(ctx context.Context, path string) (*Store, error) {
	dsn := "file:" + path + "?_pragma=journal_mode(WAL)&_pragma=busy_timeout(10000)&_pragma=synchronous(NORMAL)&_txlock=immediate"
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("open engine store %s: %w", path, err)
	}
	// One writer at a time is SQLite's rule; a single connection also keeps the
	// checkpoints of many executions from contending for the file lock.
	db.SetMaxOpenConns(1)
	s := &Store{db: db}
	if err := s.migrate(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("open engine store %s: %w", path, err)
	}
	return s, nil
}

// Close closes the database.
func (s *Store) Close() error { return s.db.Close() }

func (s *Store) migrate(ctx context.Context) error {
	tx, err := s.db.BeginTx(ctx, nil)
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
	for ; v < len(schema); v++ {
		if _, err := tx.ExecContext(ctx, schema[v]); err != nil {
			return fmt.Errorf("apply schema version %d: %w", v+1, err)
		}
	}
	if _, err := tx.ExecContext(ctx, `UPDATE schema_version SET version = ?`, v); err != nil {
		return err
	}
	return tx.Commit()
}

// PutMachine creates, replaces or (nil Definition) deletes a state machine.
func (s *Store) PutMachine(ctx context.Context, rec asl.MachineRecord) error {
	if rec.Definition == nil {
		if _, err := s.db.ExecContext(ctx, `DELETE FROM machines WHERE name = ?`, rec.Name); err != nil {
			return fmt.Errorf("delete machine %s: %w", rec.Name, err)
		}
		return nil
	}
	b, err := json.Marshal(rec)
	if err != nil {
		return fmt.Errorf("encode machine %s: %w", rec.Name, err)
	}
	if _, err := s.db.ExecContext(ctx, `INSERT INTO machines (name, record) VALUES (?, ?)
		ON CONFLICT (name) DO UPDATE SET record = excluded.record`, rec.Name, b); err != nil {
		return fmt.Errorf("put machine %s: %w", rec.Name, err)
	}
	return nil
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
	b, err := json.Marshal(rec)
	if err != nil {
		return fmt.Errorf("encode execution %s: %w", rec.ARN, err)
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("checkpoint %s: %w", rec.ARN, err)
	}
	defer tx.Rollback()
	if cp.Create {
		res, err := tx.ExecContext(ctx, `INSERT INTO executions (arn, machine_arn, status, start_date, event_count, record)
			VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (arn) DO NOTHING`,
			rec.ARN, rec.StateMachineARN, rec.Status, rec.StartDate.UnixNano(), rec.EventCount, b)
		if err != nil {
			return fmt.Errorf("create execution %s: %w", rec.ARN, err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("create execution %s: %w", rec.ARN, asl.ErrExecutionAlreadyExists)
		}
	} else {
		res, err := tx.ExecContext(ctx, `UPDATE executions SET status = ?, event_count = ?, record = ? WHERE arn = ?`,
			rec.Status, rec.EventCount, b, rec.ARN)
		if err != nil {
			return fmt.Errorf("update execution %s: %w", rec.ARN, err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("update execution %s: %w", rec.ARN, asl.ErrNotFound)
		}
	}
	if len(cp.Events) > 0 {
		var q strings.Builder
		q.WriteString(`INSERT INTO events (arn, id, event) VALUES `)
		args := make([]any, 0, 3*len(cp.Events))
		for i, ev := range cp.Events {
			eb, err := json.Marshal(ev)
			if err != nil {
				return fmt.Errorf("encode event %d of %s: %w", ev.ID, rec.ARN, err)
			}
			if i > 0 {
				q.WriteString(", ")
			}
			q.WriteString("(?, ?, ?)")
			args = append(args, rec.ARN, ev.ID, eb)
		}
		if _, err := tx.ExecContext(ctx, q.String(), args...); err != nil {
			return fmt.Errorf("append events of %s: %w", rec.ARN, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("checkpoint %s: %w", rec.ARN, err)
	}
	return nil
}

// Execution returns one execution row.
func (s *Store) Execution(ctx context.Context, arn string) (asl.ExecutionRecord, error) {
	var b []byte
	err := s.db.QueryRowContext(ctx, `SELECT record FROM executions WHERE arn = ?`, arn).Scan(&b)
	if errors.Is(err, sql.ErrNoRows) {
		return asl.ExecutionRecord{}, fmt.Errorf("execution %s: %w", arn, asl.ErrNotFound)
	}
	if err != nil {
		return asl.ExecutionRecord{}, fmt.Errorf("get execution %s: %w", arn, err)
	}
	var rec asl.ExecutionRecord
	if err := json.Unmarshal(b, &rec); err != nil {
		return asl.ExecutionRecord{}, fmt.Errorf("decode execution %s: %w", arn, err)
	}
	return rec, nil
}

// Executions returns the matching rows, newest first.
func (s *Store) Executions(ctx context.Context, f asl.ExecutionFilter) ([]asl.ExecutionRecord, error) {
	q := `SELECT record FROM executions WHERE (? = '' OR machine_arn = ?) AND (? = '' OR status = ?) ORDER BY start_date DESC, arn`
	rows, err := s.db.QueryContext(ctx, q, f.StateMachineARN, f.StateMachineARN, f.Status, f.Status)
	if err != nil {
		return nil, fmt.Errorf("list executions: %w", err)
	}
	defer rows.Close()
	var out []asl.ExecutionRecord
	for rows.Next() {
		var b []byte
		var rec asl.ExecutionRecord
		if err := rows.Scan(&b); err != nil {
			return nil, fmt.Errorf("list executions: %w", err)
		}
		if err := json.Unmarshal(b, &rec); err != nil {
			return nil, fmt.Errorf("decode execution: %w", err)
		}
		out = append(out, rec)
	}
	return out, rows.Err()
}

// Events returns history events after afterID, in order.
func (s *Store) Events(ctx context.Context, arn string, afterID int64, limit int) ([]asl.Event, error) {
	if limit <= 0 {
		limit = -1
	}
	rows, err := s.db.QueryContext(ctx, `SELECT event FROM events WHERE arn = ? AND id > ? ORDER BY id LIMIT ?`, arn, afterID, limit)
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
