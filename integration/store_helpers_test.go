package integration

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/ftp2s3/ftp2s3/gateway"
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

// startStoreGateway is startGateway with the gateway's S3 requests routed
// through a faultTransport.
func startStoreGateway(t *testing.T, mutate ...func(*gateway.Config)) (*testGateway, *faultTransport) {
	t.Helper()
	ft := newFaultTransport()
	g := startGateway(t, append(mutate, func(c *gateway.Config) { c.S3.HTTPClient = &http.Client{Transport: ft} })...)
	return g, ft
}

// head returns the object's size, ETag and user metadata straight from MinIO.
func (g *testGateway) head(key string) (*s3.HeadObjectOutput, error) {
	return g.S3.HeadObject(context.Background(), &s3.HeadObjectInput{Bucket: aws.String(g.Bucket), Key: aws.String(key)})
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
