package integration

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/ftp2s3/ftp2s3/gateway"
)

// Issue 24 §1 (W6/W8): a download's first GET is a request the gateway signs
// and sends itself (storage/presignget.go) instead of the SDK's GetObject.
// These tests run it against MinIO: the bytes and the object's attributes it
// reports are right, a missing file is a 550 before any 150, an object
// replaced mid-download is detected, S3's 5xx are retried (each attempt one
// GetObject in the metrics) and a small RETR is one GetObject.

// ownGetTransport sits in front of a faultTransport and tells the gateway's own
// GETs (no SDK invocation id) from the SDK's.
type ownGetTransport struct {
	*faultTransport
	mu       sync.Mutex
	own, sdk int
}

func (o *ownGetTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if s3Op(r) == "GetObject" {
		o.mu.Lock()
		if r.Header.Get("Amz-Sdk-Invocation-Id") == "" {
			o.own++
		} else {
			o.sdk++
		}
		o.mu.Unlock()
	}
	return o.faultTransport.RoundTrip(r)
}

func (o *ownGetTransport) gets() (own, sdk int) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.own, o.sdk
}

// startPerfgetGateway is startOpsGateway (metrics) with S3 requests through an
// ownGetTransport, and no readiness probe (a HeadBucket) among them.
func startPerfgetGateway(t *testing.T, mutate ...func(*gateway.Config)) (*opsGateway, *ownGetTransport) {
	t.Helper()
	ot := &ownGetTransport{faultTransport: newFaultTransport()}
	g := startOpsGateway(t, minio, func(c *gateway.Config) {
		for _, m := range mutate {
			m(c)
		}
		c.S3.HTTPClient = &http.Client{Transport: ot}
	}, func(gw *gateway.Gateway) { gw.ReadyCheckInterval = time.Hour })
	g.waitLog("ready: S3 reachable") // the first probe is over
	return g, ot
}

// Objects written behind the gateway's back, small and over several chunks,
// with names that need escaping: RETR sends their bytes, from a REST offset
// too, with the gateway's own first GET; SIZE and MDTM then answer from
// what that GET said (the client's mtime metadata), without a request.
func TestPerfgetOwnFirstGetBytes(t *testing.T) {
	t.Parallel()
	g, ot := startPerfgetGateway(t, longTTL, func(c *gateway.Config) { c.DownloadChunk = 1 << 20 })
	c := g.dial(userRW)
	mtime := time.Date(2021, 3, 4, 5, 6, 7, 0, time.UTC)
	for i, tc := range []struct {
		key  string
		size int
	}{
		{"plain.txt", 4096},
		{"d ir/with space+plus (1)!*'.txt", 1},
		{"d ir/ünïcødé & 100%.bin", 3<<20 + 17},
	} {
		body := make([]byte, tc.size)
		if _, err := io.ReadFull(newPattern(int64(tc.size), uint64(i+1)), body); err != nil {
			t.Fatal(err)
		}
		if _, err := g.S3.PutObject(context.Background(), &s3.PutObjectInput{Bucket: aws.String(g.Bucket), Key: aws.String(tc.key),
			Body: bytes.NewReader(body), Metadata: map[string]string{"mtime": fmt.Sprint(mtime.Unix())}}); err != nil {
			t.Fatal(err)
		}
		ownBefore, sdkBefore := ot.gets()
		got, err := retrAll(c, "/"+tc.key)
		if err != nil || !bytes.Equal(got, body) {
			t.Fatalf("RETR %s: %d bytes (%v), want %d identical ones", tc.key, len(got), err, len(body))
		}
		// The first GET is the gateway's own; the later ranges of the copying
		// path (the test's transport rules out splicing) are GetObject.
		own, sdk := ot.gets()
		if wantSDK := (tc.size - 1) >> 20; own-ownBefore != 1 || sdk-sdkBefore != wantSDK {
			t.Errorf("RETR %s: %d own GETs and %d GetObject from the SDK, want 1 and %d", tc.key, own-ownBefore, sdk-sdkBefore, wantSDK)
		}
		if got := requestsDuring(t, ot.faultTransport, func() error {
			n, err := c.FileSize("/" + tc.key)
			if err == nil && n != int64(tc.size) {
				err = fmt.Errorf("SIZE %d, want %d", n, tc.size)
			}
			if err != nil {
				return err
			}
			m, err := c.GetTime("/" + tc.key)
			if err == nil && !m.Equal(mtime) {
				err = fmt.Errorf("MDTM %s, want the mtime metadata %s", m, mtime)
			}
			return err
		}); got != "" {
			t.Errorf("SIZE and MDTM of %s after its RETR sent %q, want nothing", tc.key, got)
		}
		if tc.size > 1<<20 {
			r, err := c.RetrFrom("/"+tc.key, 1<<20+5)
			if err != nil {
				t.Fatal(err)
			}
			tail, err := io.ReadAll(r)
			if err := r.Close(); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(tail, body[1<<20+5:]) {
				t.Fatalf("RETR %s from 1 MiB + 5: %d bytes (%v), want the %d after the offset", tc.key, len(tail), err, len(body)-(1<<20+5))
			}
		}
	}
}

// A small RETR is one GetObject, counted once in the metrics, and a missing
// file is a 550 before any 150, after one GetObject.
func TestPerfgetOneRequestAnd550(t *testing.T) {
	t.Parallel()
	g, ot := startPerfgetGateway(t, longTTL)
	c := g.dial(userRW)
	g.putObject("small.txt", "small file")
	before := scrape(t, g)
	if got := requestsDuring(t, ot.faultTransport, func() error {
		data, err := retrAll(c, "/small.txt")
		if err == nil && string(data) != "small file" {
			err = fmt.Errorf("RETR gave %q", data)
		}
		return err
	}); got != "GetObject×1" {
		t.Errorf("RETR of a small file sent %q, want GetObject×1", got)
	}
	after := scrape(t, g)
	if d := after[`ftp2s3_s3_requests_total{operation="GetObject",result="ok"}`] - before[`ftp2s3_s3_requests_total{operation="GetObject",result="ok"}`]; d != 1 {
		t.Errorf("GetObject counted %v times for one RETR, want 1", d)
	}

	r := rawLogin(t, g.Addr, userRW)
	d := r.data()
	defer d.Close()
	n := ot.count("GetObject")
	if code, msg := r.ask("RETR missing.txt"); code != 550 {
		t.Fatalf("RETR of a missing file: %d %s, want 550 before any 150", code, msg)
	}
	if got := ot.count("GetObject") - n; got != 1 {
		t.Errorf("RETR of a missing file sent %d GETs, want 1", got)
	}
	r.cmd(257, "PWD") // the session goes on
}

// S3 answering 500 to the first GETs: they are retried, each attempt counted
// as one GetObject (server_error, then ok), and RETR sends the file.
func TestPerfgetRetries5xx(t *testing.T) {
	t.Parallel()
	g, ot := startPerfgetGateway(t, func(c *gateway.Config) { c.S3RetryFor = 20 * time.Second })
	c := g.dial(userRW)
	g.putObject("retried.txt", "after two failures")
	var failed atomic.Int32
	ot.failWhen(func(op string, _ *http.Request) bool { return op == "GetObject" && failed.Add(1) <= 2 })
	before := scrape(t, g)
	ownBefore, sdkBefore := ot.gets()
	data, err := retrAll(c, "/retried.txt")
	if err != nil || string(data) != "after two failures" {
		t.Fatalf("RETR through two 500s: %q, %v", data, err)
	}
	after := scrape(t, g)
	for series, want := range map[string]float64{
		`ftp2s3_s3_requests_total{operation="GetObject",result="server_error"}`: 2,
		`ftp2s3_s3_requests_total{operation="GetObject",result="ok"}`:           1,
	} {
		if d := after[series] - before[series]; d != want {
			t.Errorf("%s moved by %v, want %v", series, d, want)
		}
	}
	if own, sdk := ot.gets(); own-ownBefore != 3 || sdk != sdkBefore {
		t.Errorf("%d own GETs and %d from the SDK, want 3 own ones", own-ownBefore, sdk-sdkBefore)
	}
}

// The object replaced while a slow client downloads it on the copying path
// (no splice through the test's transport): the next range, pinned to the
// ETag the own first GET found, fails and the transfer ends with 451 having
// sent only bytes of the old version.
func TestPerfgetObjectReplacedMidDownload(t *testing.T) {
	t.Parallel()
	g, _ := startPerfgetGateway(t, func(c *gateway.Config) { c.DownloadChunk = 64 << 10 })
	// PurgeCache: the first GET goes to S3 and learns the ETag there.
	replacedMidDownload(t, g.testGateway, 16<<20, 1<<20, g.Backend.PurgeCache)
}
