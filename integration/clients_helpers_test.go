package integration

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"
)

// clientTimeout bounds one run of an external FTP client.
const clientTimeout = 3 * time.Minute

// runClient runs an external FTP client and returns its combined output. It
// fails the test with that output when the client exits non-zero.
func runClient(t *testing.T, dir, name string, args ...string) string {
	t.Helper()
	out, err := tryClient(t, dir, name, args...)
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return out
}

// tryClient runs an external FTP client and returns its output and exit error.
func tryClient(t *testing.T, dir, name string, args ...string) (string, error) {
	t.Helper()
	if _, err := exec.LookPath(name); err != nil {
		// scripts/install-deps.sh installs every client: a missing one is a
		// broken set-up, not a reason to skip.
		t.Fatalf("%s is not installed (run scripts/install-deps.sh): %v", name, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), clientTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "LC_ALL=C.UTF-8", "HOME="+t.TempDir())
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}

// ftpURL is the URL of path on the gateway for user, password included.
func (g *testGateway) ftpURL(user, path string) string {
	u := url.URL{Scheme: "ftp", User: url.UserPassword(user, testPassword), Host: g.Addr, Path: path}
	return u.String()
}

// treeFile is one entry of a local test tree: a file (with content) or, when
// dir is set, an empty directory.
type treeFile struct {
	path string
	data []byte
	dir  bool
}

// testTree is a nested tree with empty files, an empty directory, names with
// spaces and UTF-8, and a file large enough to need several reads.
func testTree() []treeFile {
	big := make([]byte, 3<<20+17)
	_, _ = newPattern(int64(len(big)), 7).Read(big)
	return []treeFile{
		{path: "top.txt", data: []byte("top level\n")},
		{path: "empty.txt", data: []byte{}},
		{path: "with space/file with space.bin", data: []byte("spaces  inside\x00binary\xff")},
		{path: "with space/empty too", data: []byte{}},
		{path: "ünïcødé/日本語 ✓.txt", data: []byte("utf-8 names\n")},
		{path: "deep/a/b/c/leaf.dat", data: big},
		{path: "emptydir", dir: true},
	}
}

// writeTree creates tree under root.
func writeTree(t *testing.T, root string, tree []treeFile) {
	t.Helper()
	for _, f := range tree {
		p := filepath.Join(root, filepath.FromSlash(f.path))
		if f.dir {
			if err := os.MkdirAll(p, 0o755); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, f.data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// describeTree lists every file (with its size and SHA-256) and directory
// under root, one per line, sorted: two trees are equal when their
// descriptions are.
func describeTree(t *testing.T, root string) string {
	t.Helper()
	var lines []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		if rel == "." {
			return nil
		}
		rel = filepath.ToSlash(rel)
		if d.IsDir() {
			lines = append(lines, rel+"/")
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(b)
		lines = append(lines, fmt.Sprintf("%s %d %s", rel, len(b), hex.EncodeToString(sum[:8])))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}

// compareTrees fails the test when the trees under want and got differ;
// output is the client's, shown with the difference.
func compareTrees(t *testing.T, want, got, output string) {
	t.Helper()
	w, g := describeTree(t, want), describeTree(t, got)
	if w != g {
		t.Fatalf("trees differ\n--- want (%s)\n%s\n--- got (%s)\n%s\n--- client output\n%s", want, w, got, g, output)
	}
}

// checkTreeInBucket fails unless every file of tree is an object under prefix
// with the same content, and every empty directory has its marker.
func (g *testGateway) checkTreeInBucket(tree []treeFile, prefix, output string) {
	g.t.Helper()
	for _, f := range tree {
		key := prefix + f.path
		if f.dir {
			if _, _, err := g.object(key + "/"); err != nil {
				g.t.Errorf("directory marker %s/ missing: %v", key, err)
			}
			continue
		}
		sum, n, err := g.object(key)
		want := sha256.Sum256(f.data)
		if err != nil || n != int64(len(f.data)) || sum != hex.EncodeToString(want[:]) {
			g.t.Errorf("object %s: %d bytes, err %v; want %d bytes", key, n, err, len(f.data))
		}
	}
	if g.t.Failed() {
		g.t.Fatalf("client output:\n%s", output)
	}
}

// usedCommand reports whether the gateway's log shows that a session ran verb,
// so that a test can prove which data-connection mode a client really used.
func (g *testGateway) usedCommand(verb string) bool {
	return regexp.MustCompile(`cmd="?` + regexp.QuoteMeta(verb) + `\b`).MatchString(g.Logs.String())
}

// removeListings deletes the .listing files wget keeps (--no-remove-listing
// keeps them so that a failure can be looked at) before trees are compared.
func removeListings(t *testing.T, root string) {
	t.Helper()
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && d.Name() == ".listing" {
			return os.Remove(p)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}
