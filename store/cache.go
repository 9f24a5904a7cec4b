package store

import (
	"context"
	"sync"
	"sync/atomic"
)

// maxCached bounds the read cache; past it the cache starts over, which costs
// one miss per key and keeps memory flat however many organizations there are.
const maxCached = 10_000

// readCache keeps results of reads tagged with the generation they were read
// at (the one of its counters they depend on): a result is served only while
// that counter is the same, so a write on any replica invalidates every
// replica's cache. Reads take no lock.
type readCache struct {
	entries atomic.Pointer[sync.Map]
	size    atomic.Int64
}

type cachedRead struct {
	generation int64
	value      any
}

func newReadCache() *readCache {
	c := &readCache{}
	c.entries.Store(&sync.Map{})
	return c
}

func (c *readCache) get(key string, generation int64) (any, bool) {
	v, ok := c.entries.Load().Load(key)
	if !ok || v.(cachedRead).generation != generation {
		return nil, false
	}
	return v.(cachedRead).value, true
}

// put stores value for key; replacing a key's stale entry does not count
// toward the bound, only new keys do.
func (c *readCache) put(key string, generation int64, value any) {
	if _, replaced := c.entries.Load().Swap(key, cachedRead{generation: generation, value: value}); replaced {
		return
	}
	if c.size.Add(1) > maxCached {
		c.entries.Store(&sync.Map{})
		c.size.Store(0)
	}
}

// counter picks the counter of the generation a cached read depends on.
type counter func(Generation) int64

func allWrites(g Generation) int64 { return g.All }

func definitionWrites(g Generation) int64 { return g.Definitions }

// readThrough returns the value cached under key while the dependsOn counter it
// was read at is current, else what load reads, cached under the counter's
// value load says it holds (load gets the current one to use when it reads
// nothing newer).
func readThrough[T any](ctx context.Context, s *Store, key string, dependsOn counter, load func(current int64) (T, int64, error)) (T, error) {
	g, err := s.Generation(ctx)
	if err != nil {
		var zero T
		return zero, err
	}
	return readThroughAt(s.cache, key, dependsOn(g), load)
}

// readThroughAt is readThrough with the counter's current value given.
func readThroughAt[T any](c *readCache, key string, current int64, load func(current int64) (T, int64, error)) (T, error) {
	if v, ok := c.get(key, current); ok {
		return v.(T), nil
	}
	v, generation, err := load(current)
	if err == nil {
		c.put(key, generation, v)
	}
	return v, err
}
