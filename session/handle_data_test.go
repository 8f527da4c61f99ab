package session

import (
	"io"
	"strings"
	"testing"
	"time"
)

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
