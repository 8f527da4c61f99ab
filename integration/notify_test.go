package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jlaffaye/ftp"

	"github.com/ftp2s3/ftp2s3/gateway"
)

// Events out (FTP2S3_NOTIFY_URL) and who-sent-it metadata
// (FTP2S3_OBJECT_METADATA), against MinIO and a real HTTP receiver.

// sinkEvent is one CloudEvent as the receiver got it.
type sinkEvent struct {
	SpecVersion     string         `json:"specversion"`
	ID              string         `json:"id"`
	Source          string         `json:"source"`
	Type            string         `json:"type"`
	Subject         string         `json:"subject"`
	Time            string         `json:"time"`
	DataContentType string         `json:"datacontenttype"`
	Data            map[string]any `json:"data"`
	contentType     string
	auth            string
}

// eventSink is an HTTP receiver of events started by the test. It answers
// status (204 unless set) and, while hold is set, keeps requests waiting.
type eventSink struct {
	t      *testing.T
	srv    *httptest.Server
	status atomic.Int32
	mu     sync.Mutex
	events []sinkEvent
	hold   chan struct{} // when not nil, requests wait until it is closed
}

func newEventSink(t *testing.T) *eventSink {
	s := &eventSink{t: t}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.close)
	return s
}

// newEventSinkOn starts the receiver on addr (a port the test reserved).
func newEventSinkOn(t *testing.T, addr string) *eventSink {
	s := &eventSink{t: t}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("listen on %s again: %v", addr, err)
	}
	s.srv = httptest.NewUnstartedServer(http.HandlerFunc(s.serve))
	_ = s.srv.Listener.Close()
	s.srv.Listener = l
	s.srv.Start()
	t.Cleanup(s.close)
	return s
}

func (s *eventSink) close() {
	s.release()
	s.srv.Close()
}

// release lets held requests through.
func (s *eventSink) release() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.hold != nil {
		close(s.hold)
		s.hold = nil
	}
}

func (s *eventSink) serve(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	hold := s.hold
	s.mu.Unlock()
	if hold != nil {
		<-hold
	}
	body, _ := io.ReadAll(r.Body)
	var ev sinkEvent
	if err := json.Unmarshal(body, &ev); err != nil {
		s.t.Errorf("receiver: event is not JSON: %v: %s", err, body)
	}
	ev.contentType, ev.auth = r.Header.Get("Content-Type"), r.Header.Get("Authorization")
	code := int(s.status.Load())
	if code == 0 {
		code = http.StatusNoContent
	}
	if code < 300 {
		s.mu.Lock()
		s.events = append(s.events, ev)
		s.mu.Unlock()
	}
	w.WriteHeader(code)
}

func (s *eventSink) url() string { return s.srv.URL + "/events" }

// find returns the first event of type typ ("upload.completed") for which
// match holds.
func (s *eventSink) find(typ string, match func(sinkEvent) bool) (sinkEvent, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, ev := range s.events {
		if ev.Type == "io.ftp2s3."+typ && (match == nil || match(ev)) {
			return ev, true
		}
	}
	return sinkEvent{}, false
}

// wait waits for an event of type typ for which match holds.
func (s *eventSink) wait(typ string, match func(sinkEvent) bool) sinkEvent {
	s.t.Helper()
	var ev sinkEvent
	waitUntil(s.t, "a "+typ+" event", 20*time.Second, func() bool {
		var ok bool
		ev, ok = s.find(typ, match)
		return ok
	})
	return ev
}

// keyIs matches an event about key.
func keyIs(key string) func(sinkEvent) bool {
	return func(ev sinkEvent) bool { return ev.Data["key"] == key }
}

// notifyTo points the gateway's events at url with token.
func notifyTo(url, token string) func(*gateway.Config) {
	return func(c *gateway.Config) {
		if err := c.NotifyURL.UnmarshalText([]byte(url)); err != nil {
			panic(err)
		}
		c.NotifyToken = token
	}
}

// startNotifyGateway is startGateway whose event sender is closed when the
// test ends (the harness serves without Gateway.Serve, which would close it).
func startNotifyGateway(t *testing.T, mutate ...func(*gateway.Config)) *testGateway {
	t.Helper()
	g := startGateway(t, mutate...)
	t.Cleanup(func() {
		if g.GW.Notify != nil {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			g.GW.Notify.Close(ctx)
		}
	})
	return g
}

// mustMeta fails unless key carries the who-sent-it metadata of alice on
// loopback.
func (g *testGateway) mustMeta(key string) {
	g.t.Helper()
	out, err := g.head(key)
	if err != nil {
		g.t.Fatalf("HEAD %s: %v", key, err)
	}
	if out.Metadata["ftp-user"] != userRW || out.Metadata["ftp-client"] != "127.0.0.1" {
		g.t.Fatalf("%s: metadata %v, want ftp-user=%s ftp-client=127.0.0.1", key, out.Metadata, userRW)
	}
}

// TestObjectMetadataNamesSender: every object the gateway writes says who sent
// it, small (PutObject) and multipart (CreateMultipartUpload, then the
// SHA-256 copy that replaces metadata), and keeps it through RNFR/RNTO and
// APPE (small head re-uploaded, large head copied in parts).
// FTP2S3_OBJECT_METADATA=none writes none.
func TestObjectMetadataNamesSender(t *testing.T) {
	t.Parallel()
	g := startGateway(t, func(c *gateway.Config) {
		c.PartSize = 5 << 20
		c.HashCopyLimit = 64 << 20
	})
	c := g.dial(userRW)
	big := int64(6 << 20)
	for name, size := range map[string]int64{"small.bin": 4 << 10, "big.bin": big} {
		if err := c.Stor(name, newPattern(size, 7)); err != nil {
			t.Fatalf("STOR %s: %v", name, err)
		}
		g.mustMeta(name)
	}
	if out, _ := g.head("big.bin"); out.Metadata["ftp2s3-sha256"] == "" {
		t.Fatalf("big.bin: the SHA-256 copy was skipped (metadata %v); the test needs it", out.Metadata)
	}
	for _, name := range []string{"small.bin", "big.bin"} {
		if err := c.Rename(name, "moved-"+name); err != nil {
			t.Fatalf("rename %s: %v", name, err)
		}
		g.mustMeta("moved-" + name)
		if err := c.Append("moved-"+name, strings.NewReader("tail")); err != nil {
			t.Fatalf("APPE %s: %v", name, err)
		}
		g.mustMeta("moved-" + name)
	}
	if out, _ := g.head("moved-big.bin"); *out.ContentLength != big+4 {
		t.Fatalf("APPE onto big.bin: %d bytes, want %d", *out.ContentLength, big+4)
	}

	off := startGateway(t, func(c *gateway.Config) {
		if err := c.ObjectMetadata.UnmarshalText([]byte("none")); err != nil {
			t.Fatal(err)
		}
	})
	if err := off.dial(userRW).Stor("plain.bin", strings.NewReader("x")); err != nil {
		t.Fatal(err)
	}
	if out, err := off.head("plain.bin"); err != nil || out.Metadata["ftp-user"] != "" || out.Metadata["ftp-client"] != "" {
		t.Fatalf("FTP2S3_OBJECT_METADATA=none: metadata %v (%v), want none of ours", out.Metadata, err)
	}
}

// TestNotifyEventsForEveryAction: each action a client completes arrives as
// a CloudEvent with its fields, with the bearer token.
func TestNotifyEventsForEveryAction(t *testing.T) {
	t.Parallel()
	sink := newEventSink(t)
	g := startNotifyGateway(t, notifyTo(sink.url(), "sekrit"))

	bad, err := ftp.Dial(g.Addr, ftp.DialWithTimeout(10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = bad.Quit() })
	if err := bad.Login("mallory", "guess"); err == nil {
		t.Fatal("mallory logged in")
	}
	c := g.dial(userRW)
	payload := "hello, events\n"
	if err := c.MakeDir("in"); err != nil {
		t.Fatal(err)
	}
	if err := c.Stor("in/a.txt", strings.NewReader(payload)); err != nil {
		t.Fatal(err)
	}
	mustRetr(t, c, "in/a.txt", payload)
	if err := c.Rename("in/a.txt", "in/b.txt"); err != nil {
		t.Fatal(err)
	}
	if err := c.Delete("in/b.txt"); err != nil {
		t.Fatal(err)
	}
	if err := c.RemoveDir("in"); err != nil {
		t.Fatal(err)
	}

	up := sink.wait("upload.completed", keyIs("in/a.txt"))
	if up.SpecVersion != "1.0" || up.ID == "" || !strings.HasPrefix(up.Source, "/ftp2s3/") ||
		up.DataContentType != "application/json" || up.Subject != g.Bucket+"/in/a.txt" ||
		!strings.HasPrefix(up.contentType, "application/cloudevents+json") || up.auth != "Bearer sekrit" {
		t.Fatalf("upload.completed envelope: %+v", up)
	}
	if _, err := time.Parse(time.RFC3339Nano, up.Time); err != nil {
		t.Fatalf("time %q: %v", up.Time, err)
	}
	d := up.Data
	wantSHA, _ := sha256Of(strings.NewReader(payload))
	if d["bucket"] != g.Bucket || d["user"] != userRW || d["client"] != "127.0.0.1" || d["session"] == "" ||
		d["size"] != float64(len(payload)) || d["sha256"] != wantSHA || d["etag"] == "" || d["resumed"] != false ||
		d["path"] != "/in/a.txt" {
		t.Fatalf("upload.completed data: %v", d)
	}
	if _, ok := d["duration_seconds"].(float64); !ok {
		t.Fatalf("upload.completed has no duration: %v", d)
	}
	dl := sink.wait("download.completed", keyIs("in/a.txt"))
	if dl.Data["bytes_sent"] != float64(len(payload)) || dl.Data["etag"] != d["etag"] {
		t.Fatalf("download.completed data: %v", dl.Data)
	}
	rn := sink.wait("rename", keyIs("in/a.txt"))
	if rn.Data["to_key"] != "in/b.txt" || rn.Data["to_bucket"] != g.Bucket || rn.Data["dir"] != false {
		t.Fatalf("rename data: %v", rn.Data)
	}
	sink.wait("delete", keyIs("in/b.txt"))
	sink.wait("mkdir", keyIs("in"))
	sink.wait("rmdir", keyIs("in"))
	lf := sink.wait("login.failed", nil)
	if lf.Data["user"] != "mallory" || lf.Data["client"] != "127.0.0.1" || lf.Data["reason"] == "" {
		t.Fatalf("login.failed data: %v", lf.Data)
	}
}

// TestNotifyUploadFailedProvesNothingLeft: a client that vanishes in the
// middle of a multipart upload yields upload.failed saying no object and no
// multipart upload were left, and MinIO agrees.
func TestNotifyUploadFailedProvesNothingLeft(t *testing.T) {
	t.Parallel()
	sink := newEventSink(t)
	g := startNotifyGateway(t, notifyTo(sink.url(), ""), func(c *gateway.Config) { c.PartSize = 5 << 20 })
	r := rawLogin(t, g.Addr, userRW)
	r.cmd(200, "TYPE I")
	addr := r.pasv()
	r.send("STOR gone.bin")
	data := dialData(t, addr)
	r.expect(150)
	chunk := make([]byte, 1<<20)
	for range 11 { // two parts sent: the multipart upload exists
		if _, err := data.Write(chunk); err != nil {
			t.Fatal(err)
		}
	}
	waitUntil(t, "the multipart upload to exist", 20*time.Second, func() bool { return len(g.pendingUploads()) > 0 })
	_ = r.c.Close() // the client dies: control first, then data
	_ = data.Close()

	ev := sink.wait("upload.failed", keyIs("gone.bin"))
	d := ev.Data
	if d["object_left"] != false || d["multipart_left"] != false || d["multipart_aborted"] != true ||
		d["code"].(float64) < 400 || d["reason"] == "" || d["bytes_received"].(float64) < 5<<20 {
		t.Fatalf("upload.failed data: %v", d)
	}
	g.mustNotExist("gone.bin")
	g.noPending()
}

// TestNotifyReceiverDownThenUp: events for a receiver that is not listening
// are retried and arrive once it is.
func TestNotifyReceiverDownThenUp(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close() // nobody listens: connection refused
	g := startNotifyGateway(t, notifyTo("http://"+addr+"/events", ""))
	c := g.dial(userRW)
	if err := c.MakeDir("while-down"); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "a retried attempt", 20*time.Second, func() bool { return g.GW.Notify.Stats().Retried > 0 })
	if st := g.GW.Notify.Stats(); st.Sent != 0 {
		t.Fatalf("sent %d events to nobody", st.Sent)
	}
	sink := newEventSinkOn(t, addr)
	sink.wait("mkdir", keyIs("while-down"))
	// The sender counts the event once the receiver's answer is back, which
	// may be just after the receiver has it.
	waitUntil(t, "the delivery to be counted", 20*time.Second, func() bool { return g.GW.Notify.Stats().Sent > 0 })
	if st := g.GW.Notify.Stats(); st.Sent != 1 || st.Dropped != 0 || st.Queued != 0 {
		t.Fatalf("stats after delivery: %+v", st)
	}
}

// TestNotifyQueueOverflowNeverBlocks: with the receiver stuck and a queue
// of one event, uploads still complete at once; the events that do not fit
// are counted and logged.
func TestNotifyQueueOverflowNeverBlocks(t *testing.T) {
	t.Parallel()
	sink := newEventSink(t)
	sink.mu.Lock()
	sink.hold = make(chan struct{})
	sink.mu.Unlock()
	g := startNotifyGateway(t, notifyTo(sink.url(), ""), func(c *gateway.Config) { c.NotifyQueue = 1 })
	c := g.dial(userRW)
	start := time.Now()
	for i := range 12 { // 4 senders stuck, 1 queued: the rest overflow
		if err := c.Stor(strings.Repeat("f", i+1), bytes.NewReader([]byte("x"))); err != nil {
			t.Fatalf("STOR %d with the receiver stuck: %v", i, err)
		}
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Fatalf("12 small uploads took %s with the receiver stuck", d)
	}
	waitUntil(t, "dropped events", 10*time.Second, func() bool { return g.GW.Notify.Stats().Dropped >= 7 })
	g.waitLog("notify: events dropped", "queue full")
	if st := g.GW.Notify.Stats(); st.Queued > 1 {
		t.Fatalf("queue holds %d events, bound 1", st.Queued)
	}
	sink.release()
	waitUntil(t, "the held events to be sent", 10*time.Second, func() bool { return g.GW.Notify.Stats().Sent == 5 })
}

// TestNotifyFlushedOnShutdown: an event that could not be sent yet is
// delivered during the shutdown grace, before Serve returns.
func TestNotifyFlushedOnShutdown(t *testing.T) {
	t.Parallel()
	sink := newEventSink(t)
	sink.status.Store(http.StatusServiceUnavailable)
	cfg, _ := testConfig(t, minio, notifyTo(sink.url(), ""))
	log, _ := testLogger(t)
	gw, err := gateway.New(t.Context(), cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cancel, done := runUntilCleanup(t, func(ctx context.Context) error { return gw.Serve(ctx, l, nil) })
	c, err := ftp.Dial(l.Addr().String(), ftp.DialWithTimeout(10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Login(userRW, testPassword); err != nil {
		t.Fatal(err)
	}
	if err := c.MakeDir("late"); err != nil {
		t.Fatal(err)
	}
	_ = c.Quit()
	waitUntil(t, "a refused attempt", 20*time.Second, func() bool { return gw.Notify.Stats().Retried > 0 })
	sink.status.Store(http.StatusOK)
	cancel()
	err = <-done
	done <- err
	if _, ok := sink.find("mkdir", keyIs("late")); !ok {
		t.Fatalf("Serve returned (%v) before the queued event was delivered; stats %+v", err, gw.Notify.Stats())
	}
}
