package store

import (
	"context"

	"github.com/maypok86/otter/v2"
)

// maxCached bounds the read cache. Past it, the cache evicts the entries it
// expects to be used least (otter's W-TinyLFU policy): an organization read
// often stays cached however many others are read once, and memory stays
// flat however many organizations there are.
const maxCached = 10_000

// readCache keeps results of reads tagged with the generation they were read
// at (the one of its counters they depend on): a result is served only while
// that counter is the same, so a write on any replica invalidates every
// replica's cache.
type readCache struct {
	entries *otter.Cache[string, cachedRead]
}

type cachedRead struct {
	generation int64
	value      any
}

func newReadCache() *readCache {
	return &readCache{entries: otter.Must(&otter.Options[string, cachedRead]{MaximumSize: maxCached})}
}

func (c *readCache) get(key string, generation int64) (any, bool) {
	v, ok := c.entries.GetIfPresent(key)
	if !ok || v.generation != generation {
		return nil, false
	}
	return v.value, true
}

// put stores value for key, replacing what it held at an older generation.
func (c *readCache) put(key string, generation int64, value any) {
	c.entries.Set(key, cachedRead{generation: generation, value: value})
}

// counter picks the counter of the generation a cached read depends on.
type counter func(Generation) int64

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
