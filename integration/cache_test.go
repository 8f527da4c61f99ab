package integration

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/ftp2s3/ftp2s3/gateway"
	"github.com/ftp2s3/ftp2s3/storage"
)

func longTTL(c *gateway.Config) { c.CacheTTL = time.Hour }

// TestCacheServesStatCalls: repeated SIZE, MDTM, MLST and CWD make no new S3
// request; a write elsewhere leaves those entries cached.
func TestCacheServesStatCalls(t *testing.T) {
	t.Parallel()
	g, ft := startStoreGateway(t, longTTL)
	g.putObject("d/f.txt", "12345")
	g.putObject("other/g.txt", "x")
	c := g.dial(userRW)
	raw := rawLogin(g.t, g.Addr, userRW)
	ask := func() {
		t.Helper()
		if n, err := c.FileSize("d/f.txt"); err != nil || n != 5 {
			t.Fatalf("SIZE = %d, %v", n, err)
		}
		if _, err := c.GetTime("d/f.txt"); err != nil {
			t.Fatal(err)
		}
		raw.cmd(250, "MLST d/f.txt")
		if err := c.ChangeDir("/d"); err != nil {
			t.Fatal(err)
		}
		if err := c.ChangeDir("/"); err != nil {
			t.Fatal(err)
		}
	}
	ask()
	heads, lists := ft.count("HeadObject"), ft.count("ListObjectsV2")
	ask()
	if ft.count("HeadObject") != heads || ft.count("ListObjectsV2") != lists {
		t.Fatalf("repeated stat calls reached S3: HeadObject %d→%d, ListObjectsV2 %d→%d",
			heads, ft.count("HeadObject"), lists, ft.count("ListObjectsV2"))
	}
	// A write in another directory invalidates nothing here.
	if err := c.Stor("other/new.txt", strings.NewReader("n")); err != nil {
		t.Fatal(err)
	}
	heads, lists = ft.count("HeadObject"), ft.count("ListObjectsV2")
	ask()
	if ft.count("HeadObject") != heads || ft.count("ListObjectsV2") != lists {
		t.Fatal("a write in /other dropped the cached entries of /d")
	}
	// Listings are cached too.
	if _, err := c.List("/d"); err != nil {
		t.Fatal(err)
	}
	lists = ft.count("ListObjectsV2")
	if _, err := c.List("/d"); err != nil {
		t.Fatal(err)
	}
	if ft.count("ListObjectsV2") != lists {
		t.Fatal("a repeated LIST reached S3")
	}
}

// TestCacheReadYourWrites: with a one-hour TTL every change made through the
// gateway is visible at once to the client that made it.
func TestCacheReadYourWrites(t *testing.T) {
	t.Parallel()
	g := startGateway(t, longTTL)
	g.putObject("d/f.txt", "12345")
	c := g.dial(userRW)
	names := func(dir string) string {
		t.Helper()
		n, err := c.NameList(dir)
		if err != nil {
			t.Fatal(err)
		}
		return strings.Join(n, ",")
	}
	size := func(p string) int64 {
		t.Helper()
		n, err := c.FileSize(p)
		if err != nil {
			return -1
		}
		return n
	}
	// Seed every cache entry involved.
	if size("d/f.txt") != 5 || names("d") != "d/f.txt" || size("d/new.txt") != -1 {
		t.Fatal("unexpected start")
	}
	if err := c.ChangeDir("/e"); ftpCode(err) != 550 {
		t.Fatal("CWD /e should fail before MKD")
	}
	steps := []struct {
		what  string
		do    func() error
		check func() bool
	}{
		{"STOR new", func() error { return c.Stor("d/new.txt", strings.NewReader("abc")) },
			func() bool { return size("d/new.txt") == 3 && names("d") == "d/f.txt,d/new.txt" }},
		{"STOR overwrite", func() error { return c.Stor("d/f.txt", strings.NewReader("1234567")) },
			func() bool { return size("d/f.txt") == 7 }},
		{"APPE", func() error { return c.Append("d/f.txt", strings.NewReader("89")) },
			func() bool { return size("d/f.txt") == 9 }},
		{"DELE", func() error { return c.Delete("d/new.txt") },
			func() bool { return size("d/new.txt") == -1 && names("d") == "d/f.txt" }},
		{"MKD", func() error { return c.MakeDir("/e") },
			func() bool {
				return c.ChangeDir("/e") == nil && c.ChangeDir("/") == nil && strings.Contains(names("/"), "e")
			}},
		{"RNTO file", func() error { return c.Rename("d/f.txt", "e/f.txt") },
			func() bool { return size("d/f.txt") == -1 && size("e/f.txt") == 9 && names("e") == "e/f.txt" }},
		{"implicit directory emptied", func() error { return nil },
			func() bool { return c.ChangeDir("/d") != nil && !strings.Contains(names("/"), "d") }},
		{"RNTO directory", func() error { return c.Rename("e", "e2") },
			func() bool { return size("e2/f.txt") == 9 && size("e/f.txt") == -1 && c.ChangeDir("/e") != nil }},
		{"RMD", func() error {
			if err := c.Delete("e2/f.txt"); err != nil {
				return err
			}
			return c.RemoveDir("e2")
		}, func() bool { return c.ChangeDir("/e2") != nil && names("/") == "" }},
	}
	for _, s := range steps {
		if err := s.do(); err != nil {
			t.Fatalf("%s: %v", s.what, err)
		}
		if !s.check() {
			t.Fatalf("after %s the client does not see its own change (root: %s)", s.what, names("/"))
		}
	}
}

// TestCacheTTLExpiry: a change made behind the gateway's back is hidden while
// the entry is cached and shows once the TTL has passed.
func TestCacheTTLExpiry(t *testing.T) {
	t.Parallel()
	const ttl = 2 * time.Second
	g := startGateway(t, func(c *gateway.Config) { c.CacheTTL = ttl })
	g.putObject("f.txt", "12345")
	c := g.dial(userRW)
	seeded := time.Now()
	if n, err := c.FileSize("f.txt"); err != nil || n != 5 {
		t.Fatalf("SIZE = %d, %v", n, err)
	}
	if names, err := c.NameList("/"); err != nil || len(names) != 1 {
		t.Fatalf("NLST = %v, %v", names, err)
	}
	listed := time.Now() // the listing was cached after the stat, up to now
	g.putObject("f.txt", "1234567890")
	g.putObject("g.txt", "behind the back")
	if n, _ := c.FileSize("f.txt"); n != 5 && time.Since(seeded) < ttl {
		t.Fatalf("SIZE = %d within the TTL: the stat was not cached", n)
	}
	if names, _ := c.NameList("/"); len(names) != 1 && time.Since(seeded) < ttl {
		t.Fatalf("NLST = %v within the TTL: the listing was not cached", names)
	}
	// The TTL running out is the case under test; counted from when the
	// listing was cached, the later of the two fills (on a loaded runner the
	// NLST may come well after the SIZE).
	time.Sleep(time.Until(listed.Add(ttl + 500*time.Millisecond)))
	if n, err := c.FileSize("f.txt"); err != nil || n != 10 {
		t.Fatalf("SIZE after the TTL = %d, %v; want 10", n, err)
	}
	if names, err := c.NameList("/"); err != nil || fmt.Sprint(names) != "[f.txt g.txt]" {
		t.Fatalf("NLST after the TTL = %v, %v", names, err)
	}
}

// benchBucket is a bucket holding a 10,000-key directory "dir/", made once.
var benchBucket = sync.OnceValues(func() (string, error) {
	const bucket = "bench-list-10k"
	if err := minio.CreateBucket(context.Background(), bucket); err != nil {
		return "", err
	}
	return bucket, nil
})

func listBenchSetup(b *testing.B) string {
	bucket, err := benchBucket()
	if err != nil {
		b.Fatal(err)
	}
	out, err := minio.Client().ListObjectsV2(context.Background(), &s3.ListObjectsV2Input{Bucket: aws.String(bucket), Prefix: aws.String("dir/k0009999")})
	if err != nil {
		b.Fatal(err)
	}
	if len(out.Contents) == 0 {
		putEmptyKeys(b, minio.Client(), bucket, "dir/", 10_000)
	}
	return bucket
}

func listAll(b *testing.B, be *storage.Backend, bucket string) {
	n := 0
	if err := be.List(context.Background(), bucket, "dir/", func(storage.Entry) error { n++; return nil }); err != nil {
		b.Fatal(err)
	}
	if n != 10_000 {
		b.Fatalf("listed %d entries, want 10000", n)
	}
}

// BenchmarkListCold lists a 10,000-key directory from S3 every time.
func BenchmarkListCold(b *testing.B) {
	bucket := listBenchSetup(b)
	client := minio.Client()
	b.ResetTimer()
	for range b.N {
		listAll(b, storage.New(client, storage.Options{}), bucket) // a fresh, empty cache
	}
}

// BenchmarkListCached lists the same directory from the metadata cache.
func BenchmarkListCached(b *testing.B) {
	bucket := listBenchSetup(b)
	be := storage.New(minio.Client(), storage.Options{CacheTTL: time.Hour})
	listAll(b, be, bucket)
	b.ResetTimer()
	for range b.N {
		listAll(b, be, bucket)
	}
}

// TestListCacheSpeedupFTP measures LIST of a 10,000-key directory end to end
// through FTP: the first listing comes from S3, the next ones from the cache.
func TestListCacheSpeedupFTP(t *testing.T) {
	t.Parallel()
	g := startGateway(t, longTTL)
	putEmptyKeys(t, g.S3, g.Bucket, "dir/", 10_000)
	c := g.dial(userRW)
	list := func() time.Duration {
		t.Helper()
		t0 := time.Now()
		entries, err := c.List("/dir")
		if err != nil {
			t.Fatal(err)
		}
		if len(entries) != 10_000 {
			t.Fatalf("LIST returned %d entries", len(entries))
		}
		return time.Since(t0)
	}
	cold := list()
	var cached time.Duration
	const rounds = 5
	for range rounds {
		cached += list()
	}
	cached /= rounds
	t.Logf("FTP LIST of 10,000 keys: cold %s, cached %s (%.1f×)", cold.Round(time.Microsecond), cached.Round(time.Microsecond), float64(cold)/float64(cached))
	if cached*2 > cold {
		t.Fatalf("a cached LIST (%s) is not clearly faster than a cold one (%s)", cached, cold)
	}
}
