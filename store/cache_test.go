package store

import (
	"fmt"
	"testing"
)

func TestReadCacheCountsKeysNotWrites(t *testing.T) {
	t.Parallel()
	c := newReadCache()
	c.put("other", 7, "o")
	c.put("hot", 1, "v1")
	// Every write anywhere moves the generation and refills the hot keys: that
	// must not look like a full cache and throw every entry away.
	for g := int64(2); g < 3*maxCached; g++ {
		c.put("hot", g, "v")
	}
	if _, ok := c.get("other", 7); !ok {
		t.Fatal("the cache started over although it holds two keys")
	}
	if _, ok := c.get("hot", 1); ok {
		t.Fatal("a stale generation was served")
	}
	for i := range maxCached + 1 {
		c.put(fmt.Sprint("k", i), 1, i)
	}
	if c.size.Load() > maxCached {
		t.Fatalf("the cache holds %d keys, over its bound %d", c.size.Load(), maxCached)
	}
}
