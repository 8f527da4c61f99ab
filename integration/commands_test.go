package integration

import (
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/textproto"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ftp2s3/ftp2s3/storage"
)

// cmdConn speaks FTP by hand, so that a test sees the exact replies.
type cmdConn struct {
	t  *testing.T
	tp *textproto.Conn
}

func (g *testGateway) dialRaw(user string) *cmdConn {
	g.t.Helper()
	c, err := net.DialTimeout("tcp", g.Addr, 10*time.Second)
	if err != nil {
		g.t.Fatal(err)
	}
	_ = c.SetDeadline(time.Now().Add(2 * time.Minute))
	r := &cmdConn{t: g.t, tp: textproto.NewConn(c)}
	g.t.Cleanup(func() { r.tp.Close() })
	r.expect("", 220)
	if user != "" {
		r.expect("USER "+user, 331)
		r.expect("PASS "+testPassword, 230)
	}
	return r
}

// expect sends line (unless empty) and fails unless the reply's code is want.
func (r *cmdConn) expect(line string, want int) string {
	r.t.Helper()
	if line != "" {
		if err := r.tp.PrintfLine("%s", line); err != nil {
			r.t.Fatal(err)
		}
	}
	code, msg, err := r.tp.ReadResponse(0)
	if code != want {
		r.t.Fatalf("%q: got %d %q (%v), want %d", line, code, msg, err, want)
	}
	return msg
}

// epsv opens a passive data connection.
func (r *cmdConn) epsv() net.Conn {
	r.t.Helper()
	msg := r.expect("EPSV", 229)
	i := strings.Index(msg, "(|||")
	port, err := strconv.Atoi(strings.TrimSuffix(msg[i+4:], "|)"))
	if err != nil {
		r.t.Fatalf("EPSV reply %q", msg)
	}
	d, err := net.DialTimeout("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), 10*time.Second)
	if err != nil {
		r.t.Fatal(err)
	}
	return d
}

// TestCommandSetOnMinIO runs the informational and checksum commands against
// the real storage: STAT path, HASH and X* checksums, SIZE in TYPE A, STOU,
// MFMT, SITE, ALLO, HOST and REIN.
func TestCommandSetOnMinIO(t *testing.T) {
	g := startGateway(t)
	body := "line one\nline two\n"
	g.putObject("docs/notes.txt", body)
	g.putObject("docs/other file.bin", "0123456789")

	r := g.dialRaw("")
	r.expect("HOST localhost", 220)
	r.expect("CLNT integration-test", 200)
	r.expect("USER "+userRW, 331)
	r.expect("PASS "+testPassword, 230)
	r.expect("HOST late", 503)

	stat := r.expect("STAT docs", 213)
	for _, want := range []string{"Status of /docs:", " notes.txt", " other file.bin", "End of status"} {
		if !strings.Contains(stat, want) {
			t.Fatalf("STAT docs lacks %q:\n%s", want, stat)
		}
	}
	if stat := r.expect("STAT -l docs/notes.txt", 213); !strings.Contains(stat, fmt.Sprintf(" %d ", len(body))) {
		t.Fatalf("STAT of a file:\n%s", stat)
	}
	r.expect("STAT nothing-here", 550)

	want := sha256String(body)
	if msg := r.expect("HASH docs/notes.txt", 213); msg != fmt.Sprintf("SHA-256 0-%d %s docs/notes.txt", len(body)-1, want) {
		t.Fatalf("HASH: %q", msg)
	}
	m5 := md5.Sum([]byte(body))
	if msg := r.expect("XMD5 docs/notes.txt", 250); msg != strings.ToUpper(hex.EncodeToString(m5[:])) {
		t.Fatalf("XMD5: %q", msg)
	}
	r.expect("XSHA256 docs", 550)

	r.expect("TYPE A", 200)
	if msg := r.expect("SIZE docs/notes.txt", 213); msg != strconv.Itoa(len(body)+2) {
		t.Fatalf("SIZE in TYPE A: %q, want %d", msg, len(body)+2)
	}
	r.expect("TYPE I", 200)
	if msg := r.expect("SIZE docs/notes.txt", 213); msg != strconv.Itoa(len(body)) {
		t.Fatalf("SIZE in TYPE I: %q", msg)
	}

	r.expect("CWD docs", 250)
	r.expect("ALLO 5", 202)
	d := r.epsv()
	prelim := r.expect("STOU", 150)
	name, ok := strings.CutPrefix(prelim, "FILE: ")
	if !ok {
		t.Fatalf("STOU preliminary reply %q", prelim)
	}
	_, _ = io.WriteString(d, "stou!")
	d.Close()
	r.expect("", 226)
	if _, n, err := g.object("docs/" + name); err != nil || n != 5 {
		t.Fatalf("STOU object docs/%s: %d bytes, %v", name, n, err)
	}

	if msg := r.expect("MFMT 20200101000000 notes.txt", 550); !strings.Contains(msg, "S3") {
		t.Fatalf("MFMT: %q", msg)
	}
	r.expect("SITE CHMOD 644 notes.txt", 202)
	r.expect("SITE FROB", 504)
	r.expect("MODE B", 504)
	r.expect("STRU R", 504)
	r.expect("CWD b\xc3(ad", 553)

	r.expect("REIN", 220)
	r.expect("PWD", 530)
	r.expect("USER "+userRW, 331)
	r.expect("PASS "+testPassword, 230)
	if msg := r.expect("PWD", 257); !strings.HasPrefix(msg, `"/"`) {
		t.Fatalf("PWD after REIN: %q", msg)
	}
}

// TestABORDuringDownload aborts a RETR of a large object from MinIO while the
// data connection is full: 426 for the transfer, then 226 for the ABOR, and the
// session goes on.
func TestABORDuringDownload(t *testing.T) {
	g := startGateway(t)
	if _, err := g.Backend.Put(t.Context(), g.Bucket, "big.bin", newPattern(48<<20, 3), storage.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	r := g.dialRaw(userRW)
	d := r.epsv()
	defer d.Close()
	r.expect("RETR big.bin", 150)
	if _, err := io.ReadFull(d, make([]byte, 64<<10)); err != nil {
		t.Fatal(err)
	}
	if err := r.tp.PrintfLine("\xff\xf4\xff\xf2ABOR"); err != nil {
		t.Fatal(err)
	}
	r.expect("", 426)
	r.expect("", 226)
	r.expect("NOOP", 200)
}
