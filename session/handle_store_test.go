package session

import (
	"strings"
	"testing"
)

// A STOR whose target the cache cannot vouch for gets its 150 at once; the
// check runs while the data arrives and a refusal stores nothing.
func TestSTORCheckedWhileDataArrives(t *testing.T) {
	fs := goldenFS()
	c := loginSession(t, fs, "alice")
	for _, tc := range []struct{ name, want string }{
		{"missing/new.txt", "no such file or directory"},
		{"dir", "is a directory"},
		{"implicit/deep", "is a directory"},
	} {
		prelim, code, text := c.upload("STOR "+tc.name, "data")
		if prelim == "" || code != 550 || !strings.Contains(text, tc.want) {
			t.Errorf("STOR %s: 150 %q, then %d %q; want a 150, then 550 %q", tc.name, prelim, code, text, tc.want)
		}
		if got, ok := fs.object("b", tc.name); ok && got == "data" {
			t.Errorf("STOR %s stored the data although it was refused", tc.name)
		}
	}
	if _, code, text := c.upload("STOR dir/new.txt", "data"); code != 226 {
		t.Fatalf("STOR into an existing directory: %d %q", code, text)
	}
	if got, _ := fs.object("b", "dir/new.txt"); got != "data" {
		t.Errorf("dir/new.txt holds %q", got)
	}
	// A file that shares its name with a directory is a file (as in Stat).
	fs.put("b", "both", "old", goldenNow)
	fs.put("b", "both/x", "x", goldenNow)
	if _, code, text := c.upload("STOR both", "new"); code != 226 {
		t.Errorf("STOR over a file that is also a directory: %d %q", code, text)
	}
}

// When the cache knows the answer, a refusal comes before any 150.
func TestSTORRefusedBeforeDataWhenKnown(t *testing.T) {
	fs := goldenFS()
	fs.cachedTargets = true
	c := loginSession(t, fs, "alice")
	if _, code, text := c.upload("STOR missing/new.txt", "data"); code != 550 || !strings.Contains(text, "no such file") {
		t.Errorf("STOR into a missing directory: %d %q, want 550 before any 150", code, text)
	}
	if _, code, text := c.upload("STOR dir", "data"); code != 550 || !strings.Contains(text, "is a directory") {
		t.Errorf("STOR over a directory: %d %q, want 550 before any 150", code, text)
	}
	if _, code, text := c.upload("STOR dir/ok", "data"); code != 226 {
		t.Errorf("STOR dir/ok: %d %q", code, text)
	}
}

// RETR opens the file before its 150: a missing file or a directory is a 550
// with no 150, and REST still applies to the opened file.
func TestRETROpensBefore150(t *testing.T) {
	fs := goldenFS()
	c := loginSession(t, fs, "alice")
	if _, code, text := c.download("RETR nothing"); code != 550 || !strings.Contains(text, "no such file") {
		t.Errorf("RETR of a missing file: %d %q", code, text)
	}
	if _, code, text := c.download("RETR dir"); code != 550 || !strings.Contains(text, "not a regular file") {
		t.Errorf("RETR of a directory: %d %q", code, text)
	}
	c.expect("REST 2", 350)
	if data, code, text := c.download("RETR recent.txt"); code != 226 || data != "llo\n" {
		t.Errorf("REST 2 + RETR: %q, %d %q", data, code, text)
	}
}

// The reader RETR opens before its 150 is closed however the transfer ends,
// including when it never starts for want of a data connection.
func TestRETRReleasesWhatItOpened(t *testing.T) {
	fs := goldenFS()
	c := loginSession(t, fs, "alice")
	c.expect("RETR recent.txt", 425) // no PASV/PORT first
	if data, code, _ := c.download("RETR recent.txt"); code != 226 || data != "hello\n" {
		t.Fatalf("RETR: %q, %d", data, code)
	}
	c.expect("NOOP", 200) // the reply after the transfer: its release has run
	if n := fs.openReaders(); n != 0 {
		t.Errorf("%d readers left open", n)
	}
}
