package integration

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"strings"
	"testing"

	"github.com/ftp2s3/ftp2s3/gateway"
	"github.com/ftp2s3/ftp2s3/storage"
)

// Resumed uploads: the gateway composes the new object from the existing head
// (copied inside S3) and the streamed rest, without reading the head back.

// The head is over a default part (16 MiB), so it is copied as at least one
// whole part, and the rest is more than two parts. (They were 100 and 300 MiB,
// which made these tests among the suite's slowest under -race for no more
// coverage.)
const (
	resumeTotal = 64 << 20
	resumeCut   = 24 << 20
)

// writePattern writes n pattern bytes to a file and returns its path.
func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	var out bytes.Buffer
	cmd := exec.Command(name, args...)
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %v: %v\n%s", name, args, err, out.String())
	}
	return out.String()
}

// cutUpload stores the first resumeCut bytes of the file, as an interrupted
// upload leaves them.
func cutUpload(t *testing.T, g *testGateway, key string, seed uint64) {
	t.Helper()
	c := g.dial(userRW)
	if err := c.Stor(key, newPattern(resumeCut, seed)); err != nil {
		t.Fatal(err)
	}
}

func TestResumeCurlAppend(t *testing.T) {
	t.Parallel()
	g, ft := startStoreGateway(t)
	cutUpload(t, g, "big.bin", 21)
	src, _ := writePattern(t, t.TempDir(), "src.bin", resumeTotal, 21)
	want, _ := sha256Of(newPattern(resumeTotal, 21))
	before := ft.getBytes.Load()
	// curl -C - asks SIZE, then sends the rest with APPE.
	run(t, "curl", "-sS", "--fail", "--max-time", "300", "-C", "-", "-T", src,
		fmt.Sprintf("ftp://%s:%s@%s/big.bin", userRW, "s3cret%20pass", g.Addr))
	g.mustHold("big.bin", want, resumeTotal)
	if got := ft.getBytes.Load() - before; got != 0 {
		t.Fatalf("the gateway read %d bytes of the head back; want 0 (server-side copy)", got)
	}
	if ft.count("UploadPartCopy") == 0 {
		t.Fatal("no UploadPartCopy was made")
	}
	if !strings.Contains(g.Logs.String(), "cmd=APPE") {
		t.Fatal("curl did not resume with APPE")
	}
	g.noPending()
}

func TestResumeFtplibRest(t *testing.T) {
	t.Parallel()
	g, ft := startStoreGateway(t)
	cutUpload(t, g, "big.bin", 22)
	src, _ := writePattern(t, t.TempDir(), "src.bin", resumeTotal, 22)
	want, _ := sha256Of(newPattern(resumeTotal, 22))
	host, port, _ := strings.Cut(g.Addr, ":")
	script := fmt.Sprintf(`
import ftplib
ftp = ftplib.FTP()
ftp.connect(%q, %s, timeout=120)
ftp.login(%q, %q)
n = ftp.size("big.bin")
assert n == %d, n
with open(%q, "rb") as f:
    f.seek(n)
    ftp.storbinary("STOR big.bin", f, rest=n)
ftp.quit()
`, host, port, userRW, testPassword, resumeCut, src)
	before := ft.getBytes.Load()
	run(t, "python3", "-c", script)
	g.mustHold("big.bin", want, resumeTotal)
	if got := ft.getBytes.Load() - before; got != 0 {
		t.Fatalf("the gateway read %d bytes of the head back; want 0 (server-side copy)", got)
	}
	if !strings.Contains(g.Logs.String(), fmt.Sprintf("REST %d", resumeCut)) {
		t.Fatal("ftplib did not send REST")
	}
	g.noPending()
}

// TestResumeSmallHead: a head under 5 MiB cannot be a part; it is read back and
// re-uploaded, and the object carries the SHA-256 of the whole.
func TestResumeSmallHead(t *testing.T) {
	t.Parallel()
	g := startGateway(t)
	c := g.dial(userRW)
	if err := c.Stor("f.txt", strings.NewReader("hello, wrong tail")); err != nil {
		t.Fatal(err)
	}
	if err := c.StorFrom("f.txt", strings.NewReader("world\n"), 7); err != nil {
		t.Fatal(err)
	}
	want, _ := sha256Of(strings.NewReader("hello, world\n"))
	g.mustHold("f.txt", want, 13)
	out, err := g.head("f.txt")
	if err != nil || out.Metadata["ftp2s3-sha256"] != want {
		t.Fatalf("stored SHA-256 %q, %v; want %s", out.Metadata["ftp2s3-sha256"], err, want)
	}
	if err := c.Append("f.txt", strings.NewReader("more\n")); err != nil {
		t.Fatal(err)
	}
	want, _ = sha256Of(strings.NewReader("hello, world\nmore\n"))
	g.mustHold("f.txt", want, 18)
	// SIZE right after APPE is the gateway's own write: never a stale cached size.
	if n, err := c.FileSize("f.txt"); err != nil || n != 18 {
		t.Fatalf("SIZE after APPE = %d, %v; want 18", n, err)
	}
	// APPE to a missing file creates it.
	if err := c.Append("new.txt", strings.NewReader("fresh")); err != nil {
		t.Fatal(err)
	}
	want, _ = sha256Of(strings.NewReader("fresh"))
	g.mustHold("new.txt", want, 5)
	// A restart offset past the end is refused before any data is sent.
	if err := c.StorFrom("f.txt", strings.NewReader("x"), 1000); ftpCode(err) != 554 {
		t.Fatalf("REST past the end + STOR: got %v, want 554", err)
	}
	if err := c.StorFrom("missing.txt", strings.NewReader("x"), 10); ftpCode(err) != 550 {
		t.Fatalf("REST + STOR of a missing file: got %v, want 550", err)
	}
	// Read-only users cannot append.
	r := g.dial(userRO)
	if err := r.Append("f.txt", strings.NewReader("x")); ftpCode(err) != 550 {
		t.Fatalf("APPE as a read-only user: got %v, want 550", err)
	}
	g.mustHold("f.txt", func() string { s, _ := sha256Of(strings.NewReader("hello, world\nmore\n")); return s }(), 18)
}

// TestAppendLargeHeadEmptyTail: APPE of zero bytes onto a multipart-sized file
// keeps it whole (only copy parts, no streamed part).
func TestAppendLargeHeadEmptyTail(t *testing.T) {
	t.Parallel()
	g := startGateway(t, smallParts)
	c := g.dial(userRW)
	if err := c.Stor("f.bin", newPattern(bigUpload, 8)); err != nil {
		t.Fatal(err)
	}
	if err := c.Append("f.bin", strings.NewReader("")); err != nil {
		t.Fatal(err)
	}
	want, _ := sha256Of(newPattern(bigUpload, 8))
	g.mustHold("f.bin", want, bigUpload)
	g.noPending()
}

// TestPutSizeHintPartSize: the size ALLO announces raises the part size when
// the growing schedule from the configured size would not hold it in 10,000
// parts (4 TiB from 5 MiB parts under a 1 GiB budget: it holds 3.7 TiB; 7 MiB
// parts hold 4 TiB), so fewer, larger parts carry the same bytes. The raise is bounded by the ALLO
// cap (storage's allocCap, docs/memory-budget.md).
func TestPutSizeHintPartSize(t *testing.T) {
	t.Parallel()
	g, ft := startStoreGateway(t, smallParts, func(c *gateway.Config) { c.MemoryLimit = 1 << 30 })
	ctx := context.Background()
	if _, err := g.Backend.Put(ctx, g.Bucket, "plain.bin", newPattern(bigUpload, 1), storage.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	if n := ft.count("UploadPart"); n != 3 {
		t.Fatalf("12 MiB in 5 MiB parts took %d parts, want 3", n)
	}
	if _, err := g.Backend.Put(ctx, g.Bucket, "hinted.bin", newPattern(bigUpload, 1), storage.PutOptions{SizeHint: 4 << 40}); err != nil {
		t.Fatal(err)
	}
	if n := ft.count("UploadPart") - 3; n != 2 {
		t.Fatalf("12 MiB with a 4 TiB hint took %d parts, want 2 (7 MiB parts)", n)
	}
	want, _ := sha256Of(newPattern(bigUpload, 1))
	g.mustHold("hinted.bin", want, bigUpload)
}
