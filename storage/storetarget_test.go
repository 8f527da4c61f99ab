package storage

import (
	"errors"
	"fmt"
	"testing"
	"time"
)

// write is one own write that S3 confirmed, with nothing racing it.
func write(c *metaCache, bucket, key string, e Entry) { c.wrote(c.startWrite(bucket, key), &e) }

// A file written into a directory whose listing is cached goes into that
// listing in place, keeps the listing's birth (so it still expires one TTL after
// S3 gave it) and makes the directory known to exist.
func TestOwnWritesUpdateCachedListing(t *testing.T) {
	c := newMetaCache(100, time.Hour)
	c.fillListing("b", "d/", []Entry{{Name: "a"}, {Name: "c"}, {Name: "sub", IsDir: true}})
	write(c, "b", "d/b", Entry{Name: "b", Size: 1})
	write(c, "b", "d/c", Entry{Name: "c", Size: 2})
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
	if r, ok := c.stat("b", "d/b"); !ok || !r.found || r.entry.Size != 1 {
		t.Fatalf("stat of the written file: %+v, %v", r, ok)
	}

	old := time.Now().Add(-59 * time.Minute)
	c.add(listKey("b", "e/"), cachedListing{entries: []Entry{{Name: "a"}}, born: old})
	c.listed.Add(1)
	write(c, "b", "e/x", Entry{Name: "x"})
	v, ok := c.lru.Peek(listKey("b", "e/"))
	if !ok || !v.(cachedListing).born.Equal(old) || len(v.(cachedListing).entries) != 2 {
		t.Fatalf("after a write the listing is %+v (present %v); want 2 entries born %v", v, ok, old)
	}
}

// Files written in rising name order go at the end of the cached listing
// without copying it each time, yet a slice a reader holds never changes and a
// reader appending to it never reaches into the cache.
func TestOwnWritesAppendToCachedListing(t *testing.T) {
	c := newMetaCache(100, time.Hour)
	c.fillListing("b", "d/", []Entry{})
	var held, mine [][]Entry
	const n = 300
	grows, last := 0, -1
	for i := range n {
		name := fmt.Sprintf("f%04d", i)
		write(c, "b", "d/"+name, Entry{Name: name, Size: int64(i)})
		v, _ := c.lru.Peek(listKey("b", "d/"))
		if stored := v.(cachedListing).entries; cap(stored) != last {
			grows, last = grows+1, cap(stored)
		}
		l, ok := c.listing("b", "d/")
		if !ok || len(l) != i+1 || l[i].Name != name {
			t.Fatalf("after writing %s the listing holds %d entries (present %v)", name, len(l), ok)
		}
		held = append(held, l)
		mine = append(mine, append(l, Entry{Name: "mine"})) // a reader's own append
	}
	if allocs := testing.AllocsPerRun(50, func() {
		l, _ := c.listing("b", "d/")
		_ = l
	}); allocs > 1 {
		t.Errorf("a listing lookup allocates %.0f times", allocs)
	}
	l, _ := c.listing("b", "d/")
	for i, e := range l {
		if e.Name != fmt.Sprintf("f%04d", i) || e.Size != int64(i) {
			t.Fatalf("entry %d is %+v", i, e)
		}
	}
	for i, h := range held {
		if len(h) != i+1 || h[i].Name != fmt.Sprintf("f%04d", i) {
			t.Fatalf("the listing held after write %d changed: %d entries, last %+v", i, len(h), h[len(h)-1])
		}
	}
	for i, m := range mine {
		if len(m) != i+2 || m[i+1].Name != "mine" {
			t.Fatalf("a reader's append after write %d was overwritten: %+v", i, m[len(m)-1])
		}
	}
	if got := c.listed.Load(); got != n {
		t.Fatalf("listed = %d, want %d", got, n)
	}
	// Copies are amortised: far fewer reallocations than writes.
	if grows > 30 {
		t.Errorf("the listing was reallocated %d times in %d appends", grows, n)
	}
	// A name that sorts before the last one still lands in its place.
	write(c, "b", "d/a", Entry{Name: "a"})
	if l, _ := c.listing("b", "d/"); len(l) != n+1 || l[0].Name != "a" || l[n].Name != fmt.Sprintf("f%04d", n-1) {
		t.Fatalf("after writing a: %d entries, first %+v", len(l), l[0])
	}
}

// A new file proves that its directory and every ancestor exist; a delete drops
// what it may have emptied.
func TestOwnWritesMarkAncestors(t *testing.T) {
	b := &Backend{cache: newMetaCache(100, time.Hour)}
	write(b.cache, "bk", "x/y/f", Entry{Name: "f"})
	for _, dir := range []string{"x/", "x/y/", ""} {
		if got := b.dirCached("bk", dir); got != yes {
			t.Errorf("%q after a write under it: %v, want yes", dir, got)
		}
	}
	if known, _ := b.StoreTargetCached("bk", "x/y/g", false); known {
		t.Error("the name g was taken as known without a listing of x/y/ or a stat of g/")
	}
	b.cache.fillListing("bk", "x/y/", []Entry{{Name: "f"}, {Name: "sub", IsDir: true}})
	if known, err := b.StoreTargetCached("bk", "x/y/g", false); !known || err != nil {
		t.Errorf("x/y/g with x/y/ listed: known %v, %v", known, err)
	}
	if known, err := b.StoreTargetCached("bk", "x/y/sub", false); !known || !errors.Is(err, ErrIsDirectory) {
		t.Errorf("x/y/sub, a listed directory: known %v, %v", known, err)
	}
	b.cache.fillStat("bk", "nope/", statResult{})
	if known, err := b.StoreTargetCached("bk", "nope/f", false); !known || !errors.Is(err, ErrNotFound) {
		t.Errorf("nope/f, a missing directory: known %v, %v", known, err)
	}
	b.cache.changed("bk", "x/y/f", nil)
	if got := b.dirCached("bk", "x/"); got != unknown {
		t.Errorf("x/ after deleting what may have been its last file: %v, want unknown", got)
	}
}

// TestOwnWriteRacingWrite: an own write stores what S3 confirmed only when no
// other change to its name happened while it ran (issue 13 §1: two writes of one
// name may apply in S3 in either order); a write of another name into the same
// directory does not void it, nor the fact that the directory exists.
func TestOwnWriteRacingWrite(t *testing.T) {
	for _, tc := range []struct {
		name   string
		racer  func(c *metaCache)
		stored bool // the write's entry is cached afterwards
		dirs   bool // its directory is known to exist afterwards
	}{
		{"nothing", func(*metaCache) {}, true, true},
		{"another write of the name", func(c *metaCache) { write(c, "b", "d/f", Entry{Name: "f", Size: 9}) }, false, true},
		{"a delete of the name", func(c *metaCache) { c.changed("b", "d/f", nil) }, false, false},
		{"a write of another name", func(c *metaCache) { write(c, "b", "d/g", Entry{Name: "g"}) }, true, true},
		{"a delete of another name", func(c *metaCache) { c.changed("b", "d/g", nil) }, true, false},
		{"a rename of the directory", func(c *metaCache) { c.changedTree("b", "d/") }, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newMetaCache(100, time.Hour)
			c.fillListing("b", "d/", []Entry{{Name: "a"}})
			w := c.startWrite("b", "d/f") // the PutObject goes out
			tc.racer(c)
			c.wrote(w, &Entry{Name: "f", Size: 1}) // and S3 confirms it
			r, ok := c.stat("b", "d/f")
			if stored := ok && r.found && r.entry.Size == 1; stored != tc.stored {
				t.Errorf("entry stored %v (%+v, %v), want %v", stored, r, ok, tc.stored)
			}
			if l, ok := c.listing("b", "d/"); ok {
				for _, e := range l {
					if e.Name == "f" && e.Size != 1 && tc.stored {
						t.Errorf("listing holds %+v", e)
					}
					if e.Name == "f" && !tc.stored && e.Size == 1 {
						t.Errorf("the listing holds the write's entry although the name changed meanwhile: %+v", l)
					}
				}
			}
			r, ok = c.stat("b", "d/")
			if known := ok && r.found; known != tc.dirs {
				t.Errorf("directory known to exist: %v, want %v", known, tc.dirs)
			}
			if len(c.inflight) != 0 {
				t.Errorf("%d fills still registered", len(c.inflight))
			}
		})
	}
}

// A read of the directory or the name that S3 answered before an own write
// applied, and that arrives after it, is not stored over the write's entry.
func TestReadRacingOwnWrite(t *testing.T) {
	c := newMetaCache(100, time.Hour)
	lf := c.startFill(listKey("b", "d/"))
	sf := c.startFill(statKey("b", "d/f"))
	df := c.startFill(statKey("b", "d/"))
	write(c, "b", "d/f", Entry{Name: "f", Size: 1})
	if c.finishFill(lf, []Entry{}) || c.finishFill(sf, statResult{}) || c.finishFill(df, statResult{}) {
		t.Fatal("a read that began before the write was stored after it")
	}
	if r, ok := c.stat("b", "d/f"); !ok || !r.found {
		t.Fatalf("the write's entry is gone: %+v, %v", r, ok)
	}
	if r, ok := c.stat("b", "d/"); !ok || !r.found {
		t.Fatalf("the directory is no longer known: %+v, %v", r, ok)
	}
}

// A failed or unknown write forgets, as any change does.
func TestOwnWriteFailed(t *testing.T) {
	c := newMetaCache(100, time.Hour)
	c.fillListing("b", "d/", []Entry{{Name: "a"}})
	c.fillStat("b", "d/f", statResult{})
	c.wrote(c.startWrite("b", "d/f"), nil)
	if _, ok := c.stat("b", "d/f"); ok {
		t.Error("the name's stat survived a write of unknown outcome")
	}
	if _, ok := c.listing("b", "d/"); ok {
		t.Error("the listing survived a write of unknown outcome")
	}
}

// MKD and an upload into the new directory racing: neither voids the other's
// knowledge that the directory exists.
func TestMkdirRacingUploadInto(t *testing.T) {
	c := newMetaCache(100, time.Hour)
	mk := c.startWrite("b", "d/")
	up := c.startWrite("b", "d/f")
	c.wrote(up, &Entry{Name: "f"})
	c.wrote(mk, &Entry{Name: "d", IsDir: true})
	if r, ok := c.stat("b", "d/"); !ok || !r.found {
		t.Fatalf("the directory is not known to exist: %+v, %v", r, ok)
	}
	if r, ok := c.stat("b", "d/f"); !ok || !r.found {
		t.Fatalf("the upload's entry is gone: %+v, %v", r, ok)
	}
	mk = c.startWrite("b", "e/")
	c.changed("b", "e/", nil) // an RMD meanwhile
	c.wrote(mk, &Entry{Name: "e", IsDir: true})
	if _, ok := c.stat("b", "e/"); ok {
		t.Fatal("a directory removed while MKD ran is still known")
	}
}
