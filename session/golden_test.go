package session

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/ with the current output")

// goldenNow is the clock of the golden tests: listings show times relative to it.
var goldenNow = time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)

// fixedClock makes the ls -l date format deterministic for one test.
func fixedClock(t *testing.T) {
	old := now
	now = func() time.Time { return goldenNow }
	t.Cleanup(func() { now = old })
}

// goldenFS is the directory the golden listings show: recent and old files, an
// empty file, names with spaces and UTF-8, a directory with a marker and one
// that exists only as a common prefix.
func goldenFS() *memFS {
	m := newMemFS("b", "other")
	m.clock = func() time.Time { return goldenNow }
	m.put("b", "recent.txt", "hello\n", time.Date(2026, 11, 20, 8, 30, 0, 0, time.UTC))
	m.put("b", "old report.pdf", strings.Repeat("x", 12345), time.Date(2025, 3, 1, 10, 0, 0, 0, time.UTC))
	m.put("b", "empty", "", time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC))
	m.put("b", "Ünïcødé ✓.txt", "utf", time.Date(2026, 11, 23, 23, 59, 0, 0, time.UTC))
	m.put("b", "dir/", "", time.Date(2026, 10, 1, 9, 15, 0, 0, time.UTC))
	m.put("b", "dir/child", "c", time.Date(2026, 10, 2, 9, 15, 0, 0, time.UTC))
	m.put("b", "forged\r\n-rw-r--r-- 1 ftp ftp 1 Jan  1 00:00 fake", "", time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	m.put("b", "implicit/deep/x", "x", time.Date(2024, 12, 31, 23, 0, 0, 0, time.UTC))
	return m
}

// checkGolden compares got with testdata/name, or rewrites it under -update.
func checkGolden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./session -run %s -update to create it)", err, t.Name())
	}
	if got != string(want) {
		t.Errorf("%s differs from the golden file (-update rewrites it)\n--- got\n%s\n--- want\n%s", name, got, want)
	}
}

func TestGoldenFEAT(t *testing.T) {
	c := startSession(t, goldenFS())
	c.send("FEAT")
	checkGolden(t, "feat.golden", c.raw())
}

func TestGoldenLIST(t *testing.T) {
	fixedClock(t)
	c := loginSession(t, goldenFS(), "alice")
	for _, tc := range []struct{ cmd, file string }{
		{"LIST", "list.golden"},
		{"LIST -la", "list.golden"},
		{"LIST -l /", "list.golden"},
		{"LIST -a dir", "list-dir.golden"},
		{"LIST recent.txt", "list-file.golden"},
		{"NLST", "nlst.golden"},
		{"NLST dir", "nlst-dir.golden"},
	} {
		data := c.downloadOK(tc.cmd)
		checkGolden(t, tc.file, data)
	}
	rc := loginSession(t, goldenFS(), "reader")
	data := rc.downloadOK("LIST")
	checkGolden(t, "list-readonly.golden", data)
	root := loginSession(t, goldenFS(), "root")
	data = root.downloadOK("LIST /")
	checkGolden(t, "list-buckets.golden", data)
}

func TestGoldenMLSD(t *testing.T) {
	fixedClock(t)
	c := loginSession(t, goldenFS(), "alice")
	data := c.downloadOK("MLSD")
	checkGolden(t, "mlsd.golden", data)
	c.send("MLST dir")
	checkGolden(t, "mlst-dir.golden", c.raw())
	c.send("MLST /Ünïcødé ✓.txt")
	checkGolden(t, "mlst-file.golden", c.raw())
	c.expect("OPTS MLST size;type;", 200)
	data = c.downloadOK("MLSD")
	checkGolden(t, "mlsd-size-type.golden", data)
}

func TestGoldenSTAT(t *testing.T) {
	fixedClock(t)
	c := loginSession(t, goldenFS(), "alice")
	c.send("STAT /")
	checkGolden(t, "stat-dir.golden", c.raw())
	c.send("STAT -la old report.pdf")
	checkGolden(t, "stat-file.golden", c.raw())
}
