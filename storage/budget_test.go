package storage

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
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
		go func() { defer wg.Done(); m.put(context.Background(), buf[:10]) }()
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
// every waiter is served in the end. The goroutines start against a full
// budget, so every one of them waits at least once.
func TestMemoryNeverExceedsLimit(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const limit, workers = 10 << 20, 16
		m := NewMemory(limit)
		full, _ := m.get(context.Background(), limit, true)
		var wg sync.WaitGroup
		var peak atomic.Int64
		for g := range workers {
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
					m.put(context.Background(), buf)
				}
			}()
		}
		synctest.Wait()
		if st := m.Stats(); st.Waiting != workers {
			t.Fatalf("%d waiting for a full budget, want all %d", st.Waiting, workers)
		}
		m.put(context.Background(), full)
		wg.Wait()
		if p := peak.Load(); p > limit {
			t.Fatalf("budget peaked at %d bytes, limit %d", p, limit)
		}
		if st := m.Stats(); st.InUse != 0 || st.Waiting != 0 || st.Waits < workers {
			t.Fatalf("after every buffer came back: %+v", st)
		}
	})
}

// The budget tests that need a transfer blocked in get run in a synctest
// bubble: synctest.Wait returns once every goroutine of the test is blocked,
// so a waiter is known to be queued, and time there is fake, so the idle
// timer fires exactly when due.

// A full budget makes a transfer with nothing wait, in order, and makes a try
// fail while anyone waits, so read-ahead never overtakes a waiting transfer.
func TestMemoryWaitersComeFirst(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
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
		synctest.Wait()
		if st := m.Stats(); st.Waiting != 1 {
			t.Fatalf("%d waiting with the budget full, want 1", st.Waiting)
		}
		if buf, _ := m.get(ctx, 1<<20, false); buf != nil {
			t.Fatal("a try succeeded while a transfer was waiting")
		}
		m.put(context.Background(), held)
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
	})
}

// A waiter that gives up leaves nothing behind and lets the next one
// through: here the oldest waiter has been passed maxPasses times, so a
// small one waits behind it until it cancels.
func TestMemoryWaiterCancels(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m := NewMemory(4 << 20)
		held, _ := m.get(context.Background(), 3<<20, true)
		ctx, cancel := context.WithCancel(context.Background())
		errc := make(chan error, 1)
		go func() { _, err := m.get(ctx, 4<<20, true); errc <- err }()
		synctest.Wait()
		passOldest(t, m, maxPasses)
		small := make(chan []byte, 1)
		go func() { buf, _ := m.get(context.Background(), 1<<20, true); small <- buf }()
		synctest.Wait()
		if st := m.Stats(); st.Waiting != 2 {
			t.Fatalf("%d waiting, want 2 (the big one first)", st.Waiting)
		}
		cancel()
		if err := <-errc; err == nil {
			t.Fatal("a cancelled wait returned no error")
		}
		if buf := <-small; len(buf) != 1<<20 {
			t.Fatal("the waiter behind a cancelled one was not served")
		}
		m.put(context.Background(), held)
		if st := m.Stats(); st.Waiting != 0 || st.InUse != 1<<20 {
			t.Fatalf("stats %+v", st)
		}
	})
}

// passOldest serves n 1 MiB requests, each given back at once, past the
// oldest waiter, and checks that none of them had to wait.
func passOldest(t *testing.T, m *Memory, n int) {
	t.Helper()
	for i := range n {
		before := m.Stats().Passes
		buf, err := m.get(context.Background(), 1<<20, true)
		if err != nil || len(buf) != 1<<20 {
			t.Fatalf("pass %d: %d bytes, %v", i, len(buf), err)
		}
		if m.Stats().Passes != before+1 {
			t.Fatalf("pass %d was not counted as passing the oldest waiter", i)
		}
		m.put(context.Background(), buf)
	}
}

// Idle buffers are dropped after a while, so an idle gateway gives memory back.
func TestMemoryTrimsIdleBuffers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m := NewMemory(4 << 20)
		m.idleAfter = 50 * time.Millisecond
		buf, _ := m.get(context.Background(), 1<<20, true)
		m.put(context.Background(), buf)
		time.Sleep(m.idleAfter - time.Millisecond) // fake time: exactly this long
		synctest.Wait()
		if m.Stats().Idle != 1<<20 {
			t.Fatal("a returned buffer is not kept for reuse until it has been idle for idleAfter")
		}
		time.Sleep(time.Millisecond)
		synctest.Wait() // the trim timer has fired and finished
		if st := m.Stats(); st.Idle != 0 {
			t.Fatalf("%d bytes still idle after idleAfter", st.Idle)
		}
	})
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

// A spliced download's kernel pipe counts against the budget (splice.go): a
// reservation takes room like a buffer, fails when there is none or anyone
// waits, and its return serves the next waiter.
func TestMemoryReservations(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m := NewMemory(4 << 20)
		ctx := context.Background()
		all := m.partLimit()
		if !m.reserve(ctx, all) {
			t.Fatal("reserving the whole budget failed")
		}
		if st := m.Stats(); st.InUse != all {
			t.Fatalf("in use %d after reserving %d", st.InUse, all)
		}
		if m.reserve(ctx, 1) {
			t.Fatal("a reservation succeeded with the budget full")
		}
		got := make(chan []byte, 1)
		go func() {
			buf, _ := m.get(ctx, 1<<20, true)
			got <- buf
		}()
		synctest.Wait()
		if st := m.Stats(); st.Waiting != 1 {
			t.Fatalf("%d waiting with the budget reserved, want 1", st.Waiting)
		}
		m.unreserve(ctx, all)
		if buf := <-got; len(buf) != 1<<20 {
			t.Fatalf("waiter got %d bytes after the reservation was returned", len(buf))
		}
		if m.reserve(ctx, all) {
			t.Fatal("a reservation ignored the buffer in use")
		}
		if !m.reserve(ctx, all-1<<20) {
			t.Fatal("reserving what is left failed")
		}
	})
}
