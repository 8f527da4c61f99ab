package session

import (
	"strings"
	"testing"
)

func TestMFMT(t *testing.T) {
	// The test file system cannot record times: MFMT says so rather than
	// pretending (storage.Backend can: integration/clients_setstat_test.go).
	c := loginSession(t, goldenFS(), "alice")
	if text := c.expect("MFMT 20200101000000 recent.txt", 550); !strings.Contains(text, "cannot record") {
		t.Errorf("MFMT text does not explain: %q", text)
	}
	c.expect("MFMT yesterday recent.txt", 501)
	c.expect("MFMT 2020010100000 recent.txt", 501)
	c.expect("MFMT 20200101000000", 501)
	c.expect("MFMT 20200101000000 missing", 550)
}

func TestSetStatIgnore(t *testing.T) {
	c := startSession(t, goldenFS(), func(cfg *Config) { cfg.IgnoreSetStat = true })
	c.expect("USER alice", 331)
	c.expect("PASS pw", 230)
	if text := c.expect("MFMT 20200101123456.5 recent.txt", 213); !strings.Contains(text, "Modify=20200101123456; /recent.txt") {
		t.Errorf("MFMT reply %q", text)
	}
	c.expect("MDTM 20200101123456 recent.txt", 213)
	c.expect("SITE UTIME 20200101123456 recent.txt", 200)
	c.expect("SITE UTIME recent.txt 20200101123456 20200101123456 20200101123456 UTC", 200)
	c.expect("SITE UTIME recent.txt", 501)
	c.expect("MDTM 20200101123456 missing", 550)
	if text := c.expect("MDTM recent.txt", 213); strings.HasPrefix(text, "20200101") {
		t.Errorf("ignored time was stored: %q", text)
	}
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
