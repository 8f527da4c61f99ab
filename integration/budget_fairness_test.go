package integration

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ftp2s3/ftp2s3/gateway"
)

// The memory budget shared fairly (issue 20, section 2; docs/memory-budget.md).
// One client address announces huge uploads (ALLO) and then trickles a byte
// at a time into them; another address's ordinary upload must still complete.
// Clients differ by source address: loopback holds all of 127/8, so the
// second client connects from 127.0.0.2.

const (
	hogAddr  = "127.0.0.1"
	fairAddr = "127.0.0.2"
	// replyLimit is how long the fair client waits for its 226: generous, so
	// that only an upload stuck behind the trickling ones misses it.
	replyLimit = 60 * time.Second
)

// trickler is an upload kept alive by a byte now and then.
type trickler struct {
	ctl  *ftpRaw
	key  string
	data net.Conn
}

// startTrickle logs in from local, announces allo bytes (0: no ALLO), starts
// STOR key, sends head bytes and then chunk bytes every interval until the
// gateway ends the transfer or the test ends.
func startTrickle(t *testing.T, g *testGateway, local, key string, allo, head int64, chunk int, every time.Duration, wg *sync.WaitGroup) *trickler {
	t.Helper()
	r := rawDialFrom(t, g.Addr, local)
	r.expect(220)
	r.login(userRW)
	r.cmd(200, "TYPE I")
	if allo > 0 {
		r.cmd(202, "ALLO %d", allo)
	}
	port := r.epsv()
	data, err := dialDataFrom(t, local, "127.0.0.1", port)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = data.Close() })
	r.send("STOR %s", key)
	r.expect(150)
	if _, err := io.Copy(data, newPattern(head, 3)); err != nil {
		t.Fatalf("%s: sending the first %d bytes: %v", key, head, err)
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			time.Sleep(every)
			_ = data.SetWriteDeadline(time.Now().Add(5 * time.Second))
			if _, err := data.Write(make([]byte, chunk)); err != nil {
				return // the gateway ended the transfer, or the test closed it
			}
		}
	}()
	return &trickler{ctl: r, key: key, data: data}
}

// fairUpload stores size pattern bytes as key from local and returns how long
// STOR took to its final reply, failing unless that is 226 within replyLimit
// and the object holds exactly those bytes.
func fairUpload(t *testing.T, g *testGateway, local, key string, size int64) time.Duration {
	t.Helper()
	r := rawDialFrom(t, g.Addr, local)
	r.expect(220)
	r.login(userRW)
	r.cmd(200, "TYPE I")
	port := r.epsv()
	data, err := dialDataFrom(t, local, "127.0.0.1", port)
	if err != nil {
		t.Fatal(err)
	}
	defer data.Close()
	start := time.Now()
	r.send("STOR %s", key)
	r.expect(150)
	h := sha256.New()
	sent := make(chan error, 1)
	go func() {
		_, err := io.Copy(io.MultiWriter(data, h), newPattern(size, 11))
		_ = data.Close()
		sent <- err
	}()
	code, msg, err := r.reply(replyLimit)
	took := time.Since(start)
	if err != nil && code == 0 {
		t.Fatalf("no reply to the %s upload from %s within %s (%v): it waited behind the trickling uploads; budget %+v",
			fmtSize(size), local, replyLimit, err, g.Backend.MemoryStats())
	}
	if code != 226 {
		t.Fatalf("%s upload from %s: %d %s", fmtSize(size), local, code, msg)
	}
	if err := <-sent; err != nil {
		t.Fatalf("sending the upload: %v", err)
	}
	g.mustHold(key, hex.EncodeToString(h.Sum(nil)), size)
	return took
}

// TestBudgetFairnessALLOTrickle: four sessions from one address each ALLO a
// terabyte, send a little and trickle a byte a second under a 128 MiB budget;
// a 20 MiB upload from another address completes meanwhile. On the old
// budget the first ALLO took a 96 MiB buffer, the second waited at the head
// of a strictly ordered queue, and the third address's upload waited behind
// it for as long as the trickle lasted.
func TestBudgetFairnessALLOTrickle(t *testing.T) {
	t.Parallel()
	g := startGateway(t, func(c *gateway.Config) { c.MemoryLimit = 128 << 20 })
	var wg sync.WaitGroup
	defer wg.Wait()
	for i := range 4 {
		tr := startTrickle(t, g, hogAddr, fmt.Sprintf("hog%d.bin", i), 1e12, 2<<20, 1, time.Second, &wg)
		defer tr.data.Close()
	}
	// All four hold their first buffer (the new budget: 16 MiB each), or, on
	// the old one, the first holds 96 MiB and the others wait for memory.
	waitUntil(t, "the four trickling uploads to hold or wait for memory", 30*time.Second, func() bool {
		st := g.Backend.MemoryStats()
		return st.InUse >= 4*(16<<20) || st.Waiting >= 3
	})
	took := fairUpload(t, g, fairAddr, "fair.bin", 20<<20)
	st := g.Backend.MemoryStats()
	t.Logf("20 MiB upload from %s took %s while four ALLO+trickle uploads from %s held %s of a 128 MiB budget (%+v)",
		fairAddr, took.Round(time.Millisecond), hogAddr, fmtSize(st.InUse), st)
}

// TestBudgetFairnessClientShare: with the slow-upload rule off, eight
// trickling uploads from one address could hold 112 MiB of the 120 MiB parts
// pool (16 MiB each) and leave no part for anyone else. The per-client share
// (80 MiB here: one full-speed upload, 16 MiB × 5) stops that address at five
// buffers, its other uploads wait, and another address's upload completes.
func TestBudgetFairnessClientShare(t *testing.T) {
	t.Parallel()
	g := startGateway(t, func(c *gateway.Config) {
		c.MemoryLimit = 128 << 20
		c.UploadMinRate = 0 // only the share can let the other client through
	})
	if share := g.Backend.MemoryStats().ClientShare; share != 80<<20 {
		t.Fatalf("client share %s, want 80 MiB", fmtSize(share))
	}
	var wg sync.WaitGroup
	defer wg.Wait()
	for i := range 8 {
		tr := startTrickle(t, g, hogAddr, fmt.Sprintf("hog%d.bin", i), 1e12, 256<<10, 1, time.Second, &wg)
		defer tr.data.Close()
	}
	waitUntil(t, "the eight trickling uploads to hold or wait for memory", 30*time.Second, func() bool {
		st := g.Backend.MemoryStats()
		return st.InUse+int64(st.Waiting)*(16<<20) >= 8*(16<<20) || st.Waiting >= 7
	})
	st := g.Backend.MemoryStats()
	if st.InUse > 80<<20 {
		t.Fatalf("one address holds %s, over its 80 MiB share (%+v)", fmtSize(st.InUse), st)
	}
	took := fairUpload(t, g, fairAddr, "fair.bin", 20<<20)
	t.Logf("20 MiB upload from %s took %s while eight trickling uploads from %s waited for or held their share (%+v)",
		fairAddr, took.Round(time.Millisecond), hogAddr, st)
}

// TestBudgetSlowUploadEnded: two uploads from one address fill a 16 MiB
// budget (5 MiB parts): one trickles a byte every half second after storing
// a part (so a multipart upload exists in MinIO), the other sends 64 KB/s,
// above FTP2S3_UPLOAD_MIN_RATE (16 KiB/s). When another address's upload has
// to wait for memory, the slow-upload rule ends the trickling upload with 426
// within a window (FTP2S3_DATA_TIMEOUT, 3 s here): nothing is stored, no
// multipart upload is left, and the waiting upload completes. The upload
// above the rate is left alone.
func TestBudgetSlowUploadEnded(t *testing.T) {
	t.Parallel()
	g := startGateway(t, func(c *gateway.Config) {
		c.MemoryLimit = 16 << 20
		c.PartSize = 5 << 20
		c.DownloadChunk = 5 << 20
		c.DataTimeout = 3 * time.Second
	})
	var wg sync.WaitGroup
	defer wg.Wait()
	// 6 MiB: part 1 goes to S3 and part 2's buffer fills a byte at a time.
	slow := startTrickle(t, g, hogAddr, "slow-multipart.bin", 0, 6<<20, 1, 500*time.Millisecond, &wg)
	defer slow.data.Close()
	waitUntil(t, "the trickling upload's multipart upload", 30*time.Second, func() bool {
		return strings.Contains(strings.Join(g.pendingUploads(), " "), slow.key)
	})
	steady := startTrickle(t, g, hogAddr, "steady.bin", 1e12, 256<<10, 32_000, 500*time.Millisecond, &wg)
	defer steady.data.Close()
	// The pool is full (on the old budget the ALLO'd upload waits instead).
	waitUntil(t, "the parts pool to be full", 30*time.Second, func() bool {
		st := g.Backend.MemoryStats()
		return st.InUse >= 15<<20 || st.Waiting > 0
	})

	took := fairUpload(t, g, fairAddr, "fair.bin", 12<<20)
	code, msg := slow.ctl.read()
	if code != 426 || !strings.Contains(msg, "too slow") {
		t.Fatalf("%s: %d %q, want 426 for an upload too slow while others wait for memory", slow.key, code, msg)
	}
	g.mustNotExist(slow.key)
	if n := g.Backend.MemoryStats().TooSlow; n != 1 {
		t.Fatalf("%d uploads counted as too slow (ftp2s3_uploads_too_slow_total), want 1", n)
	}
	if p := g.pendingUploads(); len(p) > 0 {
		t.Fatalf("multipart uploads left behind: %v", p)
	}
	t.Logf("12 MiB upload from %s took %s; the trickling upload ended with %d %s", fairAddr, took.Round(time.Millisecond), code, msg)
}
