package storage

import (
	"sync"
	"time"
)

// ttlLRU is the metadata cache's store: an LRU of bounded size whose entries
// expire, with no goroutine of its own. golang-lru's expirable.LRU starts a
// sweeping goroutine that nothing stops (v2.0.7), so under FTP2S3_AUTH=s3 every
// per-identity Backend that gateway/auth/s3auth.go let go kept one goroutine
// and its cache for the life of the process (TestDroppedCachesLeaveNothing).
//
// An entry is never served after its expiry: Get and Peek check it and drop
// the entry they find expired. Memory is given back even when nobody looks
// again, within sweepGap of expiry, by a sweep on a runtime timer
// (time.AfterFunc: no goroutine while it waits, one short one while it runs),
// armed only while the cache holds entries. So a cache nobody uses any more
// holds its entries, and their share of the listing budget (cacheshare.go),
// at most until they expire, and is then unreachable: the pending timer is
// the only thing that kept it.
//
// Entries sit in two rings: by recency, for eviction, and by the time they
// were stored, which is the order they expire in but for listings, whose
// expiry counts from when S3 was asked (cachedListing.born): one that took
// long to list is swept later by at most that long (it is never served late).
type ttlLRU struct {
	mu      sync.Mutex
	size    int
	items   map[string]*ttlEntry
	recent  ttlEntry // sentinel: recent.next is the most recently used, recent.prev the least
	stored  ttlEntry // sentinel: stored.later is the earliest stored, stored.earlier the latest
	onEvict func(k string, v any)
	// sweeper runs sweep; armed tells that it is pending. sweepGap is the
	// least time between two sweeps.
	sweeper  *time.Timer
	armed    bool
	sweepGap time.Duration
}

type ttlEntry struct {
	key            string
	value          any
	expires        time.Time
	next, prev     *ttlEntry // the recency ring: next is less recently used
	later, earlier *ttlEntry // the ring in the order of storing
}

// sweepBatch bounds the entries one sweep drops while holding the lock, so
// lookups wait for no more than that many.
const sweepBatch = 1024

// reclaimOnAdd is how many expired entries each Add of a new key drops,
// earliest stored first: under a steady stream of stores the cache stays
// about free of expired entries between sweeps, and they make room before a
// live entry is evicted.
const reclaimOnAdd = 2

// newTTLLRU returns an LRU of at most size entries (at least 1) whose entries
// are swept within ttl/8 of expiring. onEvict runs, under the LRU's lock, for
// every entry dropped (evicted, expired, removed, purged), not for one replaced
// by Add.
func newTTLLRU(size int, ttl time.Duration, onEvict func(k string, v any)) *ttlLRU {
	l := &ttlLRU{size: max(size, 1), items: map[string]*ttlEntry{}, onEvict: onEvict, sweepGap: max(ttl/8, time.Millisecond)}
	l.recent.next, l.recent.prev = &l.recent, &l.recent
	l.stored.later, l.stored.earlier = &l.stored, &l.stored
	return l
}

// Add stores v under k until expires, as the most recently used entry. It
// reports whether another entry was evicted to make room. Replacing an entry
// keeps its place in the order of expiry when expires is not later (a
// listing updated in place keeps its birth).
func (l *ttlLRU) Add(k string, v any, expires time.Time) (evicted bool) {
	now := time.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	if e, ok := l.items[k]; ok {
		// Replaced even if it just expired: its owner accounts for the
		// replacement (the listing budget in ownwrite.go moves by the
		// difference), so it must not also be dropped through onEvict.
		e.value = v
		l.toFront(e)
		if expires.After(e.expires) {
			unlinkStored(e)
			l.pushStored(e)
		}
		e.expires = expires
		return false
	}
	for range reclaimOnAdd {
		if e := l.stored.later; e == &l.stored || !now.After(e.expires) {
			break
		}
		l.removeLocked(l.stored.later)
	}
	e := &ttlEntry{key: k, value: v, expires: expires}
	l.items[k] = e
	l.pushRecent(e)
	l.pushStored(e)
	if len(l.items) > l.size {
		l.removeLocked(l.recent.prev)
		evicted = true
	}
	if !l.armed {
		l.armLocked(now)
	}
	return evicted
}

// Get returns the value under k, unless it expired, and marks it used.
func (l *ttlLRU) Get(k string) (any, bool) {
	return l.lookup(k, true)
}

// Peek returns the value under k, unless it expired, leaving its recency alone.
func (l *ttlLRU) Peek(k string) (any, bool) {
	return l.lookup(k, false)
}

func (l *ttlLRU) lookup(k string, use bool) (any, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	e, ok := l.items[k]
	if !ok {
		return nil, false
	}
	if time.Now().After(e.expires) {
		l.removeLocked(e)
		return nil, false
	}
	if use {
		l.toFront(e)
	}
	return e.value, true
}

// Remove drops k, reporting whether it was there.
func (l *ttlLRU) Remove(k string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	e, ok := l.items[k]
	if ok {
		l.removeLocked(e)
	}
	return ok
}

// Keys returns every key held, expired or not, least recently used first.
func (l *ttlLRU) Keys() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	ks := make([]string, 0, len(l.items))
	for e := l.recent.prev; e != &l.recent; e = e.prev {
		ks = append(ks, e.key)
	}
	return ks
}

// Len returns how many entries are held, including expired ones not yet swept.
func (l *ttlLRU) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.items)
}

// Resize sets the size (at least 1), evicting the least recently used beyond it.
func (l *ttlLRU) Resize(size int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.size = max(size, 1)
	for len(l.items) > l.size {
		l.removeLocked(l.recent.prev)
	}
}

// Purge drops every entry, and with them the pending sweep.
func (l *ttlLRU) Purge() {
	l.mu.Lock()
	defer l.mu.Unlock()
	for len(l.items) > 0 {
		l.removeLocked(l.recent.prev)
	}
	l.disarmLocked()
}

// sweep drops the expired entries, in batches of sweepBatch, and arms the
// next sweep while entries remain. It runs on the timer's goroutine.
func (l *ttlLRU) sweep() {
	for {
		l.mu.Lock()
		l.armed = false
		now := time.Now()
		n := 0
		for e := l.stored.later; e != &l.stored && now.After(e.expires) && n < sweepBatch; e = l.stored.later {
			l.removeLocked(e)
			n++
		}
		if n < sweepBatch {
			if len(l.items) > 0 {
				l.armLocked(now)
			}
			l.mu.Unlock()
			return
		}
		l.mu.Unlock()
	}
}

// armLocked schedules the sweep for when the earliest stored entry expires,
// but no sooner than sweepGap from now.
func (l *ttlLRU) armLocked(now time.Time) {
	d := max(l.stored.later.expires.Sub(now), l.sweepGap)
	if l.sweeper == nil {
		l.sweeper = time.AfterFunc(d, l.sweep)
	} else {
		l.sweeper.Reset(d)
	}
	l.armed = true
}

// disarmLocked cancels the pending sweep, which lets an empty cache be
// collected at once. A sweep already running finds nothing and stops.
func (l *ttlLRU) disarmLocked() {
	if l.sweeper != nil {
		l.sweeper.Stop()
	}
	l.armed = false
}

func (l *ttlLRU) removeLocked(e *ttlEntry) {
	unlinkRecent(e)
	unlinkStored(e)
	delete(l.items, e.key)
	if len(l.items) == 0 {
		l.disarmLocked()
	}
	if l.onEvict != nil {
		l.onEvict(e.key, e.value)
	}
}

func (l *ttlLRU) pushRecent(e *ttlEntry) {
	e.prev, e.next = &l.recent, l.recent.next
	l.recent.next.prev = e
	l.recent.next = e
}

func (l *ttlLRU) toFront(e *ttlEntry) {
	if l.recent.next != e {
		unlinkRecent(e)
		l.pushRecent(e)
	}
}

func unlinkRecent(e *ttlEntry) {
	e.prev.next, e.next.prev = e.next, e.prev
}

func (l *ttlLRU) pushStored(e *ttlEntry) {
	e.earlier, e.later = l.stored.earlier, &l.stored
	l.stored.earlier.later = e
	l.stored.earlier = e
}

func unlinkStored(e *ttlEntry) {
	e.earlier.later, e.later.earlier = e.later, e.earlier
}
