package integration

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// These client runs need RNFR/RNTO and resumed uploads (APPE, REST + STOR),
// which the storage layer composes server-side.

// TestCurlUploadResume continues a partial upload with curl -C - -T: curl asks
// SIZE, then sends the rest with APPE.
func TestCurlUploadResume(t *testing.T) {
	t.Parallel()
	g := startGateway(t)
	body := strings.Repeat("resumable upload line\n", 50000)
	g.putObject("up.txt", body[:123457])
	src := filepath.Join(t.TempDir(), "up.txt")
	if err := os.WriteFile(src, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	out := curl(t, "-C", "-", "-T", src, g.ftpURL(userRW, "/up.txt"))
	if sum, n, err := g.object("up.txt"); err != nil || n != int64(len(body)) || sum != sha256String(body) {
		t.Fatalf("object after resumed upload: %d bytes (want %d), err %v\n%s", n, len(body), err, out)
	}
	if !g.usedCommand("APPE") {
		t.Fatal("curl did not resume with APPE")
	}
}

// TestFtplibResumeAndRename stores with storbinary(rest=) and renames files
// and a directory with Python's ftplib, in passive and active mode.
func TestFtplibResumeAndRename(t *testing.T) {
	t.Parallel()
	for _, mode := range []string{"pasv", "active"} {
		t.Run(mode, func(t *testing.T) {
			g := startGateway(t)
			out := g.ftplibScript(t, "ftplib_resume.py", mode)
			if !strings.Contains(out, "ftplib resume OK "+mode) {
				t.Fatalf("script did not finish:\n%s", out)
			}
			if _, n, err := g.object("renamed ✓.bin"); err != nil || n != 1000000 {
				t.Fatalf("renamed object: %d bytes, %v", n, err)
			}
		})
	}
}
