package session

import (
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash/crc32"
	"io"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"
)

func TestSTATWithoutPath(t *testing.T) {
	c := startSession(t, goldenFS())
	text := c.expect("STAT", 211)
	if !strings.Contains(text, "Not logged in") {
		t.Errorf("STAT before login: %q", text)
	}
	c.expect("STAT /", 530)
	c.expect("USER alice", 331)
	c.expect("PASS pw", 230)
	c.expect("TYPE A", 200)
	text = c.expect("STAT", 211)
	for _, want := range []string{"Logged in as alice", "TYPE: ASCII", "No data connection", "End of status"} {
		if !strings.Contains(text, want) {
			t.Errorf("STAT lacks %q:\n%s", want, text)
		}
	}
	c.expect("STAT /missing", 550)
}

func TestSITE(t *testing.T) {
	c := loginSession(t, goldenFS(), "alice")
	if text := c.expect("SITE HELP", 214); !strings.Contains(text, "CHMOD") {
		t.Errorf("SITE HELP: %q", text)
	}
	c.expect("SITE CHMOD 644 recent.txt", 202)
	c.expect("SITE EXEC rm -rf /", 504)
	c.expect("SITE", 501)
}

func TestAcceptedNoOps(t *testing.T) {
	c := loginSession(t, goldenFS(), "alice")
	c.expect("ALLO 1000", 202)
	c.expect("ALLO 1000 R 80", 202)
	c.expect("ALLO lots", 501)
	c.expect("ALLO 10 X 5", 501)
	c.expect("ALLO 6000000000000", 552)
	c.expect("ACCT billing", 202)
	c.expect("SMNT /elsewhere", 502)
	c.expect("CLNT curl 8.0", 200)
	c.expect("MODE S", 200)
	c.expect("STRU F", 200)
	for _, refused := range []string{"MODE B", "MODE C", "STRU R", "STRU P"} {
		c.expect(refused, 504)
	}
	c.expect("HELP SITE", 214)
}

// newBareSession is a session whose handlers tests call directly, to look at
// the state they leave.
func newBareSession(t *testing.T, fs FS, user *User) *Session {
	a, b := net.Pipe()
	t.Cleanup(func() { a.Close(); b.Close() })
	s := New(&Config{FS: fs, Auth: testAuth{}, Data: loopData{}, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}, a)
	s.ctx = t.Context()
	s.user = user
	return s
}

func TestALLOKeepsSizeHint(t *testing.T) {
	s := newBareSession(t, goldenFS(), &User{Name: "alice", Home: Home{Bucket: "b"}})
	if r := s.handleALLO("123456789"); r.Code != 202 || s.allocHint != 123456789 {
		t.Fatalf("ALLO: %d %q, hint %d", r.Code, r.Text(), s.allocHint)
	}
	s.handleREIN("")
	if s.allocHint != 0 || s.user != nil {
		t.Fatalf("REIN kept state: hint %d, user %v", s.allocHint, s.user)
	}
}

func TestREIN(t *testing.T) {
	c := loginSession(t, goldenFS(), "alice")
	c.expect("CWD dir", 250)
	c.expect("TYPE A", 200)
	c.expect("REIN", 220)
	c.expect("PWD", 530)
	c.expect("USER alice", 331)
	c.expect("PASS pw", 230)
	if text := c.expect("PWD", 257); !strings.HasPrefix(text, `"/"`) {
		t.Errorf("PWD after REIN: %q", text)
	}
	if text := c.expect("STAT", 211); !strings.Contains(text, "TYPE: BINARY") {
		t.Errorf("TYPE not reset by REIN: %q", text)
	}
}

func TestHOST(t *testing.T) {
	c := startSession(t, goldenFS())
	c.expect("HOST a b", 501)
	c.expect("HOST "+strings.Repeat("h", maxHostLength+1), 501)
	c.expect("HOST ftp.example.com", 220)
	// RFC 7151: one HOST per login; REIN starts over.
	c.expect("HOST other.example.com", 503)
	c.expect("REIN", 220)
	c.expect("HOST [::1]", 220)
	c.expect("USER alice", 331)
	c.expect("HOST late.example.com", 503)
	c.expect("PASS pw", 230)
	c.expect("HOST late.example.com", 503)
}

func TestSTOU(t *testing.T) {
	fs := goldenFS()
	c := loginSession(t, fs, "alice")
	c.expect("CWD dir", 250)
	prelim, code, text := c.upload("STOU", "unique data")
	if code != 226 {
		t.Fatalf("STOU: %d %s", code, text)
	}
	name, ok := strings.CutPrefix(prelim, "FILE: ")
	if !ok || name == "" || strings.Contains(name, "/") {
		t.Fatalf("STOU preliminary reply %q, want \"FILE: name\"", prelim)
	}
	if got, ok := fs.object("b", "dir/"+name); !ok || got != "unique data" {
		t.Fatalf("object dir/%s = %q, %v", name, got, ok)
	}
	prelim2, code, _ := c.upload("STOU", "second")
	if code != 226 || prelim2 == prelim {
		t.Fatalf("second STOU: %d, name %q (first %q)", code, prelim2, prelim)
	}
	rc := loginSession(t, fs, "reader")
	rc.pasv().Close()
	rc.expect("STOU", 550)
}

func TestMFMT(t *testing.T) {
	c := loginSession(t, goldenFS(), "alice")
	if text := c.expect("MFMT 20200101000000 recent.txt", 550); !strings.Contains(text, "S3") {
		t.Errorf("MFMT text does not explain: %q", text)
	}
	c.expect("MFMT yesterday recent.txt", 501)
	c.expect("MFMT 20200101000000", 501)
	c.expect("MFMT 20200101000000 missing", 550)
}

func TestHASH(t *testing.T) {
	fs := goldenFS()
	c := loginSession(t, fs, "alice")
	data := []byte("hello\n")
	s256 := sha256.Sum256(data)
	if text := c.expect("HASH recent.txt", 213); text != "SHA-256 0-5 "+hex.EncodeToString(s256[:])+" recent.txt" {
		t.Errorf("HASH: %q", text)
	}
	c.expect("OPTS HASH MD5", 200)
	if text := c.expect("OPTS HASH", 200); text != "MD5" {
		t.Errorf("OPTS HASH: %q", text)
	}
	m5 := md5.Sum(data)
	if text := c.expect("HASH recent.txt", 213); text != "MD5 0-5 "+hex.EncodeToString(m5[:])+" recent.txt" {
		t.Errorf("HASH MD5: %q", text)
	}
	if text := c.expect("FEAT", 211); !strings.Contains(text, "HASH SHA-256;SHA-1;MD5*;CRC32") {
		t.Errorf("FEAT after OPTS HASH MD5: %q", text)
	}
	c.expect("OPTS HASH WHIRLPOOL", 501)
	s1 := sha1.Sum(data)
	for cmd, want := range map[string]string{
		"XSHA256": hex.EncodeToString(s256[:]),
		"XSHA1":   hex.EncodeToString(s1[:]),
		"XMD5":    hex.EncodeToString(m5[:]),
		"XCRC":    fmt.Sprintf("%08x", crc32.ChecksumIEEE(data)),
	} {
		if text := c.expect(cmd+" recent.txt", 250); text != strings.ToUpper(want) {
			t.Errorf("%s: %q, want %q", cmd, text, strings.ToUpper(want))
		}
	}
	c.expect("HASH dir", 550)
	c.expect("HASH missing", 550)
	c.expect("XMD5 /", 550)
}

func TestHASHStoredAndLimit(t *testing.T) {
	fs := goldenFS()
	fs.put("b", "big", strings.Repeat("z", maxHashCompute+1), time.Now())
	fs.buckets["b"]["big"].sha256 = strings.Repeat("ab", 32)
	c := loginSession(t, fs, "alice")
	before := fs.gets
	if text := c.expect("HASH big", 213); !strings.Contains(text, strings.Repeat("ab", 32)) {
		t.Errorf("stored SHA-256 not used: %q", text)
	}
	if fs.gets != before {
		t.Error("HASH read the object although its SHA-256 was stored")
	}
	if text := c.expect("XMD5 big", 550); !strings.Contains(text, "too large") {
		t.Errorf("XMD5 of a large object: %q", text)
	}
	if fs.gets != before {
		t.Error("a checksum of an object over the limit read it")
	}
}

func TestOPTSMLST(t *testing.T) {
	c := loginSession(t, goldenFS(), "alice")
	if text := c.expect("OPTS MLST type;modify;bogus;", 200); text != "MLST OPTS type;modify;" {
		t.Errorf("OPTS MLST: %q", text)
	}
	if text := c.expect("FEAT", 211); !strings.Contains(text, "MLST type*;size;modify*;perm;") {
		t.Errorf("FEAT after OPTS MLST: %q", text)
	}
	if text := c.expect("MLST recent.txt", 250); !strings.Contains(text, " type=file;modify=") || strings.Contains(text, "size=") {
		t.Errorf("MLST after OPTS MLST: %q", text)
	}
	if text := c.expect("OPTS MLST", 200); text != "MLST OPTS" {
		t.Errorf("OPTS MLST with no facts: %q", text)
	}
}

// Invalid UTF-8 (RFC 2640 asks for UTF-8 paths) is 553. A 0xff byte is the
// Telnet IAC and reaches the parser only escaped as 0xff 0xff.
func TestInvalidUTF8Path(t *testing.T) {
	c := loginSession(t, goldenFS(), "alice")
	for _, cmd := range []string{"CWD \x80\xfe", "MKD a\xc3(b", "SIZE \xc3", "DELE x\xed\xa0\x80", "MLST \xfe", "HASH \x80", "CWD \xff\xff"} {
		c.expect(cmd, 553)
	}
	c.expect("NOOP", 200)
}

func TestOverLongLine(t *testing.T) {
	c := loginSession(t, goldenFS(), "alice")
	c.send("STOR " + strings.Repeat("a", 3*maxLineLength))
	if code, text := c.read(); code != 500 || !strings.Contains(text, "too long") {
		t.Fatalf("over-long line: %d %q", code, text)
	}
	c.expect("NOOP", 200)
}

func TestTypeASCII(t *testing.T) {
	fs := goldenFS()
	fs.put("b", "lines.txt", "one\ntwo\n\nthree", time.Now())
	c := loginSession(t, fs, "alice")
	if text := c.expect("SIZE lines.txt", 213); text != "14" {
		t.Errorf("SIZE in TYPE I: %q", text)
	}
	c.expect("TYPE A", 200)
	if text := c.expect("SIZE lines.txt", 213); text != "17" {
		t.Errorf("SIZE in TYPE A: %q, want 17 (LF counted as CRLF)", text)
	}
	if data, code, _ := c.download("RETR lines.txt"); code != 226 || data != "one\r\ntwo\r\n\r\nthree" {
		t.Errorf("RETR in TYPE A: %d %q", code, data)
	}
	c.expect("REST 4", 350)
	if data, code, _ := c.download("RETR lines.txt"); code != 226 || data != "\ntwo\r\n\r\nthree" {
		t.Errorf("REST 4 + RETR in TYPE A: %d %q", code, data)
	}
	if _, code, text := c.upload("STOR up.txt", "a\r\nb\r\nbare\rcr\r\n"); code != 226 {
		t.Fatalf("STOR in TYPE A: %d %s", code, text)
	}
	if got, _ := fs.object("b", "up.txt"); got != "a\nb\nbare\rcr\n" {
		t.Errorf("TYPE A upload stored %q", got)
	}
	c.expect("TYPE I", 200)
	if data, _, _ := c.download("RETR up.txt"); data != "a\nb\nbare\rcr\n" {
		t.Errorf("TYPE I download %q", data)
	}
}

func TestSkipWriter(t *testing.T) {
	var b strings.Builder
	w := &skipWriter{w: &b, skip: 5}
	for _, p := range []string{"ab", "cdefg", "hij"} {
		if n, err := w.Write([]byte(p)); n != len(p) || err != nil {
			t.Fatalf("Write(%q) = %d, %v", p, n, err)
		}
	}
	if b.String() != "fghij" {
		t.Fatalf("got %q", b.String())
	}
}

func TestMultiLineReplyFormat(t *testing.T) {
	r := Reply{Code: 213, Lines: []string{"Status:", "213 looks like an end", "x\r\ny", "End"}}
	want := "213-Status:\r\n 213 looks like an end\r\n x  y\r\n213 End\r\n"
	if got := r.String(); got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
}

// TestABORDuringTransfer sends ABOR on the control connection while a download
// is stuck on a client that does not read: 426 for the transfer, then 226.
func TestABORDuringTransfer(t *testing.T) {
	fs := goldenFS()
	fs.put("b", "huge", strings.Repeat("h", 32<<20), time.Now())
	c := loginSession(t, fs, "alice")
	d := c.pasv()
	defer d.Close()
	c.expect("RETR huge", 150)
	buf := make([]byte, 1024)
	if _, err := io.ReadFull(d, buf); err != nil {
		t.Fatal(err)
	}
	c.send("\xff\xf4\xff\xf2ABOR")
	if code, text := c.read(); code != 426 {
		t.Fatalf("first reply to ABOR: %d %q, want 426", code, text)
	}
	if code, text := c.read(); code != 226 {
		t.Fatalf("second reply to ABOR: %d %q, want 226", code, text)
	}
	c.expect("NOOP", 200)
	c.expect("ABOR", 226)
}

func TestRFC1123Aliases(t *testing.T) {
	c := loginSession(t, goldenFS(), "alice")
	c.expect("XMKD xdir", 257)
	c.expect("XCWD xdir", 250)
	if text := c.expect("XPWD", 257); !strings.HasPrefix(text, `"/xdir"`) {
		t.Errorf("XPWD: %q", text)
	}
	c.expect("XCUP", 250)
	c.expect("XRMD xdir", 250)
	c.expect("XCWD xdir", 550)
}

func TestListGlob(t *testing.T) {
	fixedClock(t)
	c := loginSession(t, goldenFS(), "alice")
	for cmd, want := range map[string]string{
		"NLST *.txt":       "recent.txt\r\nÜnïcødé ✓.txt\r\n",
		"NLST dir/c*":      "dir/child\r\n",
		"NLST /dir/[a-c]*": "/dir/child\r\n",
		"NLST *.none":      "",
		"NLST [":           "",
	} {
		data, code, text := c.download(cmd)
		if code != 226 || data != want {
			t.Errorf("%s: %d %q, data %q; want %q", cmd, code, text, data, want)
		}
	}
	data, code, _ := c.download("LIST -l rec*")
	if code != 226 || !strings.HasSuffix(data, " recent.txt\r\n") || strings.Count(data, "\r\n") != 1 {
		t.Errorf("LIST rec*: %d %q", code, data)
	}
	if _, code, _ := c.download("NLST nodir/*.txt"); code != 550 {
		t.Errorf("NLST in a missing directory: %d, want 550", code)
	}
}
