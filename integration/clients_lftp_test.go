package integration

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
)

// lftpScript runs lftp commands against the gateway as alice. TLS is off (lftp
// would otherwise try AUTH TLS and, once the gateway offers it, refuse the test
// certificate); every failure ends lftp with a non-zero status.
func (g *testGateway) lftp(t *testing.T, dir string, passive bool, commands ...string) string {
	t.Helper()
	mode := "on"
	if !passive {
		mode = "off"
	}
	settings := []string{
		"set cmd:fail-exit yes",
		"set ftp:ssl-allow no",
		"set ftp:passive-mode " + mode,
		"set net:max-retries 1",
		"set net:timeout 20",
		"set net:reconnect-interval-base 1",
		"set xfer:clobber yes",
	}
	script := strings.Join(append(append(settings, fmt.Sprintf("open -u %s,%q -p %d 127.0.0.1", userRW, testPassword, g.Port)), commands...), "; ")
	return runClient(t, dir, "lftp", "-c", script)
}

// TestLftpMirror uploads a nested tree with `mirror -R` (empty files, an empty
// directory, spaces and UTF-8 names, a multi-megabyte file), checks every object
// in MinIO, mirrors it back and compares the two trees byte for byte; once with
// passive and once with active data connections.
func TestLftpMirror(t *testing.T) {
	t.Parallel()
	for _, passive := range []bool{true, false} {
		name := "passive"
		if !passive {
			name = "active"
		}
		t.Run(name, func(t *testing.T) {
			g := startGateway(t)
			work := t.TempDir()
			src := filepath.Join(work, "src")
			tree := testTree()
			writeTree(t, src, tree)
			out := g.lftp(t, work, passive, "mkdir -p up", "mirror -R --no-perms src up")
			g.checkTreeInBucket(tree, "up/", out)
			out += g.lftp(t, work, passive, "mirror up back")
			compareTrees(t, src, filepath.Join(work, "back"), out)
			verb := "EPSV"
			if !passive {
				verb = "PORT"
			}
			if !g.usedCommand(verb) && !g.usedCommand(map[string]string{"EPSV": "PASV", "PORT": "EPRT"}[verb]) {
				t.Fatalf("lftp never sent %s: the mode under test was not used\n%s", verb, out)
			}
			if passive && (g.usedCommand("PORT") || g.usedCommand("EPRT")) {
				t.Fatal("lftp used active mode in the passive run")
			}
			if !passive && (g.usedCommand("PASV") || g.usedCommand("EPSV")) {
				t.Fatal("lftp used passive mode in the active run")
			}
		})
	}
}

// TestLftpListing checks that lftp parses the gateway's listings: `cls -l`
// reads MLSD (lftp prefers it when FEAT offers MLST), `cls` names, and sizes
// and directories come out right.
func TestLftpListing(t *testing.T) {
	t.Parallel()
	g := startGateway(t)
	g.putObject("dir one/inner.txt", "12345")
	g.putObject("ünï.txt", "abc")
	out := g.lftp(t, t.TempDir(), true, "cls -1 --sort=name /", "cls -s --block-size=1 /ünï.txt", "cls -1 '/dir one/'")
	for _, want := range []string{"dir one/", "ünï.txt", "3 /ünï.txt", "dir one/inner.txt"} {
		if !strings.Contains(out, want) {
			t.Fatalf("lftp output lacks %q:\n%s", want, out)
		}
	}
}
