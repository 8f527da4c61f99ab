package integration

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/textproto"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/ftp2s3/ftp2s3/gateway"
	"github.com/ftp2s3/ftp2s3/storage"
)

// s3Op names the S3 operation of a request the SDK sends, for fault injection and
// counting.
func s3Op(r *http.Request) string {
	q := r.URL.Query()
	copySrc := r.Header.Get("X-Amz-Copy-Source") != ""
	switch {
	case r.Method == http.MethodPut && q.Has("partNumber") && copySrc:
		return "UploadPartCopy"
	case r.Method == http.MethodPut && q.Has("partNumber"):
		return "UploadPart"
	case r.Method == http.MethodPut && copySrc:
		return "CopyObject"
	case r.Method == http.MethodPut:
		return "PutObject"
	case r.Method == http.MethodPost && q.Has("uploads"):
		return "CreateMultipartUpload"
	case r.Method == http.MethodPost && q.Has("uploadId"):
		return "CompleteMultipartUpload"
	case r.Method == http.MethodDelete && q.Has("uploadId"):
		return "AbortMultipartUpload"
	case r.Method == http.MethodDelete:
		return "DeleteObject"
	case r.Method == http.MethodGet && q.Has("list-type"):
		return "ListObjectsV2"
	case r.Method == http.MethodGet:
		return "GetObject"
	case r.Method == http.MethodHead:
		return "HeadObject"
	}
	return r.Method
}

// faultTransport sits between the gateway's S3 client and MinIO: it counts
// requests per operation and the bytes of GetObject bodies, and fails the
// requests its fault function picks.
type faultTransport struct {
	base     http.RoundTripper
	fault    atomic.Pointer[func(op string, r *http.Request) bool]
	getBytes atomic.Int64
	mu       sync.Mutex
	ops      map[string]int
}

func newFaultTransport() *faultTransport {
	return &faultTransport{base: http.DefaultTransport.(*http.Transport).Clone(), ops: map[string]int{}}
}

// failWhen makes every request for which f returns true fail with a 500.
func (f *faultTransport) failWhen(fn func(op string, r *http.Request) bool) { f.fault.Store(&fn) }

func (f *faultTransport) count(op string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.ops[op]
}

func (f *faultTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	op := s3Op(r)
	f.mu.Lock()
	f.ops[op]++
	f.mu.Unlock()
	if fn := f.fault.Load(); fn != nil && (*fn)(op, r) {
		if r.Body != nil {
			r.Body.Close()
		}
		body := `<?xml version="1.0" encoding="UTF-8"?><Error><Code>InternalError</Code><Message>injected fault</Message></Error>`
		return &http.Response{StatusCode: 500, Status: "500 Internal Server Error", Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
			Header: http.Header{"Content-Type": {"application/xml"}}, Body: io.NopCloser(strings.NewReader(body)),
			ContentLength: int64(len(body)), Request: r}, nil
	}
	resp, err := f.base.RoundTrip(r)
	if err == nil && op == "GetObject" {
		resp.Body = &countingBody{ReadCloser: resp.Body, n: &f.getBytes}
	}
	return resp, err
}

type countingBody struct {
	io.ReadCloser
	n *atomic.Int64
}

func (c *countingBody) Read(p []byte) (int, error) {
	n, err := c.ReadCloser.Read(p)
	c.n.Add(int64(n))
	return n, err
}

// storeGateway is startGateway with the S3 client routed through a
// faultTransport and the storage options adjustable.
func startStoreGateway(t *testing.T, so func(*storage.Options), mutate ...func(*gateway.Config)) (*testGateway, *faultTransport) {
	t.Helper()
	cfg, bucket := testConfig(t, minio, mutate...)
	log, logs := testLogger(t)
	ft := newFaultTransport()
	direct := minio.Client()
	client := s3.New(direct.Options(), func(o *s3.Options) { o.HTTPClient = &http.Client{Transport: ft} })
	opts := storage.Options{
		PartSize: int64(cfg.PartSize), UploadConcurrency: cfg.UploadConcurrency,
		DownloadChunk: int64(cfg.DownloadChunk), DownloadConcurrency: cfg.DownloadConcurrency,
		CacheEntries: cfg.CacheEntries, CacheTTL: cfg.CacheTTL, MaxRenameKeys: cfg.MaxRenameKeys, Logger: log,
		HashCopyLimit: int64(cfg.HashCopyLimit),
	}
	if cfg.HashCopyLimit == 0 {
		opts.HashCopyLimit = -1 // as gateway.New does: 0 turns it off
	}
	if so != nil {
		so(&opts)
	}
	backend := storage.New(client, opts)
	gw, err := gateway.NewWithBackend(cfg, log, backend)
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = gw.Server.Serve(l) }()
	t.Cleanup(func() { _ = gw.Server.Close() })
	return &testGateway{t: t, Addr: l.Addr().String(), Port: l.Addr().(*net.TCPAddr).Port, Bucket: bucket, S3: direct, Backend: backend, GW: gw, Logs: logs}, ft
}

// bareFTP is a bare control connection, for the tests that must misbehave in ways
// a client library will not (vanish mid-upload, send ABOR at a chosen moment).
type bareFTP struct {
	t    *testing.T
	conn net.Conn
	tp   *textproto.Conn
}

func (g *testGateway) rawLogin(user string) *bareFTP {
	g.t.Helper()
	conn, err := net.DialTimeout("tcp", g.Addr, 10*time.Second)
	if err != nil {
		g.t.Fatal(err)
	}
	r := &bareFTP{t: g.t, conn: conn, tp: textproto.NewConn(conn)}
	g.t.Cleanup(func() { _ = conn.Close() })
	r.expect(220)
	r.cmd(331, "USER %s", user)
	r.cmd(230, "PASS %s", testPassword)
	return r
}

// read returns the next reply's code and text.
func (r *bareFTP) read() (int, string) {
	r.t.Helper()
	_ = r.conn.SetReadDeadline(time.Now().Add(60 * time.Second))
	code, msg, err := r.tp.ReadResponse(0)
	if err != nil && code == 0 {
		r.t.Fatalf("read reply: %v", err)
	}
	return code, msg
}

func (r *bareFTP) expect(want int) string {
	r.t.Helper()
	code, msg := r.read()
	if code != want {
		r.t.Fatalf("got %d %s, want %d", code, msg, want)
	}
	return msg
}

func (r *bareFTP) send(format string, args ...any) {
	r.t.Helper()
	if err := r.tp.PrintfLine(format, args...); err != nil {
		r.t.Fatal(err)
	}
}

func (r *bareFTP) cmd(want int, format string, args ...any) string {
	r.t.Helper()
	r.send(format, args...)
	return r.expect(want)
}

// data opens a passive data connection (EPSV) for the next transfer command.
func (r *bareFTP) data() net.Conn {
	r.t.Helper()
	msg := r.cmd(229, "EPSV")
	i, j := strings.Index(msg, "(|||"), strings.LastIndex(msg, "|)")
	if i < 0 || j < i {
		r.t.Fatalf("bad EPSV reply %q", msg)
	}
	port, err := strconv.Atoi(msg[i+4 : j])
	if err != nil {
		r.t.Fatal(err)
	}
	host, _, _ := net.SplitHostPort(r.conn.RemoteAddr().String())
	dc, err := net.DialTimeout("tcp", net.JoinHostPort(host, strconv.Itoa(port)), 10*time.Second)
	if err != nil {
		r.t.Fatal(err)
	}
	r.t.Cleanup(func() { _ = dc.Close() })
	return dc
}

// stat returns the object's size, ETag and user metadata straight from MinIO.
func (g *testGateway) head(key string) (*s3.HeadObjectOutput, error) {
	return g.S3.HeadObject(context.Background(), &s3.HeadObjectInput{Bucket: aws.String(g.Bucket), Key: aws.String(key)})
}

// waitFor polls cond until it holds or the deadline passes.
func waitUntil(t *testing.T, what string, limit time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// mustNotExist fails unless key is absent from MinIO.
func (g *testGateway) mustNotExist(key string) {
	g.t.Helper()
	if _, err := g.head(key); err == nil {
		g.t.Fatalf("%s exists in MinIO, want no object", key)
	}
}

// mustHold fails unless key holds exactly the bytes with the given SHA-256.
func (g *testGateway) mustHold(key, sum string, size int64) {
	g.t.Helper()
	got, n, err := g.object(key)
	if err != nil {
		g.t.Fatalf("%s: %v", key, err)
	}
	if got != sum || n != size {
		g.t.Fatalf("%s holds %d bytes %s, want %d bytes %s", key, n, got[:12], size, sum[:12])
	}
}

// noPending fails if any multipart upload is left in the bucket.
func (g *testGateway) noPending() {
	g.t.Helper()
	if p := g.pendingUploads(); len(p) > 0 {
		g.t.Fatalf("multipart uploads left behind: %v", p)
	}
}

func fmtSize(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }
