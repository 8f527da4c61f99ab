package storage

import (
	"context"
	"errors"
	"io"
	"maps"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// listRecorder is an S3 endpoint that records each listing request and
// answers with the statuses queued in fail first, then with page.
type listRecorder struct {
	mu   sync.Mutex
	reqs []*http.Request
	fail []int
	page []byte
}

func (l *listRecorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	l.mu.Lock()
	l.reqs = append(l.reqs, r)
	var status int
	if len(l.fail) > 0 {
		status, l.fail = l.fail[0], l.fail[1:]
	}
	l.mu.Unlock()
	codes := map[int]string{404: "NoSuchBucket", 403: "AccessDenied", 400: "InvalidArgument", 500: "InternalError", 503: "SlowDown"}
	if status != 0 {
		w.WriteHeader(status)
		io.WriteString(w, `<Error><Code>`+codes[status]+`</Code><Message>m</Message></Error>`)
		return
	}
	w.Header().Set("Content-Type", "application/xml")
	_, _ = w.Write(l.page)
}

// TestListSignedIsListObjectsV2sRequest: the gateway's own listing request
// is the SDK's ListObjectsV2 with EncodingType=url: same path, query, host
// and content hash, no gzip, signed; and its answer lists the same entries.
func TestListSignedIsListObjectsV2sRequest(t *testing.T) {
	rec := &listRecorder{page: listDoc("d x/", []string{"a b", "c+d", "e%f", "x&y"}, []string{"sub"}, false, "")}
	var ops []string
	b := newRecordedBackend(t, rec, func(op string, _ time.Duration, _ error) { ops = append(ops, op) })
	var own []Entry
	if err := b.List(context.Background(), "bucket", "d x/", func(e Entry) error { own = append(own, e); return nil }); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(ops, []string{"ListObjectsV2"}) {
		t.Fatalf("observed %v, want one ListObjectsV2", ops)
	}
	out, err := b.base.ListObjectsV2(context.Background(), &s3.ListObjectsV2Input{Bucket: aws.String("bucket"), Prefix: aws.String("d x/"),
		Delimiter: aws.String("/"), EncodingType: types.EncodingTypeUrl})
	if err != nil {
		t.Fatal(err)
	}
	if err := decodeListing(out); err != nil {
		t.Fatal(err)
	}
	if sdk := pageEntries("d x/", out); !slices.Equal(own, sdk) {
		t.Fatalf("own listing %+v\nSDK's %+v", own, sdk)
	}
	if len(own) != 5 || own[0].Name != "a b" || own[1].Name != "c+d" || own[2].Name != "e%f" || own[3].Name != "sub" || !own[3].IsDir {
		t.Fatalf("entries %+v", own)
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	pre, sdk := rec.reqs[0], rec.reqs[1]
	if pre.Method != http.MethodGet || pre.URL.EscapedPath() != sdk.URL.EscapedPath() || pre.Host != sdk.Host {
		t.Fatalf("own request %s %s (Host %s), ListObjectsV2's %s %s (Host %s)", pre.Method, pre.URL, pre.Host, sdk.Method, sdk.URL, sdk.Host)
	}
	pq, sq := pre.URL.Query(), sdk.URL.Query()
	delete(sq, "x-id")
	if !maps.EqualFunc(pq, sq, slices.Equal) {
		t.Fatalf("own query %v, ListObjectsV2's %v", pq, sq)
	}
	for _, h := range []string{"Accept-Encoding", "X-Amz-Content-Sha256"} {
		if pre.Header.Get(h) != sdk.Header.Get(h) {
			t.Errorf("%s: own %q, ListObjectsV2 %q", h, pre.Header.Get(h), sdk.Header.Get(h))
		}
	}
	if pre.Header.Get("Accept-Encoding") != "identity" {
		t.Errorf("Accept-Encoding %q, want identity", pre.Header.Get("Accept-Encoding"))
	}
	signed := signedHeaders(pre)
	for _, h := range []string{"host", "x-amz-content-sha256", "x-amz-date"} {
		if !slices.Contains(signed, h) {
			t.Errorf("signed headers %v lack %s", signed, h)
		}
	}
}

func TestListSignedFailures(t *testing.T) {
	page := listDoc("d/", []string{"a"}, nil, false, "")
	for _, tc := range []struct {
		name     string
		fail     []int
		wantErr  error
		attempts int
	}{
		{"500 and 503 then 200", []int{500, 503}, nil, 3},
		{"404 NoSuchBucket", []int{404}, ErrNotFound, 1},
		{"403", []int{403}, ErrAccessDenied, 1},
		{"400 InvalidArgument", []int{400}, ErrRefused, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := &listRecorder{fail: tc.fail, page: page}
			var mu sync.Mutex
			var ops int
			b := newRecordedBackend(t, rec, func(string, time.Duration, error) { mu.Lock(); ops++; mu.Unlock() })
			n := 0
			err := b.List(context.Background(), "bucket", "d/", func(Entry) error { n++; return nil })
			if tc.wantErr == nil && (err != nil || n != 1) || tc.wantErr != nil && !errors.Is(err, tc.wantErr) {
				t.Fatalf("err %v after %d entries, want %v", err, n, tc.wantErr)
			}
			if ops != tc.attempts || len(rec.reqs) != tc.attempts {
				t.Fatalf("%d observed, %d sent; want %d attempts", ops, len(rec.reqs), tc.attempts)
			}
			if _, ok := b.cache.listing("bucket", "d/"); ok != (tc.wantErr == nil) {
				t.Fatalf("cached %v after err %v", ok, err)
			}
		})
	}
}

// A body cut short is not a listing: the page is asked for again.
func TestListSignedShortBodyRetried(t *testing.T) {
	page := listDoc("d/", []string{"a"}, nil, false, "")
	var mu sync.Mutex
	calls := 0
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		calls++
		first := calls == 1
		mu.Unlock()
		if first { // promise the whole page, send half, drop the connection
			w.Header().Set("Content-Length", "100000")
			_, _ = w.Write(page[:len(page)/2])
			return
		}
		_, _ = w.Write(page)
	})
	b := newRecordedBackend(t, h, nil)
	n := 0
	if err := b.List(context.Background(), "bucket", "d/", func(Entry) error { n++; return nil }); err != nil || n != 1 {
		t.Fatalf("err %v, %d entries; want the page on the second attempt", err, n)
	}
	if calls != 2 {
		t.Fatalf("%d requests, want 2", calls)
	}
}

// A bucket name S3 cannot hold is refused before any request.
func TestListSignedChecksName(t *testing.T) {
	rec := &listRecorder{}
	b := newRecordedBackend(t, rec, nil)
	err := b.List(context.Background(), strings.Repeat("b", MaxBucketLen+1), "", func(Entry) error { return nil })
	if !errors.Is(err, ErrInvalidName) || len(rec.reqs) != 0 {
		t.Fatalf("err %v after %d requests, want ErrInvalidName before any", err, len(rec.reqs))
	}
}
