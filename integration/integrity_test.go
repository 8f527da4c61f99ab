package integration

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/ftp2s3/ftp2s3/gateway"
	"github.com/ftp2s3/ftp2s3/storage"
)

// Every failure path of STOR must leave MinIO as it was: the old object
// unchanged, no new object, no multipart upload left behind.

const (
	smallPart = 5 << 20  // the smallest part size S3 allows
	bigUpload = 12 << 20 // more than two parts of smallPart: parts are in flight
)

func smallParts(c *gateway.Config) { c.PartSize = smallPart }

// upload is a STOR in progress through a raw control connection.
type upload struct {
	ctl  *ftpRaw
	data net.Conn
	done chan error // the writer's result
}

// startUpload sends STOR key and writes n bytes of pattern data, then leaves
// both connections open.
func (g *testGateway) startUpload(key string, n int64, seed uint64) *upload {
	g.t.Helper()
	ctl, dc := startUpload(g.t, g.Addr, key)
	u := &upload{ctl: ctl, data: dc, done: make(chan error, 1)}
	go func() {
		_, err := io.Copy(dc, newPattern(n, seed))
		u.done <- err
	}()
	return u
}

// waitMultipart waits until the gateway has started the multipart upload of
// key: it has read at least a part of the client's data, so the upload is
// under way.
func (g *testGateway) waitMultipart(key string) {
	g.t.Helper()
	waitUntil(g.t, "the multipart upload of "+key, 20*time.Second, func() bool { return slices.Contains(g.pendingUploads(), key) })
}

// withOld stores the object the failed upload must not touch.
func withOld(g *testGateway, key string) (string, int64) {
	g.putObject(key, "the old contents, which must survive\n")
	sum, n, err := g.object(key)
	if err != nil {
		g.t.Fatal(err)
	}
	return sum, n
}

// intact checks the outcome every failure path must have.
func (g *testGateway) intact(key, oldSum string, oldSize int64) {
	g.t.Helper()
	g.mustHold(key, oldSum, oldSize)
	if !eventually(20*time.Second, func() bool { return len(g.pendingUploads()) == 0 }) {
		out, _ := g.S3.ListMultipartUploads(context.Background(), &s3.ListMultipartUploadsInput{Bucket: aws.String(g.Bucket)})
		for _, u := range out.Uploads {
			g.t.Logf("still pending: %s upload %s initiated %v", aws.ToString(u.Key), aws.ToString(u.UploadId), u.Initiated)
		}
		g.t.Fatal("timed out waiting for the multipart upload to be aborted")
	}
	g.mustNotExist("never-" + key)
}

func TestStorClientVanishesMidStream(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name        string
		size        int64
		dataFirst   bool // the data connection closes before the control one
		ctrlTimeout bool
	}{
		{"multipart-control-first", bigUpload, false, false},
		{"multipart-data-first", bigUpload, true, false},
		{"single-put-control-first", 1 << 20, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := startGateway(t, smallParts)
			oldSum, oldSize := withOld(g, "f.bin")
			for _, key := range []string{"f.bin", "never-f.bin"} {
				u := g.startUpload(key, tc.size, 7)
				if err := <-u.done; err != nil {
					t.Fatal(err)
				}
				// A dying client process: the kernel closes both sockets.
				if tc.dataFirst {
					u.data.Close()
					u.ctl.c.Close()
				} else {
					u.ctl.c.Close()
					// Lets the control connection's FIN go first: the order is the
					// case under test; the outcome checked below is the same either way.
					time.Sleep(50 * time.Millisecond)
					u.data.Close()
				}
			}
			waitUntil(t, "the sessions to end", 20*time.Second, func() bool { return g.GW.Server.ActiveSessions() == 0 })
			g.intact("f.bin", oldSum, oldSize)
			if !strings.Contains(g.Logs.String(), "control connection closed") {
				t.Fatal("the log does not say the control connection closed before commit")
			}
		})
	}
}

func TestStorAbor(t *testing.T) {
	t.Parallel()
	g := startGateway(t, smallParts)
	oldSum, oldSize := withOld(g, "f.bin")
	for _, key := range []string{"f.bin", "never-f.bin"} {
		u := g.startUpload(key, 1<<40, 3) // endless: the client is still sending
		g.waitMultipart(key)
		u.ctl.send("ABOR")
		u.ctl.expect(426)
		u.ctl.expect(226)
		if err := <-u.done; err == nil {
			t.Fatal("the data connection stayed open after ABOR")
		}
		u.ctl.cmd(200, "NOOP") // the session goes on
	}
	g.intact("f.bin", oldSum, oldSize)
}

func TestStorDataStallTimeout(t *testing.T) {
	t.Parallel()
	g := startGateway(t, smallParts, func(c *gateway.Config) { c.DataTimeout = time.Second })
	oldSum, oldSize := withOld(g, "f.bin")
	for _, key := range []string{"f.bin", "never-f.bin"} {
		u := g.startUpload(key, bigUpload, 5)
		if err := <-u.done; err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		code, msg := u.ctl.read() // the client stalls: no more data, no close
		if code != 426 || !strings.Contains(msg, "timed out") {
			t.Fatalf("stalled upload: got %d %s, want 426 timed out", code, msg)
		}
		if d := time.Since(start); d > 10*time.Second {
			t.Fatalf("the stall was noticed after %s", d)
		}
	}
	g.intact("f.bin", oldSum, oldSize)
}

func TestStorControlDroppedWhileDataFlows(t *testing.T) {
	t.Parallel()
	g := startGateway(t, smallParts)
	oldSum, oldSize := withOld(g, "f.bin")
	for _, key := range []string{"f.bin", "never-f.bin"} {
		u := g.startUpload(key, 1<<40, 9)
		g.waitMultipart(key)
		u.ctl.c.Close() // data keeps flowing
		select {
		case err := <-u.done:
			if err == nil {
				t.Fatal("the upload ended cleanly")
			}
		case <-time.After(20 * time.Second):
			t.Fatal("the gateway kept reading the data connection after the control connection closed")
		}
	}
	g.intact("f.bin", oldSum, oldSize)
}

func TestStorS3Failures(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		size int64
		op   string
		part string
	}{
		{"second-part", bigUpload, "UploadPart", "2"},
		{"completion", bigUpload, "CompleteMultipartUpload", ""},
		{"single-put", 1 << 20, "PutObject", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// S3 keeps failing: retried for a second (FTP2S3_S3_RETRY_FOR), then 451.
			g, ft := startStoreGateway(t, smallParts, func(c *gateway.Config) { c.S3RetryFor = time.Second })
			oldSum, oldSize := withOld(g, "f.bin")
			ft.failWhen(func(op string, r *http.Request) bool {
				return op == tc.op && (tc.part == "" || r.URL.Query().Get("partNumber") == tc.part)
			})
			for _, key := range []string{"f.bin", "never-f.bin"} {
				u := g.startUpload(key, tc.size, 11)
				<-u.done
				u.data.Close()
				code, msg := u.ctl.read()
				if code != 451 {
					t.Fatalf("S3 failing on %s: got %d %s, want 451", tc.op, code, msg)
				}
				if strings.Contains(msg, "injected") || strings.Contains(msg, "InternalError") {
					t.Fatalf("the reply leaks S3's error: %s", msg)
				}
			}
			if n := ft.count(tc.op); n < 4 {
				t.Fatalf("%d %s requests for two uploads: the failure was not retried", n, tc.op)
			}
			g.intact("f.bin", oldSum, oldSize)
		})
	}
}

func TestStorGatewayClose(t *testing.T) {
	t.Parallel()
	g := startGateway(t, smallParts)
	oldSum, oldSize := withOld(g, "f.bin")
	var uploads []*upload
	for _, key := range []string{"f.bin", "never-f.bin"} {
		uploads = append(uploads, g.startUpload(key, 1<<40, 13))
		g.waitMultipart(key)
	}
	if err := g.GW.Close(); err != nil {
		t.Fatal(err)
	}
	for _, u := range uploads {
		select {
		case <-u.done:
		case <-time.After(20 * time.Second):
			t.Fatal("an upload went on after Close")
		}
	}
	g.intact("f.bin", oldSum, oldSize)
}

// TestOverwriteAtomic reads the object again and again while it is overwritten
// by a multipart upload: every complete read is the old or the new file, whole.
func TestOverwriteAtomic(t *testing.T) {
	t.Parallel()
	g := startGateway(t, smallParts)
	oldSum, _ := sha256Of(newPattern(bigUpload, 1))
	newSum, _ := sha256Of(newPattern(bigUpload, 2))
	c := g.dial(userRW)
	if err := c.Stor("f.bin", newPattern(bigUpload, 1)); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	var mu sync.Mutex
	seen := map[string]int{}
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				out, err := g.S3.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(g.Bucket), Key: aws.String("f.bin")})
				if err != nil {
					continue
				}
				sum, n := sha256Of(out.Body)
				out.Body.Close()
				if ctx.Err() != nil {
					return
				}
				mu.Lock()
				seen[sum]++
				if sum != oldSum && sum != newSum {
					t.Errorf("a reader got a mix: %d bytes %s", n, sum[:12])
				}
				mu.Unlock()
			}
		}()
	}
	if err := c.Stor("f.bin", newPattern(bigUpload, 2)); err != nil {
		t.Fatal(err)
	}
	sawNew := eventually(20*time.Second, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return seen[newSum] > 0
	})
	cancel()
	wg.Wait()
	if !sawNew {
		t.Fatalf("no reader saw the new object: %v", seen)
	}
	g.mustHold("f.bin", newSum, bigUpload)
}

// TestStoredChecksums: parts carry CRC32 checksums and the whole object's
// SHA-256 is stored as metadata for single uploads and, with
// FTP2S3_HASH_COPY_LIMIT at its maximum, multipart ones.
func TestStoredChecksums(t *testing.T) {
	t.Parallel()
	g := startGateway(t, smallParts, func(c *gateway.Config) { c.HashCopyLimit = 5 << 30 })
	c := g.dial(userRW)
	for _, size := range []int64{0, 1000, bigUpload} {
		key := "sum-" + fmtSize(size)
		want, _ := sha256Of(newPattern(size, 4))
		if err := c.Stor(key, newPattern(size, 4)); err != nil {
			t.Fatal(err)
		}
		out, err := g.S3.HeadObject(context.Background(), &s3.HeadObjectInput{Bucket: aws.String(g.Bucket), Key: aws.String(key), ChecksumMode: types.ChecksumModeEnabled})
		if err != nil {
			t.Fatal(err)
		}
		if got := out.Metadata[storage.MetaSHA256]; got != want {
			t.Fatalf("%s: x-amz-meta-%s = %q, want %s", key, storage.MetaSHA256, got, want)
		}
		if aws.ToString(out.ChecksumCRC32) == "" {
			t.Fatalf("%s: MinIO holds no CRC32 checksum for the object", key)
		}
		e, err := g.Backend.Stat(context.Background(), g.Bucket, key)
		if err != nil || e.SHA256 != want {
			t.Fatalf("%s: Stat SHA256 = %q, %v; want %s", key, e.SHA256, err, want)
		}
		// A fresh backend must read it from HeadObject, not from its own cache.
		fresh := storage.New(minio.Client(), storage.Options{})
		if e, err := fresh.Stat(context.Background(), g.Bucket, key); err != nil || e.SHA256 != want {
			t.Fatalf("%s: fresh Stat SHA256 = %q, %v; want %s", key, e.SHA256, err, want)
		}
	}
}

// TestDownloadPinnedToETag overwrites an object while a slow client downloads
// it: the transfer must fail with 451 rather than send a mix.
func TestDownloadPinnedToETag(t *testing.T) {
	t.Parallel()
	g := startGateway(t, func(c *gateway.Config) {
		c.DownloadChunk = 64 << 10
		c.DownloadConcurrency = 2
	})
	const size = 32 << 20
	c := g.dial(userRW)
	if err := c.Stor("f.bin", newPattern(size, 1)); err != nil {
		t.Fatal(err)
	}
	raw := rawLogin(g.t, g.Addr, userRW)
	dc := raw.data()
	raw.send("RETR f.bin")
	raw.expect(150)
	h := sha256.New()
	if _, err := io.CopyN(h, dc, 1<<20); err != nil {
		t.Fatal(err)
	}
	// The client reads no further: the gateway can run ahead of it by the socket
	// buffers and two chunks only, far from the end of the 32 MiB file.
	if err := c.Stor("f.bin", newPattern(size, 2)); err != nil {
		t.Fatal(err)
	}
	n, _ := io.Copy(h, dc)
	code, msg := raw.read()
	if code != 451 {
		t.Fatalf("download across an overwrite: got %d %s after %d more bytes, want 451", code, msg, n)
	}
	if 1<<20+n >= size {
		t.Fatalf("the whole file (%d bytes) was sent although it changed", 1<<20+n)
	}
	_ = hex.EncodeToString(h.Sum(nil))
}

// TestStorGatewayShutdownDeadline is the SIGTERM path: Shutdown lets an upload
// that finishes within the grace period complete, and aborts cleanly the one
// still running at the deadline.
func TestStorGatewayShutdownDeadline(t *testing.T) {
	t.Parallel()
	g := startGateway(t, smallParts)
	oldSum, oldSize := withOld(g, "f.bin")
	endless := g.startUpload("f.bin", 1<<40, 17)
	finishing := g.startUpload("done.bin", bigUpload, 18)
	g.waitMultipart("f.bin")

	// Long enough for "finishing" to end inside it on a loaded runner (at 3 s
	// it was cut off); the test waits it out, in parallel with the others.
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	shut := make(chan error, 1)
	go func() { shut <- g.GW.Shutdown(ctx) }()

	if err := <-finishing.done; err != nil {
		t.Fatal(err)
	}
	finishing.data.Close()
	finishing.ctl.expect(226)
	select {
	case err := <-shut:
		if err == nil {
			t.Fatal("Shutdown returned before the deadline although an upload was running")
		}
	case <-time.After(60 * time.Second):
		t.Fatal("Shutdown did not return after its deadline")
	}
	if err := <-endless.done; err == nil {
		t.Fatal("the running upload's data connection stayed open")
	}
	want, _ := sha256Of(newPattern(bigUpload, 18))
	g.mustHold("done.bin", want, bigUpload)
	g.intact("f.bin", oldSum, oldSize)
}

// TestHashCopyLimit: FTP2S3_HASH_COPY_LIMIT=0, the shipped default, reaches
// storage as "off" through the constructor the binary uses and skips the
// self-copy that labels multipart uploads (single PutObjects still carry the
// hash).
func TestHashCopyLimit(t *testing.T) {
	t.Parallel()
	cfg := gateway.DefaultConfig() // what the binary reads from an empty environment
	if cfg.HashCopyLimit != 0 {
		t.Fatalf("FTP2S3_HASH_COPY_LIMIT defaults to %d, want 0", cfg.HashCopyLimit)
	}
	g, ft := startStoreGateway(t, smallParts, func(c *gateway.Config) { c.HashCopyLimit = cfg.HashCopyLimit })
	if got := g.Backend.Options().HashCopyLimit; got != 0 {
		t.Fatalf("storage's HashCopyLimit is %d for FTP2S3_HASH_COPY_LIMIT=0, want 0 (off)", got)
	}
	c := g.dial(userRW)
	if err := c.Stor("big.bin", newPattern(bigUpload, 1)); err != nil {
		t.Fatal(err)
	}
	if err := c.Stor("small.bin", strings.NewReader("small")); err != nil {
		t.Fatal(err)
	}
	if n := ft.count("CopyObject"); n != 0 {
		t.Fatalf("%d CopyObject requests with the limit at 0", n)
	}
	if out, err := g.head("big.bin"); err != nil || out.Metadata[storage.MetaSHA256] != "" {
		t.Fatalf("big.bin metadata %v, %v; want no stored hash", out.Metadata, err)
	}
	want, _ := sha256Of(strings.NewReader("small"))
	if out, err := g.head("small.bin"); err != nil || out.Metadata[storage.MetaSHA256] != want {
		t.Fatalf("small.bin metadata %v, %v; want its hash", out.Metadata, err)
	}
}

// TestHashCopyLimitBetweenSizes: with the limit between two multipart sizes, the
// smaller upload gets its SHA-256 stored (one self-copy) and the larger one is
// neither hashed nor copied.
func TestHashCopyLimitBetweenSizes(t *testing.T) {
	t.Parallel()
	const limit = bigUpload - 1<<20
	g, ft := startStoreGateway(t, smallParts, func(c *gateway.Config) { c.HashCopyLimit = limit })
	c := g.dial(userRW)
	if err := c.Stor("within.bin", newPattern(limit, 7)); err != nil {
		t.Fatal(err)
	}
	if n := ft.count("CopyObject"); n != 1 {
		t.Fatalf("%d CopyObject requests for an upload within the limit, want 1", n)
	}
	want, _ := sha256Of(newPattern(limit, 7))
	if out, err := g.head("within.bin"); err != nil || out.Metadata[storage.MetaSHA256] != want {
		t.Fatalf("within.bin metadata %v, %v; want its hash %s", out.Metadata, err, want)
	}
	if err := c.Stor("beyond.bin", newPattern(bigUpload, 8)); err != nil {
		t.Fatal(err)
	}
	if n := ft.count("CopyObject"); n != 1 {
		t.Fatalf("%d CopyObject requests after an upload beyond the limit, want still 1", n)
	}
	if out, err := g.head("beyond.bin"); err != nil || out.Metadata[storage.MetaSHA256] != "" {
		t.Fatalf("beyond.bin metadata %v, %v; want no stored hash", out.Metadata, err)
	}
	beyond, _ := sha256Of(newPattern(bigUpload, 8))
	g.mustHold("beyond.bin", beyond, bigUpload)
}
