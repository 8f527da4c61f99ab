package integration

import (
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"io"
	"strconv"
	"strings"
	"testing"

	"github.com/ftp2s3/ftp2s3/storage"
)

// TestCommandSetOnMinIO runs the informational and checksum commands against
// the real storage: STAT path, HASH and X* checksums, SIZE in TYPE A, STOU,
// MFMT, SITE, ALLO, HOST and REIN.
func TestCommandSetOnMinIO(t *testing.T) {
	t.Parallel()
	g := startGateway(t)
	body := "line one\nline two\n"
	g.putObject("docs/notes.txt", body)
	g.putObject("docs/other file.bin", "0123456789")

	r := rawDial(t, g.Addr)
	r.expect(220)
	r.cmd(220, "HOST localhost")
	r.cmd(200, "CLNT integration-test")
	r.cmd(331, "USER %s", userRW)
	r.cmd(230, "PASS %s", testPassword)
	r.cmd(503, "HOST late")

	stat := r.cmd(213, "STAT docs")
	for _, want := range []string{"Status of /docs:", " notes.txt", " other file.bin", "End of status"} {
		if !strings.Contains(stat, want) {
			t.Fatalf("STAT docs lacks %q:\n%s", want, stat)
		}
	}
	if stat := r.cmd(213, "STAT -l docs/notes.txt"); !strings.Contains(stat, fmt.Sprintf(" %d ", len(body))) {
		t.Fatalf("STAT of a file:\n%s", stat)
	}
	r.cmd(550, "STAT nothing-here")

	want := sha256String(body)
	if msg := r.cmd(213, "HASH docs/notes.txt"); msg != fmt.Sprintf("SHA-256 0-%d %s docs/notes.txt", len(body)-1, want) {
		t.Fatalf("HASH: %q", msg)
	}
	m5 := md5.Sum([]byte(body))
	if msg := r.cmd(250, "XMD5 docs/notes.txt"); msg != strings.ToUpper(hex.EncodeToString(m5[:])) {
		t.Fatalf("XMD5: %q", msg)
	}
	r.cmd(550, "XSHA256 docs")

	r.cmd(200, "TYPE A")
	if msg := r.cmd(213, "SIZE docs/notes.txt"); msg != strconv.Itoa(len(body)+2) {
		t.Fatalf("SIZE in TYPE A: %q, want %d", msg, len(body)+2)
	}
	r.cmd(200, "TYPE I")
	if msg := r.cmd(213, "SIZE docs/notes.txt"); msg != strconv.Itoa(len(body)) {
		t.Fatalf("SIZE in TYPE I: %q", msg)
	}

	r.cmd(250, "CWD docs")
	r.cmd(202, "ALLO 5")
	d := r.data()
	prelim := r.cmd(150, "STOU")
	name, ok := strings.CutPrefix(prelim, "FILE: ")
	if !ok {
		t.Fatalf("STOU preliminary reply %q", prelim)
	}
	_, _ = io.WriteString(d, "stou!")
	d.Close()
	r.expect(226)
	if _, n, err := g.object("docs/" + name); err != nil || n != 5 {
		t.Fatalf("STOU object docs/%s: %d bytes, %v", name, n, err)
	}

	// MFMT stores the time (clients_setstat_test.go has the details).
	if msg := r.cmd(213, "MFMT 20200101000000 notes.txt"); !strings.Contains(msg, "Modify=20200101000000") {
		t.Fatalf("MFMT: %q", msg)
	}
	r.cmd(202, "SITE CHMOD 644 notes.txt")
	r.cmd(504, "SITE FROB")
	r.cmd(504, "MODE B")
	r.cmd(504, "STRU R")
	r.cmd(553, "CWD b\xc3(ad")

	r.cmd(220, "REIN")
	r.cmd(530, "PWD")
	r.cmd(331, "USER %s", userRW)
	r.cmd(230, "PASS %s", testPassword)
	if msg := r.cmd(257, "PWD"); !strings.HasPrefix(msg, `"/"`) {
		t.Fatalf("PWD after REIN: %q", msg)
	}
}

// TestABORDuringDownload aborts a RETR of a large object from MinIO while the
// data connection is full: 426 for the transfer, then 226 for the ABOR, and the
// session goes on.
func TestABORDuringDownload(t *testing.T) {
	t.Parallel()
	g := startGateway(t)
	if _, err := g.Backend.Put(t.Context(), g.Bucket, "big.bin", newPattern(48<<20, 3), storage.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	r := rawLogin(t, g.Addr, userRW)
	d := r.data()
	defer d.Close()
	r.cmd(150, "RETR big.bin")
	if _, err := io.ReadFull(d, make([]byte, 64<<10)); err != nil {
		t.Fatal(err)
	}
	if err := r.tp.PrintfLine("\xff\xf4\xff\xf2ABOR"); err != nil {
		t.Fatal(err)
	}
	r.expect(426)
	r.expect(226)
	r.cmd(200, "NOOP")
}
