package storage

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// A returned buffer is handed out again, whatever goroutine returns or asks.
func TestMemoryReusesBuffers(t *testing.T) {
	m := NewMemory(8 << 20)
	ctx := context.Background()
	const size = 1<<20 + 4096
	seen := map[*byte]bool{}
	var bufs [][]byte
	for range 3 {
		buf, err := m.get(ctx, size, true)
		if err != nil || len(buf) != size {
			t.Fatalf("get: %d bytes, %v", len(buf), err)
		}
		seen[&buf[0]] = true
		bufs = append(bufs, buf)
	}
	var wg sync.WaitGroup
	for _, buf := range bufs {
		wg.Add(1)
		go func() { defer wg.Done(); m.put(buf[:10]) }()
	}
	wg.Wait()
	for range 3 {
		got, _ := m.get(ctx, size, false)
		if len(got) != size || !seen[&got[0]] {
			t.Fatalf("get allocated a new buffer while returned ones were idle")
		}
	}
	if st := m.Stats(); st.InUse != 3*size || st.Idle != 0 {
		t.Fatalf("stats %+v, want %d in use and nothing idle", st, 3*size)
	}
}

// The budget is never exceeded, whatever the mix of sizes and goroutines, and
// every waiter is served in the end.
func TestMemoryNeverExceedsLimit(t *testing.T) {
	const limit = 10 << 20
	m := NewMemory(limit)
	var wg sync.WaitGroup
	var peak atomic.Int64
	for g := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 50 {
				size := int64(1+(g+i)%4) << 20
				buf, err := m.get(context.Background(), size, true)
				if err != nil {
					t.Error(err)
					return
				}
				st := m.Stats()
				if used := st.InUse + st.Idle; used > peak.Load() {
					peak.Store(used)
				}
				m.put(buf)
			}
		}()
	}
	wg.Wait()
	if p := peak.Load(); p > limit {
		t.Fatalf("budget peaked at %d bytes, limit %d", p, limit)
	}
	if st := m.Stats(); st.InUse != 0 || st.Waiting != 0 {
		t.Fatalf("after every buffer came back: %+v", st)
	}
	if st := m.Stats(); st.Waits == 0 || st.WaitedBytes == 0 {
		t.Fatalf("16 goroutines over a 10 MiB budget never waited: %+v", st)
	}
}

// A full budget makes a transfer with nothing wait, in order, and makes a try
// fail while anyone waits, so read-ahead never overtakes a waiting transfer.
func TestMemoryWaitersComeFirst(t *testing.T) {
	m := NewMemory(4 << 20)
	ctx := context.Background()
	held, _ := m.get(ctx, 4<<20, true)
	got := make(chan []byte, 1)
	go func() {
		buf, err := m.get(ctx, 2<<20, true)
		if err != nil {
			t.Error(err)
		}
		got <- buf
	}()
	waitFor(t, func() bool { return m.Stats().Waiting == 1 })
	if buf, _ := m.get(ctx, 1<<20, false); buf != nil {
		t.Fatal("a try succeeded while a transfer was waiting")
	}
	m.put(held)
	buf := <-got
	if len(buf) != 2<<20 {
		t.Fatalf("waiter got %d bytes", len(buf))
	}
	if st := m.Stats(); st.WaitedBytes != 2<<20 || st.InUse != 2<<20 || st.InUse+st.Idle > 4<<20 {
		t.Fatalf("stats %+v", st)
	}
	// Now the try succeeds: 2 MiB are free (after dropping the idle 4 MiB buffer).
	if buf, _ := m.get(ctx, 1<<20, false); buf == nil {
		t.Fatal("a try failed with room in the budget")
	}
}

// A waiter that gives up leaves nothing behind and lets the next one through.
func TestMemoryWaiterCancels(t *testing.T) {
	m := NewMemory(4 << 20)
	held, _ := m.get(context.Background(), 3<<20, true)
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { _, err := m.get(ctx, 4<<20, true); errc <- err }()
	waitFor(t, func() bool { return m.Stats().Waiting == 1 })
	small := make(chan []byte, 1)
	go func() { buf, _ := m.get(context.Background(), 1<<20, true); small <- buf }()
	waitFor(t, func() bool { return m.Stats().Waiting == 2 })
	cancel()
	if err := <-errc; err == nil {
		t.Fatal("a cancelled wait returned no error")
	}
	if buf := <-small; len(buf) != 1<<20 {
		t.Fatal("the waiter behind a cancelled one was not served")
	}
	m.put(held)
	if st := m.Stats(); st.Waiting != 0 || st.InUse != 1<<20 {
		t.Fatalf("stats %+v", st)
	}
}

// Idle buffers are dropped after a while, so an idle gateway gives memory back.
func TestMemoryTrimsIdleBuffers(t *testing.T) {
	m := NewMemory(4 << 20)
	m.idleAfter = 50 * time.Millisecond
	buf, _ := m.get(context.Background(), 1<<20, true)
	m.put(buf)
	if m.Stats().Idle != 1<<20 {
		t.Fatal("a returned buffer is not kept for reuse")
	}
	waitFor(t, func() bool { return m.Stats().Idle == 0 })
}

func TestMemoryRefusesBuffersLargerThanTheBudget(t *testing.T) {
	m := NewMemory(4 << 20)
	if _, err := m.get(context.Background(), 5<<20, true); err == nil {
		t.Fatal("a buffer larger than the budget was granted (or waited for ever)")
	}
}

func TestParseCgroupLimit(t *testing.T) {
	for in, want := range map[string]int64{
		"max\n": 0, "": 0, "536870912\n": 512 << 20, "9223372036854771712\n": 0, "junk": 0,
	} {
		if got := parseCgroupLimit(in); got != want {
			t.Errorf("parseCgroupLimit(%q) = %d, want %d", in, got, want)
		}
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached within 5s")
		}
		time.Sleep(time.Millisecond)
	}
}

// The small share: buffers from it count in the budget's figures, never
// exceed the share, are refused at once (not waited for) when it is taken, and
// leave the parts pool the rest of the limit.
func TestMemorySmallShare(t *testing.T) {
	m := NewMemory(64 << 20)
	share := smallShare(64 << 20)
	if share != 4<<20 || m.partLimit() != 60<<20 {
		t.Fatalf("share %d, parts %d; want 4 MiB and 60 MiB", share, m.partLimit())
	}
	var held [][]byte
	for {
		buf := m.getSmall()
		if buf == nil {
			break
		}
		held = append(held, buf)
	}
	if int64(len(held))*smallPutLimit != share {
		t.Fatalf("%d small buffers from a %d-byte share", len(held), share)
	}
	if st := m.Stats(); st.InUse != share {
		t.Fatalf("in use %d with the share taken, want %d", st.InUse, share)
	}
	if _, err := m.get(context.Background(), 64<<20, false); err == nil {
		t.Fatal("a part buffer the size of the whole limit was granted although the share is set aside")
	}
	for _, b := range held {
		m.putSmall(b)
	}
	if st := m.Stats(); st.InUse != 0 || st.Idle != share {
		t.Fatalf("after returning them: in use %d, idle %d", st.InUse, st.Idle)
	}
	if NewMemory(8<<20).smallLimit != 0 {
		t.Fatal("a budget under 16 MiB has a small share")
	}
}
