package coretest

import (
	"fmt"
	"testing"
	"time"

	"github.com/relais-ci/relais/shared/core"
)

// DeliveryStore checks the promises of core.DeliveryStore. newStore returns an empty
// store that tells the time with clock; it is called once per subtest.
func DeliveryStore(t *testing.T, newStore func(t *testing.T, clock core.Clock) core.DeliveryStore) {
	ctx := t.Context()
	const ttl = time.Hour

	t.Run("a delivery is recorded once", func(t *testing.T) {
		clock := NewClock(at(0))
		s := newStore(t, clock)
		noErr(t, "record", s.RecordDelivery(ctx, "d1", at(0).Add(ttl)))
		wantErr(t, "record again", s.RecordDelivery(ctx, "d1", at(0).Add(ttl)), core.ErrConflict)
		wantErr(t, "record again, later expiry", s.RecordDelivery(ctx, "d1", at(0).Add(2*ttl)), core.ErrConflict)
		noErr(t, "record another", s.RecordDelivery(ctx, "d2", at(0).Add(ttl)))
	})

	t.Run("an expired delivery can be recorded again", func(t *testing.T) {
		for _, tt := range []struct {
			name  string
			now   time.Time
			fresh bool
		}{
			{"before expiry", at(0).Add(ttl - time.Second), false},
			{"at expiry", at(0).Add(ttl), false},
			{"after expiry", at(0).Add(ttl + time.Millisecond), true},
			{"long after expiry", at(0).Add(30 * 24 * time.Hour), true},
		} {
			t.Run(tt.name, func(t *testing.T) {
				clock := NewClock(at(0))
				s := newStore(t, clock)
				noErr(t, "record", s.RecordDelivery(ctx, "d1", at(0).Add(ttl)))
				clock.Set(tt.now)
				err := s.RecordDelivery(ctx, "d1", tt.now.Add(ttl))
				if !tt.fresh {
					wantErr(t, "record before it expired", err, core.ErrConflict)
					return
				}
				noErr(t, "record after it expired", err)
				// The new record holds until its own expiry.
				wantErr(t, "record a third time", s.RecordDelivery(ctx, "d1", tt.now.Add(ttl)), core.ErrConflict)
			})
		}
	})

	t.Run("an empty id is invalid", func(t *testing.T) {
		s := newStore(t, NewClock(at(0)))
		wantErr(t, "record", s.RecordDelivery(ctx, "", at(60)), core.ErrInvalid)
	})

	t.Run("concurrent records of one id: exactly one wins", func(t *testing.T) {
		s := newStore(t, NewClock(at(0)))
		errs := race(50, func(int) error { return s.RecordDelivery(ctx, "d1", at(60)) })
		exactlyOne(t, errs, core.ErrConflict)
	})

	t.Run("concurrent records of an expired id: exactly one wins", func(t *testing.T) {
		clock := NewClock(at(0))
		s := newStore(t, clock)
		noErr(t, "record", s.RecordDelivery(ctx, "d1", at(60)))
		clock.Set(at(61))
		errs := race(50, func(int) error { return s.RecordDelivery(ctx, "d1", at(120)) })
		exactlyOne(t, errs, core.ErrConflict)
	})

	t.Run("many ids at once all record", func(t *testing.T) {
		s := newStore(t, NewClock(at(0)))
		errs := race(30, func(i int) error { return s.RecordDelivery(ctx, fmt.Sprintf("d%d", i), at(60)) })
		if won := winners(t, errs, core.ErrConflict); len(won) != len(errs) {
			t.Errorf("got %d recorded, want %d", len(won), len(errs))
		}
	})
}
