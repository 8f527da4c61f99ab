package notify

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ftp2s3/ftp2s3/session"
)

// waitFor polls cond (the sender's counters) until it holds.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// TestSenderRetriesThenDelivers: 503 is retried with the same event id until
// the receiver takes it; a 400 is not retried and counts as dropped.
func TestSenderRetriesThenDelivers(t *testing.T) {
	var calls atomic.Int32
	var ids [3]atomic.Value
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var ce CloudEvent
		if err := json.Unmarshal(body, &ce); err != nil {
			t.Errorf("not a CloudEvent: %v", err)
		}
		n := calls.Add(1)
		switch {
		case ce.Type == "io.ftp2s3.delete":
			w.WriteHeader(http.StatusBadRequest)
		case n <= 2:
			ids[n-1].Store(ce.ID)
			w.WriteHeader(http.StatusServiceUnavailable)
		default:
			ids[2].Store(ce.ID)
			w.WriteHeader(http.StatusAccepted)
		}
	}))
	defer srv.Close()
	s := New(Options{URL: srv.URL, Queue: 10, MinBackoff: time.Millisecond, MaxBackoff: 4 * time.Millisecond})
	s.Event(session.Event{Type: session.EventMkdir, Bucket: "b", Key: "d"})
	waitFor(t, "delivery", func() bool { return s.Stats().Sent == 1 })
	if st := s.Stats(); st.Retried != 2 || st.Dropped != 0 {
		t.Fatalf("stats %+v, want 2 retries", st)
	}
	if ids[0].Load() != ids[2].Load() || ids[1].Load() != ids[2].Load() {
		t.Fatalf("a retry changed the event id: %v %v %v", ids[0].Load(), ids[1].Load(), ids[2].Load())
	}
	s.Event(session.Event{Type: session.EventDelete, Bucket: "b", Key: "f"})
	waitFor(t, "the refused event to be dropped", func() bool { return s.Stats().Dropped == 1 })
	s.Close(context.Background())
	if st := s.Stats(); st.Retried != 2 || st.Sent != 1 {
		t.Fatalf("a 400 was retried: %+v", st)
	}
	s.Event(session.Event{Type: session.EventMkdir})
	if st := s.Stats(); st.Dropped != 2 {
		t.Fatalf("an event after Close: %+v, want it dropped", st)
	}
}

// TestSenderCloseGivesUpAtDeadline: Close returns when its context ends,
// counting what could not be sent.
func TestSenderCloseGivesUpAtDeadline(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	defer srv.Close()
	s := New(Options{URL: srv.URL, Queue: 100, MinBackoff: 10 * time.Millisecond})
	for range 10 {
		s.Event(session.Event{Type: session.EventMkdir})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	s.Close(ctx)
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("Close took %s past its deadline", d)
	}
	if st := s.Stats(); st.Dropped != 10 || st.Sent != 0 || st.Queued != 0 {
		t.Fatalf("stats %+v, want all 10 dropped", st)
	}
}
