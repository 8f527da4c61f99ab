// Package auth decides who may log in and as what: static users with bcrypt
// hashes (reloaded from their file, reload.go), S3 access keys
// (FTP2S3_AUTH=s3), an identity service (FTP2S3_AUTH=http, httpauth.go),
// client networks per user, anonymous read-only access, the FTP2S3_BUCKETS
// allow-list, and the guard against password guessing (delays and bans per
// client address).
package auth

import (
	"container/list"
	"context"
	"errors"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ftp2s3/ftp2s3/gateway/clientaddr"
	"github.com/ftp2s3/ftp2s3/session"
)

// Bans implements session.LoginGuard: every failed login from an address delays
// its reply a little more, and an address with BanAfter failures within the
// window is refused (421) for BanFor. Addresses are counted apart, so one
// attacker's ban never locks anybody else out; IPv6 clients are counted per /64,
// the block one subscriber gets.
type Bans struct {
	after  int
	window time.Duration // failures older than this are forgotten
	banFor time.Duration
	now    func() time.Time
	// maxTracked is the cap on the table (the constant of that name; tests
	// lower it).
	maxTracked int

	// mu guards the table. Every operation under it costs O(1) (amortised):
	// at the cap, a full scan per login once held it for 15 to 85 ms
	// (BenchmarkLoginFailedAtCap; under a microsecond now), stalling every
	// login and connection. Banned, on every new connection, only reads,
	// under the read lock.
	mu    sync.RWMutex
	addrs map[netip.Addr]*addrRecord
	// idle holds the records neither banned nor being checked, least recently
	// active first: the front is the one to evict at the cap and the first to
	// expire. bans holds the banned records in the order their bans end
	// (every ban lasts banFor).
	idle, bans list.List

	failed  atomic.Int64 // failed logins ever
	banned  atomic.Int64 // bans ever imposed
	refused atomic.Int64 // connections and logins refused because of a ban
}

var _ session.LoginGuard = (*Bans)(nil)

type addrRecord struct {
	key         netip.Addr
	failures    []time.Time // within the window, oldest first
	bannedUntil time.Time
	// checking is how many passwords from the address are being checked right
	// now; with the failures it may not exceed BanAfter (see BeginLogin).
	checking int
	// turn is closed (and replaced) whenever a check ends, to wake the logins
	// waiting for one.
	turn chan struct{}
	// active is when the record last changed; elem its place in Bans.idle or
	// Bans.bans (nil while a check is in flight).
	active time.Time
	elem   *list.Element
	inBans bool // elem is in Bans.bans
}

// Delays grow per failure from the first, doubling, up to maxDelay.
const (
	firstDelay = 250 * time.Millisecond
	maxDelay   = 5 * time.Second
	// maxTracked bounds the memory an address scan can make us spend; beyond it
	// the records that matter least go first: not banned, no check in flight,
	// and the longest since their last activity (for an attacker's addresses,
	// their last failure).
	maxTracked = 100000
	// tidyBatch bounds the expired records one call drops, so that the work of
	// forgetting is spread over the calls instead of done all at once.
	tidyBatch = 16
)

// NewBans returns a guard that bans after `after` failures within `window`, for
// `banFor`.
func NewBans(after int, window, banFor time.Duration) *Bans {
	return &Bans{after: after, window: window, banFor: banFor, now: time.Now, maxTracked: maxTracked,
		addrs: map[netip.Addr]*addrRecord{}}
}

// LoginFailed records a failure and returns the delay before the reply, and
// whether the address is banned now.
func (b *Bans) LoginFailed(addr netip.Addr) (time.Duration, bool) {
	b.failed.Add(1)
	now := b.now()
	b.mu.Lock()
	defer b.mu.Unlock()
	b.tidy(now)
	r := b.record(clientaddr.Key(addr), now)
	r.failures = append(r.expire(now, b.window), now)
	n := len(r.failures)
	delay := firstDelay << min(n-1, 8)
	delay = min(delay, maxDelay)
	if n >= b.after && !now.Before(r.bannedUntil) {
		r.bannedUntil = now.Add(b.banFor)
		r.failures = nil
		b.banned.Add(1)
		b.settle(r, now)
		return delay, true
	}
	b.settle(r, now)
	return delay, now.Before(r.bannedUntil)
}

// record returns the record of the address with key k, making one (and
// evicting the least recently active idle record at the cap) if there is none.
func (b *Bans) record(k netip.Addr, now time.Time) *addrRecord {
	if r := b.addrs[k]; r != nil {
		return r
	}
	if len(b.addrs) >= b.maxTracked {
		if e := b.idle.Front(); e != nil {
			b.drop(e.Value.(*addrRecord))
		}
	}
	r := &addrRecord{key: k, active: now}
	b.addrs[k] = r
	return r
}

// settle puts r where its state says after a change at now: in bans while
// banned, nowhere while a check is in flight, else at the back of idle.
func (b *Bans) settle(r *addrRecord, now time.Time) {
	r.active = now
	if r.inBans && r.elem != nil && now.Before(r.bannedUntil) {
		return // bans stays in the order the bans end
	}
	if r.elem != nil {
		b.listOf(r).Remove(r.elem)
		r.elem = nil
	}
	r.inBans = now.Before(r.bannedUntil)
	switch {
	case r.inBans:
		r.elem = b.bans.PushBack(r)
	case r.checking == 0:
		r.elem = b.idle.PushBack(r)
	}
}

// listOf is the list r.elem belongs to.
func (b *Bans) listOf(r *addrRecord) *list.List {
	if r.inBans {
		return &b.bans
	}
	return &b.idle
}

// drop forgets r.
func (b *Bans) drop(r *addrRecord) {
	if r.elem != nil {
		b.listOf(r).Remove(r.elem)
		r.elem = nil
	}
	r.forget()
	delete(b.addrs, r.key)
}

// tidy ends the bans that are over and forgets up to tidyBatch idle records
// with nothing left to remember (no failure within the window): each call
// does a little, at the front of lists kept in time order, so no call scans
// the table.
func (b *Bans) tidy(now time.Time) {
	for e := b.bans.Front(); e != nil; e = b.bans.Front() {
		r := e.Value.(*addrRecord)
		if now.Before(r.bannedUntil) {
			break
		}
		r.failures = r.expire(now, b.window)
		if len(r.failures) == 0 && r.checking == 0 {
			b.drop(r)
		} else {
			b.settle(r, now)
		}
	}
	for i := 0; i < tidyBatch; i++ {
		e := b.idle.Front()
		if e == nil {
			return
		}
		r := e.Value.(*addrRecord)
		if now.Sub(r.active) <= b.window {
			return
		}
		b.drop(r)
	}
}

// forget wakes the logins still waiting on a record about to be dropped; they
// look again and find a fresh one.
func (r *addrRecord) forget() {
	if r.turn != nil {
		close(r.turn)
		r.turn = nil
	}
}

// expire drops failures older than window.
func (r *addrRecord) expire(now time.Time, window time.Duration) []time.Time {
	i := 0
	for i < len(r.failures) && now.Sub(r.failures[i]) > window {
		i++
	}
	return r.failures[i:]
}

// maxLoginWait bounds how long a login waits for its turn to be checked. A
// turn frees as soon as a check ends (bcrypt, or the S3 request of
// FTP2S3_AUTH=s3) plus, for a failure, its delay of at most maxDelay.
const maxLoginWait = 30 * time.Second

// ErrLoginBusy is BeginLogin's answer when the address kept its BanAfter
// checks busy for longer than a login may wait.
var ErrLoginBusy = errors.New("too many logins in progress from this address")

// BeginLogin implements session.LoginGuard. Failures are only known once the
// password is checked, so a ban counted from finished failures alone lets an
// address fire any number of guesses in parallel before the first one fails.
// Here a check in flight counts as a failure until it ends: an address starts
// a check only while its recent failures plus its checks in flight stay below
// BanAfter, so at most BanAfter guesses are ever evaluated within the window.
// Logins over that wait for a turn rather than fail (a legitimate burst from
// one address is merely serialised), for at most maxLoginWait or until ctx
// ends. The returned done must be called once the outcome is recorded
// (after LoginFailed, for a failure).
func (b *Bans) BeginLogin(ctx context.Context, addr netip.Addr) (done func(), err error) {
	k := clientaddr.Key(addr)
	var timeout <-chan time.Time
	for {
		now := b.now()
		b.mu.Lock()
		b.tidy(now)
		r := b.record(k, now)
		if now.Before(r.bannedUntil) {
			b.mu.Unlock()
			b.refused.Add(1)
			return nil, session.ErrBanned
		}
		r.failures = r.expire(now, b.window)
		if len(r.failures)+r.checking < b.after {
			r.checking++
			b.settle(r, now)
			b.mu.Unlock()
			var once sync.Once
			return func() { once.Do(func() { b.endLogin(k) }) }, nil
		}
		if r.turn == nil {
			r.turn = make(chan struct{})
		}
		turn := r.turn
		b.mu.Unlock()
		if timeout == nil {
			t := time.NewTimer(maxLoginWait)
			defer t.Stop()
			timeout = t.C
		}
		select {
		case <-turn:
		case <-timeout:
			return nil, ErrLoginBusy
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// endLogin ends a check from the address with key k and wakes the logins
// waiting for a turn.
func (b *Bans) endLogin(k netip.Addr) {
	b.mu.Lock()
	defer b.mu.Unlock()
	r := b.addrs[k]
	if r == nil {
		return
	}
	r.checking--
	r.forget()
	b.settle(r, b.now())
}

// Banned reports whether addr is banned now, counting the refusal if so.
func (b *Bans) Banned(addr netip.Addr) bool {
	now := b.now()
	b.mu.RLock()
	r := b.addrs[clientaddr.Key(addr)]
	banned := r != nil && now.Before(r.bannedUntil)
	b.mu.RUnlock()
	if banned {
		b.refused.Add(1)
	}
	return banned
}

// BanStats are the login guard's counters, for metrics.
type BanStats struct {
	FailedLogins int64 // failed logins since start
	Bans         int64 // bans imposed since start
	Refused      int64 // connections or logins refused because of a ban
	BannedNow    int   // addresses (IPv6: /64 blocks) banned right now
}

// Stats returns the counters.
func (b *Bans) Stats() BanStats {
	now := b.now()
	b.mu.Lock()
	b.tidy(now)
	n := b.bans.Len()
	b.mu.Unlock()
	return BanStats{FailedLogins: b.failed.Load(), Bans: b.banned.Load(), Refused: b.refused.Load(), BannedNow: n}
}
