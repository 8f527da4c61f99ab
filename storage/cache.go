package storage

import (
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/golang-lru/v2/expirable"
)

// maxCachedListing bounds how many entries one cached directory listing may hold.
// Bigger directories stream straight from S3 every time instead of evicting the
// rest of the cache.
const maxCachedListing = 20000

// listingBudget bounds the entries held by all cached listings together: the
// LRU counts listings, not their sizes, so without it 10,000 cached directories
// of 20,000 entries each could hold gigabytes. About 150 bytes an entry.
const listingBudget = 500_000

// metaCache remembers stat results and whole directory listings for a short TTL.
// Keys are "s|bucket|key" for stats, "l|bucket|prefix" for listings and "b" for
// the bucket list; the separator is NUL, which cannot occur in a cleaned path.
type metaCache struct {
	lru       *expirable.LRU[string, any]
	hits      atomic.Int64
	misses    atomic.Int64
	evictions atomic.Int64 // entries pushed out because the cache was full

	ttl    time.Duration
	budget int64        // listingBudget; lowered by tests
	listed atomic.Int64 // entries held by cached listings
	putMu  sync.Mutex   // serialises putListing's remove-then-add
}

// cachedListing is a directory listing and when S3 gave it: the gateway's own
// writes update a cached listing in place (updateListing), and it must still
// expire one TTL after S3 was asked, or changes made behind the gateway's back
// would stay hidden for as long as a client keeps uploading.
type cachedListing struct {
	entries []Entry
	born    time.Time
}

type statResult struct {
	entry Entry
	found bool
}

func newMetaCache(size int, ttl time.Duration) *metaCache {
	c := &metaCache{budget: listingBudget, ttl: ttl}
	c.lru = expirable.NewLRU[string, any](size, c.evicted, ttl)
	return c
}

// evicted runs for every entry the LRU drops (evicted, expired or removed).
func (c *metaCache) evicted(k string, v any) {
	if strings.HasPrefix(k, "l\x00") {
		c.listed.Add(-int64(len(v.(cachedListing).entries)))
	}
}

func statKey(bucket, key string) string    { return "s\x00" + bucket + "\x00" + key }
func listKey(bucket, prefix string) string { return "l\x00" + bucket + "\x00" + prefix }

const bucketsKey = "b"

func (c *metaCache) get(k string) (any, bool) {
	v, ok := c.lru.Get(k)
	if ok {
		c.hits.Add(1)
	} else {
		c.misses.Add(1)
	}
	return v, ok
}

func (c *metaCache) stat(bucket, key string) (statResult, bool) {
	v, ok := c.get(statKey(bucket, key))
	if !ok {
		return statResult{}, false
	}
	return v.(statResult), true
}

func (c *metaCache) putStat(bucket, key string, r statResult) {
	c.add(statKey(bucket, key), r)
}

func (c *metaCache) listing(bucket, prefix string) ([]Entry, bool) {
	v, ok := c.get(listKey(bucket, prefix))
	if !ok {
		return nil, false
	}
	l := v.(cachedListing)
	if time.Since(l.born) > c.ttl {
		return nil, false
	}
	return l.entries, true
}

// putListing caches a directory listing unless the listings already cached
// hold the budget's worth of entries.
func (c *metaCache) putListing(bucket, prefix string, entries []Entry) {
	c.putMu.Lock()
	defer c.putMu.Unlock()
	k := listKey(bucket, prefix)
	c.lru.Remove(k) // Add would replace an old value without accounting for it
	if c.listed.Load()+int64(len(entries)) > c.budget {
		return
	}
	c.listed.Add(int64(len(entries)))
	c.add(k, cachedListing{entries: entries, born: time.Now()})
}

// maxUpdatedListing bounds the cached listings that a write updates in place:
// each update copies the listing (readers may hold the old slice), so a bigger
// one is dropped instead and listed again when needed.
const maxUpdatedListing = 4096

// updateListing puts the file e into the cached listing of the directory
// prefix, replacing an entry of the same name (an oversized listing is dropped
// instead). It reports whether the cached listing held something before, which
// proves that the directory and its ancestors existed already.
func (c *metaCache) updateListing(bucket, prefix string, e Entry) (existed bool) {
	c.putMu.Lock()
	defer c.putMu.Unlock()
	k := listKey(bucket, prefix)
	v, ok := c.lru.Peek(k)
	if !ok {
		return false
	}
	old := v.(cachedListing)
	if time.Since(old.born) > c.ttl {
		c.lru.Remove(k)
		return false
	}
	existed = len(old.entries) > 0
	if len(old.entries) >= maxUpdatedListing {
		c.lru.Remove(k)
		return existed
	}
	entries := make([]Entry, 0, len(old.entries)+1)
	placed := false
	for _, o := range old.entries {
		switch {
		case placed:
		case o.Name == e.Name && !o.IsDir:
			o, placed = e, true
		case o.Name > e.Name:
			entries, placed = append(entries, e), true
		}
		entries = append(entries, o)
	}
	if !placed {
		entries = append(entries, e)
	}
	grow := int64(len(entries) - len(old.entries))
	if c.listed.Load()+grow > c.budget {
		c.lru.Remove(k)
		return existed
	}
	// Replaced, not removed and added again: a lookup from another session in
	// between would find no listing and ask S3.
	c.listed.Add(grow)
	c.add(k, cachedListing{entries: entries, born: old.born})
	return existed
}

// add stores one entry and counts the eviction it may cause.
func (c *metaCache) add(k string, v any) {
	if c.lru.Add(k, v) {
		c.evictions.Add(1)
	}
}

// changed records that this gateway created, replaced or removed key (a file, or a
// directory marker when key ends in "/"). The key's own stat is replaced by e (or
// dropped when e is nil), and the listings and stats of every ancestor directory
// are dropped, since the write may have created or emptied them.
func (c *metaCache) changed(bucket, key string, e *Entry) {
	name := strings.TrimSuffix(key, "/")
	if e != nil {
		c.putStat(bucket, name, statResult{entry: *e, found: true})
	} else {
		c.lru.Remove(statKey(bucket, name))
	}
	c.lru.Remove(listKey(bucket, name+"/"))
	created := e != nil && !e.IsDir && !strings.HasSuffix(key, "/")
	if created && c.updateListing(bucket, parentPrefix(name), *e) {
		// The directory held something already, so nothing above it changed.
		return
	}
	for p := name; ; {
		p = strings.TrimSuffix(parentPrefix(p), "/")
		if !created || p != strings.TrimSuffix(parentPrefix(name), "/") {
			c.lru.Remove(listKey(bucket, dirPrefix(p)))
		}
		if p == "" {
			break
		}
		c.lru.Remove(statKey(bucket, p))
		if created {
			// A new file makes every directory above it exist.
			if r, ok := c.lru.Peek(statKey(bucket, dirPrefix(p))); !ok || !r.(statResult).found {
				c.putStat(bucket, dirPrefix(p), statResult{found: true, entry: Entry{Name: baseName(p), IsDir: true, ModTime: e.ModTime}})
			}
			continue
		}
		// Removing the last key under an implicit directory removes the
		// directory too.
		c.lru.Remove(statKey(bucket, dirPrefix(p)))
	}
}

// changedTree drops everything cached about bucket at or below prefix (directory
// renames touch many keys at once).
func (c *metaCache) changedTree(bucket, prefix string) {
	for _, k := range c.lru.Keys() {
		for _, kind := range []string{"s\x00", "l\x00"} {
			if strings.HasPrefix(k, kind+bucket+"\x00"+prefix) {
				c.lru.Remove(k)
			}
		}
	}
	c.changed(bucket, prefix, nil)
}

func (c *metaCache) bucketsChanged() { c.lru.Remove(bucketsKey) }

// Stats returns the cache's hit and miss counts since start.
func (b *Backend) CacheStats() (hits, misses int64) {
	return b.cache.hits.Load(), b.cache.misses.Load()
}

// CacheEvictions returns how many cache entries were pushed out by newer ones
// because the cache was full (a sign that FTP2S3_CACHE_ENTRIES is too small).
func (b *Backend) CacheEvictions() int64 { return b.cache.evictions.Load() }

// dirPrefix turns a directory key into its listing prefix: "" stays "", "a/b"
// becomes "a/b/".
func dirPrefix(dir string) string {
	dir = strings.TrimSuffix(dir, "/")
	if dir == "" {
		return ""
	}
	return dir + "/"
}
