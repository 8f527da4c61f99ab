package storage

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// putRecorder is an S3 endpoint that records each PUT and answers with the
// statuses queued in fail first, then 200.
type putRecorder struct {
	mu   sync.Mutex
	reqs []*http.Request
	body [][]byte
	fail []int
}

func (p *putRecorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	p.mu.Lock()
	p.reqs = append(p.reqs, r)
	p.body = append(p.body, body)
	var status int
	if len(p.fail) > 0 {
		status, p.fail = p.fail[0], p.fail[1:]
	}
	p.mu.Unlock()
	switch status {
	case 0:
		w.Header().Set("ETag", `"etag-1"`)
	case http.StatusForbidden:
		w.WriteHeader(status)
		io.WriteString(w, `<Error><Code>AccessDenied</Code><Message>no</Message></Error>`)
	case http.StatusBadRequest:
		w.WriteHeader(status)
		io.WriteString(w, `<Error><Code>InvalidArgument</Code><Message>bad</Message></Error>`)
	default:
		w.WriteHeader(status)
		io.WriteString(w, `<Error><Code>InternalError</Code><Message>try again</Message></Error>`)
	}
}

func newRecordedBackend(t testing.TB, rec http.Handler, observe func(string, time.Duration, error)) *Backend {
	srv := httptest.NewServer(rec)
	t.Cleanup(srv.Close)
	client := NewStaticClient(srv.URL, "us-east-1", "key", "secret", true)
	return New(client, Options{RetryFor: 5 * time.Second, Observe: observe})
}

// amzHeaders lists a request's x-amz-* headers, lower-cased, but those that
// change with the time and the attempt.
func amzHeaders(r *http.Request) map[string]string {
	h := map[string]string{}
	for k, v := range r.Header {
		if k = strings.ToLower(k); strings.HasPrefix(k, "x-amz-") && k != "x-amz-date" && k != "x-amz-user-agent" {
			h[k] = v[0]
		}
	}
	return h
}

// A small upload's own PUT is the request PutObject sends: the same URL and
// body, the same x-amz-* headers (the CRC32 checksum S3 verifies, the SHA-256
// metadata, UNSIGNED-PAYLOAD), every one of them signed in the Authorization
// header; it is counted as one PutObject and what S3 answered is cached.
func TestSmallPutPresignedIsPutObjectsRequest(t *testing.T) {
	rec := &putRecorder{}
	var ops []string
	b := newRecordedBackend(t, rec, func(op string, _ time.Duration, _ error) { ops = append(ops, op) })
	if b.smallPut == nil {
		t.Fatal("a client with an HTTP client of its own gets no presigned small-upload path")
	}
	data := []byte("hello, small file")
	sum := sha256.Sum256(data)
	e, err := b.Put(context.Background(), "bucket", "dir/a.txt", bytes.NewReader(data), PutOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if e.ETag != "etag-1" || e.SHA256 != hex.EncodeToString(sum[:]) || e.Size != int64(len(data)) {
		t.Fatalf("entry %+v, want ETag etag-1, the SHA-256 and the size", e)
	}
	if len(ops) != 1 || ops[0] != "PutObject" {
		t.Fatalf("observed %v, want one PutObject", ops)
	}
	if c, ok := b.cache.stat("bucket", "dir/a.txt"); !ok || !c.found || c.entry.ETag != "etag-1" {
		t.Fatalf("cache after the upload: %+v %v, want the confirmed entry", c, ok)
	}
	// The SDK's PutObject of the same body, for comparison.
	_, err = b.base.PutObject(context.Background(), &s3.PutObjectInput{Bucket: aws.String("bucket"), Key: aws.String("dir/a.txt"),
		Body: bytes.NewReader(data), ContentLength: aws.Int64(int64(len(data))), ChecksumAlgorithm: types.ChecksumAlgorithmCrc32,
		Metadata: map[string]string{MetaSHA256: hex.EncodeToString(sum[:])}})
	if err != nil {
		t.Fatal(err)
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	pre, sdk := rec.reqs[0], rec.reqs[1]
	if pre.Method != http.MethodPut || pre.URL.EscapedPath() != sdk.URL.EscapedPath() || pre.URL.RawQuery != "" || pre.Host != sdk.Host {
		t.Fatalf("own request %s %s (Host %s), PutObject's %s %s (Host %s)", pre.Method, pre.URL, pre.Host, sdk.Method, sdk.URL, sdk.Host)
	}
	if !bytes.Equal(rec.body[0], data) || pre.ContentLength != int64(len(data)) {
		t.Fatalf("body %q (Content-Length %d), want %q", rec.body[0], pre.ContentLength, data)
	}
	ph, sh := amzHeaders(pre), amzHeaders(sdk)
	for k, v := range sh {
		if ph[k] != v {
			t.Errorf("header %s: own %q, PutObject %q", k, ph[k], v)
		}
	}
	if ph["x-amz-meta-"+MetaSHA256] != hex.EncodeToString(sum[:]) || ph["x-amz-content-sha256"] != "UNSIGNED-PAYLOAD" {
		t.Errorf("own headers %v, want the SHA-256 metadata and UNSIGNED-PAYLOAD", ph)
	}
	signed := signedHeaders(pre)
	for _, h := range []string{"host", "content-length", "x-amz-checksum-crc32", "x-amz-content-sha256", "x-amz-date", "x-amz-meta-" + MetaSHA256} {
		if !slices.Contains(signed, h) {
			t.Errorf("signed headers %v lack %s (PutObject signs %v)", signed, h, signedHeaders(sdk))
		}
	}
}

// signedHeaders lists the headers a request's Authorization header signs.
func signedHeaders(r *http.Request) []string {
	_, s, _ := strings.Cut(r.Header.Get("Authorization"), "SignedHeaders=")
	s, _, _ = strings.Cut(s, ",")
	return strings.Split(s, ";")
}

// Keys that need escaping go to the URL PutObject sends them to, in path
// style and virtual-hosted style alike.
func TestSmallPutPresignedEscapesAsPutObject(t *testing.T) {
	for _, pathStyle := range []bool{true, false} {
		rec := &putRecorder{}
		srv := httptest.NewServer(rec)
		// A host name, so that virtual-hosted style puts the bucket in it.
		endpoint := "http://s3.test:" + strconv.Itoa(srv.Listener.Addr().(*net.TCPAddr).Port)
		client := NewStaticClient(endpoint, "us-east-1", "key", "secret", pathStyle)
		// Virtual-hosted names resolve to the bucket's host name; send every
		// request to the test server whatever its host.
		client = s3.New(client.Options(), func(o *s3.Options) {
			o.HTTPClient = &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
				return (&net.Dialer{}).DialContext(ctx, "tcp", srv.Listener.Addr().String())
			}}}
		})
		b := New(client, Options{RetryFor: time.Second})
		for _, key := range []string{"a b/c+d (1)!*'.txt", "ünï/cødé & 100%", "x=y;z,w@v$u#t?s", "//double//slash/", "~tilde-_.dot"} {
			if _, err := b.Put(context.Background(), "bucket", key, strings.NewReader("data"), PutOptions{}); err != nil {
				t.Fatal(err)
			}
			if _, err := b.base.PutObject(context.Background(), &s3.PutObjectInput{Bucket: aws.String("bucket"), Key: aws.String(key), Body: strings.NewReader("data")}); err != nil {
				t.Fatal(err)
			}
		}
		rec.mu.Lock()
		for i := 0; i+1 < len(rec.reqs); i += 2 {
			own, sdk := rec.reqs[i], rec.reqs[i+1]
			if wantHost := map[bool]string{true: "s3.test", false: "bucket.s3.test"}[pathStyle]; !strings.HasPrefix(sdk.Host, wantHost+":") {
				t.Errorf("path style %v: PutObject went to %s, want %s", pathStyle, sdk.Host, wantHost)
			}
			if own.URL.EscapedPath() != sdk.URL.EscapedPath() || own.Host != sdk.Host {
				t.Errorf("path style %v: own PUT %s%s, PutObject %s%s", pathStyle, own.Host, own.URL.EscapedPath(), sdk.Host, sdk.URL.EscapedPath())
			}
		}
		rec.mu.Unlock()
		srv.Close()
	}
}

// Server errors are retried (each attempt one PutObject in the metrics),
// refusals are not and keep their kind, and a failed upload leaves nothing
// cached.
func TestSmallPutPresignedFailures(t *testing.T) {
	for _, tc := range []struct {
		name     string
		fail     []int
		wantErr  error
		attempts int
	}{
		{"500 then 200", []int{500, 503}, nil, 3},
		{"403", []int{403}, ErrAccessDenied, 1},
		{"400 InvalidArgument", []int{400}, ErrRefused, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := &putRecorder{fail: tc.fail}
			var mu sync.Mutex
			var ops int
			b := newRecordedBackend(t, rec, func(string, time.Duration, error) { mu.Lock(); ops++; mu.Unlock() })
			_, err := b.Put(context.Background(), "bucket", "f", strings.NewReader("data"), PutOptions{})
			if tc.wantErr == nil && err != nil || tc.wantErr != nil && !errors.Is(err, tc.wantErr) {
				t.Fatalf("err %v, want %v", err, tc.wantErr)
			}
			if ops != tc.attempts || len(rec.reqs) != tc.attempts {
				t.Fatalf("%d observed, %d sent; want %d attempts", ops, len(rec.reqs), tc.attempts)
			}
			if c, ok := b.cache.stat("bucket", "f"); tc.wantErr != nil && ok && c.found {
				t.Fatalf("a failed upload is cached: %+v", c)
			}
		})
	}
}

// A name S3 cannot hold is refused before any request, as the SDK's middleware
// refuses it.
func TestSmallPutPresignedChecksName(t *testing.T) {
	rec := &putRecorder{}
	b := newRecordedBackend(t, rec, nil)
	_, err := b.Put(context.Background(), "bucket", strings.Repeat("k", MaxKeyLen+1), strings.NewReader("data"), PutOptions{})
	if !errors.Is(err, ErrInvalidName) || len(rec.reqs) != 0 {
		t.Fatalf("err %v after %d requests, want ErrInvalidName before any", err, len(rec.reqs))
	}
}

// BenchmarkSmallPut compares the CPU of one 4 KiB upload through the SDK's
// PutObject (putSingle) and as the gateway's own signed PUT (putPresigned), against an
// endpoint that answers at once:
//
//	go test -run '^$' -bench BenchmarkSmallPut -benchtime 3000x -count 3 ./storage/
func BenchmarkSmallPut(b *testing.B) {
	data := bytes.Repeat([]byte("x"), 4<<10)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("ETag", `"e"`)
	}))
	defer srv.Close()
	be := New(NewStaticClient(srv.URL, "us-east-1", "key", "secret", true), Options{RetryFor: time.Second, Observe: func(string, time.Duration, error) {}})
	h := sha256.New()
	h.Write(data)
	sum := hexSum(h)
	b.Run("sdk", func(b *testing.B) {
		b.ReportAllocs()
		defer reportCPU(b)()
		for b.Loop() {
			h := sha256.New()
			h.Write(data)
			if _, err := be.putSingle(context.Background(), "bucket", "k", data, PutOptions{}, h); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("signed", func(b *testing.B) {
		b.ReportAllocs()
		defer reportCPU(b)()
		for b.Loop() {
			if _, err := be.putPresigned(context.Background(), "bucket", "k", data, PutOptions{}, sum); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// reportCPU reports the process's CPU time per operation (user and system,
// the endpoint's share included): on a shared machine, wall time per
// operation measures the neighbours.
func reportCPU(b *testing.B) func() {
	cpu := func() time.Duration {
		var ru syscall.Rusage
		_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
		return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	start := cpu()
	return func() { b.ReportMetric(float64(cpu()-start)/float64(b.N), "cpu-ns/op") }
}
