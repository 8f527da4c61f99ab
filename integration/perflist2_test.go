package integration

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ftp2s3/ftp2s3/gateway"
)

// Cold listings through the gateway's own signed ListObjectsV2 and its
// streaming decoder (issue 24 §2; storage/presignlist.go, storage/listxml.go).

// listSpy sits between the gateway's S3 client and MinIO (in front of a
// faultTransport) and tells the gateway's own listing requests from the SDK's:
// the SDK puts an invocation id on each of its requests.
type listSpy struct {
	base      http.RoundTripper
	own, sdk  atomic.Int64
	failFirst atomic.Int64 // own listing requests still to fail with a 500
	mu        sync.Mutex
	queries   []string
}

func (s *listSpy) RoundTrip(r *http.Request) (*http.Response, error) {
	if s3Op(r) == "ListObjectsV2" {
		if r.Header.Get("Amz-Sdk-Invocation-Id") != "" {
			s.sdk.Add(1)
		} else {
			s.own.Add(1)
			s.mu.Lock()
			s.queries = append(s.queries, r.URL.RawQuery)
			s.mu.Unlock()
			if s.failFirst.Add(-1) >= 0 {
				r.Body = http.NoBody
				return faultResponse(r), nil
			}
		}
	}
	return s.base.RoundTrip(r)
}

func faultResponse(r *http.Request) *http.Response {
	body := `<?xml version="1.0" encoding="UTF-8"?><Error><Code>InternalError</Code><Message>injected fault</Message></Error>`
	return &http.Response{StatusCode: 500, Status: "500 Internal Server Error", Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: http.Header{"Content-Type": {"application/xml"}}, Body: io.NopCloser(strings.NewReader(body)),
		ContentLength: int64(len(body)), Request: r}
}

// spied puts a listSpy behind a faultTransport (which counts every attempt,
// the failed ones included) on the gateway's S3 client.
func spied(spy *listSpy, ft *faultTransport) func(*gateway.Config) {
	spy.base, ft.base = ft.base, spy
	return func(c *gateway.Config) { c.S3.HTTPClient = &http.Client{Transport: ft} }
}

// startSpiedGateway is a gateway whose S3 requests pass a faultTransport and
// a listSpy.
func startSpiedGateway(t *testing.T, mutate ...func(*gateway.Config)) (*testGateway, *listSpy, *faultTransport) {
	t.Helper()
	ft, spy := newFaultTransport(), &listSpy{}
	g := startGateway(t, append(mutate, spied(spy, ft))...)
	return g, spy, ft
}

// mlsdNames lists dir with MLSD and returns each line's name and facts, in
// the order sent.
func mlsdNames(t *testing.T, g *testGateway, dir string) (names []string, facts map[string]string) {
	t.Helper()
	raw := rawLogin(t, g.Addr, userRW)
	dc := raw.data()
	raw.send("MLSD %s", dir)
	raw.expect(150)
	facts = map[string]string{}
	sc := bufio.NewScanner(dc)
	for sc.Scan() {
		f, name, ok := strings.Cut(sc.Text(), " ")
		if !ok {
			t.Fatalf("MLSD line without a name: %q", sc.Text())
		}
		names = append(names, name)
		facts[name] = f
	}
	raw.expect(226)
	return names, facts
}

// TestColdListingOddNames: names that need escaping in a URL or in XML, or
// that XML cannot carry at all, list exactly as stored, in S3's key order,
// through the gateway's own request (no SDK ListObjectsV2 for the pages).
func TestColdListingOddNames(t *testing.T) {
	t.Parallel()
	g, spy, _ := startSpiedGateway(t)
	names := []string{
		"plain.txt", "with space.txt", "100%.txt", "50%2F.txt", "plus+sign", "a&b<c>d", `quote"apos'`, "]]>cdata",
		"ünïcødé-日本語", "emoji-😀", "ctl\x01\x1f\x7f", "esc\x1b[1m", "tab\there", "semi;colon=eq?q#h", "~tilde",
	}
	dirs := []string{"sub dir", "pct%25", "amp&dir"}
	for _, n := range names {
		g.putObject("odd dir/"+n, "body of "+n)
	}
	for _, d := range dirs {
		g.putObject("odd dir/"+d+"/inner", "x")
	}
	got, facts := mlsdNames(t, g, "/odd dir")
	want := append(slices.Clone(names), dirs...)
	sort.Strings(want) // S3's order: by key, byte-wise (the directories' "/" sorts as itself)
	wantOrder := slices.Clone(want)
	slices.SortFunc(wantOrder, func(a, b string) int {
		ka, kb := a, b
		if slices.Contains(dirs, a) {
			ka += "/"
		}
		if slices.Contains(dirs, b) {
			kb += "/"
		}
		return strings.Compare(ka, kb)
	})
	if !slices.Equal(got, wantOrder) {
		t.Fatalf("MLSD names\n got %q\nwant %q", got, wantOrder)
	}
	for _, n := range names {
		if f := facts[n]; !strings.Contains(f, "type=file;") || !strings.Contains(f, fmt.Sprintf("size=%d;", len("body of "+n))) {
			t.Errorf("%q: facts %q", n, f)
		}
	}
	for _, d := range dirs {
		if f := facts[d]; !strings.Contains(f, "type=dir;") || strings.Contains(f, "modify=1970") || strings.Contains(f, "modify=0001") {
			t.Errorf("%q: facts %q", d, f)
		}
	}
	if spy.own.Load() == 0 {
		t.Fatal("no listing page went through the gateway's own request")
	}
	for _, q := range spy.queries {
		if !strings.Contains(q, "encoding-type=url") {
			t.Errorf("own listing request without encoding-type=url: %q", q)
		}
	}
}

// TestColdListingPagesAndRequests: a directory of 2,500 keys and a
// subdirectory between two pages lists in order and complete, with one
// request per page (and the directory check before it), each counted once as
// ListObjectsV2; the second listing comes from the cache, a file stored
// meanwhile included.
func TestColdListingPagesAndRequests(t *testing.T) {
	t.Parallel()
	g, spy, ft := startSpiedGateway(t, func(c *gateway.Config) { c.CacheTTL = time.Hour })
	const n = 2500
	g.createKeys("many/", n)
	g.putObject("many/k0001000.d/inner", "x") // sorts after k0001000, the first key of page 2
	before, ownBefore := ft.count("ListObjectsV2"), spy.own.Load()
	got, facts := mlsdNames(t, g, "/many")
	if len(got) != n+1 {
		t.Fatalf("MLSD gave %d names, want %d", len(got), n+1)
	}
	want := make([]string, 0, n+1)
	for i := range n {
		want = append(want, fmt.Sprintf("k%07d", i))
		if i == 1000 {
			want = append(want, "k0001000.d")
		}
	}
	if !slices.Equal(got, want) {
		for i := range got {
			if got[i] != want[i] {
				t.Fatalf("name %d is %q, want %q", i, got[i], want[i])
			}
		}
	}
	if !strings.Contains(facts["k0001000.d"], "type=dir;") {
		t.Fatalf("k0001000.d: %q", facts["k0001000.d"])
	}
	// The own requests are the pages: ceil(2,501 entries / 1,000) = 3 (the
	// subdirectory counts as one key of its page).
	if own := spy.own.Load() - ownBefore; own != 3 {
		t.Errorf("the listing sent %d page requests of its own, want 3", own)
	}
	if total := ft.count("ListObjectsV2") - before; total > 4 {
		t.Errorf("the cold listing cost %d ListObjectsV2 requests, want at most 4 (3 pages and the directory check)", total)
	}
	for _, q := range spy.queries[1:] {
		if !strings.Contains(q, "continuation-token=") {
			t.Errorf("a later page was asked for without a continuation token: %q", q)
		}
	}

	// Cached now: an upload through the gateway shows up without asking S3.
	c := g.dial(userRW)
	if err := c.Stor("/many/zz new.txt", strings.NewReader("new")); err != nil {
		t.Fatal(err)
	}
	before = ft.count("ListObjectsV2")
	got, _ = mlsdNames(t, g, "/many")
	if len(got) != n+2 || got[len(got)-1] != "zz new.txt" {
		t.Fatalf("the second listing has %d names, last %q; want %d with the new file last", len(got), got[len(got)-1], n+2)
	}
	if d := ft.count("ListObjectsV2") - before; d != 0 {
		t.Fatalf("the second listing sent %d ListObjectsV2 requests, want 0 (cached)", d)
	}
}

// TestColdListingRetriesPage: a page S3 fails with a 500 is asked again (the
// SDK's rules, within FTP2S3_S3_RETRY_FOR) and the listing completes; each
// attempt is one request.
func TestColdListingRetriesPage(t *testing.T) {
	t.Parallel()
	ft, spy := newFaultTransport(), &listSpy{}
	g := startOpsGateway(t, minio, spied(spy, ft), nil)
	g.createKeys("r/", 1500)
	spy.failFirst.Store(2)
	before, metric := ft.count("ListObjectsV2"), scrape(t, g)
	const series = `ftp2s3_s3_requests_total{operation="ListObjectsV2",result="ok"}`
	got, _ := mlsdNames(t, g.testGateway, "/r")
	if len(got) != 1500 {
		t.Fatalf("MLSD after injected faults gave %d names, want 1500", len(got))
	}
	if own := spy.own.Load(); own != 4 {
		t.Errorf("%d own page requests, want 4 (2 failed, 2 pages)", own)
	}
	total := ft.count("ListObjectsV2") - before
	if total < 4 {
		t.Errorf("%d ListObjectsV2 requests sent, want every attempt", total)
	}
	// The metrics count each attempt once, as ListObjectsV2: the successful
	// ones are the requests that reached S3 and did not fail.
	if ok := scrape(t, g)[series] - metric[series]; ok != float64(total-2) {
		t.Errorf("%s moved by %v, want %d (the requests that succeeded)", series, ok, total-2)
	}
	if !strings.Contains(g.Logs.String(), "retrying") {
		t.Error("the retried page was not logged")
	}
}
