package storage

import (
	"testing"
	"time"
)

func entries(n int) []Entry { return make([]Entry, n) }

func TestListingBudget(t *testing.T) {
	c := newMetaCache(100, time.Hour)
	c.budget = 10
	c.putListing("b", "a/", entries(6))
	c.putListing("b", "c/", entries(6)) // over the budget: not cached
	if _, ok := c.listing("b", "a/"); !ok {
		t.Fatal("the first listing was not cached")
	}
	if _, ok := c.listing("b", "c/"); ok {
		t.Fatal("a listing over the budget was cached")
	}
	c.putListing("b", "a/", entries(3)) // replacing frees the old entries
	if got := c.listed.Load(); got != 3 {
		t.Fatalf("listed = %d after a replacement, want 3", got)
	}
	c.changed("b", "a/x", nil) // a write drops the listing of a/
	if got := c.listed.Load(); got != 0 {
		t.Fatalf("listed = %d after invalidation, want 0", got)
	}
	c.putListing("b", "c/", entries(6))
	if _, ok := c.listing("b", "c/"); !ok {
		t.Fatal("a listing within the freed budget was not cached")
	}
}

func TestListingBudgetExpiry(t *testing.T) {
	c := newMetaCache(100, 50*time.Millisecond)
	c.putListing("b", "", entries(5))
	deadline := time.Now().Add(5 * time.Second)
	for c.listed.Load() != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("listed = %d long after the TTL", c.listed.Load())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestChangedDropsAncestors(t *testing.T) {
	c := newMetaCache(100, time.Hour)
	c.putStat("b", "x/", statResult{found: true})
	c.putStat("b", "x/y/", statResult{found: true})
	c.putStat("b", "other/", statResult{found: true})
	c.putListing("b", "x/y/", entries(1))
	c.putListing("b", "", entries(1))
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
