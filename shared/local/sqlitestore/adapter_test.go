package sqlitestore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/relais-ci/relais/shared/core"
	"github.com/relais-ci/relais/shared/core/coretest"
)

// t0 is the tests' fixed instant.
var t0 = time.Date(2026, time.March, 1, 12, 0, 0, 0, time.UTC)

func TestMigrationsAreNumbered(t *testing.T) {
	for i, m := range migrations {
		if m.version != i+1 {
			t.Errorf("migration %d (%s): got version %d, want %d", i, m.name, m.version, i+1)
		}
	}
}

// schema returns the versions recorded in schema_migrations and the tables of db.
func schema(t *testing.T, db *sql.DB) (versions []int, tables []string) {
	t.Helper()
	rows, err := db.QueryContext(t.Context(), `SELECT version FROM schema_migrations ORDER BY version`)
	if err != nil {
		t.Fatalf("read schema_migrations: %v", err)
	}
	defer rows.Close()
	for rows.Next() {
		var v int
		if err := rows.Scan(&v); err != nil {
			t.Fatal(err)
		}
		versions = append(versions, v)
	}
	trows, err := db.QueryContext(t.Context(),
		`SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name`)
	if err != nil {
		t.Fatalf("read tables: %v", err)
	}
	defer trows.Close()
	for trows.Next() {
		var n string
		if err := trows.Scan(&n); err != nil {
			t.Fatal(err)
		}
		tables = append(tables, n)
	}
	return versions, tables
}

var allTables = []string{
	"actions", "approvals", "deliveries", "executions", "pipelines", "schema_migrations",
	"stage_locks", "stages", "transitions", "waiters",
}

func allVersions() []int {
	var vs []int
	for _, m := range migrations {
		vs = append(vs, m.version)
	}
	return vs
}

func TestOpenTwiceKeepsDataAndSchema(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "relais.db")
	s, err := Open(ctx, path)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	p, err := s.PutPipeline(ctx, core.Pipeline{Name: "build", Declaration: []byte(`{}`)})
	if err != nil {
		t.Fatalf("put: %v", err)
	}
	s.Close()

	s = open2(t, path)
	got, err := s.GetPipeline(ctx, "build")
	if err != nil {
		t.Fatalf("get after reopen: %v", err)
	}
	if diff := cmp.Diff(p, got); diff != "" {
		t.Errorf("pipeline after reopen (-want +got):\n%s", diff)
	}
	versions, tables := schema(t, s.db)
	if diff := cmp.Diff(allVersions(), versions); diff != "" {
		t.Errorf("schema_migrations (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(allTables, tables); diff != "" {
		t.Errorf("tables (-want +got):\n%s", diff)
	}
}

// open2 opens path once more, closing it when t ends.
func open2(t *testing.T, path string, opts ...Option) *Store {
	t.Helper()
	s, err := Open(t.Context(), path, opts...)
	if err != nil {
		t.Fatalf("open %s: %v", path, err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestOpenUpgradesAnOlderSchema(t *testing.T) {
	for n := 1; n < len(migrations); n++ {
		t.Run(fmt.Sprintf("from version %d", n), func(t *testing.T) {
			ctx := t.Context()
			path := filepath.Join(t.TempDir(), "relais.db")
			db, err := sql.Open("sqlite", path)
			if err != nil {
				t.Fatal(err)
			}
			if err := migrate(ctx, db, migrations[:n], t0); err != nil {
				t.Fatalf("migrate to version %d: %v", n, err)
			}
			if versions, _ := schema(t, db); len(versions) != n {
				t.Fatalf("before: got versions %v, want %d of them", versions, n)
			}
			// Data written at version n survives the upgrade.
			if _, err := db.ExecContext(ctx, `INSERT INTO pipelines (name, version, data) VALUES ('old', 1, ?)`,
				`{"name":"old","version":1,"declaration":{}}`); err != nil {
				t.Fatalf("write at version %d: %v", n, err)
			}
			db.Close()

			s := open2(t, path)
			versions, tables := schema(t, s.db)
			if diff := cmp.Diff(allVersions(), versions); diff != "" {
				t.Errorf("schema_migrations (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(allTables, tables); diff != "" {
				t.Errorf("tables (-want +got):\n%s", diff)
			}
			if _, err := s.GetPipeline(ctx, "old"); err != nil {
				t.Errorf("pipeline written before the upgrade: %v", err)
			}
			if err := s.RecordDelivery(ctx, "d1", t0); err != nil {
				t.Errorf("a table of the last migration: %v", err)
			}
		})
	}
}

func TestOpenRefusesANewerSchema(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "relais.db")
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	future := append(migrations[:len(migrations):len(migrations)],
		migration{len(migrations) + 1, "from a later build", `CREATE TABLE later (x INTEGER)`})
	if err := migrate(ctx, db, future, t0); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	db.Close()
	if s, err := Open(ctx, path); err == nil {
		s.Close()
		t.Fatal("open of a newer schema: got nil error")
	}
}

func TestConcurrentOpensMigrateOnce(t *testing.T) {
	path := filepath.Join(t.TempDir(), "relais.db")
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s, err := Open(t.Context(), path)
			if err == nil {
				s.Close()
			}
			errs[i] = err
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("open %d: %v", i, err)
		}
	}
	versions, _ := schema(t, open2(t, path).db)
	if diff := cmp.Diff(allVersions(), versions); diff != "" {
		t.Errorf("schema_migrations (-want +got):\n%s", diff)
	}
}

func TestOpenSetsPragmas(t *testing.T) {
	s := open(t)
	// Every connection of the pool gets them: hold several at once and ask each.
	var conns []*sql.Conn
	for range 3 {
		c, err := s.db.Conn(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
	}
	for i, c := range conns {
		for pragma, want := range map[string]string{
			"journal_mode": "wal", "foreign_keys": "1", "synchronous": "1", "busy_timeout": "10000",
		} {
			var got string
			if err := c.QueryRowContext(t.Context(), "PRAGMA "+pragma).Scan(&got); err != nil {
				t.Fatalf("conn %d: PRAGMA %s: %v", i, pragma, err)
			}
			if got != want {
				t.Errorf("conn %d: PRAGMA %s: got %s, want %s", i, pragma, got, want)
			}
		}
	}
	for _, c := range conns {
		c.Close()
	}
}

func TestOpenRefusesNonFiles(t *testing.T) {
	for _, path := range []string{"", ":memory:", "file::memory:?cache=shared"} {
		if s, err := Open(t.Context(), path); !errors.Is(err, core.ErrInvalid) {
			if s != nil {
				s.Close()
			}
			t.Errorf("open %q: got error %v, want %v", path, err, core.ErrInvalid)
		}
	}
}

// TestTwoStoresOnOneFile races two Stores — two pools, as two processes would have — on
// the conditional writes. Only SQLite's own locking keeps them apart here.
func TestTwoStoresOnOneFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "relais.db")
	clock := WithClock(coretest.NewClock(t0))
	stores := []*Store{open2(t, path, clock), open2(t, path, clock)}
	ctx := t.Context()

	t.Run("record delivery", func(t *testing.T) {
		errs := raceStores(50, func(i int) error {
			return stores[i%2].RecordDelivery(ctx, "delivery-1", t0.Add(time.Hour))
		})
		wantOne(t, errs, core.ErrConflict)
	})
	t.Run("acquire stage", func(t *testing.T) {
		errs := raceStores(50, func(i int) error {
			return stores[i%2].AcquireStage(ctx, "build", "Deploy", fmt.Sprintf("e%d", i))
		})
		w := wantOne(t, errs, core.ErrConflict)
		for _, s := range stores {
			if got, err := s.StageHolder(ctx, "build", "Deploy"); err != nil || got != fmt.Sprintf("e%d", w) {
				t.Errorf("holder: got %q (%v), want e%d", got, err, w)
			}
		}
	})
	t.Run("update execution", func(t *testing.T) {
		e, err := stores[0].CreateExecution(ctx, core.Execution{PipelineName: "build", ID: "e1", Status: core.ExecutionInProgress})
		if err != nil {
			t.Fatal(err)
		}
		errs := raceStores(20, func(i int) error {
			u := e
			u.StatusSummary = fmt.Sprint(i)
			_, err := stores[i%2].UpdateExecution(ctx, u)
			return err
		})
		w := wantOne(t, errs, core.ErrConflict)
		got, err := stores[1].GetExecution(ctx, "build", "e1")
		if err != nil || got.StatusSummary != fmt.Sprint(w) || got.Revision != 2 {
			t.Errorf("stored: got %q revision %d (%v), want %q revision 2", got.StatusSummary, got.Revision, err, fmt.Sprint(w))
		}
	})
	t.Run("dequeue", func(t *testing.T) {
		if _, err := stores[0].Enqueue(ctx, core.Waiter{PipelineName: "build", StageName: "Deploy", ExecutionID: "e1", TaskToken: "t"}); err != nil {
			t.Fatal(err)
		}
		errs := raceStores(20, func(i int) error {
			_, err := stores[i%2].Dequeue(ctx, "build", "Deploy", "e1")
			return err
		})
		wantOne(t, errs, core.ErrNotFound)
	})
}

func raceStores(n int, f func(i int) error) []error {
	errs := make([]error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			errs[i] = f(i)
		}()
	}
	close(start)
	wg.Wait()
	return errs
}

// wantOne fails t unless exactly one error is nil and the others are loser; it returns
// the winner.
func wantOne(t *testing.T, errs []error, loser error) int {
	t.Helper()
	winner := -1
	for i, err := range errs {
		switch {
		case err == nil && winner >= 0:
			t.Fatalf("calls %d and %d both succeeded, want exactly one", winner, i)
		case err == nil:
			winner = i
		case !errors.Is(err, loser):
			t.Errorf("call %d: got error %v, want nil or %v", i, err, loser)
		}
	}
	if winner < 0 {
		t.Fatal("no call succeeded, want exactly one")
	}
	return winner
}

func TestExpiredDeliveriesArePurgedOnOpen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "relais.db")
	clock := coretest.NewClock(t0)
	s := open2(t, path, WithClock(clock))
	for i := range 3 {
		if err := s.RecordDelivery(t.Context(), fmt.Sprint(i), t0.Add(time.Duration(i)*time.Hour)); err != nil {
			t.Fatal(err)
		}
	}
	clock.Set(t0.Add(time.Hour).Add(1))
	s2 := open2(t, path, WithClock(clock))
	var n int
	if err := s2.db.QueryRowContext(t.Context(), `SELECT count(*) FROM deliveries`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 1 {
		t.Errorf("got %d delivery records after the purge, want 1", n)
	}
}

func TestDriverErrorsMapToSentinels(t *testing.T) {
	s := open(t)
	ctx := t.Context()
	if _, err := s.db.ExecContext(ctx, `INSERT INTO pipelines (name, version, data) VALUES ('a', 1, '{}')`); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, query string
		want        error
	}{
		{"duplicate key", `INSERT INTO pipelines (name, version, data) VALUES ('a', 1, '{}')`, core.ErrConflict},
		{"wrong type", `INSERT INTO pipelines (name, version, data) VALUES ('b', 'one', '{}')`, core.ErrInvalid},
		{"missing value", `INSERT INTO pipelines (name, version) VALUES ('c', 1)`, core.ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := s.exec(ctx, tt.query)
			if !errors.Is(err, tt.want) {
				t.Errorf("got error %v, want %v", err, tt.want)
			}
		})
	}
}

func TestMalformedDeclarationIsInvalid(t *testing.T) {
	s := open(t)
	_, err := s.PutPipeline(t.Context(), core.Pipeline{Name: "build", Declaration: []byte(`{"stages": [`)})
	if !errors.Is(err, core.ErrInvalid) {
		t.Errorf("got error %v, want %v", err, core.ErrInvalid)
	}
}

func TestCancelledContextStopsCalls(t *testing.T) {
	s := open(t)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err := s.CreateExecution(ctx, core.Execution{PipelineName: "build", ID: "e1"})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("write: got error %v, want %v", err, context.Canceled)
	}
	_, err = s.GetExecution(ctx, "build", "e1")
	if !errors.Is(err, context.Canceled) {
		t.Errorf("read: got error %v, want %v", err, context.Canceled)
	}
}

// TestOpenOddPaths: the path travels in a file: URI, so characters that mean something
// in a URI must reach the file system unchanged.
func TestOpenOddPaths(t *testing.T) {
	for _, name := range []string{"with space.db", "q?uestion.db", "hash#.db", "per%20cent.db", "ünï.db"} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			s := open2(t, filepath.Join(dir, name))
			if err := s.RecordDelivery(t.Context(), "d1", time.Now().Add(time.Hour)); err != nil {
				t.Fatalf("write: %v", err)
			}
			if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
				t.Errorf("database file: %v", err)
			}
		})
	}
}
