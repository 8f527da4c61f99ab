package integration

import (
	"fmt"
	"strings"
	"testing"

	"github.com/ftp2s3/ftp2s3/gateway"
	"github.com/ftp2s3/ftp2s3/integration/miniotest"
)

// s3AuthMode switches a test gateway to FTP2S3_AUTH=s3 (no static users).
func s3AuthMode(c *gateway.Config) { c.Auth, c.Users = "s3", "" }

// TestS3AuthLogin: MinIO keys log in, wrong or unknown keys do not, and the
// secret never reaches the logs.
func TestS3AuthLogin(t *testing.T) {
	t.Parallel()
	g := startGateway(t, s3AuthMode)
	// A wrong secret first: the SDK's signer caches signing keys by access key
	// alone, and a shared signer once let the wrong secret in after the right one.
	if _, err := dialFromAddr(t, g, "127.0.0.1", miniotest.AccessKey, "not-the-secret"); ftpCode(err) != 530 {
		t.Fatalf("wrong secret: %v, want 530", err)
	}
	c, err := dialFromAddr(t, g, "127.0.0.1", miniotest.AccessKey, miniotest.SecretKey)
	if err != nil {
		t.Fatalf("login with MinIO keys: %v", err)
	}
	if err := c.Stor("by-key.txt", strings.NewReader("written with the user's own keys")); err != nil {
		t.Fatal(err)
	}
	if _, n, err := g.object("by-key.txt"); err != nil || n != 32 {
		t.Fatalf("object: %d bytes, %v", n, err)
	}
	names, err := c.NameList("/")
	if err != nil || len(names) != 1 {
		t.Fatalf("NLST: %v %v", names, err)
	}
	// The verified key pair is cached: a second login is answered without a
	// new check, and still works.
	if _, err := dialFromAddr(t, g, "127.0.0.1", miniotest.AccessKey, miniotest.SecretKey); err != nil {
		t.Fatalf("second login: %v", err)
	}
	for _, bad := range []struct{ user, pass string }{
		{miniotest.AccessKey, "not-the-secret"},
		{"NOSUCHACCESSKEY", miniotest.SecretKey},
		{miniotest.AccessKey, ""},
	} {
		if _, err := dialFromAddr(t, g, "127.0.0.1", bad.user, bad.pass); ftpCode(err) != 530 {
			t.Errorf("login %s/%q: %v, want 530", bad.user, bad.pass, err)
		}
	}
	if strings.Contains(g.Logs.String(), miniotest.SecretKey) || strings.Contains(g.Logs.String(), "not-the-secret") {
		t.Fatal("a secret key appears in the logs")
	}
}

// TestS3AuthMultiBucket: with no FTP2S3_BUCKET, "/" lists the buckets that the
// identity can list.
func TestS3AuthMultiBucket(t *testing.T) {
	t.Parallel()
	g := startGateway(t, s3AuthMode, func(c *gateway.Config) { c.Bucket = "" })
	c, err := dialFromAddr(t, g, "127.0.0.1", miniotest.AccessKey, miniotest.SecretKey)
	if err != nil {
		t.Fatal(err)
	}
	names, err := c.NameList("/")
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, n := range names {
		found = found || strings.TrimPrefix(n, "/") == g.Bucket
	}
	if !found {
		t.Fatalf("bucket %s not in the root listing %v", g.Bucket, names)
	}
}

// TestAnonymous: with FTP2S3_ANONYMOUS_HOME, "anonymous" and "ftp" log in with
// any password, read there, and are refused every write; without it they are
// strangers.
func TestAnonymous(t *testing.T) {
	t.Parallel()
	off := startGateway(t)
	if _, err := dialFromAddr(t, off, "127.0.0.1", "anonymous", "guest@example.com"); ftpCode(err) != 530 {
		t.Fatalf("anonymous with anonymous access off: %v, want 530", err)
	}
	g := startGateway(t, func(c *gateway.Config) { c.AnonymousHome = mustParse[gateway.Home](string(c.Bucket) + "/pub") })
	g.putObject("pub/readme.txt", "public notes")
	g.putObject("private.txt", "not for guests")
	for _, name := range []string{"anonymous", "ftp", "Anonymous"} {
		c, err := dialFromAddr(t, g, "127.0.0.1", name, "guest@example.com")
		if err != nil {
			t.Fatalf("login as %s: %v", name, err)
		}
		mustRetr(t, c, "readme.txt", "public notes")
		if _, err := c.Retr("../private.txt"); err == nil {
			t.Fatal("anonymous read outside its home")
		}
		if err := c.Stor("upload.txt", strings.NewReader("x")); ftpCode(err) != 550 {
			t.Fatalf("anonymous STOR: %v, want 550", err)
		}
		if err := c.Delete("readme.txt"); ftpCode(err) != 550 {
			t.Fatalf("anonymous DELE: %v, want 550", err)
		}
	}
	if _, _, err := g.object("pub/upload.txt"); err == nil {
		t.Fatal("an anonymous upload reached the bucket")
	}
	// Real users still log in as before.
	if _, err := dialFromAddr(t, g, "127.0.0.1", userRW, testPassword); err != nil {
		t.Fatal(err)
	}
}

// TestReadOnlyRefusals: a read-only user gets 550 on every command that writes,
// and the bucket is unchanged.
func TestReadOnlyRefusals(t *testing.T) {
	t.Parallel()
	g := startGateway(t)
	g.putObject("keep.txt", "do not touch")
	g.putObject("dir/", "")
	r := rawDial(t, g.Addr)
	r.read()
	r.cmd(331, "USER %s", userRO)
	r.cmd(230, "PASS %s", testPassword)
	for _, cmd := range []string{"STOR new.txt", "APPE keep.txt", "STOU", "DELE keep.txt", "RNFR keep.txt", "RNTO other.txt", "MKD newdir", "RMD dir", "XMKD d2", "XRMD dir"} {
		code, msg := r.ask("%s", cmd)
		if code == 502 && strings.Contains(msg, "not implemented") {
			continue // not in this build; session.TestReadOnlyGuard covers it once registered
		}
		if code != 550 {
			t.Errorf("%s as read-only user: %d %q, want 550", cmd, code, msg)
		}
	}
	r.cmd(213, "SIZE keep.txt")
	c := g.dial(userRO)
	mustRetr(t, c, "keep.txt", "do not touch")
	if sum, _, err := g.object("keep.txt"); err != nil || sum == "" {
		t.Fatalf("keep.txt: %v", err)
	}
	if _, _, err := g.object("new.txt"); err == nil {
		t.Fatal("a read-only STOR created an object")
	}
	if _, _, err := g.object("dir/"); err != nil {
		t.Fatal("a read-only RMD removed a directory")
	}
}

// TestS3AuthIAMDecides: under FTP2S3_AUTH=s3 a MinIO user with a read-only
// policy on one bucket sees only that bucket in multi-bucket mode, reads there,
// and is refused (550) writes and other buckets by MinIO itself.
func TestS3AuthIAMDecides(t *testing.T) {
	t.Parallel()
	g := startGateway(t, s3AuthMode, func(c *gateway.Config) { c.Bucket = "" })
	other := bucketName(t)
	if err := minio.CreateBucket(t.Context(), other); err != nil {
		t.Fatal(err)
	}
	g.putObject("report.txt", "quarterly numbers")
	access, secret := "ftpro"+fmt.Sprint(bucketSeq.Load()), "ftp-readonly-secret"
	minioAddUser(t, access, secret, []map[string]any{
		iamAllow([]string{"s3:ListBucket", "s3:GetBucketLocation"}, iamBucketARN(g.Bucket)),
		iamAllow([]string{"s3:GetObject"}, iamBucketARN(g.Bucket)+"/*"),
	})
	c, err := dialFromAddr(t, g, "127.0.0.1", access, secret)
	if err != nil {
		t.Fatalf("login as the MinIO user: %v", err)
	}
	names, err := c.NameList("/")
	if err != nil {
		t.Fatalf("bucket list: %v", err)
	}
	var sawOwn, sawOther bool
	for _, n := range names {
		n = strings.Trim(n, "/")
		sawOwn = sawOwn || n == g.Bucket
		sawOther = sawOther || n == other
	}
	if !sawOwn || sawOther {
		t.Fatalf("root listing %v: want %s and not %s", names, g.Bucket, other)
	}
	mustRetr(t, c, "/"+g.Bucket+"/report.txt", "quarterly numbers")
	if err := c.Stor("/"+g.Bucket+"/new.txt", strings.NewReader("nope")); ftpCode(err) != 550 {
		t.Fatalf("STOR without s3:PutObject: %v, want 550", err)
	}
	if _, _, err := g.object("new.txt"); err == nil {
		t.Fatal("a refused upload reached the bucket")
	}
	if _, err := c.List("/" + other); ftpCode(err) != 550 {
		t.Fatalf("LIST of a bucket the policy does not grant: %v, want 550", err)
	}
	if strings.Contains(g.Logs.String(), secret) {
		t.Fatal("the secret key appears in the logs")
	}
}
