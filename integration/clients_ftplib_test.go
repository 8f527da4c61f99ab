package integration

import (
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// ftplibScript runs one of the Python scripts under testdata against the
// gateway as alice; each script asserts every reply and exits non-zero with a
// traceback on the first mismatch.
func (g *testGateway) ftplibScript(t *testing.T, script, mode string) string {
	t.Helper()
	abs, err := filepath.Abs(filepath.Join("testdata", script))
	if err != nil {
		t.Fatal(err)
	}
	return runClient(t, t.TempDir(), "python3", abs, "127.0.0.1", strconv.Itoa(g.Port), userRW, testPassword, mode)
}

// TestFtplib logs in, makes directories, stores, lists with NLST, MLSD and
// LIST, retrieves, deletes and removes directories with Python's ftplib, in
// passive and active (set_pasv(False)) mode.
func TestFtplib(t *testing.T) {
	t.Parallel()
	for _, mode := range []string{"pasv", "active"} {
		t.Run(mode, func(t *testing.T) {
			g := startGateway(t)
			out := g.ftplibScript(t, "ftplib_client.py", mode)
			if !strings.Contains(out, "ftplib OK "+mode) {
				t.Fatalf("script did not finish:\n%s", out)
			}
			if _, _, err := g.object("py dir/"); err == nil {
				t.Fatal("the script removed its directory, but the marker is still in the bucket")
			}
			if sum, n, err := g.object("ascii.txt"); err != nil || sum != sha256String("alpha\nbeta\n") {
				t.Fatalf("storlines (TYPE A) stored %d bytes, err %v; want LF line ends", n, err)
			}
			active := g.usedCommand("PORT") || g.usedCommand("EPRT")
			if active != (mode == "active") {
				t.Fatalf("mode %s, but active commands used: %v\n%s", mode, active, out)
			}
		})
	}
}
