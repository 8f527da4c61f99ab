package integration

import (
	"archive/tar"
	"bufio"
	"bytes"
	"context"
	"fmt"
	"runtime"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/jlaffaye/ftp"
)

func TestDirectoriesImplicitAndSideBySide(t *testing.T) {
	t.Parallel()
	g := startGateway(t)
	// MinIO cannot hold a file "a" beside keys under "a/" (on its drive both are
	// the folder a), so the side-by-side case is checked against S3's page
	// layout in storage's unit tests; here file a sits beside directory "a.d".
	g.putObject("a", "file a")
	g.putObject("a.d/inner.txt", "inside dir a.d")
	g.putObject("x/y/z.txt", "deep") // x and x/y exist only as prefixes
	c := g.dial(userRW)
	if err := c.MakeDir("m"); err != nil {
		t.Fatal(err)
	}
	entries, err := c.List("/")
	if err != nil {
		t.Fatal(err)
	}
	var fileA, dirA, dirX, dirM bool
	for _, e := range entries {
		if e.Time.Year() < 2000 {
			t.Fatalf("%s is dated %s", e.Name, e.Time)
		}
		switch {
		case e.Name == "a" && e.Type == ftp.EntryTypeFile:
			fileA = true
		case e.Name == "a.d" && e.Type == ftp.EntryTypeFolder:
			dirA = true
		case e.Name == "x" && e.Type == ftp.EntryTypeFolder:
			dirX = true
		case e.Name == "m" && e.Type == ftp.EntryTypeFolder:
			dirM = true
		}
	}
	if !fileA || !dirA || !dirX || !dirM {
		for _, e := range entries {
			t.Logf("entry %q type %v", e.Name, e.Type)
		}
		t.Fatal("LIST / lacks one of file a, directory a, implicit x, marker m")
	}
	// MLSD tells them apart by type and dates every directory.
	raw := rawLogin(g.t, g.Addr, userRW)
	dc := raw.data()
	raw.send("MLSD /")
	raw.expect(150)
	sc := bufio.NewScanner(dc)
	var lines []string
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	raw.expect(226)
	text := strings.Join(lines, "\n")
	for _, want := range []string{"type=file;size=6;", "type=dir;"} {
		if !strings.Contains(text, want) {
			t.Fatalf("MLSD / lacks %q:\n%s", want, text)
		}
	}
	for _, l := range lines {
		if strings.Contains(l, "modify=1970") || strings.Contains(l, "modify=0001") {
			t.Fatalf("MLSD line with a zero time: %s", l)
		}
	}
	// Implicit directories work like real ones.
	if err := c.ChangeDir("x/y"); err != nil {
		t.Fatal(err)
	}
	if names, err := c.NameList(""); err != nil || len(names) != 1 || names[0] != "z.txt" {
		t.Fatalf("NLST in x/y = %v, %v", names, err)
	}
	if err := c.ChangeDir("/nope"); ftpCode(err) != 550 {
		t.Fatalf("CWD to a missing directory: got %v, want 550", err)
	}
	if err := c.RemoveDir("/x"); ftpCode(err) != 550 {
		t.Fatalf("RMD of a non-empty directory: got %v, want 550", err)
	}
	if t1, err := c.GetTime("/a"); err != nil || t1.Year() < 2000 {
		t.Fatalf("MDTM a = %v, %v", t1, err)
	}
	if err := c.ChangeDir("/a"); ftpCode(err) != 550 {
		t.Fatalf("CWD into file a: got %v, want 550", err)
	}
	if err := c.ChangeDir("/a.d"); err != nil {
		t.Fatalf("CWD into the implicit directory a.d: %v", err)
	}
}

// createKeys puts n empty objects under prefix straight into MinIO, many at once.
func (g *testGateway) createKeys(prefix string, n int) {
	g.t.Helper()
	putEmptyKeys(g.t, g.S3, g.Bucket, prefix, n)
}

// putEmptyKeys puts n empty objects named prefix+"k%07d" into bucket. They go
// up as tar archives of up to 10,000 entries that MinIO unpacks into one
// object per entry (its "snowball" auto-extract, asked for by the
// x-amz-meta-snowball-auto-extract header): one request per archive instead of
// one per key, which made 100,000 keys the slowest step of the whole suite.
func putEmptyKeys(tb testing.TB, client *s3.Client, bucket, prefix string, n int) {
	tb.Helper()
	const perArchive = 10_000
	var wg sync.WaitGroup
	errs := make(chan error, (n+perArchive-1)/perArchive)
	for first := 0; first < n; first += perArchive {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var buf bytes.Buffer
			tw := tar.NewWriter(&buf)
			for i := first; i < min(first+perArchive, n); i++ {
				h := &tar.Header{Name: fmt.Sprintf("%sk%07d", prefix, i), Mode: 0o644, Typeflag: tar.TypeReg, ModTime: time.Now()}
				if err := tw.WriteHeader(h); err != nil {
					errs <- err
					return
				}
			}
			if err := tw.Close(); err != nil {
				errs <- err
				return
			}
			_, err := client.PutObject(context.Background(), &s3.PutObjectInput{
				Bucket: aws.String(bucket), Key: aws.String(fmt.Sprintf("keys-%d.tar", first)),
				Body: bytes.NewReader(buf.Bytes()), Metadata: map[string]string{"snowball-auto-extract": "true"},
			})
			if err != nil {
				errs <- fmt.Errorf("put %d keys as one archive: %w", min(perArchive, n-first), err)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		tb.Fatal(err)
	}
	// The archives are unpacked before PutObject answers; check the last key.
	last := fmt.Sprintf("%sk%07d", prefix, n-1)
	if _, err := client.HeadObject(context.Background(), &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String(last)}); err != nil {
		tb.Fatalf("key %s after unpacking the archives: %v", last, err)
	}
}

// heapPeak samples the heap in use until stop is called and returns the peak.
func heapPeak() (stop func() uint64) {
	var peak atomic.Uint64
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		var ms runtime.MemStats
		for {
			runtime.ReadMemStats(&ms)
			if ms.HeapInuse > peak.Load() {
				peak.Store(ms.HeapInuse)
			}
			select {
			case <-done:
				return
			case <-time.After(10 * time.Millisecond):
			}
		}
	}()
	return func() uint64 { close(done); <-finished; return peak.Load() }
}

// TestListing100kKeys lists a directory of 100,000 keys: the count must be
// exact and the gateway's heap must not grow with the directory (pages stream;
// a directory this big bypasses the cache).
//
// It measures the heap of the whole test process, so it runs alone in a
// process of its own (inOwnProcess), in parallel with the other tests.
func TestListing100kKeys(t *testing.T) {
	if !inOwnProcess(t) {
		return
	}
	const n = 100_000
	g, ft := startStoreGateway(t)
	start := time.Now()
	g.createKeys("huge/", n)
	t.Logf("created %d keys in %s", n, time.Since(start).Round(time.Millisecond))

	list := func() (int, uint64, time.Duration) {
		raw := rawLogin(g.t, g.Addr, userRW)
		dc := raw.data()
		runtime.GC()
		var ms runtime.MemStats
		// Collect often while listing, so that the growth measured is what the
		// gateway holds, not garbage waiting for a collection that the heap left
		// by earlier tests (pooled part buffers) would otherwise postpone.
		defer debug.SetGCPercent(debug.SetGCPercent(10))
		runtime.GC()
		runtime.ReadMemStats(&ms)
		base := ms.HeapInuse
		stop := heapPeak()
		t0 := time.Now()
		raw.send("LIST /huge")
		raw.expect(150)
		sc := bufio.NewScanner(dc)
		count := 0
		for sc.Scan() {
			if !strings.HasPrefix(sc.Text(), "-rw-r--r--") {
				t.Fatalf("unexpected LIST line %q", sc.Text())
			}
			count++
		}
		raw.expect(226)
		d := time.Since(t0)
		peak := stop()
		if peak < base {
			peak = base
		}
		return count, peak - base, d
	}
	count, growth, d := list()
	if count != n {
		t.Fatalf("LIST returned %d lines, want %d", count, n)
	}
	t.Logf("LIST of %d keys: %s, gateway heap growth %s", n, d.Round(time.Millisecond), fmtSize(int64(growth)))
	if growth > 24<<20 {
		t.Fatalf("the heap grew by %s while listing: the listing is being held in memory", fmtSize(int64(growth)))
	}
	lists := ft.count("ListObjectsV2")
	if count, _, _ := list(); count != n {
		t.Fatalf("second LIST returned %d lines", count)
	}
	if ft.count("ListObjectsV2")-lists < n/1000 {
		t.Fatalf("the second listing made %d ListObjectsV2 requests: a huge directory must bypass the cache", ft.count("ListObjectsV2")-lists)
	}
}
