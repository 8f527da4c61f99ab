package integration

import (
	"bytes"
	"context"
	"errors"
	"os/exec"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/jlaffaye/ftp"

	"github.com/ftp2s3/ftp2s3/gateway"
	"github.com/ftp2s3/ftp2s3/integration/miniotest"
)

// TestHardeningAnonymousEveryBucketRefused: FTP2S3_ANONYMOUS_HOME=/ would give
// anybody read access to every bucket; the binary refuses to start with it
// (exit 2, one line naming the variable) unless FTP2S3_ANONYMOUS_ALL_BUCKETS
// says it is meant.
func TestHardeningAnonymousEveryBucketRefused(t *testing.T) {
	t.Parallel()
	bin := buildBinary(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin)
	cmd.Env = append(minioEnv(), "FTP2S3_LISTEN=127.0.0.1:0", "FTP2S3_ANONYMOUS_HOME=/")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 2 {
		t.Fatalf("FTP2S3_ANONYMOUS_HOME=/: %v, want exit status 2; output:\n%s", err, out.String())
	}
	var lines []string
	for _, l := range strings.Split(out.String(), "\n") {
		if strings.Contains(l, "FTP2S3_ANONYMOUS_HOME") {
			lines = append(lines, l)
		}
	}
	if len(lines) != 1 || !strings.Contains(lines[0], "FTP2S3_ANONYMOUS_ALL_BUCKETS") {
		t.Fatalf("want one line naming FTP2S3_ANONYMOUS_HOME and the opt-in; output:\n%s", out.String())
	}
}

// allowListGateway is a multi-bucket gateway whose FTP2S3_BUCKETS names the
// test's bucket only, next to a bucket outside the list holding a secret.
func allowListGateway(t *testing.T, mutate ...func(*gateway.Config)) (g *testGateway, denied string) {
	t.Helper()
	denied = bucketName(t) + "-denied"
	if err := minio.CreateBucket(context.Background(), denied); err != nil {
		t.Fatal(err)
	}
	g = startGateway(t, append([]func(*gateway.Config){func(c *gateway.Config) {
		c.Buckets = mustParse[gateway.BucketSet](string(c.Bucket) + ", some-other-bucket")
		c.Bucket = "" // default home "/": every bucket
		c.Users += ",boxed:" + passwordHash(t) + ":" + denied
	}}, mutate...)...)
	_, err := g.S3.PutObject(context.Background(), &s3.PutObjectInput{Bucket: aws.String(denied), Key: aws.String("secret.txt"), Body: strings.NewReader("secret")})
	if err != nil {
		t.Fatal(err)
	}
	return g, denied
}

// checkAllowList runs every kind of access from c, logged in with home "/",
// against the allowed and the denied bucket.
func checkAllowList(t *testing.T, g *testGateway, c *ftp.ServerConn, denied string, readOnly bool) {
	t.Helper()
	names, err := c.NameList("/")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(names, g.Bucket) && !slices.Contains(names, "/"+g.Bucket) {
		t.Errorf("LIST / = %v lacks the allowed bucket %s", names, g.Bucket)
	}
	for _, n := range names {
		if strings.Contains(n, denied) {
			t.Errorf("LIST / shows %s, outside FTP2S3_BUCKETS: %v", denied, names)
		}
	}
	d := "/" + denied
	if err := c.ChangeDir(d); ftpCode(err) != 550 {
		t.Errorf("CWD %s: %v, want 550", d, err)
	}
	if _, err := c.List(d); err == nil {
		t.Errorf("LIST %s succeeded", d)
	}
	if r, err := c.Retr(d + "/secret.txt"); err == nil {
		r.Close()
		t.Errorf("RETR %s/secret.txt succeeded", d)
	}
	if _, err := c.FileSize(d + "/secret.txt"); err == nil {
		t.Errorf("SIZE %s/secret.txt succeeded", d)
	}
	if !readOnly {
		if err := c.Stor(d+"/new.txt", strings.NewReader("x")); err == nil {
			t.Errorf("STOR into %s succeeded", d)
		}
		if err := c.MakeDir(d + "/dir"); err == nil {
			t.Errorf("MKD in %s succeeded", d)
		}
		if err := c.Delete(d + "/secret.txt"); err == nil {
			t.Errorf("DELE in %s succeeded", d)
		}
		if err := c.Stor("/"+g.Bucket+"/mine.txt", strings.NewReader("mine")); err != nil {
			t.Fatalf("STOR into the allowed bucket: %v", err)
		}
		if err := c.Rename("/"+g.Bucket+"/mine.txt", d+"/mine.txt"); err == nil {
			t.Errorf("RNTO into %s succeeded", d)
		}
		if _, _, err := g.object("mine.txt"); err != nil {
			t.Errorf("the refused rename lost its source: %v", err)
		}
	}
	out, err := g.S3.ListObjectsV2(context.Background(), &s3.ListObjectsV2Input{Bucket: aws.String(denied)})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Contents) != 1 || aws.ToString(out.Contents[0].Key) != "secret.txt" {
		var keys []string
		for _, o := range out.Contents {
			keys = append(keys, aws.ToString(o.Key))
		}
		t.Errorf("bucket %s now holds %v, want only secret.txt", denied, keys)
	}
}

// TestHardeningBucketAllowList: with FTP2S3_BUCKETS a home of every bucket
// shows and reaches only the listed buckets — for static users, S3-key logins
// and anonymous — and nothing outside can be listed, read, written, renamed
// into or entered. A user whose own home names a bucket keeps it.
func TestHardeningBucketAllowList(t *testing.T) {
	t.Parallel()
	t.Run("static user", func(t *testing.T) {
		g, denied := allowListGateway(t)
		checkAllowList(t, g, g.dial(userAll), denied, false)
		boxed := g.dial("boxed")
		if _, err := boxed.FileSize("/secret.txt"); err != nil {
			t.Errorf("a user whose home is %s (named for them) lost it: %v", denied, err)
		}
	})
	t.Run("S3 keys", func(t *testing.T) {
		g, denied := allowListGateway(t, s3AuthMode)
		c, err := ftp.Dial(g.Addr, ftp.DialWithTimeout(20*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Quit()
		if err := c.Login(miniotest.AccessKey, miniotest.SecretKey); err != nil {
			t.Fatal(err)
		}
		checkAllowList(t, g, c, denied, false)
	})
	t.Run("anonymous with the opt-in", func(t *testing.T) {
		g, denied := allowListGateway(t, func(c *gateway.Config) {
			c.AnonymousHome, c.AnonymousAllBuckets = mustParse[gateway.Home]("/"), true
		})
		c, err := ftp.Dial(g.Addr, ftp.DialWithTimeout(20*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Quit()
		if err := c.Login("anonymous", "someone@example.com"); err != nil {
			t.Fatal(err)
		}
		checkAllowList(t, g, c, denied, true)
	})
}

// slowHash is testPassword's bcrypt hash at cost 12, made once (it takes
// seconds, many more under -race).
const slowHash = "$2a$12$K0egmaYiuiPskqiB7v.ybefTeq6NhO4A/xgZEbV0RcroS.h7DyRt2"

// processCPU is the CPU time this process (test and in-process gateway; MinIO
// runs apart) has used so far.
func processCPU(t *testing.T) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		t.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// TestHardeningUnknownNameTakesAUsersTime: a wrong password for an existing
// user and any password for an unknown name take the same bcrypt work, whatever
// cost the users' hashes have; a fixed decoy of cost 10 answered unknown names
// with a quarter of this cost-12 user's work. The work is measured as the CPU
// time the gateway spends on the PASS (bcrypt is nearly all of it, and the
// failure delay is a sleep), which other processes' load does not skew as it
// does wall-clock time.
//
// It measures the CPU time of the whole test process, so it runs alone in a
// process of its own (inOwnProcess), in parallel with the other tests.
func TestHardeningUnknownNameTakesAUsersTime(t *testing.T) {
	if !inOwnProcess(t) {
		return
	}
	g := startGateway(t, func(c *gateway.Config) { c.Users = "slow:" + slowHash })
	attempt := func(src, user string) time.Duration {
		r := rawDialFrom(t, g.Addr, src)
		r.read()
		r.cmd(331, "USER %s", user)
		start := processCPU(t)
		r.cmd(530, "PASS wrong")
		return processCPU(t) - start
	}
	known, unknown := time.Duration(1<<62), time.Duration(1<<62)
	for i, src := range []string{"127.0.0.31", "127.0.0.32", "127.0.0.33", "127.0.0.34"} {
		if i%2 == 0 {
			known = min(known, attempt(src, "slow"))
		} else {
			unknown = min(unknown, attempt(src, "nobody-"+src))
		}
	}
	t.Logf("CPU for a wrong password of a user: %s; for an unknown name: %s (least of two each)", known, unknown)
	if unknown < known*6/10 {
		t.Fatalf("an unknown name costs %s of CPU, a known one %s: the difference tells names apart", unknown, known)
	}
}
