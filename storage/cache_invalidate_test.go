package storage

import (
	"runtime"
	"strings"
	"testing"
	"time"
)

// referenceChangedKeys is the list of cache keys a change voids, built one
// string at a time: the plain statement of what changedLocked must drop.
func referenceChangedKeys(bucket, key string) []string {
	name := strings.TrimSuffix(key, "/")
	ks := []string{statKey(bucket, name), statKey(bucket, dirKey(name)), listKey(bucket, dirKey(name))}
	for p := name; p != ""; {
		p = strings.TrimSuffix(parentPrefix(p), "/")
		ks = append(ks, listKey(bucket, dirKey(p)))
		if p != "" {
			ks = append(ks, statKey(bucket, p), statKey(bucket, dirKey(p)))
		}
	}
	return ks
}

// TestChangedDropsEveryAncestor: a change drops the stat and listing of the
// key and of each ancestor directory, and nothing beside them.
func TestChangedDropsEveryAncestor(t *testing.T) {
	for _, key := range []string{"f", "a/b/c.txt", "a/b/", "x//y", "/lead", "deep/" + strings.Repeat("d/", 40) + "f", ""} {
		c := newMetaCache(10000, time.Hour)
		keep := []string{statKey("b", "a/b2"), listKey("b", "a/b2/"), statKey("b2", "a"), listKey("b2", ""), statKey("b", "zz")}
		for _, k := range append(referenceChangedKeys("b", key), keep...) {
			if strings.HasPrefix(k, "l\x00") {
				c.add(k, cachedListing{born: time.Now()})
			} else {
				c.add(k, statResult{})
			}
		}
		c.changed("b", key, nil)
		for _, k := range referenceChangedKeys("b", key) {
			if _, ok := c.lru.Peek(k); ok {
				t.Errorf("change of %q left %q cached", key, k)
			}
		}
		for _, k := range keep {
			if _, ok := c.lru.Peek(k); !ok {
				t.Errorf("change of %q dropped the unrelated %q", key, k)
			}
		}
	}
}

// nestedKey is the key of issue 20: "a/" × 16,384, 32 KiB, well inside an
// event body's 1 MiB.
var nestedKey = strings.Repeat("a/", 16384)

// TestChangedAllocationsStayBounded: invalidating a 32 KiB key of 16,384
// levels allocates a few strings of the key's length, not one per ancestor
// (issue 20 §1: 1.35 GiB allocated, a 913 MiB heap peak).
func TestChangedAllocationsStayBounded(t *testing.T) {
	c := newMetaCache(10000, time.Hour)
	c.fillStat("b", "a/a", statResult{})
	// AllocsPerRun counts the whole process's allocations, background
	// goroutines' included, so the bound leaves room for them: the old walk
	// made 81,913.
	if n := testing.AllocsPerRun(5, func() { c.changed("b", nestedKey, nil) }); n > 64 {
		t.Fatalf("%.0f allocations for one change of a %d-byte key, want a few", n, len(nestedKey))
	}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	const runs = 10
	for range runs {
		c.changed("b", nestedKey, nil)
	}
	runtime.ReadMemStats(&after)
	if per := (after.TotalAlloc - before.TotalAlloc) / runs; per > 8*uint64(len(nestedKey)) {
		t.Fatalf("%d bytes allocated per change of a %d-byte key, want O(len(key))", per, len(nestedKey))
	}
	if _, ok := c.stat("b", "a/a"); ok {
		t.Fatal("the stat under the key's ancestors survived")
	}
}

// BenchmarkChangedNestedKey: go test -run x -bench ChangedNestedKey -benchmem ./storage/
func BenchmarkChangedNestedKey(b *testing.B) {
	c := newMetaCache(10000, time.Hour)
	b.ReportAllocs()
	for b.Loop() {
		c.changed("b", nestedKey, nil)
	}
}

// BenchmarkChangedLongestKey: the deepest key S3 allows (1,024 bytes, 512
// levels), what one record of an event costs at most in one cache
// (docs/security.md).
func BenchmarkChangedLongestKey(b *testing.B) {
	c := newMetaCache(10000, time.Hour)
	key := strings.Repeat("a/", 512)
	b.ReportAllocs()
	for b.Loop() {
		c.changed("b", key, nil)
	}
}
