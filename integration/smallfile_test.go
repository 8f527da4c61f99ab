package integration

import (
	"bytes"
	"fmt"
	"io"
	"maps"
	"strings"
	"testing"

	"github.com/ftp2s3/ftp2s3/gateway"
	"github.com/ftp2s3/ftp2s3/storage"
)

// snapshot returns the requests counted so far, per operation.
func (f *faultTransport) snapshot() map[string]int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return maps.Clone(f.ops)
}

// requestsDuring runs fn and returns the S3 requests the gateway sent meanwhile,
// as "Op×n" sorted by name ("" for none).
func requestsDuring(t *testing.T, ft *faultTransport, fn func() error) string {
	t.Helper()
	before := ft.snapshot()
	if err := fn(); err != nil {
		t.Fatal(err)
	}
	var parts []string
	after := ft.snapshot()
	for _, op := range sortedKeys(after) {
		if n := after[op] - before[op]; n > 0 {
			parts = append(parts, fmt.Sprintf("%s×%d", op, n))
		}
	}
	return strings.Join(parts, " ")
}

func sortedKeys(m map[string]int) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	for i := 1; i < len(keys); i++ {
		for j := i; j > 0 && keys[j] < keys[j-1]; j-- {
			keys[j], keys[j-1] = keys[j-1], keys[j]
		}
	}
	return keys
}

// Issue 14 §1: a small file costs one S3 request when the gateway knows its
// directory, and the metadata commands after an upload cost none.
func TestSmallFileRequestCounts(t *testing.T) {
	t.Parallel()
	g, ft := startStoreGateway(t, longTTL)
	c := g.dial(userRW)
	small := bytes.Repeat([]byte("4KiB"), 1024)

	check := func(what, want string, fn func() error) {
		t.Helper()
		if got := requestsDuring(t, ft, fn); got != want {
			t.Errorf("%s: S3 requests %q, want %q", what, got, want)
		}
	}
	if err := c.MakeDir("/new"); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		check(fmt.Sprintf("STOR %d into a directory just made", i), "PutObject×1", func() error {
			return c.Stor(fmt.Sprintf("/new/f%d", i), bytes.NewReader(small))
		})
	}
	check("SIZE after the upload", "", func() error {
		n, err := c.FileSize("/new/f1")
		if err == nil && n != int64(len(small)) {
			err = fmt.Errorf("SIZE %d", n)
		}
		return err
	})
	check("MDTM and MLST after the upload", "", func() error {
		if _, err := c.GetTime("/new/f1"); err != nil {
			return err
		}
		_, err := c.GetEntry("/new/f1")
		return err
	})
	check("RETR of an uploaded file", "GetObject×1", func() error {
		data, err := retrAll(c, "/new/f0")
		if err == nil && !bytes.Equal(data, small) {
			err = fmt.Errorf("RETR gave %d bytes", len(data))
		}
		return err
	})
	check("DELE after the upload", "DeleteObject×1", func() error { return c.Delete("/new/f2") })
	if names, err := c.NameList("/new"); err != nil || strings.Join(names, ",") != "/new/f0,/new/f1" {
		t.Errorf("NLST /new after the uploads and the DELE: %v, %v", names, err)
	}

	// A directory written behind the gateway's back: the first upload lists it
	// once (while the data arrives), the next ones cost their PutObject only.
	for i := range 5 {
		g.putObject(fmt.Sprintf("outside/seed%d", i), "seed")
	}
	check("first STOR into an unknown directory", "ListObjectsV2×1 PutObject×1", func() error {
		return c.Stor("/outside/a", bytes.NewReader(small))
	})
	check("second STOR into it", "PutObject×1", func() error { return c.Stor("/outside/b", bytes.NewReader(small)) })
	check("RETR of a file the gateway never saw", "GetObject×1", func() error {
		data, err := retrAll(c, "/outside/seed3")
		if err == nil && string(data) != "seed" {
			err = fmt.Errorf("RETR gave %q", data)
		}
		return err
	})

	// A listed directory: uploads into it cost their PutObject.
	g.putObject("listed/x", "x")
	if _, err := c.List("/listed"); err != nil {
		t.Fatal(err)
	}
	check("STOR into a listed directory", "PutObject×1", func() error { return c.Stor("/listed/y", bytes.NewReader(small)) })
}

// The checks that run while the data arrives keep the guarantees: nothing is
// stored into a directory that does not exist, nor over a directory, and a
// missing file is a 550 before any 150.
func TestSmallFileRefusals(t *testing.T) {
	t.Parallel()
	g, ft := startStoreGateway(t)
	g.putObject("adir/inside", "x")
	r := rawLogin(t, g.Addr, userRW)

	storeN := func(name string, size int64) (int, string) {
		d := r.data()
		defer d.Close()
		r.cmd(150, "STOR %s", name)
		// A refused upload may close the data connection before all is sent.
		_, _ = io.Copy(d, newPattern(size, 1))
		d.Close()
		return r.read()
	}
	store := func(name string) (int, string) { return storeN(name, int64(len("payload"))) }
	if code, text := store("/nodir/file"); code != 550 || !strings.Contains(text, "no such file") {
		t.Errorf("STOR into a missing directory: %d %q", code, text)
	}
	g.mustNotExist("nodir/file")
	if code, text := store("/adir"); code != 550 || !strings.Contains(text, "is a directory") {
		t.Errorf("STOR over a directory: %d %q", code, text)
	}
	g.mustNotExist("adir")
	// Beyond one part: the failed check stops the multipart upload.
	if code, text := storeN("/nodir2/big", 40<<20); code != 550 || !strings.Contains(text, "no such file") {
		t.Errorf("large STOR into a missing directory: %d %q", code, text)
	}
	g.mustNotExist("nodir2/big")
	g.noPending()
	if n := ft.count("PutObject"); n != 0 {
		t.Errorf("%d PutObject requests for refused uploads", n)
	}
	// Known now: the refusals come before any 150, with the data connection
	// still unused.
	d := r.data()
	defer d.Close()
	r.cmd(550, "STOR /nodir/again")
	r.cmd(550, "STOR /adir")
	// RETR of a missing file or of a directory: 550 and no 150.
	r.cmd(550, "RETR /adir/missing")
	r.cmd(550, "RETR /adir")
	g.mustNotExist("nodir/again")
	if code, text := store("/adir/ok"); code != 226 {
		t.Errorf("STOR /adir/ok: %d %q", code, text)
	}
	if _, n, err := g.object("adir/ok"); err != nil || n != int64(len("payload")) {
		t.Errorf("adir/ok after 226: %d bytes, %v", n, err)
	}
}

// Uploads around the small-file read-ahead (1 MiB) and past one part arrive
// whole, with one PutObject up to a part and a multipart upload beyond.
func TestSmallFileReadAheadBoundaries(t *testing.T) {
	t.Parallel()
	g, ft := startStoreGateway(t, func(c *gateway.Config) { c.PartSize = storage.MinPartSize })
	c := g.dial(userRW)
	for _, size := range []int64{0, 1<<20 - 1, 1 << 20, 1<<20 + 1, storage.MinPartSize, storage.MinPartSize + 1<<20 + 3} {
		name := fmt.Sprintf("f%d", size)
		puts := ft.count("PutObject")
		if err := c.Stor("/"+name, newPattern(size, uint64(size))); err != nil {
			t.Fatalf("STOR %d bytes: %v", size, err)
		}
		sum, _ := sha256Of(newPattern(size, uint64(size)))
		g.mustHold(name, sum, size)
		single := ft.count("PutObject") - puts
		if want := size < storage.MinPartSize; (single == 1) != want {
			t.Errorf("%d bytes: %d PutObject, want a single PutObject: %v", size, single, want)
		}
	}
	g.noPending()
}
