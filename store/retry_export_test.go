package store

import "context"

// WriteTx is what a write transaction's statements run through, for the
// tests of runTx.
type WriteTx = writeTx

// TxAttempts is how often runTx runs a transaction that keeps colliding.
const TxAttempts = txAttempts

// InTx runs fn as the store runs its write transactions.
func (s *Store) InTx(ctx context.Context, fn func(tx WriteTx) error) error { return s.inTx(ctx, fn) }
