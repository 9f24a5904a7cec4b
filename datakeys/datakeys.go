// Package datakeys manages the keys that seal the database's secrets: data keys
// kept in the database, each wrapped by a master key that never enters it. Every
// replica loads them from the database, so a rotation on one reaches all;
// rotating adds a data key and makes it current, a background job re-encrypts
// old values to it in small batches while reads and writes go on, and a key that
// seals nothing any more can be retired.
package datakeys

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/singleflight"

	"github.com/bifrost/integrations/keyring"
	"github.com/bifrost/integrations/store"
)

// Wrapper seals data keys under the master key. The file key ring implements it;
// a KMS client can later. Its ciphertexts carry the ID of the master key that
// sealed them (keyring.KeyID).
type Wrapper interface {
	Seal(plaintext, aad []byte) ([]byte, error)
	Open(ciphertext, aad []byte) ([]byte, error)
	// CurrentKeyID is the master key that wraps data keys now.
	CurrentKeyID() uint32
}

// Options tune a Manager; zero values take the defaults.
type Options struct {
	// ReloadInterval is how often a replica rereads the data keys (default 10s).
	ReloadInterval time.Duration
	// BatchSize bounds one re-encryption transaction (default 100).
	BatchSize int
	// RetireGrace is how long after being superseded a key may be retired, so
	// that every replica has reloaded and stopped sealing with it (default 1m;
	// at least a few ReloadIntervals).
	RetireGrace time.Duration
	Logger      *slog.Logger
	Now         func() time.Time
}

// Manager is safe for concurrent use.
type Manager struct {
	store  *store.Store
	master Wrapper
	ring   *keyring.Rotating
	opts   Options
	reload singleflight.Group
	mu     sync.Mutex // serialises rotations in this process
}

// New loads the data keys into ring, creating the first one on an empty
// database, and makes ring reload when it meets a key it does not know.
func New(ctx context.Context, st *store.Store, master Wrapper, ring *keyring.Rotating, opts Options) (*Manager, error) {
	if opts.ReloadInterval <= 0 {
		opts.ReloadInterval = 10 * time.Second
	}
	if opts.BatchSize <= 0 {
		opts.BatchSize = 100
	}
	if opts.RetireGrace <= 0 {
		opts.RetireGrace = time.Minute
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	m := &Manager{store: st, master: master, ring: ring, opts: opts}
	keys, err := st.DataKeys(ctx)
	if err != nil {
		return nil, err
	}
	if len(keys) == 0 {
		if _, err := m.Rotate(ctx); err != nil && !errors.Is(err, store.ErrAlreadyExists) {
			return nil, fmt.Errorf("creating the first data key: %w", err)
		}
	}
	if err := m.Reload(ctx); err != nil {
		return nil, err
	}
	ring.OnUnknownKey(func() error { return m.Reload(context.Background()) })
	return m, nil
}

func wrapAAD(id uint32) []byte {
	return []byte("data_keys\x00wrapped\x00" + strconv.FormatUint(uint64(id), 10))
}

// Reload rereads the data keys and puts them in the ring; concurrent callers
// share one read.
func (m *Manager) Reload(ctx context.Context) error {
	_, err, _ := m.reload.Do("reload", func() (any, error) {
		stored, err := m.store.DataKeys(ctx)
		if err != nil {
			return nil, err
		}
		keys := make([]keyring.Key, 0, len(stored))
		var current uint32
		for _, k := range stored {
			secret, err := m.master.Open(k.Wrapped, wrapAAD(k.ID))
			if err != nil {
				return nil, fmt.Errorf("unwrapping data key %d (is this the right master key ring?): %w", k.ID, err)
			}
			keys = append(keys, keyring.Key{ID: k.ID, Secret: secret})
			if k.Current {
				current = k.ID
			}
		}
		ring, err := keyring.New(current, keys)
		if err != nil {
			return nil, err
		}
		m.ring.Set(ring)
		return nil, nil
	})
	return err
}

// Rotate adds a data key, makes it current everywhere (other replicas within
// ReloadInterval) and returns its ID. Re-encryption follows in the background.
func (m *Manager) Rotate(ctx context.Context) (uint32, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	stored, err := m.store.DataKeys(ctx)
	if err != nil {
		return 0, err
	}
	var id uint32 = 1
	if n := len(stored); n > 0 {
		id = stored[n-1].ID + 1
	}
	key, err := keyring.NewKey(id)
	if err != nil {
		return 0, err
	}
	wrapped, err := m.master.Seal(key.Secret, wrapAAD(id))
	if err != nil {
		return 0, fmt.Errorf("wrapping data key %d: %w", id, err)
	}
	if err := m.store.AddDataKey(ctx, id, wrapped); err != nil {
		return 0, err
	}
	m.opts.Logger.InfoContext(ctx, "data key rotated", "key_id", id)
	return id, m.Reload(ctx)
}

// KeyStatus is one data key and how many values it seals.
type KeyStatus struct {
	ID uint32
	// MasterKeyID is the master key that wraps it.
	MasterKeyID  uint32
	Current      bool
	CreatedAt    time.Time
	SupersededAt *time.Time
	Ciphertexts  int64
	// Undecryptable is how many of those values do not open; re-encryption
	// skips them and the key cannot be retired while they are stored.
	Undecryptable int64
}

// Status is the data keys with their use.
type Status struct {
	Keys []KeyStatus
	// Pending is how many values still wait to be re-encrypted to the current
	// key (Undecryptable ones under keys that are not current among them).
	Pending int64
	// Undecryptable are the values the re-encryption job found do not open,
	// under any key, also one that no longer exists.
	Undecryptable []store.UndecryptableValue
}

// Status lists the data keys with their use.
func (m *Manager) Status(ctx context.Context) (Status, error) {
	stored, err := m.store.DataKeys(ctx)
	if err != nil {
		return Status{}, err
	}
	counts, err := m.store.CiphertextCounts(ctx)
	if err != nil {
		return Status{}, err
	}
	bad, err := m.store.UndecryptableValues(ctx)
	if err != nil {
		return Status{}, err
	}
	badCounts := map[uint32]int64{}
	for _, v := range bad {
		badCounts[v.KeyID]++
	}
	st := Status{Undecryptable: bad}
	for _, k := range stored {
		master, _ := keyring.KeyID(k.Wrapped)
		ks := KeyStatus{ID: k.ID, MasterKeyID: master, Current: k.Current, CreatedAt: k.CreatedAt, Ciphertexts: counts[k.ID], Undecryptable: badCounts[k.ID]}
		if k.SupersededAt.Valid {
			t := k.SupersededAt.Time
			ks.SupersededAt = &t
		}
		if !k.Current {
			st.Pending += counts[k.ID]
		}
		st.Keys = append(st.Keys, ks)
	}
	return st, nil
}

// Retire deletes a data key that is not current, seals nothing, and was
// superseded long enough ago that no replica still seals with it.
func (m *Manager) Retire(ctx context.Context, id uint32) error {
	st, err := m.Status(ctx)
	if err != nil {
		return err
	}
	for _, k := range st.Keys {
		if k.ID != id {
			continue
		}
		if k.Current {
			return fmt.Errorf("data key %d is current; rotate first: %w", id, store.ErrInUse)
		}
		if k.SupersededAt != nil && m.opts.Now().Sub(*k.SupersededAt) < m.opts.RetireGrace {
			return fmt.Errorf("data key %d was superseded less than %s ago; replicas may still seal with it: %w", id, m.opts.RetireGrace, store.ErrInUse)
		}
		if err := m.store.DeleteDataKey(ctx, id); err != nil {
			return err
		}
		m.opts.Logger.InfoContext(ctx, "data key retired", "key_id", id)
		return m.Reload(ctx)
	}
	return fmt.Errorf("data key %d: %w", id, store.ErrNotFound)
}

// ReencryptAll makes one pass over every value not under the current key, in
// batches, and re-encrypts each; it returns how many it re-encrypted. A value
// that does not open is skipped: the first pass that meets it logs it (by
// table, column and row, never its content) and records it, and Status counts
// it until it is set again or deleted.
func (m *Manager) ReencryptAll(ctx context.Context) (int, error) {
	total := 0
	var cursor store.ReencryptCursor
	for !cursor.Done() {
		ring := m.ring.Current()
		batch, err := m.store.Reencrypt(ctx, ring.CurrentKeyID(), m.opts.BatchSize, cursor)
		total += batch.Reencrypted
		for _, v := range batch.Found {
			m.opts.Logger.WarnContext(ctx, "a stored value does not open and cannot be re-encrypted; skipping it (set it again or delete it to retire its key)",
				"table", v.Table, "column", v.Column, "row_id", v.RowID, "key_id", v.KeyID)
		}
		if err != nil {
			return total, err
		}
		cursor = batch.Next
	}
	return total, nil
}

// RewrapAll wraps every data key under the current master key that an older
// master key wraps, and returns how many it re-wrapped. It never wraps under
// an older master key than the one found: a replica still on an old key
// ring cannot undo a newer one's work. Replicas may run it together: each
// write applies only to the wrapping it read.
func (m *Manager) RewrapAll(ctx context.Context) (int, error) {
	current := m.master.CurrentKeyID()
	stored, err := m.store.DataKeys(ctx)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, k := range stored {
		if id, ok := keyring.KeyID(k.Wrapped); ok && id >= current {
			continue
		}
		secret, err := m.master.Open(k.Wrapped, wrapAAD(k.ID))
		if err != nil {
			return n, fmt.Errorf("unwrapping data key %d to re-wrap it: %w", k.ID, err)
		}
		wrapped, err := m.master.Seal(secret, wrapAAD(k.ID))
		if err != nil {
			return n, fmt.Errorf("re-wrapping data key %d: %w", k.ID, err)
		}
		done, err := m.store.RewrapDataKey(ctx, k.ID, k.Wrapped, wrapped)
		if err != nil {
			return n, err
		}
		if done {
			n++
			m.opts.Logger.InfoContext(ctx, "data key re-wrapped under the current master key", "key_id", k.ID, "master_key_id", current)
		}
	}
	return n, nil
}

// Run rereads the data keys, re-wraps them under the current master key and
// re-encrypts old values every ReloadInterval until ctx ends.
func (m *Manager) Run(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(m.opts.ReloadInterval):
		}
		if err := m.Reload(ctx); err != nil && ctx.Err() == nil {
			m.opts.Logger.WarnContext(ctx, "reloading data keys", "error", err)
			continue
		}
		if _, err := m.RewrapAll(ctx); err != nil && ctx.Err() == nil {
			m.opts.Logger.WarnContext(ctx, "re-wrapping data keys under the current master key", "error", err)
		}
		if n, err := m.ReencryptAll(ctx); err != nil && ctx.Err() == nil {
			m.opts.Logger.WarnContext(ctx, "re-encrypting to the current data key", "error", err, "done", n)
		} else if n > 0 {
			m.opts.Logger.InfoContext(ctx, "re-encrypted values to the current data key", "values", n)
		}
	}
}

var undecryptableDesc = prometheus.NewDesc("bifrost_undecryptable_values",
	"Stored secrets that do not open: re-encryption skips them, and their data key cannot be retired until each is set again or deleted.", nil, nil)

// Collector reports bifrost_undecryptable_values, counted when scraped so the
// figure is never stale.
func (m *Manager) Collector() prometheus.Collector { return undecryptableCollector{st: m.store} }

type undecryptableCollector struct{ st *store.Store }

func (c undecryptableCollector) Describe(ch chan<- *prometheus.Desc) { ch <- undecryptableDesc }

func (c undecryptableCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	bad, err := c.st.UndecryptableValues(ctx)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(undecryptableDesc, err)
		return
	}
	ch <- prometheus.MustNewConstMetric(undecryptableDesc, prometheus.GaugeValue, float64(len(bad)))
}
