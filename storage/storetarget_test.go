package storage

import (
	"errors"
	"testing"
	"time"
)

// A file written into a directory whose listing is cached goes into that
// listing in place, keeps the listing's birth (so it still expires one TTL after
// S3 gave it) and makes the directory known to exist.
func TestOwnWritesUpdateCachedListing(t *testing.T) {
	c := newMetaCache(100, time.Hour)
	c.putListing("b", "d/", []Entry{{Name: "a"}, {Name: "c"}, {Name: "sub", IsDir: true}})
	c.changed("b", "d/b", &Entry{Name: "b", Size: 1})
	c.changed("b", "d/c", &Entry{Name: "c", Size: 2})
	l, ok := c.listing("b", "d/")
	if !ok {
		t.Fatal("the listing was dropped by a write into its directory")
	}
	if len(l) != 4 || l[1].Name != "b" || l[2].Size != 2 {
		t.Fatalf("listing after two writes: %+v", l)
	}
	if got := c.listed.Load(); got != 4 {
		t.Fatalf("listed = %d, want 4", got)
	}

	old := time.Now().Add(-59 * time.Minute)
	c.add(listKey("b", "e/"), cachedListing{entries: []Entry{{Name: "a"}}, born: old})
	c.listed.Add(1)
	c.changed("b", "e/x", &Entry{Name: "x"})
	v, ok := c.lru.Peek(listKey("b", "e/"))
	if !ok || !v.(cachedListing).born.Equal(old) || len(v.(cachedListing).entries) != 2 {
		t.Fatalf("after a write the listing is %+v (present %v); want 2 entries born %v", v, ok, old)
	}
}

// A new file proves that its directory and every ancestor exist; a delete drops
// what it may have emptied.
func TestOwnWritesMarkAncestors(t *testing.T) {
	b := &Backend{cache: newMetaCache(100, time.Hour)}
	b.cache.changed("bk", "x/y/f", &Entry{Name: "f"})
	for _, dir := range []string{"x/", "x/y/"} {
		if got := b.dirCached("bk", dir); got != yes {
			t.Errorf("%s after a write under it: %v, want yes", dir, got)
		}
	}
	if known, _ := b.StoreTargetCached("bk", "x/y/g"); known {
		t.Error("the name g was taken as known without a listing of x/y/ or a stat of g/")
	}
	b.cache.putListing("bk", "x/y/", []Entry{{Name: "f"}, {Name: "sub", IsDir: true}})
	if known, err := b.StoreTargetCached("bk", "x/y/g"); !known || err != nil {
		t.Errorf("x/y/g with x/y/ listed: known %v, %v", known, err)
	}
	if known, err := b.StoreTargetCached("bk", "x/y/sub"); !known || !errors.Is(err, ErrIsDirectory) {
		t.Errorf("x/y/sub, a listed directory: known %v, %v", known, err)
	}
	b.cache.putStat("bk", "nope/", statResult{})
	if known, err := b.StoreTargetCached("bk", "nope/f"); !known || !errors.Is(err, ErrNotFound) {
		t.Errorf("nope/f, a missing directory: known %v, %v", known, err)
	}
	b.cache.changed("bk", "x/y/f", nil)
	if got := b.dirCached("bk", "x/"); got != unknown {
		t.Errorf("x/ after deleting what may have been its last file: %v, want unknown", got)
	}
}
