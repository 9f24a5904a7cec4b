package store

import "context"

// RecordEvent writes e in a transaction of its own, for the tests of the log.
func (s *Store) RecordEvent(ctx context.Context, e Event) error {
	return s.inTx(ctx, func(tx writeTx) error { return s.recordEvent(ctx, tx, e) })
}
