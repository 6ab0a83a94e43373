package dynamostore

import (
	"context"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

const (
	skDelivery      = "DELIVERY"
	attrExpiresAtMs = "expiresAtMs"
)

// RecordDelivery records a delivery id unless it is recorded and unexpired; see
// core.DeliveryStore. The condition compares the expiry (in milliseconds) with the
// store's clock, so an expired record counts as absent whether or not TTL has deleted it
// yet; the ttl attribute (seconds, rounded up) lets TTL delete it eventually.
func (s *Store) RecordDelivery(ctx context.Context, id string, expiresAt time.Time) error {
	if err := need(id); err != nil {
		return fmt.Errorf("record delivery %q: %w", id, err)
	}
	ttl := expiresAt.Unix()
	if expiresAt.After(time.Unix(ttl, 0)) {
		ttl++
	}
	item := itemKey(key("DELIVERY", id), skDelivery)
	item[attrExpiresAtMs] = num(expiresAt.UnixMilli())
	item[TTLAttribute] = num(ttl)
	err := s.put(ctx, item, "attribute_not_exists(#pk) OR #exp < :now",
		map[string]string{"#pk": attrPK, "#exp": attrExpiresAtMs},
		map[string]types.AttributeValue{":now": num(s.clock.Now().UnixMilli())})
	if err != nil {
		return fmt.Errorf("record delivery %s: %w", id, err)
	}
	return nil
}
