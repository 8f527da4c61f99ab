package session

import (
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash/crc32"
	"strings"
	"testing"
	"time"
)

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
