package storage

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Memory is the one budget that every part and chunk buffer of the process is
// taken from (FTP2S3_MEMORY_LIMIT, README "Transfers"). It counts the buffers
// in use and the idle ones kept for reuse, so both together never exceed the
// limit; a buffer that does not fit waits until another transfer gives one back.
//
// Why it cannot deadlock: a transfer blocks on the budget only while it holds
// none of it (its first buffer). A transfer that already holds a buffer only
// tries for more and, when that fails, carries on with what it has: an upload
// waits for one of its own parts to finish and reuses that buffer, a download
// stops reading ahead and streams straight from S3. So every holder can always
// make progress and give its memory back, and no holder ever waits for another.
// Waiters are served in order, and a try fails while anyone waits, so a
// transfer growing its read-ahead never overtakes one that has nothing yet.
// Every single buffer is at most the limit (part sizes are capped by it), so
// the first waiter is served once enough has been returned.
type Memory struct {
	limit     int64
	idleAfter time.Duration
	// smallLimit is the share of limit set aside for the first MiB of uploads
	// (smallfile.go): the rest is the parts pool that get serves.
	smallLimit int64

	mu        sync.Mutex
	inUse     int64
	idle      []idleBuffer // free list, oldest first
	idleBytes int64
	waiters   []*memWaiter
	trim      *time.Timer
	waited    int64 // bytes of requests that had to wait, since start
	waits     int64

	smallInUse int64
	smallIdle  []idleBuffer
}

type idleBuffer struct {
	buf   []byte
	since time.Time
}

type memWaiter struct {
	size  int64
	ready chan []byte // nil buffer: the bytes are reserved, allocate them
}

// idleBufferLife is how long a returned buffer is kept for reuse. Reuse matters
// within a transfer and across back-to-back transfers (allocating 16 MiB per
// part made the garbage collector the limit); an idle gateway gives the memory
// back.
const idleBufferLife = 30 * time.Second

// DefaultMemoryLimit is FTP2S3_MEMORY_LIMIT's default: 1 GiB, or half of the
// container's memory limit (cgroup v2 memory.max, or v1
// memory.limit_in_bytes) when that is smaller, so the buffers leave room for
// the rest of the process.
func DefaultMemoryLimit() int64 {
	limit := int64(1 << 30)
	if c := cgroupMemoryLimit(); c > 0 && c/2 < limit {
		limit = c / 2
	}
	return limit
}

// cgroupMemoryLimit returns this process's cgroup memory limit, or 0 when none
// is set ("max" in v2, a huge number in v1).
func cgroupMemoryLimit() int64 {
	for _, p := range []string{"/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"} {
		data, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		return parseCgroupLimit(string(data))
	}
	return 0
}

func parseCgroupLimit(s string) int64 {
	s = strings.TrimSpace(s)
	if s == "" || s == "max" {
		return 0
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n <= 0 || n >= 1<<62 { // v1 reports "no limit" as a page-rounded 2^63-1
		return 0
	}
	return n
}

// NewMemory returns a budget of limit bytes (DefaultMemoryLimit when limit <= 0).
func NewMemory(limit int64) *Memory {
	if limit <= 0 {
		limit = DefaultMemoryLimit()
	}
	return &Memory{limit: limit, idleAfter: idleBufferLife, smallLimit: smallShare(limit)}
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
}

// Stats returns the budget's state.
func (m *Memory) Stats() MemoryStats {
	m.mu.Lock()
	defer m.mu.Unlock()
	return MemoryStats{Limit: m.limit, InUse: m.inUse + m.smallInUse, Idle: m.idleBytes + int64(len(m.smallIdle))*smallPutLimit, Waiting: len(m.waiters),
		WaitedBytes: m.waited, Waits: m.waits}
}

// Limit returns the budget in bytes.
func (m *Memory) Limit() int64 { return m.limit }

// get returns a buffer of size bytes. With wait, it blocks until the budget has
// room (or ctx ends); without, it returns nil at once when the budget is full or
// anyone is waiting. Only a transfer that holds no buffer may wait (see Memory).
func (m *Memory) get(ctx context.Context, size int64, wait bool) ([]byte, error) {
	if size > m.partLimit() {
		return nil, fmt.Errorf("a %d-byte buffer exceeds FTP2S3_MEMORY_LIMIT (%d bytes, %d of them for parts): %w", size, m.limit, m.partLimit(), ErrTooLarge)
	}
	m.mu.Lock()
	if len(m.waiters) == 0 {
		if buf, ok := m.takeLocked(size); ok {
			m.mu.Unlock()
			return alloc(buf, size), nil
		}
	}
	if !wait {
		m.mu.Unlock()
		return nil, nil
	}
	w := &memWaiter{size: size, ready: make(chan []byte, 1)}
	m.waiters = append(m.waiters, w)
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
			m.waiters = append(m.waiters[:i], m.waiters[i+1:]...)
			break
		}
	}
	m.serveLocked() // the head may have changed
	m.mu.Unlock()
	select {
	case buf := <-w.ready: // granted while giving up: hand it back
		m.put(alloc(buf, size))
	default:
	}
	return nil, context.Cause(ctx)
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
// download's kernel pipe, splice.go) against the budget, without waiting: it
// fails when the budget is full or anyone waits. unreserve gives them back.
func (m *Memory) reserve(size int64) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.waiters) > 0 || size > m.partLimit() {
		return false
	}
	// An idle buffer of that size may come back: it is dropped, and its bytes
	// stay counted for the reservation.
	_, ok := m.takeLocked(size)
	return ok
}

func (m *Memory) unreserve(size int64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.inUse -= size
	m.serveLocked()
}

// put gives a buffer from get back to the budget.
func (m *Memory) put(buf []byte) {
	buf = buf[:cap(buf)]
	m.mu.Lock()
	defer m.mu.Unlock()
	m.inUse -= int64(len(buf))
	m.idle = append(m.idle, idleBuffer{buf: buf, since: time.Now()})
	m.idleBytes += int64(len(buf))
	m.serveLocked()
	if len(m.idle) > 0 && m.trim == nil {
		m.trim = time.AfterFunc(m.idleAfter, m.trimIdle)
	}
}

// serveLocked hands buffers to waiters in order while the budget has room.
func (m *Memory) serveLocked() {
	for len(m.waiters) > 0 {
		w := m.waiters[0]
		buf, ok := m.takeLocked(w.size)
		if !ok {
			return
		}
		m.waiters = m.waiters[1:]
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
