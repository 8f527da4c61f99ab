package storage

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"testing/synctest"
)

// forEach keeps exactly limit calls in flight while there is work, and runs
// every call.
func TestForEachLimit(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const n, limit = 20, 3
		var started, running, peak atomic.Int32
		release := make(chan struct{})
		done := make(chan error, 1)
		go func() {
			done <- forEach(context.Background(), n, limit, func(ctx context.Context, i int) error {
				started.Add(1)
				r := running.Add(1)
				for p := peak.Load(); r > p && !peak.CompareAndSwap(p, r); p = peak.Load() {
				}
				<-release
				running.Add(-1)
				return nil
			})
		}()
		synctest.Wait() // every call started so far is blocked, and so is forEach
		if got := started.Load(); got != limit {
			t.Fatalf("%d calls started while none finished, want the limit %d", got, limit)
		}
		close(release)
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		if started.Load() != n || peak.Load() != limit {
			t.Fatalf("%d calls, at most %d at once; want %d and %d", started.Load(), peak.Load(), n, limit)
		}
	})
}

// The first error cancels the calls in flight, no call starts after it, and
// every call has returned when forEach does.
func TestForEachFirstErrorCancels(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		boom := errors.New("boom")
		fail := make(chan struct{})
		var started, returned atomic.Int32
		done := make(chan error, 1)
		go func() {
			done <- forEach(context.Background(), 10, 3, func(ctx context.Context, i int) error {
				started.Add(1)
				defer returned.Add(1)
				if i == 1 {
					<-fail
					return boom
				}
				<-ctx.Done() // only the error ends the others
				return context.Cause(ctx)
			})
		}()
		synctest.Wait()
		if s := started.Load(); s != 3 {
			t.Fatalf("%d calls in flight, want 3", s)
		}
		close(fail)
		if err := <-done; !errors.Is(err, boom) {
			t.Fatalf("forEach returned %v, want the first error", err)
		}
		if s, r := started.Load(), returned.Load(); s != 3 || r != s {
			t.Fatalf("%d calls started, %d returned; want the 3 in flight when the error came, all returned", s, r)
		}
	})
}

// A ctx that ends stops the calls not yet started and is reported, even when
// every call that ran succeeded.
func TestForEachParentCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	var started atomic.Int32
	err := forEach(ctx, 5, 1, func(ctx context.Context, i int) error {
		started.Add(1)
		cancel()
		return nil
	})
	if !errors.Is(err, context.Canceled) || started.Load() != 1 {
		t.Fatalf("%v after %d calls; want context.Canceled after 1", err, started.Load())
	}
}
