package storage

import (
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func entries(n int) []Entry { return make([]Entry, n) }

func TestListingBudget(t *testing.T) {
	c := newMetaCache(100, time.Hour)
	c.budget = 10
	c.fillListing("b", "a/", entries(6))
	c.fillListing("b", "c/", entries(6)) // over the budget: not cached
	if _, ok := c.listing("b", "a/"); !ok {
		t.Fatal("the first listing was not cached")
	}
	if _, ok := c.listing("b", "c/"); ok {
		t.Fatal("a listing over the budget was cached")
	}
	c.fillListing("b", "a/", entries(3)) // replacing frees the old entries
	if got := c.listed.Load(); got != 3 {
		t.Fatalf("listed = %d after a replacement, want 3", got)
	}
	c.changed("b", "a/x", nil) // a write drops the listing of a/
	if got := c.listed.Load(); got != 0 {
		t.Fatalf("listed = %d after invalidation, want 0", got)
	}
	c.fillListing("b", "c/", entries(6))
	if _, ok := c.listing("b", "c/"); !ok {
		t.Fatal("a listing within the freed budget was not cached")
	}
}

// An expired listing gives its entries back to the listing budget.
func TestListingBudgetExpiry(t *testing.T) {
	const ttl = 50 * time.Millisecond
	c := newMetaCache(100, ttl)
	// The same LRU as newMetaCache's, reporting each eviction after c has
	// accounted for it.
	evicted := make(chan string, 1)
	c.lru = newTTLLRU(100, ttl, func(k string, v any) { c.evicted(k, v); evicted <- k })
	c.fillListing("b", "", entries(5))
	if got := c.listed.Load(); got != 5 {
		t.Fatalf("listed = %d after caching 5 entries", got)
	}
	select {
	case k := <-evicted:
		if k != listKey("b", "") {
			t.Fatalf("evicted %q, want the listing", k)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the listing did not expire within 5s of a 50ms TTL")
	}
	if got := c.listed.Load(); got != 0 {
		t.Fatalf("listed = %d after the listing expired, want 0", got)
	}
}

func TestChangedDropsAncestors(t *testing.T) {
	c := newMetaCache(100, time.Hour)
	c.fillStat("b", "x/", statResult{found: true})
	c.fillStat("b", "x/y/", statResult{found: true})
	c.fillStat("b", "other/", statResult{found: true})
	c.fillListing("b", "x/y/", entries(1))
	c.fillListing("b", "", entries(1))
	c.changed("b", "x/y/z.txt", nil)
	for _, k := range []string{"x/", "x/y/"} {
		if _, ok := c.stat("b", k); ok {
			t.Errorf("directory stat %s survived a write below it", k)
		}
	}
	if _, ok := c.stat("b", "other/"); !ok {
		t.Error("an unrelated directory stat was dropped")
	}
	for _, p := range []string{"x/y/", ""} {
		if _, ok := c.listing("b", p); ok {
			t.Errorf("listing %q survived a write below it", p)
		}
	}
}

// TestFillRacingWrite forces the interleaving behind issue 13 §1: a listing
// (or stat) read from S3 before a write, whose answer arrives after the write
// has invalidated the cache, must not be stored; one that starts after the
// write is stored.
func TestFillRacingWrite(t *testing.T) {
	for _, tc := range []struct {
		name, fillKey, writeKey string
	}{
		{"listing of the written file's directory", listKey("b", "d/"), "d/new.txt"},
		{"listing of an ancestor", listKey("b", ""), "d/e/new.txt"},
		{"listing of a directory whose marker is written", listKey("b", "d/"), "d/"},
		{"stat of the written file", statKey("b", "d/new.txt"), "d/new.txt"},
		{"stat of an implicit parent directory", statKey("b", "d/"), "d/new.txt"},
		{"stat of a grandparent as a file name", statKey("b", "d"), "d/e/f"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newMetaCache(100, time.Hour)
			var before any = []Entry{}
			if strings.HasPrefix(tc.fillKey, "s\x00") {
				before = statResult{}
			}
			f := c.startFill(tc.fillKey) // the S3 request goes out
			c.changed("b", tc.writeKey, nil)
			if c.finishFill(f, before) { // its answer, from before the write, arrives
				t.Fatal("a fill that started before the write was stored")
			}
			if _, ok := c.get(tc.fillKey); ok {
				t.Fatal("the stale answer is cached")
			}
			if len(c.inflight) != 0 {
				t.Fatalf("%d fills still registered", len(c.inflight))
			}
			g := c.startFill(tc.fillKey) // a read that starts after the write
			if !c.finishFill(g, before) {
				t.Fatal("a fill that started after the write was not stored")
			}
		})
	}
}

// TestFillUnrelatedWrite: a write elsewhere does not void a fill.
func TestFillUnrelatedWrite(t *testing.T) {
	c := newMetaCache(100, time.Hour)
	f := c.startFill(listKey("b", "d/"))
	c.changed("b", "other/x", nil)
	c.changed("b2", "d/x", nil)
	if !c.finishFill(f, []Entry{}) {
		t.Fatal("a write in another directory voided the fill")
	}
}

// TestFillRacingTreeChange: a directory rename voids fills below it.
func TestFillRacingTreeChange(t *testing.T) {
	c := newMetaCache(100, time.Hour)
	f := c.startFill(statKey("b", "d/x/y"))
	g := c.startFill(listKey("b", "d/x/"))
	c.changedTree("b", "d/")
	if c.finishFill(f, statResult{found: true}) || c.finishFill(g, []Entry{}) {
		t.Fatal("a fill below a renamed directory was stored")
	}
}

// TestFillConcurrent hammers fills and writes of one directory from many
// goroutines (run with -race): after every write returns, a lookup must
// never find an answer whose fill began before that write.
func TestFillConcurrent(t *testing.T) {
	c := newMetaCache(1000, time.Hour)
	var version atomic.Int64 // what "S3" holds: bumped before each invalidation
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for range 4 {
		wg.Add(1)
		go func() { // listers
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				f := c.startFill(listKey("b", "d/"))
				v := version.Load() // the S3 read ...
				runtime.Gosched()   // ... whose answer takes a while
				c.finishFill(f, []Entry{{Size: v}})
			}
		}()
	}
	for range 2000 {
		version.Add(1) // the write lands in S3 ...
		want := version.Load()
		c.changed("b", "d/f", nil) // ... then the writer invalidates
		if got, ok := c.listing("b", "d/"); ok && got[0].Size < want {
			close(stop)
			wg.Wait()
			t.Fatalf("after write %d the cache serves the listing of version %d", want, got[0].Size)
		}
	}
	close(stop)
	wg.Wait()
}
