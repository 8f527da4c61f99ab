package integration

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/ftp2s3/ftp2s3/gateway"
)

// TestSetStatMFMT: MFMT, MDTM <time> <path> and SITE UTIME store the client's
// time as x-amz-meta-mtime (what rclone and s3fs read) without touching the
// bytes or the content type; MDTM and MLST then show it; a read-only user is
// refused.
func TestSetStatMFMT(t *testing.T) {
	t.Parallel()
	g := startGateway(t)
	g.putObject("a.txt", "the bytes stay")
	sum, _, _ := g.object("a.txt")
	r := rawLogin(t, g.Addr, userRW)
	if msg := r.cmd(213, "MFMT 20200102030405 a.txt"); !strings.Contains(msg, "Modify=20200102030405; /a.txt") {
		t.Fatalf("MFMT reply %q", msg)
	}
	head, err := g.head("a.txt")
	if err != nil {
		t.Fatal(err)
	}
	want := time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC)
	if got := head.Metadata["mtime"]; got != "1577934245" {
		t.Fatalf("x-amz-meta-mtime %q, want 1577934245", got)
	}
	if ct := aws.ToString(head.ContentType); ct == "" {
		t.Fatal("the content type was lost")
	}
	g.mustHold("a.txt", sum, int64(len("the bytes stay")))
	if msg := r.cmd(213, "MDTM a.txt"); msg != want.Format("20060102150405") {
		t.Fatalf("MDTM after MFMT: %q", msg)
	}
	if msg := r.cmd(250, "MLST a.txt"); !strings.Contains(msg, "modify=20200102030405") {
		t.Fatalf("MLST after MFMT: %q", msg)
	}

	r.cmd(213, "MDTM 20210304050607 a.txt")
	if head, _ := g.head("a.txt"); head.Metadata["mtime"] != "1614834367" {
		t.Fatalf("MDTM <time>: metadata %v", head.Metadata)
	}
	r.cmd(200, "SITE UTIME a.txt 20220101000000 20220101000000 20220101000000 UTC")
	if msg := r.cmd(213, "MDTM a.txt"); msg != "20220101000000" {
		t.Fatalf("MDTM after SITE UTIME: %q", msg)
	}
	// A fresh gateway (nothing cached) reads the stored time back from S3.
	g2 := startGateway(t, func(c *gateway.Config) { c.Bucket = gateway.BucketName(g.Bucket) })
	r2 := rawLogin(t, g2.Addr, userRW)
	if msg := r2.cmd(213, "MDTM a.txt"); msg != "20220101000000" {
		t.Fatalf("MDTM from another gateway: %q", msg)
	}
	ro := rawLogin(t, g.Addr, userRO)
	ro.cmd(550, "MFMT 20200102030405 a.txt")
	ro.cmd(550, "MDTM 20200102030405 a.txt")
	r.cmd(550, "MFMT 20200102030405 missing.txt")
}

// TestSetStatIgnore: FTP2S3_SETSTAT=ignore answers as if the time were set and
// stores nothing (for clients that stop on an error but whose times nobody
// needs).
func TestSetStatIgnore(t *testing.T) {
	t.Parallel()
	g := startGateway(t, func(c *gateway.Config) { c.SetStat = "ignore" })
	g.putObject("b.txt", "b")
	r := rawLogin(t, g.Addr, userRW)
	r.cmd(213, "MFMT 20200102030405 b.txt")
	if head, err := g.head("b.txt"); err != nil || head.Metadata["mtime"] != "" {
		t.Fatalf("ignore stored %v (err %v)", head.Metadata, err)
	}
}

// TestLftpMirrorKeepsTimes: lftp's mirror -R sets each file's time after the
// upload; it reports no error, and the times it set are the ones MDTM shows.
func TestLftpMirrorKeepsTimes(t *testing.T) {
	t.Parallel()
	g := startGateway(t)
	work := t.TempDir()
	src := filepath.Join(work, "src")
	if err := os.MkdirAll(filepath.Join(src, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	stamp := time.Date(2019, 6, 7, 8, 9, 10, 0, time.UTC)
	for _, name := range []string{"one.txt", "sub/two.txt"} {
		p := filepath.Join(src, name)
		if err := os.WriteFile(p, []byte(name), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(p, stamp, stamp); err != nil {
			t.Fatal(err)
		}
	}
	out := g.lftp(t, work, true, "mirror -R --verbose=1 src dst")
	if strings.Contains(strings.ToLower(out), "error") {
		t.Fatalf("lftp mirror -R reported an error:\n%s", out)
	}
	if !g.usedCommand("MFMT") {
		t.Fatal("lftp did not send MFMT (is it advertised in FEAT?)")
	}
	r := rawLogin(t, g.Addr, userRW)
	for _, name := range []string{"dst/one.txt", "dst/sub/two.txt"} {
		if msg := r.cmd(213, "MDTM %s", name); msg != "20190607080910" {
			t.Fatalf("MDTM %s after mirror -R: %q", name, msg)
		}
	}
}
