package storage

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// Fairness of the budget (issue 20, section 2; see Memory).

// A waiter that fits in the free memory is served at once although an older,
// larger one waits: it is not held behind it. The old budget served strictly
// in order, so the small request waited for the large one.
func TestMemorySmallWaiterPassesLargeOne(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m := NewMemory(4 << 20)
		held, _ := m.get(context.Background(), 3<<20, true)
		big := make(chan []byte, 1)
		go func() { buf, _ := m.get(context.Background(), 4<<20, true); big <- buf }()
		synctest.Wait()
		if st := m.Stats(); st.Waiting != 1 {
			t.Fatalf("%d waiting, want the 4 MiB request", st.Waiting)
		}
		small := make(chan []byte, 1)
		go func() { buf, _ := m.get(context.Background(), 1<<20, true); small <- buf }()
		synctest.Wait()
		select {
		case buf := <-small:
			if len(buf) != 1<<20 {
				t.Fatalf("small request got %d bytes", len(buf))
			}
			m.put(context.Background(), buf)
		default:
			t.Fatal("a 1 MiB request waits behind a 4 MiB one with 1 MiB free")
		}
		if buf, _ := m.get(context.Background(), 1<<20, false); buf != nil {
			t.Fatal("a try passed a waiter (only waiters pass waiters)")
		}
		m.put(context.Background(), held)
		if buf := <-big; len(buf) != 4<<20 {
			t.Fatalf("large waiter got %d bytes", len(buf))
		}
	})
}

// No waiter starves: the oldest one is passed at most maxPasses times; then
// younger requests wait behind it even when they fit, and it is served first
// once its memory comes back, however many smaller requests keep arriving.
func TestMemoryOldestWaiterDoesNotStarve(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m := NewMemory(4 << 20)
		held, _ := m.get(context.Background(), 3<<20, true)
		big := make(chan []byte, 1)
		go func() { buf, _ := m.get(context.Background(), 4<<20, true); big <- buf }()
		synctest.Wait()
		passOldest(t, m, maxPasses)

		// A steady stream of small requests from now on.
		ctx, stop := context.WithCancel(context.Background())
		var wg sync.WaitGroup
		served := make(chan struct{}, 1000)
		for range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for ctx.Err() == nil {
					buf, err := m.get(ctx, 1<<20, true)
					if err != nil {
						return
					}
					served <- struct{}{}
					time.Sleep(time.Millisecond)
					m.put(ctx, buf)
				}
			}()
		}
		synctest.Wait()
		if n := len(served); n != 0 {
			t.Fatalf("%d small requests passed a waiter already passed %d times", n, maxPasses)
		}
		if st := m.Stats(); st.Waiting != 5 {
			t.Fatalf("%d waiting, want the large one and 4 small ones", st.Waiting)
		}
		m.put(context.Background(), held)
		buf := <-big
		if len(buf) != 4<<20 {
			t.Fatalf("oldest waiter got %d bytes", len(buf))
		}
		if n := len(served); n != 0 {
			t.Fatalf("%d small requests were served before the oldest waiter", n)
		}
		m.put(context.Background(), buf)
		time.Sleep(10 * time.Millisecond) // fake time: the small ones run again
		stop()
		wg.Wait()
		if len(served) == 0 {
			t.Fatal("the small requests were never served after the oldest one")
		}
	})
}

// One client holds at most its share: past it, its own requests wait (and
// its tries fail) while another client's requests, waits and tries alike, are
// served at once. A client holding nothing may take one buffer larger than
// its share.
func TestMemoryClientShare(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m := NewMemory(64 << 20) // 60 MiB of parts, a 15 MiB share
		if m.clientShare != 15<<20 {
			t.Fatalf("share %d, want a quarter of the 60 MiB pool", m.clientShare)
		}
		a, b := WithClient(context.Background(), "192.0.2.1"), WithClient(context.Background(), "192.0.2.2")
		a1, _ := m.get(a, 8<<20, true)
		a2, _ := m.get(a, 4<<20, true)
		if buf, _ := m.get(a, 4<<20, false); buf != nil {
			t.Fatal("a try took client a past its share")
		}
		third := make(chan []byte, 1)
		go func() { buf, _ := m.get(a, 4<<20, true); third <- buf }()
		synctest.Wait()
		if st := m.Stats(); st.Waiting != 1 || st.WaitingShare != 1 {
			t.Fatalf("stats %+v: want client a's third request waiting for its share", st)
		}
		// Client b is not held up, by the waiter or by a's share.
		b1, _ := m.get(b, 8<<20, true)
		b2, _ := m.get(b, 4<<20, false)
		if len(b1) != 8<<20 || len(b2) != 4<<20 {
			t.Fatalf("client b got %d and %d bytes while client a waited for its share", len(b1), len(b2))
		}
		if got := m.heldBy("192.0.2.1"); got != 12<<20 {
			t.Fatalf("client a holds %d", got)
		}
		m.put(a, a2) // its own return lets it through
		if buf := <-third; len(buf) != 4<<20 {
			t.Fatalf("client a's waiter got %d bytes", len(buf))
		}
		m.put(b, b1)
		m.put(b, b2)
		if got := m.heldBy("192.0.2.2"); got != 0 {
			t.Fatalf("client b holds %d after giving everything back", got)
		}
		big, _ := m.get(b, 20<<20, true)
		if len(big) != 20<<20 {
			t.Fatal("a client holding nothing could not take one buffer above its share")
		}
		_ = a1
	})
}

// The share lets one transfer at full speed through: the per-transfer
// figure of the options wins over a quarter of the pool when larger.
func TestClientShareOfOptions(t *testing.T) {
	b := New(nil, Options{PartSize: 16 << 20, UploadConcurrency: 4, MemoryLimit: 128 << 20})
	if got, want := b.mem.clientShare, int64(80<<20); got != want {
		t.Fatalf("share %d under a 128 MiB budget, want one upload's %d", got, want)
	}
	b = New(nil, Options{PartSize: 16 << 20, UploadConcurrency: 4, MemoryLimit: 1 << 30})
	if got, want := b.mem.clientShare, b.mem.partLimit()/4; got != want {
		t.Fatalf("share %d under a 1 GiB budget, want a quarter of the pool %d", got, want)
	}
	b = New(nil, Options{PartSize: 16 << 20, UploadConcurrency: 8, MemoryLimit: 64 << 20})
	if got := b.mem.clientShare; got != b.mem.partLimit() {
		t.Fatalf("share %d exceeds the pool %d", got, b.mem.partLimit())
	}
}

// BenchmarkMemoryGetPut: a buffer taken and given back, by many goroutines
// and clients at once, under a budget that holds about half of them (so
// waits, passes and the per-client share all take part).
func BenchmarkMemoryGetPut(b *testing.B) {
	for _, limit := range []int64{1 << 30, 64 << 20} {
		b.Run(fmt.Sprintf("budget=%dMiB", limit>>20), func(b *testing.B) {
			m := NewMemory(limit)
			var n sync.Mutex
			next := 0
			b.SetParallelism(64)
			b.RunParallel(func(pb *testing.PB) {
				n.Lock()
				ctx := WithClient(context.Background(), fmt.Sprint("client", next%8))
				next++
				n.Unlock()
				for pb.Next() {
					buf, err := m.get(ctx, 1<<20, true)
					if err != nil {
						b.Error(err)
						return
					}
					m.put(ctx, buf)
				}
			})
		})
	}
}
