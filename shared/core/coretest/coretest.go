// Package coretest holds the contract suites of the ports in shared/core: one function
// per port that asserts every promise of the port's doc comment against a fresh adapter.
// Every adapter, local or AWS, runs the suite of each port it implements from its own
// tests, so that the usecases built on the ports behave the same everywhere:
//
//	func TestExecutionStore(t *testing.T) {
//		coretest.ExecutionStore(t, func(t *testing.T) core.ExecutionStore { return open(t) })
//	}
//
// The suites use fixed timestamps, never sleeps; their concurrency checks start many
// goroutines at once on one record and count the winners.
package coretest

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/relais-ci/relais/shared/core"
)

// t0 is the suites' reference instant; millisecond precision, as real clocks give.
var t0 = time.Date(2026, time.March, 1, 12, 0, 0, 123_000_000, time.UTC)

// at returns t0 plus n minutes.
func at(n int) time.Time { return t0.Add(time.Duration(n) * time.Minute) }

// race runs f(0) … f(n-1) in n goroutines released together, and returns their errors
// by index. Releasing them together makes the calls overlap as much as the adapter
// allows, which is what a check of "exactly one wins" needs.
func race(n int, f func(i int) error) []error {
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

// winners returns the indexes of the nil errors, and fails t when any other error is
// not want: losers must lose with the sentinel the port promises.
func winners(t *testing.T, errs []error, want error) []int {
	t.Helper()
	var won []int
	for i, err := range errs {
		switch {
		case err == nil:
			won = append(won, i)
		case !errors.Is(err, want):
			t.Errorf("call %d: got error %v, want nil or %v", i, err, want)
		}
	}
	return won
}

// exactlyOne fails t unless exactly one of errs is nil, and returns its index.
func exactlyOne(t *testing.T, errs []error, loser error) int {
	t.Helper()
	won := winners(t, errs, loser)
	if len(won) != 1 {
		t.Fatalf("got %d successful calls %v, want exactly 1", len(won), won)
	}
	return won[0]
}

// wantErr fails t unless errors.Is(err, want).
func wantErr(t *testing.T, what string, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("%s: got error %v, want %v", what, err, want)
	}
}

// noErr fails t when err is not nil.
func noErr(t *testing.T, what string, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// id returns a readable, distinct id for the i-th record of a kind.
func id(kind string, i int) string { return fmt.Sprintf("%s-%03d", kind, i) }

// Clock is a clock that tests set by hand. The DeliveryStore suite passes one to the
// adapter it builds.
type Clock struct {
	mu  sync.Mutex
	now time.Time
}

// NewClock returns a Clock showing now.
func NewClock(now time.Time) *Clock { return &Clock{now: now} }

// Now returns the time the clock shows.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Set moves the clock to now.
func (c *Clock) Set(now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = now
}

var _ core.Clock = (*Clock)(nil)
