package storage

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// pagedS3 answers ListObjectsV2 for prefix "d/" in pages of perPage keys
// (d/k<page>-<i>), the continuation token being the page's number. Each
// request's page number goes to seen; hook, when set, runs before the answer
// and may write its own (return true).
type pagedS3 struct {
	pages, perPage int
	seen           chan int
	hook           func(w http.ResponseWriter, r *http.Request, page int) bool
}

func (p *pagedS3) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	page := 0
	if tok := r.URL.Query().Get("continuation-token"); tok != "" {
		page, _ = strconv.Atoi(tok)
	}
	p.seen <- page
	if p.hook != nil && p.hook(w, r, page) {
		return
	}
	var b strings.Builder
	b.WriteString(`<?xml version="1.0" encoding="UTF-8"?><ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>bk</Name><Prefix>d/</Prefix><Delimiter>/</Delimiter><EncodingType>url</EncodingType>`)
	fmt.Fprintf(&b, "<KeyCount>%d</KeyCount><MaxKeys>1000</MaxKeys>", p.perPage)
	if page+1 < p.pages {
		fmt.Fprintf(&b, "<IsTruncated>true</IsTruncated><NextContinuationToken>%d</NextContinuationToken>", page+1)
	} else {
		b.WriteString("<IsTruncated>false</IsTruncated>")
	}
	for i := range p.perPage {
		fmt.Fprintf(&b, `<Contents><Key>d/k%03d-%03d</Key><LastModified>2026-01-01T00:00:00.000Z</LastModified><ETag>"e"</ETag><Size>1</Size></Contents>`, page, i)
	}
	b.WriteString("</ListBucketResult>")
	w.Header().Set("Content-Type", "application/xml")
	_, _ = w.Write([]byte(b.String()))
}

func newPagedBackend(t *testing.T, p *pagedS3) *Backend {
	t.Helper()
	p.seen = make(chan int, 1000)
	srv := httptest.NewServer(p)
	t.Cleanup(srv.Close)
	return New(NewStaticClient(srv.URL, "us-east-1", "key", "secret", true), Options{})
}

// waitPage waits for the request of page want (earlier pages' requests are
// drained on the way).
func waitPage(t *testing.T, seen <-chan int, want int) {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case got := <-seen:
			if got == want {
				return
			}
		case <-timeout:
			t.Fatalf("S3 never saw the request for page %d", want)
		}
	}
}

// noFetcherLeft fails if a goroutine of listPagesAhead stays alive. The call
// waits for its fetcher's last act (wg.Done) before it returns, so the fetcher
// may still be seen on its way out, but never for long: the check waits for
// its disappearance, bounded.
func noFetcherLeft(t *testing.T) {
	t.Helper()
	buf := make([]byte, 1<<20)
	deadline := time.Now().Add(5 * time.Second)
	for {
		stacks := string(buf[:runtime.Stack(buf, true)])
		if !strings.Contains(stacks, "listPagesAhead.func") {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("a listing goroutine outlived its call:\n%s", stacks)
		}
		runtime.Gosched()
	}
}

// TestListRequestsNextPageWhilePageIsSent: page n+1 is asked of S3 while the
// client is still handed page n, entries arrive in order, and no request is
// made beyond one per page.
func TestListRequestsNextPageWhilePageIsSent(t *testing.T) {
	p := &pagedS3{pages: 5, perPage: 3}
	b := newPagedBackend(t, p)
	var names []string
	last := -1
	err := b.List(context.Background(), "bk", "d/", func(e Entry) error {
		page, _ := strconv.Atoi(e.Name[1:4])
		if page != last {
			last = page
			if page+1 < p.pages {
				// S3 sees the next page's request before this page is consumed.
				waitPage(t, p.seen, page+1)
			}
		}
		names = append(names, e.Name)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(names) != p.pages*p.perPage {
		t.Fatalf("listed %d entries, want %d", len(names), p.pages*p.perPage)
	}
	for i := range names {
		if want := fmt.Sprintf("k%03d-%03d", i/p.perPage, i%p.perPage); names[i] != want {
			t.Fatalf("entry %d is %s, want %s", i, names[i], want)
		}
	}
	if extra := len(p.seen); extra != 0 {
		t.Fatalf("%d requests beyond one per page", extra)
	}
	noFetcherLeft(t)
}

// TestListCancelledMidListing: when the client goes away during page 1 (fn
// fails), the request for page 2 in flight is cancelled and List returns
// fn's error with its fetcher gone.
func TestListCancelledMidListing(t *testing.T) {
	cancelled := make(chan struct{})
	p := &pagedS3{pages: 4, perPage: 2}
	p.hook = func(w http.ResponseWriter, r *http.Request, page int) bool {
		if page != 2 {
			return false
		}
		<-r.Context().Done() // page 2 never comes: only a cancellation ends it
		close(cancelled)
		return true
	}
	b := newPagedBackend(t, p)
	gone := errors.New("client went away")
	err := b.List(context.Background(), "bk", "d/", func(e Entry) error {
		if strings.HasPrefix(e.Name, "k001") {
			waitPage(t, p.seen, 2)
			return gone
		}
		return nil
	})
	if !errors.Is(err, gone) {
		t.Fatalf("List returned %v, want the client's error", err)
	}
	noFetcherLeft(t)
	select {
	case <-cancelled:
	case <-time.After(10 * time.Second):
		t.Fatal("the request for page 2 was not cancelled")
	}

	// The same through the context, as a session's end does.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cancelled = make(chan struct{})
	b = newPagedBackend(t, p)
	err = b.List(ctx, "bk", "d/", func(e Entry) error {
		if e.Name == "k001-000" {
			waitPage(t, p.seen, 2)
			cancel()
		}
		return nil
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("List returned %v after its context ended, want context.Canceled", err)
	}
	noFetcherLeft(t)
}

// TestListErrorAfterPageSent: S3 refusing page 2 surfaces after pages 0 and
// 1 have been handed over in full, and the incomplete listing is not cached.
func TestListErrorAfterPageSent(t *testing.T) {
	p := &pagedS3{pages: 4, perPage: 3}
	p.hook = func(w http.ResponseWriter, r *http.Request, page int) bool {
		if page != 2 {
			return false
		}
		w.Header().Set("Content-Type", "application/xml")
		w.WriteHeader(http.StatusForbidden)
		_, _ = w.Write([]byte(`<?xml version="1.0" encoding="UTF-8"?><Error><Code>AccessDenied</Code><Message>no</Message></Error>`))
		return true
	}
	b := newPagedBackend(t, p)
	var names []string
	err := b.List(context.Background(), "bk", "d/", func(e Entry) error {
		names = append(names, e.Name)
		return nil
	})
	if err == nil {
		t.Fatal("List succeeded although S3 refused page 2")
	}
	if len(names) != 2*p.perPage || names[len(names)-1] != "k001-002" {
		t.Fatalf("before the error, got %v; want pages 0 and 1 in full", names)
	}
	noFetcherLeft(t)
	if _, ok := b.cache.listing("bk", "d/"); ok {
		t.Fatal("an incomplete listing was cached")
	}
}

// BenchmarkListPage lists 1,000-key pages from a local server, to read the
// CPU and allocations per page of a large listing (bench/results/ANALYSIS.md,
// issue 24 §2).
func BenchmarkListPage(b *testing.B) {
	p := &pagedS3{pages: 1 << 30, perPage: 1000, seen: make(chan int, 1)}
	p.hook = func(http.ResponseWriter, *http.Request, int) bool { <-p.seen; return false }
	srv := httptest.NewServer(p)
	defer srv.Close()
	be := New(NewStaticClient(srv.URL, "us-east-1", "key", "secret", true), Options{})
	b.ReportAllocs()
	n := 0
	err := be.listPagesAhead(context.Background(), &s3.ListObjectsV2Input{Bucket: aws.String("bk"), Prefix: aws.String("d/"), Delimiter: aws.String("/")},
		func(page *listPage) error {
			_ = page.eachEntry("d/", func(Entry) error { return nil })
			if n++; n >= b.N {
				return errStopBench
			}
			return nil
		})
	if err != nil && !errors.Is(err, errStopBench) {
		b.Fatal(err)
	}
}

var errStopBench = errors.New("enough pages")
