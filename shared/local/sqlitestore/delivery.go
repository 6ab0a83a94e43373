package sqlitestore

import (
	"context"
	"fmt"
	"time"

	"github.com/relais-ci/relais/shared/core"
)

// purgeEvery is how many recorded deliveries pass between deletions of expired ones:
// rare enough to cost nothing, often enough that the table stays small.
const purgeEvery = 1024

// RecordDelivery records a webhook delivery id until expiresAt; ErrConflict while an
// earlier record of it is live. See core.DeliveryStore.
func (s *Store) RecordDelivery(ctx context.Context, id string, expiresAt time.Time) error {
	if err := need(id); err != nil {
		return fmt.Errorf("record delivery: %w", err)
	}
	// A record has expired once now is after its expiry: only then may it be replaced.
	ok, err := s.changed(ctx, `INSERT INTO deliveries (id, expires_at) VALUES (?, ?)
		ON CONFLICT (id) DO UPDATE SET expires_at = excluded.expires_at
		WHERE deliveries.expires_at < ?`, id, timeKey(expiresAt), timeKey(s.clock.Now()))
	switch {
	case err != nil:
		return fmt.Errorf("record delivery %s: %w", id, err)
	case !ok:
		return fmt.Errorf("record delivery %s: seen before: %w", id, core.ErrConflict)
	}
	if s.recorded.Add(1)%purgeEvery == 0 {
		// Best effort: the delivery is recorded, and a failed purge is redone by the next.
		_ = s.purgeDeliveries(ctx)
	}
	return nil
}

// purgeDeliveries deletes expired delivery records. Correctness never depends on it:
// RecordDelivery compares expiry itself.
func (s *Store) purgeDeliveries(ctx context.Context) error {
	if _, err := s.exec(ctx, `DELETE FROM deliveries WHERE expires_at < ?`, timeKey(s.clock.Now())); err != nil {
		return fmt.Errorf("purge expired deliveries: %w", err)
	}
	return nil
}
