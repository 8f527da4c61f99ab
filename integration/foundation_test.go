package integration

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/textproto"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/jlaffaye/ftp"

	"github.com/ftp2s3/ftp2s3/gateway"
)

func ftpCode(err error) int {
	var tp *textproto.Error
	if errors.As(err, &tp) {
		return tp.Code
	}
	return 0
}

func TestLogin(t *testing.T) {
	t.Parallel()
	g := startGateway(t)
	c, err := ftp.Dial(g.Addr, ftp.DialWithTimeout(10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Quit()
	if err := c.Login(userRW, "wrong"); ftpCode(err) != 530 {
		t.Fatalf("wrong password: got %v, want 530", err)
	}
	if err := c.Login("nobody", testPassword); ftpCode(err) != 530 {
		t.Fatalf("unknown user: got %v, want 530", err)
	}
	if _, err := c.List("/"); ftpCode(err) != 530 {
		t.Fatalf("LIST before login: got %v, want 530", err)
	}
	if err := c.Login(userRW, testPassword); err != nil {
		t.Fatalf("good login: %v", err)
	}
	if strings.Contains(g.Logs.String(), testPassword) || strings.Contains(g.Logs.String(), "wrong") {
		t.Fatal("a password appears in the logs")
	}
}

func TestDirectories(t *testing.T) {
	t.Parallel()
	g := startGateway(t)
	c := g.dial(userRW)
	if err := c.MakeDir("reports"); err != nil {
		t.Fatal(err)
	}
	if err := c.MakeDir("reports"); ftpCode(err) != 550 {
		t.Fatalf("MKD of an existing directory: got %v, want 550", err)
	}
	if err := c.MakeDir("missing/child"); ftpCode(err) != 550 {
		t.Fatalf("MKD under a missing parent: got %v, want 550", err)
	}
	if err := c.ChangeDir("reports"); err != nil {
		t.Fatal(err)
	}
	if dir, err := c.CurrentDir(); err != nil || dir != "/reports" {
		t.Fatalf("PWD = %q, %v; want /reports", dir, err)
	}
	if err := c.MakeDir("2026"); err != nil {
		t.Fatal(err)
	}
	if err := c.ChangeDir("../../.."); err != nil {
		t.Fatal(err)
	}
	if dir, _ := c.CurrentDir(); dir != "/" {
		t.Fatalf("cd above the root gave %q, want /", dir)
	}
	if err := c.ChangeDir("nowhere"); ftpCode(err) != 550 {
		t.Fatalf("CWD into a missing directory: got %v, want 550", err)
	}
	// The markers are in MinIO, so empty directories persist.
	for _, key := range []string{"reports/", "reports/2026/"} {
		if _, err := g.S3.HeadObject(context.Background(), &s3.HeadObjectInput{Bucket: aws.String(g.Bucket), Key: aws.String(key)}); err != nil {
			t.Fatalf("marker %s missing: %v", key, err)
		}
	}
	if err := c.RemoveDir("reports"); ftpCode(err) != 550 {
		t.Fatalf("RMD of a non-empty directory: got %v, want 550", err)
	}
	if err := c.RemoveDir("reports/2026"); err != nil {
		t.Fatal(err)
	}
	if err := c.RemoveDir("reports"); err != nil {
		t.Fatal(err)
	}
	if err := c.ChangeDir("reports"); ftpCode(err) != 550 {
		t.Fatalf("CWD into a removed directory: got %v, want 550", err)
	}
}

func TestUploadDownloadSizes(t *testing.T) {
	t.Parallel()
	g := startGateway(t, func(c *gateway.Config) { c.PartSize = 5 << 20; c.DownloadChunk = 4 << 20 })
	c := g.dial(userRW)
	if err := c.MakeDir("data"); err != nil {
		t.Fatal(err)
	}
	// The largest is 13 parts and 16 chunks: more than the upload and download
	// concurrency keep in flight (it was 200 MiB, the slowest step of this test
	// under -race, for no more coverage).
	for i, size := range []int64{0, 1, 1 << 20, 5 << 20, 64 << 20} {
		name := fmt.Sprintf("data/file-%d.bin", size)
		want, _ := sha256Of(newPattern(size, uint64(i+1)))
		if err := c.Stor(name, newPattern(size, uint64(i+1))); err != nil {
			t.Fatalf("STOR %d bytes: %v", size, err)
		}
		gotS3, n, err := g.object(name)
		if err != nil || n != size || gotS3 != want {
			t.Fatalf("object %s in MinIO: %d bytes sha %s err %v; want %d bytes sha %s", name, n, gotS3, err, size, want)
		}
		if got, err := c.FileSize(name); err != nil || got != size {
			t.Fatalf("SIZE %s = %d, %v", name, got, err)
		}
		r, err := c.Retr(name)
		if err != nil {
			t.Fatalf("RETR %s: %v", name, err)
		}
		got, n := sha256Of(r)
		if err := r.Close(); err != nil {
			t.Fatalf("RETR %s did not complete: %v", name, err)
		}
		if n != size || got != want {
			t.Fatalf("RETR %s: %d bytes sha %s; want %d bytes sha %s", name, n, got, size, want)
		}
	}
	if p := g.pendingUploads(); len(p) != 0 {
		t.Fatalf("multipart uploads left behind: %v", p)
	}
}

func TestRestartedDownload(t *testing.T) {
	t.Parallel()
	g := startGateway(t, func(c *gateway.Config) { c.DownloadChunk = 1 << 20 })
	body := strings.Repeat("0123456789", 500_000) // 5 MB: several chunks
	g.putObject("big.txt", body)
	c := g.dial(userRW)
	for _, off := range []uint64{0, 1, 1 << 20, 4_999_999, 5_000_000} {
		r, err := c.RetrFrom("big.txt", off)
		if err != nil {
			t.Fatalf("RETR from %d: %v", off, err)
		}
		got, err := io.ReadAll(r)
		r.Close()
		if err != nil || string(got) != body[off:] {
			t.Fatalf("RETR from %d: got %d bytes (err %v), want %d", off, len(got), err, len(body)-int(off))
		}
	}
}

func TestListings(t *testing.T) {
	t.Parallel()
	g := startGateway(t)
	g.putObject("docs/a.txt", "hello")
	g.putObject("docs/b b.txt", "hi")
	g.putObject("docs/sub/c.txt", "x")
	g.putObject("docs/ünï.txt", "utf8")
	c := g.dial(userRW)

	names, err := c.NameList("docs")
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(names)
	want := []string{"docs/a.txt", "docs/b b.txt", "docs/sub", "docs/ünï.txt"}
	if strings.Join(names, "|") != strings.Join(want, "|") {
		t.Fatalf("NLST docs = %q, want %q", names, want)
	}

	entries, err := c.List("/docs") // MLSD: jlaffaye prefers it when FEAT offers MLST
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]*ftp.Entry{}
	for _, e := range entries {
		got[e.Name] = e
	}
	if e := got["a.txt"]; e == nil || e.Type != ftp.EntryTypeFile || e.Size != 5 || time.Since(e.Time) > time.Hour {
		t.Fatalf("a.txt entry wrong: %+v", e)
	}
	if e := got["sub"]; e == nil || e.Type != ftp.EntryTypeFolder || e.Time.Year() < 2000 {
		t.Fatalf("sub entry wrong: %+v", e)
	}
	if e := got["b b.txt"]; e == nil || e.Size != 2 {
		t.Fatalf("name with a space wrong: %+v", e)
	}
	if len(entries) != 4 {
		t.Fatalf("MLSD gave %d entries, want 4: %+v", len(entries), entries)
	}

	// LIST (ls -l format) through a client that does not use MLSD.
	c2 := g.dial(userRW, ftp.DialWithDisabledMLSD(true))
	entries, err = c2.List("docs")
	if err != nil {
		t.Fatal(err)
	}
	got = map[string]*ftp.Entry{}
	for _, e := range entries {
		got[e.Name] = e
	}
	if e := got["ünï.txt"]; e == nil || e.Size != 4 || e.Type != ftp.EntryTypeFile {
		t.Fatalf("LIST entry for ünï.txt wrong: %+v (all: %v)", e, entries)
	}
	if e := got["sub"]; e == nil || e.Type != ftp.EntryTypeFolder {
		t.Fatalf("LIST entry for sub wrong: %+v", e)
	}
	if _, err := c2.List("nope"); ftpCode(err) != 550 {
		t.Fatalf("LIST of a missing directory: got %v, want 550", err)
	}
}

func TestReadYourWrites(t *testing.T) {
	t.Parallel()
	g := startGateway(t)
	c := g.dial(userRW)
	// Prime the cache with an empty listing, then write through the gateway.
	if names, err := c.NameList("/"); err != nil || len(names) != 0 {
		t.Fatalf("fresh bucket lists %q, %v", names, err)
	}
	if err := c.Stor("new.txt", strings.NewReader("abc")); err != nil {
		t.Fatal(err)
	}
	if names, err := c.NameList("/"); err != nil || len(names) != 1 || names[0] != "new.txt" {
		t.Fatalf("after STOR the listing is %q, %v", names, err)
	}
	if size, err := c.FileSize("new.txt"); err != nil || size != 3 {
		t.Fatalf("SIZE after STOR = %d, %v", size, err)
	}
	if err := c.Delete("new.txt"); err != nil {
		t.Fatal(err)
	}
	if names, err := c.NameList("/"); err != nil || len(names) != 0 {
		t.Fatalf("after DELE the listing is %q, %v", names, err)
	}
	if _, err := c.FileSize("new.txt"); ftpCode(err) != 550 {
		t.Fatalf("SIZE after DELE: %v, want 550", err)
	}
	if err := c.Delete("new.txt"); ftpCode(err) != 550 {
		t.Fatalf("DELE of a missing file: %v, want 550", err)
	}
}

func TestReadOnlyUser(t *testing.T) {
	t.Parallel()
	g := startGateway(t)
	g.putObject("keep.txt", "data")
	c := g.dial(userRO)
	if err := c.Stor("x.txt", strings.NewReader("no")); ftpCode(err) != 550 {
		t.Fatalf("STOR by a read-only user: %v, want 550", err)
	}
	if err := c.Delete("keep.txt"); ftpCode(err) != 550 {
		t.Fatalf("DELE by a read-only user: %v, want 550", err)
	}
	if err := c.MakeDir("d"); ftpCode(err) != 550 {
		t.Fatalf("MKD by a read-only user: %v, want 550", err)
	}
	mustRetr(t, c, "keep.txt", "data")
}

func TestMultiBucketHome(t *testing.T) {
	t.Parallel()
	g := startGateway(t)
	g.putObject("inside.txt", "x")
	c := g.dial(userAll)
	names, err := c.NameList("/")
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, n := range names {
		found = found || n == g.Bucket
	}
	if !found {
		t.Fatalf("bucket %s not in the root listing %q", g.Bucket, names)
	}
	if err := c.ChangeDir("/" + g.Bucket); err != nil {
		t.Fatal(err)
	}
	if err := c.Stor("viaroot.txt", strings.NewReader("root")); err != nil {
		t.Fatal(err)
	}
	if _, n, err := g.object("viaroot.txt"); err != nil || n != 4 {
		t.Fatalf("object through the multi-bucket path: %d bytes, %v", n, err)
	}
	if err := c.Stor("/nobucket-here-x/a.txt", strings.NewReader("x")); ftpCode(err) != 550 {
		t.Fatalf("STOR into a missing bucket: %v, want 550", err)
	}
	if err := c.Stor("/rootfile.txt", strings.NewReader("x")); ftpCode(err) != 550 {
		t.Fatalf("STOR at the bucket list: %v, want 550", err)
	}
}

func TestOverwriteReplacesObject(t *testing.T) {
	t.Parallel()
	g := startGateway(t, func(c *gateway.Config) { c.PartSize = 5 << 20 })
	c := g.dial(userRW)
	if err := c.Stor("f.bin", newPattern(12<<20, 1)); err != nil {
		t.Fatal(err)
	}
	if err := c.Stor("f.bin", bytes.NewReader([]byte("short"))); err != nil {
		t.Fatal(err)
	}
	if sum, n, err := g.object("f.bin"); err != nil || n != 5 || sum == "" {
		t.Fatalf("overwritten object: %d bytes, %v", n, err)
	}
}
