package notify

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ftp2s3/ftp2s3/session"
)

// Options configure a Sender.
type Options struct {
	URL   string // where events are posted
	Token string // bearer token, "" for none
	// Queue bounds the events waiting to be sent (FTP2S3_NOTIFY_QUEUE); an
	// event that finds it full is dropped and counted.
	Queue  int
	Source string // CloudEvents source; "" means Source()
	Log    *slog.Logger
	// Client sends the requests; nil means one with AttemptTimeout per request.
	Client *http.Client
	// MinBackoff and MaxBackoff bound the wait between attempts at one event;
	// zero means 500ms and 30s.
	MinBackoff, MaxBackoff time.Duration
}

// AttemptTimeout bounds one POST: a receiver that hangs is retried like one
// that is down.
const AttemptTimeout = 10 * time.Second

// workers is how many events are in flight at once: enough to keep up with a
// receiver a few milliseconds away, few enough that a receiver that is down
// holds little.
const workers = 4

// dropLogEvery rate-limits the log line about dropped events: a flood of
// uploads against a full queue must not become a flood of log lines.
const dropLogEvery = 10 * time.Second

// Stats are the sender's counters (metrics).
type Stats struct {
	Sent, Retried, Dropped int64
	Queued                 int
}

// Sender posts events in the background. Event never blocks; Close flushes.
type Sender struct {
	opts   Options
	client *http.Client

	mu     sync.RWMutex // guards closed against sends on the closed queue
	closed bool
	queue  chan session.Event

	stop    context.Context // ended when Close's flush deadline passes
	abandon context.CancelFunc
	done    sync.WaitGroup

	sent, retried, dropped atomic.Int64
	lastDropLog            atomic.Int64 // unix nanoseconds
}

// New starts a Sender; Close stops it.
func New(o Options) *Sender {
	if o.Queue <= 0 {
		o.Queue = 10000
	}
	if o.Source == "" {
		o.Source = Source()
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	if o.MinBackoff <= 0 {
		o.MinBackoff = 500 * time.Millisecond
	}
	if o.MaxBackoff <= 0 {
		o.MaxBackoff = 30 * time.Second
	}
	client := o.Client
	if client == nil {
		client = &http.Client{Timeout: AttemptTimeout}
	}
	s := &Sender{opts: o, client: client, queue: make(chan session.Event, o.Queue)}
	s.stop, s.abandon = context.WithCancel(context.Background())
	for range workers {
		s.done.Add(1)
		go s.work()
	}
	return s
}

// Event queues ev; when the queue is full (or the sender closed) ev is
// dropped and counted, never waited for.
func (s *Sender) Event(ev session.Event) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if !s.closed {
		select {
		case s.queue <- ev:
			return
		default:
		}
	}
	s.drop(1, "queue full (FTP2S3_NOTIFY_QUEUE)", ev.Type)
}

func (s *Sender) drop(n int64, why, eventType string) {
	total := s.dropped.Add(n)
	now := time.Now().UnixNano()
	last := s.lastDropLog.Load()
	if now-last < int64(dropLogEvery) || !s.lastDropLog.CompareAndSwap(last, now) {
		return
	}
	s.opts.Log.Warn("notify: events dropped", "why", why, "type", eventType, "dropped_total", total)
}

// Close stops taking events and sends what is queued until ctx ends (the
// shutdown grace); events still queued then are dropped, counted and logged.
func (s *Sender) Close(ctx context.Context) {
	s.mu.Lock()
	if !s.closed {
		s.closed = true
		close(s.queue)
	}
	s.mu.Unlock()
	stop := context.AfterFunc(ctx, s.abandon)
	defer stop()
	s.done.Wait()
	s.abandon()
}

// Stats returns the counters; safe for concurrent use.
func (s *Sender) Stats() Stats {
	return Stats{Sent: s.sent.Load(), Retried: s.retried.Load(), Dropped: s.dropped.Load(), Queued: len(s.queue)}
}

func (s *Sender) work() {
	defer s.done.Done()
	for ev := range s.queue {
		if s.stop.Err() != nil {
			s.drop(1, "shutdown grace over before the event was sent", ev.Type)
			continue
		}
		s.deliver(ev)
	}
}

// deliver posts ev until the receiver takes it, refuses it for good, or the
// sender is abandoned. The event keeps its id across attempts, so a receiver
// can tell a retry from a new event.
func (s *Sender) deliver(ev session.Event) {
	ce := NewCloudEvent(ev, s.opts.Source)
	body, err := ce.Marshal()
	if err != nil {
		s.opts.Log.Error("notify: cannot encode event", "type", ev.Type, "err", err)
		s.drop(1, "unencodable", ev.Type)
		return
	}
	wait := s.opts.MinBackoff
	for attempt := 1; ; attempt++ {
		retry, err := s.post(body)
		if err == nil {
			s.sent.Add(1)
			return
		}
		if s.stop.Err() != nil {
			s.drop(1, "shutdown grace over before the event was sent", ev.Type)
			return
		}
		if !retry {
			s.opts.Log.Error("notify: the receiver refused the event; not retried", "type", ev.Type, "id", ce.ID, "err", err)
			s.drop(1, "refused by the receiver", ev.Type)
			return
		}
		if attempt == 1 || attempt%10 == 0 {
			s.opts.Log.Warn("notify: sending an event failed; retrying", "type", ev.Type, "id", ce.ID, "attempt", attempt, "err", err)
		}
		// Full jitter keeps gateways from retrying in step against a
		// receiver that comes back.
		t := time.NewTimer(wait/2 + rand.N(wait/2+1))
		select {
		case <-t.C:
		case <-s.stop.Done():
			t.Stop()
			s.drop(1, "shutdown grace over before the event was sent", ev.Type)
			return
		}
		s.retried.Add(1)
		wait = min(wait*2, s.opts.MaxBackoff)
	}
}

// post sends one attempt. retry says whether another attempt may succeed:
// network errors, 5xx, 408 and 429 may; other answers will not.
func (s *Sender) post(body []byte) (retry bool, err error) {
	req, err := http.NewRequestWithContext(s.stop, http.MethodPost, s.opts.URL, bytes.NewReader(body))
	if err != nil {
		return false, err
	}
	req.Header.Set("Content-Type", ContentType)
	if s.opts.Token != "" {
		req.Header.Set("Authorization", "Bearer "+s.opts.Token)
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return !errors.Is(err, context.Canceled), err
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10)) // lets the connection be reused
	_ = resp.Body.Close()
	switch c := resp.StatusCode; {
	case c >= 200 && c < 300:
		return false, nil
	case c >= 500 || c == http.StatusRequestTimeout || c == http.StatusTooManyRequests:
		return true, fmt.Errorf("HTTP %d", c)
	default:
		return false, fmt.Errorf("HTTP %d", c)
	}
}
