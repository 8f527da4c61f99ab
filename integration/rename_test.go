package integration

import (
	"context"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/ftp2s3/ftp2s3/gateway"
	"github.com/ftp2s3/ftp2s3/storage"
)

// keys lists every key under prefix straight from MinIO.
func (g *testGateway) keys(prefix string) []string {
	g.t.Helper()
	var out []string
	p := s3.NewListObjectsV2Paginator(g.S3, &s3.ListObjectsV2Input{Bucket: aws.String(g.Bucket), Prefix: aws.String(prefix)})
	for p.HasMorePages() {
		page, err := p.NextPage(context.Background())
		if err != nil {
			g.t.Fatal(err)
		}
		for _, o := range page.Contents {
			out = append(out, aws.ToString(o.Key))
		}
	}
	sort.Strings(out)
	return out
}

func TestRenameFile(t *testing.T) {
	t.Parallel()
	g := startGateway(t)
	c := g.dial(userRW)
	if err := c.Stor("a.txt", strings.NewReader("alpha")); err != nil {
		t.Fatal(err)
	}
	if err := c.Stor("b.txt", strings.NewReader("bravo, to be replaced")); err != nil {
		t.Fatal(err)
	}
	if err := c.MakeDir("sub"); err != nil {
		t.Fatal(err)
	}
	// Seed the cache so that stale entries would show.
	if _, err := c.FileSize("a.txt"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.List("sub"); err != nil {
		t.Fatal(err)
	}
	if err := c.Rename("a.txt", "sub/c.txt"); err != nil {
		t.Fatal(err)
	}
	want, _ := sha256Of(strings.NewReader("alpha"))
	g.mustHold("sub/c.txt", want, 5)
	g.mustNotExist("a.txt")
	if out, err := g.head("sub/c.txt"); err != nil || out.Metadata[storage.MetaSHA256] != want {
		t.Fatalf("the renamed file lost its stored SHA-256: %v %v", out.Metadata, err)
	}
	if _, err := c.FileSize("a.txt"); ftpCode(err) != 550 {
		t.Fatalf("SIZE of the old name: got %v, want 550", err)
	}
	if names, err := c.NameList("sub"); err != nil || len(names) != 1 || !strings.HasSuffix(names[0], "c.txt") {
		t.Fatalf("NLST sub after the rename = %v, %v", names, err)
	}
	// RNTO onto an existing file replaces it.
	if err := c.Rename("sub/c.txt", "b.txt"); err != nil {
		t.Fatal(err)
	}
	g.mustHold("b.txt", want, 5)
	if n, err := c.FileSize("b.txt"); err != nil || n != 5 {
		t.Fatalf("SIZE of the replaced file = %d, %v; want 5", n, err)
	}
	// Onto a directory: refused, nothing changes.
	if err := c.Rename("b.txt", "sub"); ftpCode(err) != 550 {
		t.Fatalf("RNTO onto a directory: got %v, want 550", err)
	}
	g.mustHold("b.txt", want, 5)
}

func TestRenameSequence(t *testing.T) {
	t.Parallel()
	g := startGateway(t)
	g.putObject("a.txt", "alpha")
	raw := rawLogin(g.t, g.Addr, userRW)
	raw.cmd(503, "RNTO b.txt")
	raw.cmd(550, "RNFR missing.txt")
	raw.cmd(350, "RNFR a.txt")
	raw.cmd(200, "NOOP") // any other command cancels the pending RNFR
	raw.cmd(503, "RNTO b.txt")
	raw.cmd(350, "RNFR a.txt")
	raw.cmd(250, "RNTO b.txt")
	raw.cmd(503, "RNTO c.txt") // RNTO consumed it
	raw.cmd(350, "RNFR b.txt")
	raw.cmd(550, "RNTO missing/b.txt") // no such parent directory
	g.mustNotExist("a.txt")
	if _, err := g.head("b.txt"); err != nil {
		t.Fatal(err)
	}
	ro := rawLogin(g.t, g.Addr, userRO)
	ro.cmd(550, "RNFR b.txt")
	ro.cmd(550, "RNTO c.txt") // refused for a read-only account before anything else
	ro.cmd(550, "APPE b.txt")
}

// TestRenameMultipartCopy exercises the UploadPartCopy path of a file rename
// (used above 5 GiB) with the threshold lowered.
func TestRenameMultipartCopy(t *testing.T) {
	t.Parallel()
	g, ft := startStoreGateway(t, smallParts, func(c *gateway.Config) {
		c.Storage.CopyThreshold = 6 << 20
		c.Storage.CopyPartSize = 5 << 20
		c.HashCopyLimit = 5 << 30 // metadata must survive the copy
	})
	c := g.dial(userRW)
	if err := c.Stor("big.bin", newPattern(bigUpload, 31)); err != nil {
		t.Fatal(err)
	}
	if err := c.Rename("big.bin", "moved.bin"); err != nil {
		t.Fatal(err)
	}
	want, _ := sha256Of(newPattern(bigUpload, 31))
	g.mustHold("moved.bin", want, bigUpload)
	g.mustNotExist("big.bin")
	if n := ft.count("UploadPartCopy"); n != 2 {
		t.Fatalf("%d UploadPartCopy requests, want 2 (12 MiB in 5 MiB parts)", n)
	}
	if ft.count("CopyObject") != 1 { // the one that stored the upload's SHA-256
		t.Fatalf("%d CopyObject requests, want only the SHA-256 one", ft.count("CopyObject"))
	}
	if out, err := g.head("moved.bin"); err != nil || out.Metadata[storage.MetaSHA256] != want {
		t.Fatalf("metadata after a multipart copy: %v %v", out.Metadata, err)
	}
	g.noPending()
}

func TestRenameAcrossBuckets(t *testing.T) {
	t.Parallel()
	g := startGateway(t)
	other := g.Bucket + "-other"
	if err := minio.CreateBucket(context.Background(), other); err != nil {
		t.Fatal(err)
	}
	g.putObject("dir/x.txt", "cross")
	g.putObject("tree/1.txt", "one")
	c := g.dial(userAll)
	if err := c.Rename("/"+g.Bucket+"/dir/x.txt", "/"+other+"/y.txt"); err != nil {
		t.Fatal(err)
	}
	if err := c.Rename("/"+g.Bucket+"/tree", "/"+other+"/tree2"); err != nil {
		t.Fatal(err)
	}
	for key, want := range map[string]string{"y.txt": "cross", "tree2/1.txt": "one"} {
		out, err := g.S3.GetObject(context.Background(), &s3.GetObjectInput{Bucket: aws.String(other), Key: aws.String(key)})
		if err != nil {
			t.Fatalf("%s/%s: %v", other, key, err)
		}
		got, _ := sha256Of(out.Body)
		out.Body.Close()
		if w, _ := sha256Of(strings.NewReader(want)); got != w {
			t.Fatalf("%s/%s has the wrong contents", other, key)
		}
	}
	if k := g.keys(""); len(k) != 0 {
		t.Fatalf("keys left in the source bucket: %v", k)
	}
	if err := c.Rename("/"+other, "/renamed-bucket"); ftpCode(err) != 550 {
		t.Fatalf("renaming a bucket: got %v, want 550", err)
	}
}

// makeTree creates n files under prefix (some in subdirectories, one marker).
func makeTree(g *testGateway, prefix string, n int) []string {
	g.putObject(prefix, "")
	names := []string{""}
	for i := range n {
		name := fmt.Sprintf("f%03d.txt", i)
		if i%3 == 0 {
			name = fmt.Sprintf("sub%d/%s", i%2, name)
		}
		g.putObject(prefix+name, "file "+name)
		names = append(names, name)
	}
	sort.Strings(names)
	return names
}

func TestRenameDirectory(t *testing.T) {
	t.Parallel()
	g, ft := startStoreGateway(t)
	names := makeTree(g, "old/", 40)
	c := g.dial(userRW)
	if err := c.ChangeDir("old/sub0"); err != nil {
		t.Fatal(err)
	}
	if err := c.Rename("/old", "/new"); err != nil {
		t.Fatal(err)
	}
	if k := g.keys("old/"); len(k) != 0 {
		t.Fatalf("keys left under old/: %v", k)
	}
	got := g.keys("new/")
	if len(got) != len(names) {
		t.Fatalf("%d keys under new/, want %d", len(got), len(names))
	}
	for i, n := range names {
		if got[i] != "new/"+n {
			t.Fatalf("key %d is %s, want new/%s", i, got[i], n)
		}
	}
	if dir, _ := c.CurrentDir(); dir != "/new/sub0" {
		t.Fatalf("the working directory inside the renamed one is %q, want /new/sub0", dir)
	}
	if ft.count("CopyObject") != len(names) {
		t.Fatalf("%d copies for %d keys", ft.count("CopyObject"), len(names))
	}
	if err := c.Rename("/new", "/new/inside"); ftpCode(err) != 550 {
		t.Fatalf("moving a directory into itself: got %v, want 550", err)
	}
	g.putObject("other/x", "x")
	if err := c.Rename("/new", "/other"); ftpCode(err) != 550 {
		t.Fatalf("renaming onto an existing directory: got %v, want 550", err)
	}
	if len(g.keys("new/")) != len(names) {
		t.Fatal("a refused rename changed the directory")
	}
}

// TestRenameDirectoryFailures: a copy failing part-way rolls back; a delete
// failing part-way leaves every object under its old or new name; 451 both
// times.
func TestRenameDirectoryFailures(t *testing.T) {
	t.Parallel()
	g, ft := startStoreGateway(t, func(c *gateway.Config) { c.Storage.RenameConcurrency = 2 })
	names := makeTree(g, "d/", 30)
	c := g.dial(userRW)

	var copies atomic.Int64
	ft.failWhen(func(op string, r *http.Request) bool {
		return op == "CopyObject" && copies.Add(1) > 10
	})
	if err := c.Rename("d", "e"); ftpCode(err) != 451 {
		t.Fatalf("copy failing part-way: got %v, want 451", err)
	}
	if got := g.keys("d/"); len(got) != len(names) {
		t.Fatalf("%d keys under d/ after a failed copy, want %d", len(got), len(names))
	}
	if got := g.keys("e/"); len(got) != 0 {
		t.Fatalf("partial copies left under e/: %v", got)
	}

	var deletes atomic.Int64
	ft.failWhen(func(op string, r *http.Request) bool {
		return op == "DeleteObject" && deletes.Add(1) > 10
	})
	if err := c.Rename("d", "e"); ftpCode(err) != 451 {
		t.Fatalf("delete failing part-way: got %v, want 451", err)
	}
	ft.failWhen(func(string, *http.Request) bool { return false })
	old, moved := g.keys("d/"), g.keys("e/")
	if len(moved) != len(names) {
		t.Fatalf("%d keys under e/, want all %d copied", len(moved), len(names))
	}
	if len(old) == 0 || len(old) == len(names) {
		t.Fatalf("%d keys left under d/: the fault did not hit part-way", len(old))
	}
	for _, n := range names {
		g.mustHoldKey("e/" + n)
	}
}

func (g *testGateway) mustHoldKey(key string) {
	g.t.Helper()
	if _, err := g.head(key); err != nil {
		g.t.Fatalf("%s: %v", key, err)
	}
}

func TestRenameDirectoryCap(t *testing.T) {
	t.Parallel()
	g, _ := startStoreGateway(t, func(c *gateway.Config) { c.MaxRenameKeys = 10 })
	names := makeTree(g, "big/", 15)
	c := g.dial(userRW)
	raw := rawLogin(g.t, g.Addr, userRW)
	raw.cmd(350, "RNFR big")
	msg := raw.cmd(550, "RNTO small")
	if !strings.Contains(msg, "FTP2S3_MAX_RENAME_KEYS") {
		t.Fatalf("the refusal does not name the limit: %s", msg)
	}
	if len(g.keys("big/")) != len(names) || len(g.keys("small/")) != 0 {
		t.Fatal("a refused rename changed something")
	}
	// A directory within the cap still renames.
	makeTree(g, "ok/", 5)
	if err := c.Rename("ok", "fine"); err != nil {
		t.Fatal(err)
	}
}
