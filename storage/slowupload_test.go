package storage

import (
	"context"
	"errors"
	"io"
	"testing"
	"testing/synctest"
	"time"
)

// trickle yields one byte a second, for ever.
type trickle struct{}

func (trickle) Read(p []byte) (int, error) {
	time.Sleep(time.Second)
	p[0] = 'x'
	return 1, nil
}

// The slow-upload rule ends an upload fed under the minimum rate only while
// someone waits for memory: alone, a slow client is left alone.
func TestSlowUploadRule(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := rateBackend(32<<20, 1024, 5*time.Second)
		buf := make([]byte, 1<<20)
		done := make(chan error, 1)
		go func() { _, err := io.ReadFull(b.rateChecked(trickle{}), buf); done <- err }()
		time.Sleep(time.Minute)
		synctest.Wait()
		select {
		case err := <-done:
			t.Fatalf("a slow upload with nobody waiting for memory ended after a minute: %v", err)
		default:
		}
		// Somebody waits for memory now.
		held, _ := b.mem.get(context.Background(), 16<<20, true)
		held2, _ := b.mem.get(context.Background(), 16<<20, false)
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		go func() { _, _ = b.mem.get(ctx, 16<<20, true) }()
		start := time.Now()
		err := <-done
		if !errors.Is(err, ErrTooSlow) {
			t.Fatalf("slow upload while another waits: %v, want ErrTooSlow", err)
		}
		if n := b.mem.Stats().TooSlow; n != 1 {
			t.Fatalf("%d uploads counted as too slow, want 1", n)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Fatalf("ended %s after the wait began, want within the 5 s window", d)
		}
		cancel()
		b.mem.put(context.Background(), held)
		b.mem.put(context.Background(), held2)
	})
}

// Time spent outside Read (waiting for S3 or for memory) does not count: a
// client that sends fast whenever asked is never too slow.
func TestSlowUploadRuleCountsOnlyClientTime(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := rateBackend(16<<20, 1<<20, time.Second)
		held, _ := b.mem.get(context.Background(), 16<<20, true)
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		go func() { _, _ = b.mem.get(ctx, 16<<20, true) }() // contended throughout
		synctest.Wait()
		r := b.rateChecked(&fastReader{})
		p := make([]byte, 64<<10)
		for range 100 {
			if _, err := r.Read(p); err != nil {
				t.Fatalf("a fast client was ended: %v", err)
			}
			time.Sleep(2 * time.Second) // the upload is busy elsewhere
		}
		cancel()
		b.mem.put(context.Background(), held)
	})
}

// fastReader answers every read at once, 64 KiB in 10 ms.
type fastReader struct{}

func (fastReader) Read(p []byte) (int, error) {
	time.Sleep(10 * time.Millisecond)
	return len(p), nil
}

// rateBackend is just what rateChecked needs, without New's cache goroutine
// (which would outlive a synctest bubble).
func rateBackend(limit, rate int64, window time.Duration) *Backend {
	return &Backend{mem: NewMemory(limit), opts: Options{MinUploadRate: rate, UploadRateWindow: window}}
}
