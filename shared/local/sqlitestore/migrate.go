package sqlitestore

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// migration is one step of the schema. Versions count from 1 without gaps; a released
// step is never edited, only followed by new ones.
type migration struct {
	version int
	name    string
	sql     string
}

// migrations is the schema, oldest first. Tables are STRICT (a value of the wrong type is
// an error, not silently stored) and keyed as the ports address records. There are no
// foreign keys between the ports' tables: each port stands alone (a stage may be
// recorded for an execution another store holds), as on DynamoDB.
var migrations = []migration{
	{1, "pipelines and executions", `
CREATE TABLE pipelines (
	name    TEXT    NOT NULL PRIMARY KEY,
	version INTEGER NOT NULL,
	data    TEXT    NOT NULL
) STRICT, WITHOUT ROWID;

CREATE TABLE executions (
	pipeline   TEXT    NOT NULL,
	id         TEXT    NOT NULL,
	status     TEXT    NOT NULL,
	start_time TEXT    NOT NULL,
	revision   INTEGER NOT NULL,
	data       TEXT    NOT NULL,
	PRIMARY KEY (pipeline, id)
) STRICT, WITHOUT ROWID;
CREATE INDEX executions_by_start ON executions (pipeline, start_time DESC, id DESC);
`},
	{2, "stages and actions", `
CREATE TABLE stages (
	pipeline   TEXT NOT NULL,
	execution  TEXT NOT NULL,
	stage      TEXT NOT NULL,
	status     TEXT NOT NULL,
	start_time TEXT NOT NULL,
	data       TEXT NOT NULL,
	PRIMARY KEY (pipeline, execution, stage)
) STRICT, WITHOUT ROWID;
CREATE INDEX stages_by_start ON stages (pipeline, stage, start_time DESC, execution DESC);

CREATE TABLE actions (
	pipeline    TEXT NOT NULL,
	id          TEXT NOT NULL,
	execution   TEXT NOT NULL,
	stage       TEXT NOT NULL,
	action      TEXT NOT NULL,
	status      TEXT NOT NULL,
	external_id TEXT NOT NULL,
	start_time  TEXT NOT NULL,
	data        TEXT NOT NULL,
	PRIMARY KEY (pipeline, id)
) STRICT, WITHOUT ROWID;
CREATE INDEX actions_by_start ON actions (pipeline, start_time DESC, id DESC);
CREATE INDEX actions_by_execution ON actions (pipeline, execution, start_time DESC, id DESC);
CREATE INDEX actions_by_external_id ON actions (external_id, start_time DESC, id DESC)
	WHERE external_id <> '';
`},
	{3, "stage locks, gate queues and transitions", `
CREATE TABLE stage_locks (
	pipeline  TEXT NOT NULL,
	stage     TEXT NOT NULL,
	execution TEXT NOT NULL,
	PRIMARY KEY (pipeline, stage)
) STRICT, WITHOUT ROWID;

-- seq is the rowid; AUTOINCREMENT never hands out a number twice, even after the
-- newest waiter left, so a later arrival always sorts after an earlier one.
CREATE TABLE waiters (
	seq        INTEGER PRIMARY KEY AUTOINCREMENT,
	pipeline   TEXT NOT NULL,
	stage      TEXT NOT NULL,
	execution  TEXT NOT NULL,
	token      TEXT NOT NULL,
	arrived_at TEXT NOT NULL,
	UNIQUE (pipeline, stage, execution)
) STRICT;
CREATE INDEX waiters_by_arrival ON waiters (pipeline, stage, arrived_at, seq);

CREATE TABLE transitions (
	pipeline TEXT NOT NULL,
	stage    TEXT NOT NULL,
	data     TEXT NOT NULL,
	PRIMARY KEY (pipeline, stage)
) STRICT, WITHOUT ROWID;
`},
	{4, "approvals and deliveries", `
CREATE TABLE approvals (
	id        TEXT NOT NULL PRIMARY KEY,
	pipeline  TEXT NOT NULL,
	execution TEXT NOT NULL,
	status    TEXT NOT NULL,
	data      TEXT NOT NULL
) STRICT, WITHOUT ROWID;
CREATE INDEX approvals_pending ON approvals (pipeline, execution) WHERE status = 'Pending';

CREATE TABLE deliveries (
	id         TEXT NOT NULL PRIMARY KEY,
	expires_at TEXT NOT NULL
) STRICT, WITHOUT ROWID;
CREATE INDEX deliveries_by_expiry ON deliveries (expires_at);
`},
}

// migrate applies the steps of list that the database has not seen, in one transaction,
// and records each in schema_migrations. The transaction takes the write lock first, so
// two processes opening one file at once apply each step once. A database whose schema
// is newer than list is refused: this build would not know how to write it.
func migrate(ctx context.Context, db *sql.DB, list []migration, now time.Time) (err error) {
	for i, m := range list {
		if m.version != i+1 {
			return fmt.Errorf("migration %q has version %d, want %d", m.name, m.version, i+1)
		}
	}
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin migration: %w", err)
	}
	defer func() {
		if err != nil {
			tx.Rollback()
		}
	}()
	if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    INTEGER NOT NULL PRIMARY KEY,
		name       TEXT    NOT NULL,
		applied_at TEXT    NOT NULL
	) STRICT`); err != nil {
		return fmt.Errorf("create schema_migrations: %w", err)
	}
	var current int
	if err := tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&current); err != nil {
		return fmt.Errorf("read schema version: %w", err)
	}
	if current > len(list) {
		return fmt.Errorf("schema version %d is newer than this build's %d", current, len(list))
	}
	for _, m := range list[current:] {
		if _, err := tx.ExecContext(ctx, m.sql); err != nil {
			return fmt.Errorf("apply migration %d (%s): %w", m.version, m.name, err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)`,
			m.version, m.name, timeKey(now)); err != nil {
			return fmt.Errorf("record migration %d: %w", m.version, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit migrations: %w", err)
	}
	return nil
}
