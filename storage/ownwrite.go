package storage

import (
	"strings"
	"time"
)

// The gateway's own writes as cache fills (README "Object-storage semantics"
// and "Performance: small files"). A write registers, right before the request
// that commits it (PutObject, CompleteMultipartUpload), a fill for the stat of
// its key and one for the "directory exists" stat of each directory above it.
// When S3 has answered, wrote stores what S3 confirmed — the entry, its place
// in the cached listing of its directory, the directories that now exist —
// but only the parts no other change touched meanwhile:
//   - the entry and the listing update need the key's fill intact: any other
//     change of the key (another session's write or delete, a rename, an
//     invalidation event) since the write started voids it, because the two
//     may have applied in S3 in either order; the write then only invalidates;
//   - "this directory exists" needs only that directory's fill intact: writes
//     of other names into it leave it alone (a directory does not stop
//     existing because a file is added), deletes, RMD and renames void it.
// So concurrent writers into one directory keep answering "does the parent
// exist" from the cache (one request per small STOR) even when they race on a
// name and their entries are dropped.

// ownWrite is a write in flight: the fills it registered.
type ownWrite struct {
	bucket, key string
	entry       *fill   // the key's stat (the marker's, for a directory)
	dirs        []*fill // the directory stats of its ancestors, nearest first
}

// startWrite registers a write of bucket/key (a file, or a directory marker
// when key ends in "/") about to be sent to S3. It must be followed by wrote.
func (c *metaCache) startWrite(bucket, key string) *ownWrite {
	c.mu.Lock()
	defer c.mu.Unlock()
	// A marker's entry is itself a "directory exists" record: another write
	// into the directory must not void it.
	isDir := strings.HasSuffix(key, "/")
	w := &ownWrite{bucket: bucket, key: key, entry: c.startLocked(statKey(bucket, key), isDir)}
	for _, p := range ancestors(key) {
		w.dirs = append(w.dirs, c.startLocked(statKey(bucket, p), true))
	}
	return w
}

// ancestors returns the directory prefixes above key, nearest first, ending
// with "" (the bucket).
func ancestors(key string) []string {
	var out []string
	for p := strings.TrimSuffix(key, "/"); p != ""; {
		p = strings.TrimSuffix(parentPrefix(p), "/")
		out = append(out, dirKey(p))
	}
	return out
}

// wrote ends w. e is what S3 confirmed was stored, or nil when the write failed
// or its outcome is unknown: then, as after any change, everything cached about
// the key and its directories is forgotten.
func (c *metaCache) wrote(w *ownWrite, e *Entry) {
	bucket, key := w.bucket, w.key
	c.mu.Lock()
	defer c.mu.Unlock()
	c.endLocked(w.entry)
	for _, f := range w.dirs {
		c.endLocked(f)
	}
	if e == nil {
		c.invalidateLocked(changedKeys(bucket, key))
		return
	}
	name := strings.TrimSuffix(key, "/")
	parent := parentPrefix(name)
	// Reads in flight about the key or its directory's listing may have been
	// answered before the write applied: void them, and other writes of a file
	// of that name too (their order against this one is unknown; two writes of
	// one directory marker agree).
	c.voidLocked(statKey(bucket, key), strings.HasSuffix(key, "/"))
	c.voidLocked(listKey(bucket, parent), false)
	existed := c.dirKnownLocked(bucket, parent)
	if w.entry.stale {
		c.lru.Remove(statKey(bucket, key))
		c.lru.Remove(listKey(bucket, parent))
	} else {
		c.add(statKey(bucket, key), statResult{entry: *e, found: true})
		c.updateListingLocked(bucket, parent, *e)
	}
	for i, p := range ancestors(key) {
		k := statKey(bucket, p)
		c.voidLocked(k, true)
		if w.dirs[i].stale {
			c.lru.Remove(k)
		} else if r, ok := c.lru.Peek(k); !ok || !r.(statResult).found {
			c.add(k, statResult{found: true, entry: Entry{Name: dirName(bucket, p), IsDir: true, ModTime: e.ModTime}})
		}
		if i > 0 && !existed {
			// The directory is new: the listings above it may now show it.
			c.invalidateLocked([]string{listKey(bucket, p)})
		}
	}
}

// voidLocked marks the fills in flight for k stale: all of them, or with
// readsOnly only the reads (not other writes' "directory exists" records).
func (c *metaCache) voidLocked(k string, readsOnly bool) {
	for f := range c.inflight[k] {
		if !readsOnly || !f.write {
			f.stale = true
		}
	}
}

// dirKnownLocked reports whether the cache says the directory prefix exists:
// its stat, or a cached listing that holds anything.
func (c *metaCache) dirKnownLocked(bucket, prefix string) bool {
	if r, ok := c.lru.Peek(statKey(bucket, prefix)); ok && r.(statResult).found {
		return true
	}
	if v, ok := c.lru.Peek(listKey(bucket, prefix)); ok {
		l := v.(cachedListing)
		return len(l.entries) > 0 && time.Since(l.born) <= c.ttl
	}
	return false
}

func dirName(bucket, prefix string) string {
	if prefix == "" {
		return bucket
	}
	return baseName(strings.TrimSuffix(prefix, "/"))
}

// maxUpdatedListing bounds the cached listings that a write updates in place:
// each update copies the listing (readers may hold the old slice), so a bigger
// one is dropped instead and listed again when needed.
const maxUpdatedListing = 4096

// sameEntry reports whether a and b name the same file or the same directory.
func sameEntry(a, b Entry) bool { return a.Name == b.Name && a.IsDir == b.IsDir }

// updateListingLocked puts e into the cached listing of the directory prefix,
// replacing an entry of the same name and kind, in the order listings have
// (by name, a file before a directory of the same name). The listing keeps the
// time S3 gave it, so it still expires one TTL after that.
func (c *metaCache) updateListingLocked(bucket, prefix string, e Entry) {
	k := listKey(bucket, prefix)
	v, ok := c.lru.Peek(k)
	if !ok {
		return
	}
	old := v.(cachedListing)
	if len(old.entries) >= maxUpdatedListing || time.Since(old.born) > c.ttl {
		c.lru.Remove(k)
		return
	}
	before := func(o Entry) bool { return o.Name > e.Name || (o.Name == e.Name && !e.IsDir && o.IsDir) }
	if n := len(old.entries); n == 0 || !before(old.entries[n-1]) && !sameEntry(old.entries[n-1], e) {
		// e goes last, as files named in rising order (scans, cameras, batch
		// jobs) always do: append into the listing's spare room rather than copy
		// all of it for each upload. Readers hold slices of the old length, which
		// this never writes, and cache.listing clips what it hands out, so none
		// of them can append into that room either.
		if c.listed.Load()+1 > c.budget {
			c.lru.Remove(k)
			return
		}
		// append's own growth: a few entries copied per upload on average, and
		// spare room at most the listing's size (a quarter of it when large).
		c.listed.Add(1)
		c.add(k, cachedListing{entries: append(old.entries, e), born: old.born})
		return
	}
	entries := make([]Entry, 0, len(old.entries)+1)
	placed := false
	for _, o := range old.entries {
		switch {
		case placed:
		case sameEntry(o, e):
			o, placed = e, true
		case before(o):
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
		return
	}
	// Replaced, not removed and added again: a lookup from another session in
	// between would find no listing and ask S3. The LRU's Add would not call
	// evicted for the old value, so the count moves by the difference.
	c.listed.Add(grow)
	c.add(k, cachedListing{entries: entries, born: old.born})
}
