package groupcommit

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	_ "modernc.org/sqlite"
)

// newDB returns a WAL database with a table t (id PRIMARY KEY) and a Committer over it.
func newDB(t *testing.T) (*sql.DB, *Committer) {
	t.Helper()
	dsn := "file:" + filepath.Join(t.TempDir(), "t.db") + "?_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)&_pragma=busy_timeout(10000)"
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := db.Exec(`CREATE TABLE t (id TEXT PRIMARY KEY)`); err != nil {
		t.Fatal(err)
	}
	c, err := New(t.Context(), db)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return db, c
}

func insert(id string) func(*Tx) error {
	return func(tx *Tx) error {
		_, err := tx.Exec(`INSERT INTO t (id) VALUES (?)`, id)
		return err
	}
}

func ids(t *testing.T, db *sql.DB) map[string]bool {
	t.Helper()
	rows, err := db.Query(`SELECT id FROM t`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	got := map[string]bool{}
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			t.Fatal(err)
		}
		got[id] = true
	}
	return got
}

// hold occupies the writer until the returned function is called, so that the writes
// submitted meanwhile wait in the queue and go into one batch.
func hold(t *testing.T, c *Committer) (release func()) {
	t.Helper()
	running, released := make(chan struct{}), make(chan struct{})
	errc := make(chan error, 1)
	go func() {
		errc <- c.Do(context.Background(), func(*Tx) error {
			close(running)
			<-released
			return nil
		})
	}()
	<-running
	return func() {
		close(released)
		if err := <-errc; err != nil {
			t.Errorf("holding write: %v", err)
		}
	}
}

// waitQueued waits until n writes wait in the queue.
func waitQueued(t *testing.T, c *Committer, n int) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); len(c.queue) < n; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d writes queued, want %d", len(c.queue), n)
		}
	}
}

func TestConcurrentWritesAllCommit(t *testing.T) {
	db, c := newDB(t)
	var wg sync.WaitGroup
	errs := make(chan error, 16*50)
	for g := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 50 {
				errs <- c.Do(t.Context(), insert(fmt.Sprintf("%d-%d", g, i)))
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if got := len(ids(t, db)); got != 800 {
		t.Errorf("got %d rows, want 800", got)
	}
}

// TestWritesWaitingTogetherShareATransaction: the writes queued while one runs commit
// together, and each sees the ones before it.
func TestWritesWaitingTogetherShareATransaction(t *testing.T) {
	db, c := newDB(t)
	release := hold(t, c)
	before := c.transactions.Load()
	var wg sync.WaitGroup
	for i := range 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := c.Do(t.Context(), insert(fmt.Sprint(i))); err != nil {
				t.Error(err)
			}
		}()
	}
	waitQueued(t, c, 10)
	release()
	wg.Wait()
	if got := c.transactions.Load() - before; got != 1 {
		t.Errorf("10 queued writes took %d transactions, want 1", got)
	}
	if got := len(ids(t, db)); got != 10 {
		t.Errorf("got %d rows, want 10", got)
	}
}

// TestFailingWriteFailsAlone: a write that fails half-way in a batch leaves nothing of
// itself, and the others of its batch commit.
func TestFailingWriteFailsAlone(t *testing.T) {
	db, c := newDB(t)
	if err := c.Do(t.Context(), insert("taken")); err != nil {
		t.Fatal(err)
	}
	release := hold(t, c)
	errs := make([]error, 5)
	var wg sync.WaitGroup
	for i := range 5 {
		fn := insert(fmt.Sprint(i))
		if i == 2 {
			fn = func(tx *Tx) error {
				if err := insert("half")(tx); err != nil {
					return err
				}
				return insert("taken")(tx) // fails: the key exists
			}
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = c.Do(t.Context(), fn)
		}()
		waitQueued(t, c, i+1) // in order
	}
	release()
	wg.Wait()
	for i, err := range errs {
		if (err != nil) != (i == 2) {
			t.Errorf("write %d: got error %v", i, err)
		}
	}
	got := ids(t, db)
	for _, id := range []string{"taken", "0", "1", "3", "4"} {
		if !got[id] {
			t.Errorf("row %s missing: a write of the batch was lost", id)
		}
	}
	if got["half"] {
		t.Error("the failed write left its first row behind")
	}
}

// TestCancelledBeforeRunning: a write whose caller gives up before it runs never runs.
func TestCancelledBeforeRunning(t *testing.T) {
	db, c := newDB(t)
	release := hold(t, c)
	ctx, cancel := context.WithCancel(t.Context())
	errc := make(chan error, 1)
	go func() { errc <- c.Do(ctx, insert("late")) }()
	waitQueued(t, c, 1)
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Errorf("got %v, want context.Canceled", err)
	}
	release()
	if err := c.Do(t.Context(), insert("after")); err != nil {
		t.Fatal(err)
	}
	if got := ids(t, db); got["late"] || !got["after"] {
		t.Errorf("rows %v: want the cancelled write not to run", got)
	}
}

// TestClose commits what was submitted and refuses the rest.
func TestClose(t *testing.T) {
	db, c := newDB(t)
	release := hold(t, c)
	errc := make(chan error, 1)
	go func() { errc <- c.Do(t.Context(), insert("queued")) }()
	waitQueued(t, c, 1)
	closed := make(chan error, 1)
	go func() { closed <- c.Close() }()
	release()
	if err := <-errc; err != nil {
		t.Errorf("write queued before Close: %v", err)
	}
	if err := <-closed; err != nil {
		t.Errorf("close: %v", err)
	}
	if err := c.Do(t.Context(), insert("too late")); !errors.Is(err, ErrClosed) {
		t.Errorf("write after Close: got %v, want ErrClosed", err)
	}
	if got := ids(t, db); !got["queued"] || got["too late"] {
		t.Errorf("rows %v: want the queued write and not the late one", got)
	}
}

// TestCheckpointsBesideTheWriter: with WithCheckpoints, committed pages reach the
// database file every checkpointEvery commits, by a checkpoint on another connection —
// long before the writer's own threshold of backstopFrames frames.
func TestCheckpointsBesideTheWriter(t *testing.T) {
	path := filepath.Join(t.TempDir(), "t.db")
	dsn := "file:" + path + "?_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)&_pragma=busy_timeout(10000)"
	reads, err := sql.Open("sqlite", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer reads.Close()
	writes, err := sql.Open("sqlite", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer writes.Close()
	writes.SetMaxOpenConns(1)
	if _, err := writes.Exec(`CREATE TABLE t (id TEXT PRIMARY KEY)`); err != nil {
		t.Fatal(err)
	}
	// Until a checkpoint, the database file holds nothing but what the first
	// automatic checkpoint of the CREATE may have copied.
	if _, err := reads.Exec(`PRAGMA wal_checkpoint(TRUNCATE)`); err != nil {
		t.Fatal(err)
	}
	c, err := New(t.Context(), writes, WithCheckpoints(reads))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Do(t.Context(), func(tx *Tx) error {
		var n int
		if err := tx.QueryRow(`PRAGMA wal_autocheckpoint`).Scan(&n); err != nil {
			return err
		}
		if n != backstopFrames {
			t.Errorf("the writer's automatic checkpoint is at %d frames, want %d", n, backstopFrames)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	size := func() int64 {
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		return fi.Size()
	}
	before := size()
	// Each commit writes a new page or two (keys are long): one checkpoint's worth of
	// commits grows the database file by many pages once checkpointed.
	for i := range checkpointEvery {
		if err := c.Do(t.Context(), insert(fmt.Sprintf("%04d-%s", i, strings.Repeat("x", 1500)))); err != nil {
			t.Fatal(err)
		}
	}
	for deadline := time.Now().Add(10 * time.Second); size() <= before; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("after %d commits the database file is still %d bytes: no checkpoint ran", checkpointEvery, before)
		}
	}
}
