package storage

import (
	"fmt"
	"runtime"
	"slices"
	"testing"
	"time"
)

// waitFor polls cond until it holds, failing the test after 10s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after 10s: %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// TestDroppedCachesLeaveNothing: making and dropping many backends (as
// gateway/auth/s3auth.go does with one per S3 key pair) leaves no goroutine
// behind; with expirable.LRU each left one for the life of the process.
func TestDroppedCachesLeaveNothing(t *testing.T) {
	share := &CacheShare{}
	fill := func(b *Backend) {
		b.cache.fillStat("b", "k", statResult{found: true})
		b.cache.fillListing("b", "d/", entries(3))
	}
	runtime.GC()
	before := runtime.NumGoroutine()
	const n = 500
	for i := range n {
		b := New(nil, Options{CacheTTL: time.Hour, CacheShare: share})
		fill(b)
		if i%2 == 0 { // as s3auth's eviction does; the others are just dropped
			b.PurgeCache()
			b.ResizeCache(1)
		}
	}
	if grown := runtime.NumGoroutine() - before; grown > 10 {
		t.Fatalf("%d goroutines more after making and dropping %d backends", grown, n)
	}
	if got, want := share.Listed(), int64(3*n/2); got != want {
		t.Fatalf("the share counts %d listing entries, want %d (the unpurged caches')", got, want)
	}

	// Caches dropped while holding entries are collected once these expire:
	// nothing but the pending sweep refers to them, and it gives back their
	// listing budget.
	const ttl = 20 * time.Millisecond
	dropped := &CacheShare{}
	collected := make(chan struct{}, n)
	for range n {
		b := New(nil, Options{CacheTTL: ttl, CacheShare: dropped})
		fill(b)
		runtime.AddCleanup(b.cache, func(ch chan struct{}) { ch <- struct{}{} }, collected)
	}
	waitFor(t, "the dropped caches' listings are still counted", func() bool { return dropped.Listed() == 0 })
	got := 0
	waitFor(t, "not every dropped cache was collected", func() bool {
		runtime.GC()
		for {
			select {
			case <-collected:
				got++
				continue
			default:
			}
			return got == n
		}
	})
}

// TestExpiredNotServed: a stat and a listing are served until their TTL
// (the listing's counted from when S3 was asked), never after, and the
// listing's entries leave the listing budget when it expires, whether the
// cache is asked again or not.
func TestExpiredNotServed(t *testing.T) {
	const ttl = 50 * time.Millisecond
	for _, asked := range []bool{true, false} {
		t.Run(fmt.Sprintf("asked=%v", asked), func(t *testing.T) {
			c := newMetaCache(100, ttl)
			f := c.startFill(listKey("b", "d/"))
			born := f.started
			time.Sleep(ttl / 5) // the S3 listing takes a while
			if !c.finishFill(f, entries(4)) {
				t.Fatal("the listing was not stored")
			}
			stored := time.Now()
			c.fillStat("b", "d/x", statResult{found: true})
			if _, ok := c.listing("b", "d/"); !ok {
				t.Fatal("a fresh listing was not served")
			}
			if _, ok := c.stat("b", "d/x"); !ok {
				t.Fatal("a fresh stat was not served")
			}
			if c.listed.Load() != 4 {
				t.Fatalf("listed = %d, want 4", c.listed.Load())
			}
			if asked {
				waitFor(t, "the listing is still served", func() bool {
					_, ok := c.listing("b", "d/")
					return !ok
				})
				if at := time.Since(born); at <= ttl {
					t.Fatalf("the listing stopped being served %v after S3 was asked, before its TTL", at)
				}
				// Asking for it dropped it: no sweep needed.
				if got := c.listed.Load(); got != 0 {
					t.Fatalf("listed = %d once the listing is no longer served, want 0", got)
				}
				waitFor(t, "the stat is still served", func() bool {
					_, ok := c.stat("b", "d/x")
					return !ok
				})
				if at := time.Since(stored); at <= ttl {
					t.Fatalf("the stat stopped being served %v after it was stored, before its TTL", at)
				}
			} else {
				waitFor(t, "the expired listing still counts against the budget", func() bool { return c.listed.Load() == 0 })
				if at := time.Since(born); at <= ttl {
					t.Fatalf("the listing was dropped %v after S3 was asked, before its TTL", at)
				}
				waitFor(t, "the expired entries are still held", func() bool { return c.lru.Len() == 0 })
				if _, ok := c.listing("b", "d/"); ok {
					t.Fatal("an expired listing was served")
				}
			}
			// The budget is whole again: a listing as big as it is cached.
			c.budget = 10
			if !c.fillListing("b", "e/", entries(10)) {
				t.Fatal("a listing within the freed budget was not cached")
			}
		})
	}
}

// TestSweepManyExpired: more entries than one sweep batch expire together;
// all go, with the budget, and the cache is then usable again.
func TestSweepManyExpired(t *testing.T) {
	const ttl = 20 * time.Millisecond
	c := newMetaCache(5000, ttl)
	for i := range 3 * sweepBatch {
		c.fillListing("b", fmt.Sprintf("d%d/", i), entries(1))
	}
	waitFor(t, "expired entries are still held", func() bool { return c.lru.Len() == 0 && c.listed.Load() == 0 })
	c.fillStat("b", "x", statResult{found: true})
	if _, ok := c.stat("b", "x"); !ok {
		t.Fatal("a stat stored after the sweep is not served")
	}
}

// TestTTLLRUOrder: the LRU's own rules, which cache.go relies on: the least
// recently used goes first (Get uses, Peek does not), replacing calls no
// onEvict, every removal does.
func TestTTLLRUOrder(t *testing.T) {
	var dropped []string
	l := newTTLLRU(3, time.Hour, func(k string, _ any) { dropped = append(dropped, k) })
	later := time.Now().Add(time.Hour)
	for _, k := range []string{"a", "b", "c"} {
		if l.Add(k, k, later) {
			t.Fatalf("adding %s evicted", k)
		}
	}
	l.Get("a")
	l.Peek("b")
	if !l.Add("d", "d", later) || !slices.Equal(dropped, []string{"b"}) {
		t.Fatalf("adding to a full LRU dropped %v, want [b]", dropped)
	}
	if l.Add("c", "c2", later) || len(dropped) != 1 {
		t.Fatalf("replacing c evicted or dropped: %v", dropped)
	}
	if v, _ := l.Peek("c"); v != "c2" {
		t.Fatalf("c holds %v after replacement", v)
	}
	if got := l.Keys(); !slices.Equal(got, []string{"a", "d", "c"}) {
		t.Fatalf("keys least recently used first: %v", got)
	}
	l.Resize(1)
	if !slices.Equal(dropped, []string{"b", "a", "d"}) || l.Len() != 1 {
		t.Fatalf("after Resize(1) dropped %v, %d left", dropped, l.Len())
	}
	if !l.Remove("c") || l.Remove("c") {
		t.Fatal("Remove reported wrongly")
	}
	l.Resize(4)
	l.Add("e", 1, later)
	l.Add("f", 1, time.Now().Add(-time.Second)) // stored expired
	if _, ok := l.Get("f"); ok {
		t.Fatal("an expired entry was served")
	}
	// Replacing an expired entry (ownwrite.go's in-place update racing the
	// expiry) replaces it: no onEvict, as the owner accounts for the change.
	l.Add("g", 1, time.Now().Add(-time.Second))
	l.Add("g", 2, later)
	if v, ok := l.Peek("g"); !ok || v != 2 {
		t.Fatalf("g holds %v, %v after replacing its expired value", v, ok)
	}
	l.Purge()
	if !slices.Equal(dropped, []string{"b", "a", "d", "c", "f", "e", "g"}) || l.Len() != 0 {
		t.Fatalf("after Purge dropped %v, %d left", dropped, l.Len())
	}
}
