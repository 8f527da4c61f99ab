package integration

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// TestCurlRoundTrip100MiB is the foundation's acceptance check: curl uploads a
// 100 MiB file into /bucket/dir/ (multi-bucket home) and downloads it back byte
// for byte, and the object is in MinIO.
func TestCurlRoundTrip100MiB(t *testing.T) {
	t.Parallel()
	g := startGateway(t)
	c := g.dial(userAll)
	if err := c.MakeDir("/" + g.Bucket + "/dir"); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	src := filepath.Join(dir, "src.bin")
	f, err := os.Create(src)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := sha256Of(newPattern(100<<20, 42))
	if _, err := f.ReadFrom(newPattern(100<<20, 42)); err != nil {
		t.Fatal(err)
	}
	f.Close()

	base := fmt.Sprintf("ftp://%s:%s@%s/%s/dir/", userAll, "s3cret%20pass", g.Addr, g.Bucket)
	curl := func(args ...string) {
		t.Helper()
		var out bytes.Buffer
		cmd := exec.Command("curl", append([]string{"-sS", "--fail", "--max-time", "120"}, args...)...)
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Run(); err != nil {
			t.Fatalf("curl %v: %v\n%s", args, err, out.String())
		}
	}
	curl("-T", src, base)
	if sum, n, err := g.object("dir/src.bin"); err != nil || n != 100<<20 || sum != want {
		t.Fatalf("object in MinIO: %d bytes, sha %s, err %v; want sha %s", n, sum, err, want)
	}
	dst := filepath.Join(dir, "dst.bin")
	curl("-o", dst, base+"src.bin")
	df, err := os.Open(dst)
	if err != nil {
		t.Fatal(err)
	}
	defer df.Close()
	if got, n := sha256Of(df); n != 100<<20 || got != want {
		t.Fatalf("downloaded %d bytes sha %s, want sha %s", n, got, want)
	}
}
