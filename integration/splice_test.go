package integration

import (
	"bytes"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"io"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jlaffaye/ftp"

	"github.com/ftp2s3/ftp2s3/gateway"
)

// Spliced downloads (storage/splice.go): over plain HTTP to MinIO and a plain
// TCP data connection in binary mode, the bytes after the first chunk move
// from the S3 socket to the data connection in the kernel. The gateway logs
// every such download at debug level ("spliced download"), which is how these
// tests know which path a download took.

var splicedLine = regexp.MustCompile(`msg="spliced download" path=(\S+) spliced_bytes=(\d+) copied_bytes=(\d+) requests=(\d+)`)

// splicedDownloads returns, for every spliced download of bucket/key in the
// gateway's log so far, the bytes spliced and the bytes copied.
func (g *testGateway) splicedDownloads(key string) [][2]int64 {
	var out [][2]int64
	for _, m := range splicedLine.FindAllStringSubmatch(g.Logs.String(), -1) {
		if m[1] != g.Bucket+"/"+key {
			continue
		}
		s, _ := strconv.ParseInt(m[2], 10, 64)
		c, _ := strconv.ParseInt(m[3], 10, 64)
		out = append(out, [2]int64{s, c})
	}
	return out
}

func spliceConfig(c *gateway.Config) {
	c.DownloadChunk = 1 << 20
}

// TestDownloadSplicedIdentical: a binary RETR is spliced and byte-identical,
// also when resumed with REST, the byte counters count every byte, and the
// same file in ASCII mode takes the copying path.
func TestDownloadSplicedIdentical(t *testing.T) {
	t.Parallel()
	g := startGateway(t, spliceConfig)
	const size = 9<<20 + 12345
	c := g.dial(userRW)
	if err := c.Stor("f.bin", newPattern(size, 7)); err != nil {
		t.Fatal(err)
	}
	want, _ := sha256Of(newPattern(size, 7))

	r, err := c.Retr("f.bin")
	if err != nil {
		t.Fatal(err)
	}
	got, n := sha256Of(r)
	if err := r.Close(); err != nil {
		t.Fatalf("RETR: %v", err)
	}
	if got != want || n != size {
		t.Fatalf("RETR: %d bytes, sha256 %s; want %d bytes, %s", n, got, int64(size), want)
	}
	g.waitLog("msg=transfer", "cmd=RETR", "path="+g.Bucket+"/f.bin", "bytes="+strconv.Itoa(size)+" ", "result=ok")
	sp := g.splicedDownloads("f.bin")
	if len(sp) != 1 || sp[0][0] < size-2<<20 || sp[0][0]+sp[0][1] != size {
		t.Fatalf("spliced downloads of f.bin: %v; want one with most of %d bytes spliced and all accounted for", sp, size)
	}

	// REST: the resumed part, from an offset inside the second chunk.
	const off = 1<<20 + 777
	r, err = c.RetrFrom("f.bin", off)
	if err != nil {
		t.Fatal(err)
	}
	got, n = sha256Of(r)
	if err := r.Close(); err != nil {
		t.Fatalf("RETR after REST: %v", err)
	}
	tail := newPattern(size, 7)
	if _, err := io.CopyN(io.Discard, tail, off); err != nil {
		t.Fatal(err)
	}
	if want, _ := sha256Of(tail); got != want || n != size-off {
		t.Fatalf("RETR after REST %d: %d bytes, sha256 %s; want %d bytes, %s", off, n, got, int64(size-off), want)
	}
	g.waitLog("msg=transfer", "cmd=RETR", "bytes="+strconv.Itoa(size-off)+" ", "result=ok")
	if sp = g.splicedDownloads("f.bin"); len(sp) != 2 || sp[1][0] == 0 || sp[1][0]+sp[1][1] != size-off {
		t.Fatalf("spliced downloads of f.bin after REST: %v; want a second one of %d bytes", sp, size-off)
	}

	// ASCII mode converts every byte in the process: never spliced.
	text := strings.Repeat("a line of text\n", 200_000) // 3 MB, three chunks
	if err := c.Stor("t.txt", strings.NewReader(text)); err != nil {
		t.Fatal(err)
	}
	raw := rawLogin(t, g.Addr, userRW)
	raw.cmd(200, "TYPE A")
	dc := raw.data()
	raw.cmd(150, "RETR t.txt")
	body, err := io.ReadAll(dc)
	if err != nil {
		t.Fatal(err)
	}
	raw.expect(226)
	if wantText := strings.ReplaceAll(text, "\n", "\r\n"); !bytes.Equal(body, []byte(wantText)) {
		t.Fatalf("ASCII RETR: %d bytes, want %d with CRLF line ends", len(body), len(wantText))
	}
	if sp := g.splicedDownloads("t.txt"); len(sp) != 0 {
		t.Fatalf("ASCII RETR was spliced: %v", sp)
	}
}

// TestDownloadSplicedObjectReplaced: the object is overwritten while a slow
// client downloads it on the spliced path; the next range's If-Match fails
// and the transfer ends with 451 instead of sending a mix of both versions.
func TestDownloadSplicedObjectReplaced(t *testing.T) {
	t.Parallel()
	g := startGateway(t, func(c *gateway.Config) { c.DownloadChunk = 64 << 10 })
	replacedMidDownload(t, g, 32<<20, 2<<20, nil)
	g.waitLog("msg=\"spliced download\"", "path="+g.Bucket+"/f.bin", "changed")
	if sp := g.splicedDownloads("f.bin"); len(sp) != 1 || sp[0][0] == 0 {
		t.Fatalf("spliced downloads: %v; want one that spliced bytes", sp)
	}
}

// TestDownloadSplicedAbor: ABOR while a splice is blocked on a client that
// reads no more ends the transfer at once (426, 226), closes the data
// connection, and the session goes on.
func TestDownloadSplicedAbor(t *testing.T) {
	t.Parallel()
	g := startGateway(t, spliceConfig)
	c := g.dial(userRW)
	if err := c.Stor("big.bin", newPattern(32<<20, 3)); err != nil {
		t.Fatal(err)
	}
	r := rawLogin(t, g.Addr, userRW)
	d := r.data()
	r.cmd(150, "RETR big.bin")
	if _, err := io.ReadFull(d, make([]byte, 4<<20)); err != nil { // past the first chunk
		t.Fatal(err)
	}
	start := time.Now()
	r.cmd(426, "ABOR")
	r.expect(226)
	if el := time.Since(start); el > 5*time.Second {
		t.Errorf("ABOR took %s", el)
	}
	_ = d.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.Copy(io.Discard, d); err != nil && !strings.Contains(err.Error(), "reset") {
		t.Fatalf("data connection after ABOR: %v", err)
	}
	g.waitLog("msg=\"spliced download\"", "path="+g.Bucket+"/big.bin")
	if sp := g.splicedDownloads("big.bin"); len(sp) != 1 || sp[0][0] == 0 {
		t.Fatalf("spliced downloads: %v; want one that spliced bytes before the ABOR", sp)
	}
	g.waitLog("msg=transfer", "cmd=RETR", "result=aborted")
	r.cmd(257, "PWD")
}

// TestDownloadSplicedStall: a client that stops reading mid-splice gets 426
// once the data connection could take nothing for the data timeout.
func TestDownloadSplicedStall(t *testing.T) {
	t.Parallel()
	g := startGateway(t, func(c *gateway.Config) {
		spliceConfig(c)
		c.DataTimeout = 2 * time.Second
	})
	if err := g.dial(userRW).Stor("big.bin", newPattern(32<<20, 5)); err != nil {
		t.Fatal(err)
	}
	r := rawLogin(t, g.Addr, userRW)
	d := r.data()
	r.cmd(150, "RETR big.bin")
	if _, err := io.ReadFull(d, make([]byte, 4<<20)); err != nil {
		t.Fatal(err)
	}
	start := time.Now() // and read no more
	if msg := r.expect(426); !strings.Contains(msg, "timed out") {
		t.Errorf("426 text %q", msg)
	}
	if el := time.Since(start); el > 15*time.Second {
		t.Errorf("stall noticed after %s with a 2s data timeout", el)
	}
	if sp := g.splicedDownloads("big.bin"); len(sp) != 1 || sp[0][0] == 0 {
		t.Fatalf("spliced downloads: %v; want one that spliced bytes before the stall", sp)
	}
}

// TestDownloadTLSDataNotSpliced: under PROT P every byte is encrypted in the
// process; the download takes the copying path and arrives intact.
func TestDownloadTLSDataNotSpliced(t *testing.T) {
	t.Parallel()
	g := startFTPS(t, "explicit", spliceConfig)
	c, err := ftp.Dial(g.Addr, ftp.DialWithTimeout(10*time.Second), ftp.DialWithExplicitTLS(&tls.Config{RootCAs: g.Cert.Pool(), ServerName: "127.0.0.1"}))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Quit()
	if err := c.Login(userRW, testPassword); err != nil {
		t.Fatal(err)
	}
	const size = 5<<20 + 3
	if err := c.Stor("tls.bin", newPattern(size, 9)); err != nil {
		t.Fatal(err)
	}
	r, err := c.Retr("tls.bin")
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.New()
	n, _ := io.Copy(h, r)
	if err := r.Close(); err != nil {
		t.Fatalf("RETR over TLS: %v", err)
	}
	if want, _ := sha256Of(newPattern(size, 9)); hex.EncodeToString(h.Sum(nil)) != want || n != size {
		t.Fatalf("RETR over TLS: %d bytes, want %d, sha256 %s", n, int64(size), want)
	}
	g.waitLog("msg=transfer", "cmd=RETR", "bytes="+strconv.Itoa(size)+" ", "result=ok")
	if sp := g.splicedDownloads("tls.bin"); len(sp) != 0 {
		t.Fatalf("a TLS data connection was spliced: %v", sp)
	}
}

// replacedMidDownload stores f.bin (size bytes), starts its download, reads
// the first `read` bytes, then overwrites the file, as a slow client sees an
// object replaced under it (the client reads no further, so the gateway is at
// most the socket buffers and one range ahead of it, far from the end). The
// download must end with 451 naming the change, having sent only a prefix of
// the version it started with. before, if set, runs after the store.
func replacedMidDownload(t *testing.T, g *testGateway, size, read int, before func()) {
	t.Helper()
	c := g.dial(userRW)
	if err := c.Stor("f.bin", newPattern(int64(size), 1)); err != nil {
		t.Fatal(err)
	}
	if before != nil {
		before()
	}
	raw := rawLogin(t, g.Addr, userRW)
	dc := raw.data()
	raw.cmd(150, "RETR f.bin")
	first := make([]byte, read)
	if _, err := io.ReadFull(dc, first); err != nil {
		t.Fatal(err)
	}
	if err := c.Stor("f.bin", newPattern(int64(size), 2)); err != nil {
		t.Fatal(err)
	}
	rest, _ := io.ReadAll(dc)
	code, msg := raw.read()
	if code != 451 || !strings.Contains(strings.ToLower(msg), "changed") {
		t.Fatalf("download across an overwrite: %d %s after %d more bytes, want 451 (changed)", code, msg, len(rest))
	}
	got := append(first, rest...)
	if len(got) >= size {
		t.Fatalf("the whole file (%d bytes) was sent although it changed", len(got))
	}
	old := make([]byte, len(got))
	if _, err := io.ReadFull(newPattern(int64(size), 1), old); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, old) {
		t.Fatal("the bytes sent are not a prefix of the version the download started with")
	}
}
