package session

import (
	"strings"
	"testing"
)

func TestMFMT(t *testing.T) {
	c := loginSession(t, goldenFS(), "alice")
	if text := c.expect("MFMT 20200101000000 recent.txt", 550); !strings.Contains(text, "S3") {
		t.Errorf("MFMT text does not explain: %q", text)
	}
	c.expect("MFMT yesterday recent.txt", 501)
	c.expect("MFMT 20200101000000", 501)
	c.expect("MFMT 20200101000000 missing", 550)
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

// Invalid UTF-8 (RFC 2640 asks for UTF-8 paths) is 553. A 0xff byte is the
// Telnet IAC and reaches the parser only escaped as 0xff 0xff.
func TestInvalidUTF8Path(t *testing.T) {
	c := loginSession(t, goldenFS(), "alice")
	for _, cmd := range []string{"CWD \x80\xfe", "MKD a\xc3(b", "SIZE \xc3", "DELE x\xed\xa0\x80", "MLST \xfe", "HASH \x80", "CWD \xff\xff"} {
		c.expect(cmd, 553)
	}
	c.expect("NOOP", 200)
}
