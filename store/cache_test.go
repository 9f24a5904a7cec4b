package store

import (
	"errors"
	"fmt"
	"testing"
)

func TestReadCacheServesAnEntryOnlyAtTheGenerationItWasReadAt(t *testing.T) {
	t.Parallel()
	c := newReadCache()
	c.put("k", 1, "v1")
	if v, ok := c.get("k", 1); !ok || v != "v1" {
		t.Fatalf("get at the entry's generation = %v, %v; want v1, true", v, ok)
	}
	if _, ok := c.get("k", 2); ok {
		t.Fatal("an entry read at generation 1 was served at generation 2")
	}
	c.put("k", 2, "v2")
	if _, ok := c.get("k", 1); ok {
		t.Fatal("a replaced entry's generation was still served")
	}
	if v, ok := c.get("k", 2); !ok || v != "v2" {
		t.Fatalf("get after replacing = %v, %v; want v2, true", v, ok)
	}
}

// Past its bound the cache used to start over, dropping the hot entries with
// the cold: a key read on every call must survive a flood of keys read once.
func TestReadCacheKeepsAHotKeyThroughAFloodOfKeysReadOnce(t *testing.T) {
	t.Parallel()
	c := newReadCache()
	c.put("hot", 1, "h")
	for i := range 5 * maxCached {
		c.put(fmt.Sprint("cold", i), 1, i)
		if _, ok := c.get("hot", 1); !ok {
			t.Fatalf("the hot key was evicted after %d keys read once", i+1)
		}
	}
	c.entries.CleanUp()
	if n := c.entries.EstimatedSize(); n > maxCached {
		t.Fatalf("the cache holds %d keys, over its bound %d", n, maxCached)
	}
}

// What a caller derives from a read is worked out once for that read, under
// its key; a failure is not kept, and another read works it out again.
func TestDerivedIsWorkedOutOncePerReadAndKey(t *testing.T) {
	t.Parallel()
	type key struct{}
	type otherKey struct{}
	calls := 0
	count := func() (any, error) { calls++; return calls, nil }
	r := &Resolved{}
	if first, _ := r.Derived(key{}, count); first != 1 {
		t.Fatalf("first = %v, want 1", first)
	}
	if again, _ := r.Derived(key{}, count); again != 1 || calls != 1 {
		t.Fatalf("again = %v after %d calls; want the first result, worked out once", again, calls)
	}
	failed := errors.New("failed")
	if _, err := r.Derived(otherKey{}, func() (any, error) { return nil, failed }); !errors.Is(err, failed) {
		t.Fatalf("error %v, want %v", err, failed)
	}
	if v, _ := r.Derived(otherKey{}, func() (any, error) { return "made", nil }); v != "made" {
		t.Fatalf("after a failure, %v; want it worked out again", v)
	}
	if v, _ := (&Resolved{}).Derived(key{}, count); v != 2 {
		t.Fatalf("another read got %v, want its own (2)", v)
	}
}
