package session

import (
	"strings"
	"testing"
)

// checkConfined fails the test if any storage call in touches reached outside
// home, or named the home's root as an object: under a bucket/prefix home only
// StatDir may name the prefix itself (the root directory), listings must be of
// prefix/..., and every other call must name a key under prefix/.
func checkConfined(t *testing.T, touches []memTouch, home Home, context string) {
	t.Helper()
	for _, c := range touches {
		bad := false
		switch {
		case home.Bucket != "" && c.bucket != home.Bucket:
			bad = true
		case c.op == "StatDir":
			bad = home.Prefix != "" && c.key != home.Prefix && !strings.HasPrefix(c.key, home.Prefix+"/")
		case c.op == "List":
			bad = home.Prefix != "" && !strings.HasPrefix(c.key, home.Prefix+"/")
		default: // an object (or a directory's marker): never a root
			bad = c.key == "" || home.Prefix != "" && !strings.HasPrefix(c.key, home.Prefix+"/")
		}
		if bad {
			t.Fatalf("%s: %s(%q, %q) outside home %v or on its root", context, c.op, c.bucket, c.key, home)
		}
	}
}

// rootFS is a bucket with a bucket/prefix home (jailHome) and, beside it, the
// object whose key is exactly the prefix: another user's file that must stay
// out of reach.
func rootFS() *memFS {
	m := newMemFS("b")
	m.put("b", "home/jail", "not yours", goldenNow)
	m.put("b", "home/jail/", "", goldenNow)
	m.put("b", "home/jail/inside.txt", "inside", goldenNow)
	return m
}

// rootSpellings are ways to name the home's root.
var rootSpellings = []string{"/", "/.", "..", "/..", "/../..", `\`, "./", "//", "sub/.."}

// TestHomeRootIsOnlyADirectory runs every command that takes a path on the root
// of a bucket/prefix home: it is a directory, never the object named like the
// prefix, and RMD never removes the home's marker.
func TestHomeRootIsOnlyADirectory(t *testing.T) {
	fs := rootFS()
	c := loginSession(t, fs, "jail")
	c.expect("MKD sub", 257)
	for _, p := range rootSpellings {
		for _, cmd := range []string{"SIZE", "MDTM", "DELE", "RMD", "MKD", "RNFR", "HASH", "XCRC", "XMD5", "XSHA1", "XSHA256"} {
			if code, text := c.cmd(cmd + " " + p); code != 550 {
				t.Errorf("%s %s: %d %q, want 550", cmd, p, code, text)
			}
		}
		if code, text := c.cmd("MFMT 20200101000000 " + p); code != 550 {
			t.Errorf("MFMT %s: %d %q, want 550", p, code, text)
		}
		c.expect("RNFR inside.txt", 350)
		if code, text := c.cmd("RNTO " + p); code != 550 {
			t.Errorf("RNTO %s: %d %q, want 550", p, code, text)
		}
		for _, cmd := range []string{"RETR", "STOR", "APPE"} {
			d := c.pasv()
			code, text := c.cmd(cmd + " " + p)
			d.Close()
			if code != 550 {
				t.Errorf("%s %s: %d %q, want 550", cmd, p, code, text)
			}
		}
		c.expect("REST 2", 350)
		if code, text := c.cmd("STOR " + p); code != 550 {
			t.Errorf("REST + STOR %s: %d %q, want 550", p, code, text)
		}
		if text := c.expect("MLST "+p, 250); !strings.Contains(text, "type=dir;") || strings.Contains(text, "size=") {
			t.Errorf("MLST %s: %q, want a directory", p, text)
		}
		if text := c.expect("STAT "+p, 213); !strings.Contains(text, "inside.txt") {
			t.Errorf("STAT %s: %q, want the home's listing", p, text)
		}
		for _, cmd := range []string{"LIST", "NLST", "MLSD"} {
			data, code, text := c.download(cmd + " " + p)
			if code != 226 || !strings.Contains(data, "inside.txt") {
				t.Errorf("%s %s: %d %q, data %q: want the home's listing", cmd, p, code, text, data)
			}
		}
		c.expect("CWD "+p, 250)
		c.expect("CDUP", 250)
		c.expect("PWD", 257)
	}
	// STOU in the root makes a new file under the home.
	if prelim, code, text := c.upload("STOU", "unique"); code != 226 {
		t.Fatalf("STOU: %q, %d %q", prelim, code, text)
	}
	c.expect("RMD sub", 250)
	checkConfined(t, fs.touched(), jailHome, "commands on the root")
	if got, ok := fs.object("b", "home/jail"); !ok || got != "not yours" {
		t.Fatalf("the object named like the prefix: %q, %v", got, ok)
	}
	if _, ok := fs.object("b", "home/jail/"); !ok {
		t.Fatal("the home's marker was removed")
	}
}

// TestEmptyPrefixHomeExists: a bucket/prefix home with no key under it yet is
// an empty directory a client can enter, list and create things in.
func TestEmptyPrefixHomeExists(t *testing.T) {
	fs := newMemFS("b")
	fs.put("b", "home/jail", "not yours", goldenNow)
	c := loginSession(t, fs, "jail")
	c.expect("CWD /", 250)
	if data, code, _ := c.download("LIST"); code != 226 || data != "" {
		t.Fatalf("LIST of the empty home: %d %q", code, data)
	}
	c.expect("MKD first", 257)
	if _, code, text := c.upload("STOR first/file", "x"); code != 226 {
		t.Fatalf("STOR: %d %q", code, text)
	}
	if got, ok := fs.object("b", "home/jail/first/file"); !ok || got != "x" {
		t.Fatalf("stored: %q %v", got, ok)
	}
	checkConfined(t, fs.touched(), jailHome, "empty home")
}
