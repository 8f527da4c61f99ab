package storage

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// getRecorder is an S3 endpoint holding one object: it records each request,
// answers the statuses queued in fail first, then serves the object's ranges
// (and HEADs) as S3 does.
type getRecorder struct {
	mu   sync.Mutex
	reqs []*http.Request
	fail []int
	data []byte
}

const recorderETag = `"etag-7"`

func (g *getRecorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	g.mu.Lock()
	g.reqs = append(g.reqs, r)
	var status int
	if len(g.fail) > 0 {
		status, g.fail = g.fail[0], g.fail[1:]
	}
	data := g.data
	g.mu.Unlock()
	switch status {
	case 0:
	case http.StatusNotFound:
		w.WriteHeader(status)
		io.WriteString(w, `<Error><Code>NoSuchKey</Code><Message>no such key</Message></Error>`)
		return
	case http.StatusForbidden:
		w.WriteHeader(status)
		io.WriteString(w, `<Error><Code>AccessDenied</Code><Message>no</Message></Error>`)
		return
	case http.StatusBadRequest:
		w.WriteHeader(status)
		io.WriteString(w, `<Error><Code>InvalidArgument</Code><Message>bad</Message></Error>`)
		return
	default:
		w.WriteHeader(status)
		io.WriteString(w, `<Error><Code>InternalError</Code><Message>try again</Message></Error>`)
		return
	}
	h := w.Header()
	h.Set("ETag", recorderETag)
	h.Set("Last-Modified", "Sun, 06 Dec 2026 06:00:00 GMT")
	h.Set("X-Amz-Meta-"+MetaSHA256, "cafe")
	h.Set("X-Amz-Meta-Mtime", "1700000000")
	if r.Method == http.MethodHead {
		h.Set("Content-Length", fmt.Sprint(len(data)))
		return
	}
	var first, last int64
	if _, err := fmt.Sscanf(r.Header.Get("Range"), "bytes=%d-%d", &first, &last); err != nil {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	if first >= int64(len(data)) {
		w.WriteHeader(http.StatusRequestedRangeNotSatisfiable)
		io.WriteString(w, `<Error><Code>InvalidRange</Code><Message>The requested range is not satisfiable</Message></Error>`)
		return
	}
	last = min(last, int64(len(data))-1)
	h.Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", first, last, len(data)))
	h.Set("Content-Length", fmt.Sprint(last-first+1))
	w.WriteHeader(http.StatusPartialContent)
	w.Write(data[first : last+1])
}

func (g *getRecorder) requests() []*http.Request {
	g.mu.Lock()
	defer g.mu.Unlock()
	return slices.Clone(g.reqs)
}

// sendAll opens bucket/key at offset and sends it into a buffer.
func sendAll(b *Backend, key string, offset int64) (Entry, []byte, error) {
	f, err := b.Open(context.Background(), "bucket", key, offset)
	if err != nil {
		return Entry{}, nil, err
	}
	defer f.Close()
	var buf bytes.Buffer
	_, err = f.Send(context.Background(), &buf)
	return f.Entry(), buf.Bytes(), err
}

// A download's first GET is the gateway's own request with what GetObject
// sends: the same URL and host, the same Range and x-amz-* headers, every one
// signed; the object it opens is the one GetObject's answer describes, it is
// counted as one GetObject, and what S3 said is cached.
func TestFirstGetSignedIsGetObjectsRequest(t *testing.T) {
	rec := &getRecorder{data: bytes.Repeat([]byte("0123456789"), 100)}
	var ops []string
	b := newRecordedBackend(t, rec, func(op string, _ time.Duration, _ error) { ops = append(ops, op) })
	for _, key := range []string{"dir/a.txt", "a b/c+d (1)!*'.txt", "ünï/cødé & 100%"} {
		ops = nil
		e, data, err := sendAll(b, key, 10)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(data, rec.data[10:]) {
			t.Fatalf("%s: sent %d bytes, want %d from offset 10", key, len(data), len(rec.data)-10)
		}
		if e.Size != int64(len(rec.data)) || e.ETag != "etag-7" || e.SHA256 != "cafe" || e.ModTime.Unix() != 1700000000 || e.Name != baseName(key) {
			t.Fatalf("%s: entry %+v, want the size, ETag, SHA-256 and mtime S3 gave", key, e)
		}
		if len(ops) != 1 || ops[0] != "GetObject" {
			t.Fatalf("%s: observed %v, want one GetObject", key, ops)
		}
		if c, ok := b.cache.stat("bucket", key); !ok || !c.found || c.entry != e {
			t.Fatalf("%s: cache after the GET: %+v %v, want the entry", key, c, ok)
		}
		// GetObject of the same range, for comparison.
		out, err := b.base.GetObject(context.Background(), &s3.GetObjectInput{Bucket: aws.String("bucket"), Key: aws.String(key),
			Range: aws.String(fmt.Sprintf("bytes=10-%d", 10+b.opts.DownloadChunk-1))})
		if err != nil {
			t.Fatal(err)
		}
		out.Body.Close()
		reqs := rec.requests()
		own, sdk := reqs[len(reqs)-2], reqs[len(reqs)-1]
		if own.Method != http.MethodGet || own.URL.EscapedPath() != sdk.URL.EscapedPath() || own.URL.RawQuery != "" || own.Host != sdk.Host {
			t.Fatalf("own request %s %s (Host %s), GetObject's %s %s (Host %s)", own.Method, own.URL, own.Host, sdk.Method, sdk.URL, sdk.Host)
		}
		for _, h := range []string{"Range", "Accept-Encoding"} {
			if own.Header.Get(h) != sdk.Header.Get(h) {
				t.Errorf("%s: own %q, GetObject %q", h, own.Header.Get(h), sdk.Header.Get(h))
			}
		}
		oh, sh := amzHeaders(own), amzHeaders(sdk)
		for k, v := range sh {
			if oh[k] != v {
				t.Errorf("header %s: own %q, GetObject %q", k, oh[k], v)
			}
		}
		signed := signedHeaders(own)
		for _, h := range []string{"host", "range", "accept-encoding", "x-amz-content-sha256", "x-amz-date"} {
			if !slices.Contains(signed, h) {
				t.Errorf("signed headers %v lack %s (GetObject signs %v)", signed, h, signedHeaders(sdk))
			}
		}
	}
}

// Server errors are retried (each attempt one GetObject in the metrics),
// refusals are not and keep their kind, a missing object is ErrNotFound after
// one request, a restart offset past the end is answered by a HEAD, and a
// failed GET leaves nothing cached.
func TestFirstGetSignedFailures(t *testing.T) {
	for _, tc := range []struct {
		name     string
		fail     []int
		offset   int64
		wantErr  error
		attempts int
		wantOps  []string
	}{
		{"500 then 206", []int{500, 503}, 0, nil, 3, []string{"GetObject", "GetObject", "GetObject"}},
		{"404", []int{404}, 0, ErrNotFound, 1, []string{"GetObject"}},
		{"403", []int{403}, 0, ErrAccessDenied, 1, []string{"GetObject"}},
		{"400 InvalidArgument", []int{400}, 0, ErrRefused, 1, []string{"GetObject"}},
		{"416 past the end", nil, 100, nil, 2, []string{"GetObject", "HeadObject"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := &getRecorder{fail: tc.fail, data: []byte("0123456789")}
			var mu sync.Mutex
			var ops []string
			b := newRecordedBackend(t, rec, func(op string, _ time.Duration, _ error) { mu.Lock(); ops = append(ops, op); mu.Unlock() })
			e, data, err := sendAll(b, "f", tc.offset)
			if tc.wantErr == nil && err != nil || tc.wantErr != nil && !errors.Is(err, tc.wantErr) {
				t.Fatalf("err %v, want %v", err, tc.wantErr)
			}
			if n := len(rec.requests()); n != tc.attempts || !slices.Equal(ops, tc.wantOps) {
				t.Fatalf("%d sent, observed %v; want %d, %v", n, ops, tc.attempts, tc.wantOps)
			}
			c, cached := b.cache.stat("bucket", "f")
			if tc.wantErr != nil {
				if cached && c.found {
					t.Fatalf("a failed GET is cached: %+v", c)
				}
				return
			}
			want := rec.data[min(tc.offset, int64(len(rec.data))):]
			if !bytes.Equal(data, want) || e.Size != 10 || !cached || !c.found {
				t.Fatalf("sent %q, entry %+v, cached %v; want %q, size 10, cached", data, e, cached, want)
			}
		})
	}
}

// A bucket whose URL the probe cannot derive keeps the SDK's GetObject.
func TestFirstGetWithoutBaseUsesGetObject(t *testing.T) {
	rec := &getRecorder{data: []byte("hello")}
	b := newRecordedBackend(t, rec, nil)
	b.smallPut.mu.Lock()
	b.smallPut.bases["bucket"] = putBase{} // not ok: as for S3 Express or a SigV4a access point
	b.smallPut.mu.Unlock()
	_, data, err := sendAll(b, "f", 0)
	if err != nil || string(data) != "hello" {
		t.Fatalf("sent %q, %v", data, err)
	}
	reqs := rec.requests()
	if len(reqs) != 1 || !strings.Contains(reqs[0].Header.Get("User-Agent"), "aws-sdk-go-v2") {
		t.Fatalf("%d requests, User-Agent %q: want one GetObject from the SDK", len(reqs), reqs[0].Header.Get("User-Agent"))
	}
}

// BenchmarkFirstGet compares the CPU of opening and sending a 4 KiB object
// through the SDK's GetObject and as the gateway's own signed GET, against an
// endpoint that answers at once:
//
//	go test -run '^$' -bench BenchmarkFirstGet -benchtime 3000x -count 3 ./storage/
func BenchmarkFirstGet(b *testing.B) {
	rec := &getRecorder{data: bytes.Repeat([]byte("x"), 4<<10)}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec.ServeHTTP(w, r)
		rec.mu.Lock()
		rec.reqs = rec.reqs[:0]
		rec.mu.Unlock()
	}))
	defer srv.Close()
	for _, mode := range []string{"sdk", "signed"} {
		be := New(NewStaticClient(srv.URL, "us-east-1", "key", "secret", true), Options{RetryFor: time.Second,
			Observe: func(string, time.Duration, error) {}})
		if mode == "sdk" {
			be.smallPut = nil
		}
		b.Run(mode, func(b *testing.B) {
			b.ReportAllocs()
			defer reportCPU(b)()
			for b.Loop() {
				be.cache.invalidate(statKey("bucket", "k"))
				if _, _, err := sendAll(be, "k", 0); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// A spliced range's own GET carries the range and the ETag pin, both signed.
func TestRangeRequestSignedWithIfMatch(t *testing.T) {
	b := newRecordedBackend(t, &getRecorder{}, nil)
	req, err := b.rangeRequest(context.Background(), "bucket", "d/k", 16, 31, recorderETag)
	if err != nil {
		t.Fatal(err)
	}
	if req.Header.Get("Range") != "bytes=16-31" || req.Header.Get("If-Match") != recorderETag || req.URL.Path != "/bucket/d/k" {
		t.Fatalf("request %s Range %q If-Match %q", req.URL, req.Header.Get("Range"), req.Header.Get("If-Match"))
	}
	signed := signedHeaders(req)
	for _, h := range []string{"host", "range", "if-match", "x-amz-date"} {
		if !slices.Contains(signed, h) {
			t.Errorf("signed headers %v lack %s", signed, h)
		}
	}
}
