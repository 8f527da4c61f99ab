package storage

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"syscall"
	"testing"
	"time"

	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

func statusErr(code int, apiCode string) error {
	return &smithyhttp.ResponseError{
		Response: &smithyhttp.Response{Response: &http.Response{StatusCode: code}},
		Err:      &smithy.GenericAPIError{Code: apiCode},
	}
}

// Outages are retried; refusals and a cancelled transfer are not.
func TestRetryableErrors(t *testing.T) {
	refused := &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}
	for _, tc := range []struct {
		name string
		err  error
		want bool
	}{
		{"connection refused", refused, true},
		{"503 slow down", statusErr(503, "SlowDown"), true},
		{"500 internal error", statusErr(500, "InternalError"), true},
		{"403 access denied", statusErr(403, "AccessDenied"), false},
		{"404 no such key", statusErr(404, "NoSuchKey"), false},
		{"404 no such upload", statusErr(404, "NoSuchUpload"), false},
		{"412 precondition failed", statusErr(412, "PreconditionFailed"), false},
		{"cancelled", context.Canceled, false},
	} {
		if got := retryable(context.Background(), tc.err); got != tc.want {
			t.Errorf("%s: retryable = %v, want %v", tc.name, got, tc.want)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if retryable(ctx, refused) {
		t.Error("a cancelled transfer retries")
	}
}

func TestWithRetry(t *testing.T) {
	b := New(nil, Options{RetryFor: 300 * time.Millisecond, Logger: slog.New(slog.DiscardHandler)})
	outage := statusErr(503, "SlowDown")

	calls := 0
	err := b.retrySDK(context.Background(), "test", func() error {
		if calls++; calls < 3 {
			return outage
		}
		return nil
	})
	if err != nil || calls != 3 {
		t.Fatalf("two failures then success: %v after %d calls", err, calls)
	}

	calls = 0
	err = b.retrySDK(context.Background(), "test", func() error { calls++; return statusErr(403, "AccessDenied") })
	if err == nil || calls != 1 {
		t.Fatalf("403: %v after %d calls, want a failure at once", err, calls)
	}

	calls = 0
	start := time.Now()
	err = b.retrySDK(context.Background(), "test", func() error { calls++; return outage })
	if !errors.Is(err, errRetryWindow) || calls < 2 {
		t.Fatalf("a lasting outage: %v after %d calls, want the retry window exhausted", err, calls)
	}
	if d := time.Since(start); d < 300*time.Millisecond {
		t.Fatalf("gave up after %s, before the 300ms window", d)
	}

	// Progress starts a new window: a read that keeps advancing is never cut off.
	// Every wait between attempts is at least 10 ms, so seven of them outlast
	// the 50 ms window; without progress the same read is cut off before.
	const window = 50 * time.Millisecond
	for _, progress := range []bool{true, false} {
		calls = 0
		start = time.Now()
		err = b.withRetry(context.Background(), "test", window, func(error) bool { return true }, func() (bool, error) {
			if calls++; calls == 8 {
				return progress, nil
			}
			return progress, outage
		})
		switch {
		case progress && (err != nil || calls != 8):
			t.Fatalf("a read that makes progress each time: %v after %d calls", err, calls)
		case progress && time.Since(start) <= window:
			t.Fatalf("8 attempts took %s, within one %s window: the check proves nothing", time.Since(start), window)
		case !progress && (!errors.Is(err, errRetryWindow) || calls >= 8):
			t.Fatalf("a read that makes no progress: %v after %d calls, want the window exhausted first", err, calls)
		}
	}

	ctx, cancel := context.WithCancel(context.Background())
	calls = 0
	err = b.retrySDK(ctx, "test", func() error { calls++; cancel(); return outage })
	if err == nil || calls != 1 {
		t.Fatalf("cancelled during an outage: %v after %d calls", err, calls)
	}
}

// The meter counts what was consumed within the window, and forgets the rest.
func TestRateMeter(t *testing.T) {
	t0 := time.Now()
	m := newRateMeter(t0)
	for i := range 40 { // 1 MiB every 100 ms for 4 s
		m.add(1<<20, t0.Add(time.Duration(i+1)*100*time.Millisecond))
	}
	now := t0.Add(4 * time.Second)
	if got := m.recent(now); got < 36<<20 || got > 40<<20 {
		t.Fatalf("recent = %d MiB after 40 MiB in 4 s, want about 40", got>>20)
	}
	m.add(1000, now.Add(10*time.Second)) // then the client stalls for 10 s
	if got := m.recent(now.Add(10 * time.Second)); got > 1000 {
		t.Fatalf("recent = %d bytes after a 10 s stall, want only what came since", got)
	}
}
