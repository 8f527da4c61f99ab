package storage

import (
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
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
//
// Only what S3 answered is ever stored, and only through a fill (startFill, then
// finishFill): a fill remembers the cache key it will write, and an
// invalidation of that key while the fill's S3 request is in flight marks it
// stale, so its answer — possibly read before the change — is dropped instead
// of stored. The gateway's own writes are fills too (startWrite, then wrote in
// ownwrite.go): what S3 answered to a PutObject or CompleteMultipartUpload is
// stored only when no other change to the name was seen while it ran, since
// two sessions writing one name could apply in S3 in either order; otherwise
// the write invalidates, and the next read asks S3. Together: once a write has
// returned, every later lookup either asks S3 or finds an answer that S3 gave
// after the write (see docs/storage.md "Object-storage semantics", TestFillRacingWrite,
// TestOwnWriteRacingWrite).
type metaCache struct {
	// lru expires entries without a goroutine of its own (cachelru.go): an
	// expired entry is never served and gives its memory, and its listing
	// budget, back within ttl/8 even in a cache nobody uses any more.
	lru       *ttlLRU
	hits      atomic.Int64
	misses    atomic.Int64
	evictions atomic.Int64 // entries pushed out because the cache was full

	ttl    time.Duration
	budget int64         // listingBudget; lowered by tests
	listed *atomic.Int64 // entries held by cached listings; shared by the backends of one CacheShare

	// mu orders fills against invalidations: finishFill checks staleness and
	// stores under it, invalidate removes and marks fills stale under it.
	mu       sync.Mutex
	inflight map[string]map[*fill]struct{} // cache key → fills in flight for it
}

// fill is one S3 request whose answer is meant for the cache key key.
type fill struct {
	key     string
	started time.Time
	// write marks a write's record that its directory exists (ownwrite.go):
	// other writes into the directory do not void it, only changes that may
	// remove the directory do.
	write bool
	stale bool // the key was invalidated after the fill started; guarded by mu
}

// cachedListing is a directory listing and when S3 was asked for it: the
// gateway's own writes update a cached listing in place (ownwrite.go), and it
// must still expire one TTL after S3 was asked, or changes made behind the
// gateway's back would stay hidden for as long as a client keeps uploading.
type cachedListing struct {
	entries []Entry
	born    time.Time
}

type statResult struct {
	entry Entry
	found bool
}

func newMetaCache(size int, ttl time.Duration) *metaCache {
	if ttl <= 0 {
		ttl = 30 * time.Second // Options' default
	}
	c := &metaCache{ttl: ttl, budget: listingBudget, listed: new(atomic.Int64), inflight: map[string]map[*fill]struct{}{}}
	c.lru = newTTLLRU(size, ttl, c.evicted)
	return c
}

// evicted runs for every entry the LRU drops (evicted, expired, removed or
// purged), not for one that Add replaces.
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

func (c *metaCache) listing(bucket, prefix string) ([]Entry, bool) {
	v, ok := c.get(listKey(bucket, prefix))
	if !ok {
		return nil, false
	}
	l := v.(cachedListing)
	if time.Since(l.born) > c.ttl {
		return nil, false
	}
	// Clipped: the gateway's own uploads append to a cached listing in place
	// (updateListingLocked), so a caller must not append into its spare room.
	return slices.Clip(l.entries), true
}

// startFill registers an S3 read about to start whose answer is meant for k. It
// must be followed by finishFill or dropFill.
func (c *metaCache) startFill(k string) *fill {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.startLocked(k, false)
}

func (c *metaCache) startLocked(k string, write bool) *fill {
	f := &fill{key: k, started: time.Now(), write: write}
	set := c.inflight[k]
	if set == nil {
		set = map[*fill]struct{}{}
		c.inflight[k] = set
	}
	set[f] = struct{}{}
	return f
}

// dropFill ends f without storing anything (the read failed or was too big).
func (c *metaCache) dropFill(f *fill) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.endLocked(f)
}

func (c *metaCache) endLocked(f *fill) {
	if set := c.inflight[f.key]; set != nil {
		delete(set, f)
		if len(set) == 0 {
			delete(c.inflight, f.key)
		}
	}
}

// finishFill ends f and stores v under its key, unless the key was invalidated
// since f started. It reports whether v was stored. A listing ([]Entry under a
// listing key) is stored only within the listing budget.
func (c *metaCache) finishFill(f *fill, v any) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.endLocked(f)
	if f.stale {
		return false
	}
	entries, isListing := v.([]Entry)
	if !isListing || !strings.HasPrefix(f.key, "l\x00") {
		c.add(f.key, v)
		return true
	}
	c.lru.Remove(f.key) // Add would replace an old value without accounting for it
	if c.listed.Load()+int64(len(entries)) > c.budget {
		return false
	}
	c.listed.Add(int64(len(entries)))
	c.add(f.key, cachedListing{entries: entries, born: f.started})
	return true
}

// fillStat and fillListing are one-step fills for callers (tests) that have no
// S3 request in between.
func (c *metaCache) fillStat(bucket, key string, r statResult) {
	c.finishFill(c.startFill(statKey(bucket, key)), r)
}

func (c *metaCache) fillListing(bucket, prefix string, entries []Entry) bool {
	return c.finishFill(c.startFill(listKey(bucket, prefix)), entries)
}

// add stores one entry and counts the eviction it may cause. It expires one
// TTL from now, or for a listing one TTL from when S3 was asked for it.
func (c *metaCache) add(k string, v any) {
	var expires time.Time
	if l, ok := v.(cachedListing); ok {
		expires = l.born.Add(c.ttl)
	} else {
		expires = time.Now().Add(c.ttl)
	}
	if c.lru.Add(k, v, expires) {
		c.evictions.Add(1)
	}
}

// invalidate drops the cache keys ks and marks every fill in flight for them
// stale.
func (c *metaCache) invalidate(ks ...string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.invalidateLocked(ks)
}

func (c *metaCache) invalidateLocked(ks []string) {
	for _, k := range ks {
		c.invalidateKeyLocked(k)
	}
}

func (c *metaCache) invalidateKeyLocked(k string) {
	c.lru.Remove(k)
	for f := range c.inflight[k] {
		f.stale = true
	}
}

// changed records that key (a file, or a directory marker when key ends in "/")
// may have been created, replaced or removed in S3. Its own stat and listing
// are dropped, and the listings and stats of every ancestor directory too, since
// the write may have created or emptied them. Nothing is stored: a write that
// S3 confirmed records its outcome through startWrite and wrote instead.
func (c *metaCache) changed(bucket, key string, _ *Entry) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.changedLocked(bucket, key)
}

// changedLocked drops every cache key that a change of bucket/key may void:
// the key's stat (as a file and as a directory) and listing, and for each
// ancestor directory its listing and both its stats (removing the last key
// under an implicit directory removes the directory too).
//
// The keys are substrings of two strings built once, so the walk allocates
// O(len(key)) whatever the depth: a key of n levels has about 3n cache keys of
// up to len(key) bytes each, and building them one by one would allocate
// O(n·len(key)) — 1.35 GiB for one 32 KiB event key of "a/" levels
// (TestChangedAllocationsStayBounded). Where a key holds "//", this also drops
// a few entries that no lookup uses, which is harmless.
func (c *metaCache) changedLocked(bucket, key string) {
	name := strings.TrimSuffix(key, "/")
	head := len(bucket) + 3 // "s\x00" + bucket + "\x00"
	stats := statKey(bucket, name+"/")
	lists := listKey(bucket, name+"/")
	c.invalidateKeyLocked(stats[:head+len(name)])
	c.invalidateKeyLocked(stats)
	c.invalidateKeyLocked(lists)
	c.invalidateKeyLocked(lists[:head]) // the bucket's root listing
	for i := 0; i < len(name); i++ {
		if name[i] != '/' {
			continue
		}
		c.invalidateKeyLocked(stats[:head+i])
		c.invalidateKeyLocked(stats[:head+i+1])
		c.invalidateKeyLocked(lists[:head+i+1])
	}
}

// changedTree drops everything cached about bucket at or below prefix (directory
// renames touch many keys at once), and fails the fills in flight there.
func (c *metaCache) changedTree(bucket, prefix string) {
	under := func(k string) bool {
		return strings.HasPrefix(k, "s\x00"+bucket+"\x00"+prefix) || strings.HasPrefix(k, "l\x00"+bucket+"\x00"+prefix)
	}
	// Both scans under mu: a fill cannot store between them unseen.
	c.mu.Lock()
	var ks []string
	for _, k := range c.lru.Keys() {
		if under(k) {
			ks = append(ks, k)
		}
	}
	for k := range c.inflight {
		if under(k) {
			ks = append(ks, k)
		}
	}
	c.invalidateLocked(ks)
	c.mu.Unlock()
	c.changed(bucket, prefix, nil)
}

// bucketsChanged records that a bucket was created or removed.
func (c *metaCache) bucketsChanged() { c.invalidate(bucketsKey) }

// Invalidate forgets what the cache holds about bucket/key (a file, or a
// directory marker ending in "/") and its directories, and voids the reads in
// flight for them: for changes made behind the gateway's back that S3 reported
// (gateway/ops/events.go).
func (b *Backend) Invalidate(bucket, key string) { b.cache.changed(bucket, key, nil) }

// Stats returns the cache's hit and miss counts since start.
func (b *Backend) CacheStats() (hits, misses int64) {
	return b.cache.hits.Load(), b.cache.misses.Load()
}

// CacheEvictions returns how many cache entries were pushed out by newer ones
// because the cache was full (a sign that FTP2S3_CACHE_ENTRIES is too small).
func (b *Backend) CacheEvictions() int64 { return b.cache.evictions.Load() }
