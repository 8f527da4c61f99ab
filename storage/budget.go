package storage

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"
)

// Memory is the one budget that every part and chunk buffer of the process is
// taken from (FTP2S3_MEMORY_LIMIT, docs/memory-budget.md). It counts the buffers
// in use and the idle ones kept for reuse, so both together never exceed the
// limit; a buffer that does not fit waits until another transfer gives one back.
//
// Why it cannot deadlock: a transfer blocks on the budget only while it holds
// none of it (its first buffer). A transfer that already holds a buffer only
// tries for more and, when that fails, carries on with what it has: an upload
// waits for one of its own parts to finish and reuses that buffer, a download
// stops reading ahead and streams straight from S3. So every holder can always
// make progress and give its memory back, and no holder ever waits for another.
//
// Fairness (issue 20, section 2):
//   - One client (the key WithClient puts in the context: the gateway uses the
//     address, an IPv6 /64) holds at most clientShare bytes; a request past it
//     waits for that client's own buffers to come back and holds nobody else
//     up. A client that holds nothing may always take one buffer, so every
//     buffer up to the pool's size can be granted.
//   - Waiters are served oldest first, but one that fits in the free memory is
//     not held behind an older one that does not: it passes it. The oldest
//     waiter can be passed maxPasses times; after that every byte that comes
//     back is kept for it, so no waiter starves.
//   - A try (read-ahead, an upload's extra parts) fails while any waiter that
//     its share allows waits, so growth never overtakes a transfer with
//     nothing.
type Memory struct {
	limit     int64
	idleAfter time.Duration
	// smallLimit is the share of limit set aside for the first MiB of uploads
	// (smallfile.go): the rest is the parts pool that get serves.
	smallLimit int64
	// clientShare is the most one client key may hold of the parts pool.
	clientShare int64

	mu        sync.Mutex
	inUse     int64
	idle      []idleBuffer // free list, oldest first
	idleBytes int64
	waiters   []*memWaiter // oldest first
	held      map[string]int64
	trim      *time.Timer
	waited    int64 // bytes of requests that had to wait, since start
	waits     int64
	passes    int64 // waiters served ahead of an older one, since start
	tooSlow   int64 // uploads ended by the slow-upload rule (slowupload.go)

	smallInUse int64
	smallIdle  []idleBuffer
}

type idleBuffer struct {
	buf   []byte
	since time.Time
}

type memWaiter struct {
	size   int64
	client string
	passed int         // times a younger waiter was served first
	ready  chan []byte // nil buffer: the bytes are reserved, allocate them
}

// maxPasses is how many younger waiters may be served ahead of the oldest one
// that does not fit. Passing keeps memory busy (a 16 MiB part goes ahead of a
// 96 MiB one instead of idling until 96 MiB are free); the bound keeps the
// oldest waiter's wait finite: after it, memory that comes back is kept for it.
const maxPasses = 8

// clientKey is the context key of WithClient.
type clientKey struct{}

// WithClient marks ctx as the work of one client, named by key: the budget's
// per-client share counts every buffer taken under the same key. The gateway
// passes the client's address (gateway/clientaddr); "" is no client, unbounded
// by any share (tests, the gateway's own work).
func WithClient(ctx context.Context, key string) context.Context {
	return context.WithValue(ctx, clientKey{}, key)
}

func clientOf(ctx context.Context) string {
	k, _ := ctx.Value(clientKey{}).(string)
	return k
}

// idleBufferLife is how long a returned buffer is kept for reuse. Reuse matters
// within a transfer and across back-to-back transfers (allocating 16 MiB per
// part made the garbage collector the limit); an idle gateway gives the memory
// back.
const idleBufferLife = 30 * time.Second

// NewMemory returns a budget of limit bytes (DefaultMemoryLimit when limit <= 0).
func NewMemory(limit int64) *Memory {
	if limit <= 0 {
		limit = DefaultMemoryLimit()
	}
	m := &Memory{limit: limit, idleAfter: idleBufferLife, smallLimit: smallShare(limit), held: map[string]int64{}}
	m.clientShare = clientShareOf(m.partLimit(), 0)
	return m
}

// newMemoryFor is NewMemory for transfers that each hold up to perTransfer
// bytes (Options.perTransfer), which the per-client share must let through.
func newMemoryFor(limit, perTransfer int64) *Memory {
	m := NewMemory(limit)
	m.clientShare = clientShareOf(m.partLimit(), perTransfer)
	return m
}

// clientShareOf is the most one client may hold of a parts pool of pool
// bytes: a quarter of it, or one transfer at full speed (perTransfer) if that
// is more, so that a single large upload from one address never runs slower
// than without the share, while a client holding its share leaves the rest of
// the pool to others. Never more than the pool.
func clientShareOf(pool, perTransfer int64) int64 {
	return min(pool, max(perTransfer, pool/4))
}

// smallShare is the part of a budget of limit bytes kept for small-upload
// buffers: a sixteenth, at most 64 MiB, in whole smallPutLimit buffers (none
// under 16 MiB). A share of its own, rather than buffers from the parts pool,
// keeps the budget free of deadlock: an upload longer than its small buffer
// waits for a part buffer while holding it, and a holder of the parts pool
// never waits for the small share (see Memory), so the wait always ends.
func smallShare(limit int64) int64 {
	return min(limit/16, 64<<20) &^ (smallPutLimit - 1)
}

// partLimit is the size of the parts pool: the budget less the small share.
func (m *Memory) partLimit() int64 { return m.limit - m.smallLimit }

// getSmall returns a smallPutLimit buffer from the small share, or nil at once
// when the share is taken (the caller then uses the parts pool as any upload).
// It never waits.
func (m *Memory) getSmall() []byte {
	m.mu.Lock()
	defer m.mu.Unlock()
	if n := len(m.smallIdle); n > 0 {
		buf := m.smallIdle[n-1].buf
		m.smallIdle = m.smallIdle[:n-1]
		m.smallInUse += smallPutLimit
		return buf
	}
	if m.smallInUse+int64(len(m.smallIdle))*smallPutLimit+smallPutLimit > m.smallLimit {
		return nil
	}
	m.smallInUse += smallPutLimit
	return make([]byte, smallPutLimit)
}

// putSmall gives a buffer from getSmall back.
func (m *Memory) putSmall(buf []byte) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.smallInUse -= smallPutLimit
	m.smallIdle = append(m.smallIdle, idleBuffer{buf: buf[:smallPutLimit], since: time.Now()})
	if m.trim == nil {
		m.trim = time.AfterFunc(m.idleAfter, m.trimIdle)
	}
}

// MemoryStats is the budget's state, for metrics.
type MemoryStats struct {
	Limit       int64 // the budget
	InUse       int64 // bytes in buffers held by transfers
	Idle        int64 // bytes in buffers kept for reuse
	Waiting     int   // requests waiting now
	WaitedBytes int64 // bytes of requests that had to wait, since start
	Waits       int64 // requests that had to wait, since start
	// WaitingShare counts the requests waiting now because their client holds
	// its share (the rest of Waiting wait for free memory).
	WaitingShare int
	ClientShare  int64 // the most one client may hold
	Passes       int64 // waiters served ahead of an older one, since start
	TooSlow      int64 // uploads ended by the slow-upload rule, since start
}

// Stats returns the budget's state.
func (m *Memory) Stats() MemoryStats {
	m.mu.Lock()
	defer m.mu.Unlock()
	share := 0
	for _, w := range m.waiters {
		if !m.shareAllowsLocked(w.client, w.size) {
			share++
		}
	}
	return MemoryStats{Limit: m.limit, InUse: m.inUse + m.smallInUse, Idle: m.idleBytes + int64(len(m.smallIdle))*smallPutLimit, Waiting: len(m.waiters),
		WaitedBytes: m.waited, Waits: m.waits, WaitingShare: share, ClientShare: m.clientShare, Passes: m.passes,
		TooSlow: m.tooSlow}
}

// endSlow reports whether any transfer waits for the budget, and counts an
// upload that the slow-upload rule ends because of it (slowupload.go).
func (m *Memory) endSlow() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.waiters) == 0 {
		return false
	}
	m.tooSlow++
	return true
}

// heldBy returns the bytes client holds of the parts pool.
func (m *Memory) heldBy(client string) int64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.held[client]
}

// Limit returns the budget in bytes.
func (m *Memory) Limit() int64 { return m.limit }

// get returns a buffer of size bytes for the client ctx names (WithClient).
// With wait, it blocks until the budget and the client's share have room (or
// ctx ends); without, it returns nil at once when either is full or a waiter
// comes first (see Memory). Only a transfer that holds no buffer may wait.
func (m *Memory) get(ctx context.Context, size int64, wait bool) ([]byte, error) {
	if size > m.partLimit() {
		return nil, fmt.Errorf("a %d-byte buffer exceeds FTP2S3_MEMORY_LIMIT (%d bytes, %d of them for parts): %w", size, m.limit, m.partLimit(), ErrTooLarge)
	}
	client := clientOf(ctx)
	m.mu.Lock()
	if len(m.waiters) == 0 || !wait {
		if buf, ok := m.tryLocked(client, size); ok {
			m.mu.Unlock()
			return alloc(buf, size), nil
		}
		if !wait {
			m.mu.Unlock()
			return nil, nil
		}
	}
	// Queued last, then served at once if it fits: it may pass older waiters
	// that do not (serveLocked).
	w := &memWaiter{size: size, client: client, ready: make(chan []byte, 1)}
	m.waiters = append(m.waiters, w)
	m.serveLocked()
	select {
	case buf := <-w.ready:
		m.mu.Unlock()
		return alloc(buf, size), nil
	default:
	}
	m.waited += size
	m.waits++
	m.mu.Unlock()

	select {
	case buf := <-w.ready:
		return alloc(buf, size), nil
	case <-ctx.Done():
	}
	m.mu.Lock()
	for i, x := range m.waiters {
		if x == w {
			m.waiters = slices.Delete(m.waiters, i, i+1)
			break
		}
	}
	m.serveLocked() // the oldest waiter may have changed
	m.mu.Unlock()
	select {
	case buf := <-w.ready: // granted while giving up: hand it back
		m.put(ctx, alloc(buf, size))
	default:
	}
	return nil, context.Cause(ctx)
}

// tryLocked takes size bytes for client without waiting: only when the
// client's share allows it and no waiter that may be served comes first.
func (m *Memory) tryLocked(client string, size int64) ([]byte, bool) {
	if !m.shareAllowsLocked(client, size) {
		return nil, false
	}
	for _, w := range m.waiters {
		if m.shareAllowsLocked(w.client, w.size) {
			return nil, false
		}
	}
	buf, ok := m.takeLocked(size)
	if ok {
		m.holdLocked(client, size)
	}
	return buf, ok
}

// shareAllowsLocked reports whether client may take size more bytes: it holds
// nothing yet (so any one buffer can be granted), or the bytes fit in its share.
func (m *Memory) shareAllowsLocked(client string, size int64) bool {
	if client == "" {
		return true
	}
	h := m.held[client]
	return h == 0 || h+size <= m.clientShare
}

func (m *Memory) holdLocked(client string, size int64) {
	if client != "" {
		m.held[client] += size
	}
}

func (m *Memory) releaseLocked(client string, size int64) {
	if client == "" {
		return
	}
	if m.held[client] -= size; m.held[client] <= 0 {
		delete(m.held, client)
	}
}

func alloc(buf []byte, size int64) []byte {
	if buf == nil {
		return make([]byte, size)
	}
	return buf
}

// takeLocked reserves size bytes: an idle buffer of that size, or room for a
// new one (nil, true) after dropping idle buffers of other sizes if needed.
func (m *Memory) takeLocked(size int64) ([]byte, bool) {
	for i := len(m.idle) - 1; i >= 0; i-- {
		if int64(len(m.idle[i].buf)) == size {
			buf := m.idle[i].buf
			m.idle = append(m.idle[:i], m.idle[i+1:]...)
			m.idleBytes -= size
			m.inUse += size
			return buf, true
		}
	}
	for len(m.idle) > 0 && m.inUse+m.idleBytes+size > m.partLimit() {
		m.idleBytes -= int64(len(m.idle[0].buf))
		m.idle[0] = idleBuffer{}
		m.idle = m.idle[1:]
	}
	if m.inUse+m.idleBytes+size > m.partLimit() {
		return nil, false
	}
	m.inUse += size
	return nil, true
}

// reserve counts size bytes that live outside the Go heap (a spliced
// download's kernel pipe, splice.go) against the budget and ctx's client,
// without waiting: it fails as a try would (get). unreserve gives them back.
func (m *Memory) reserve(ctx context.Context, size int64) bool {
	if size > m.partLimit() {
		return false
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	// An idle buffer of that size may come back: it is dropped, and its bytes
	// stay counted for the reservation.
	_, ok := m.tryLocked(clientOf(ctx), size)
	return ok
}

func (m *Memory) unreserve(ctx context.Context, size int64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.inUse -= size
	m.releaseLocked(clientOf(ctx), size)
	m.serveLocked()
}

// put gives a buffer from get back to the budget; ctx names the same client
// as get's.
func (m *Memory) put(ctx context.Context, buf []byte) {
	buf = buf[:cap(buf)]
	m.mu.Lock()
	defer m.mu.Unlock()
	m.inUse -= int64(len(buf))
	m.releaseLocked(clientOf(ctx), int64(len(buf)))
	m.idle = append(m.idle, idleBuffer{buf: buf, since: time.Now()})
	m.idleBytes += int64(len(buf))
	m.serveLocked()
	if len(m.idle) > 0 && m.trim == nil {
		m.trim = time.AfterFunc(m.idleAfter, m.trimIdle)
	}
}

// serveLocked hands buffers to waiters, oldest first, while the budget has
// room. A waiter past its client's share is skipped (its own client's returns
// serve it). One that does not fit in the free memory is passed by younger
// ones that do, until it has been passed maxPasses times: then nobody behind
// it is served, and what comes back accumulates for it.
func (m *Memory) serveLocked() {
	var oldest *memWaiter // the oldest waiter that could not be served
	// The smallest size that did not fit: serving only takes memory, so no
	// larger request fits later in this pass (and takeLocked, which scans the
	// idle list, need not be asked, nor the share once oldest is known).
	var noFit int64
	for i := 0; i < len(m.waiters); {
		w := m.waiters[i]
		fits := noFit == 0 || w.size < noFit
		if (!fits && oldest != nil) || !m.shareAllowsLocked(w.client, w.size) {
			i++
			continue
		}
		if oldest != nil && oldest.passed >= maxPasses {
			return
		}
		var buf []byte
		if fits {
			buf, fits = m.takeLocked(w.size)
		}
		if !fits {
			if noFit == 0 || w.size < noFit {
				noFit = w.size
			}
			if oldest == nil {
				oldest = w
			}
			i++
			continue
		}
		m.waiters = slices.Delete(m.waiters, i, i+1)
		m.holdLocked(w.client, w.size)
		if oldest != nil {
			oldest.passed++
			m.passes++
		}
		w.ready <- buf
	}
}

// trimIdle drops buffers idle for longer than idleAfter, so that the garbage
// collector returns them to the operating system, and runs again while any
// remain.
func (m *Memory) trimIdle() {
	m.mu.Lock()
	defer m.mu.Unlock()
	cut := time.Now().Add(-m.idleAfter)
	n := 0
	for n < len(m.idle) && !m.idle[n].since.After(cut) {
		m.idleBytes -= int64(len(m.idle[n].buf))
		m.idle[n] = idleBuffer{}
		n++
	}
	m.idle = m.idle[n:]
	k := 0
	for k < len(m.smallIdle) && !m.smallIdle[k].since.After(cut) {
		m.smallIdle[k] = idleBuffer{}
		k++
	}
	m.smallIdle = m.smallIdle[k:]
	m.trim = nil
	var next time.Time
	for _, l := range [][]idleBuffer{m.idle, m.smallIdle} {
		if len(l) > 0 && (next.IsZero() || l[0].since.Before(next)) {
			next = l[0].since
		}
	}
	if !next.IsZero() {
		m.trim = time.AfterFunc(time.Until(next.Add(m.idleAfter))+time.Millisecond, m.trimIdle)
	}
}
