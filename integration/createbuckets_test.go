package integration

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/ftp2s3/ftp2s3/gateway"
	"github.com/ftp2s3/ftp2s3/storage"
)

// runGateway makes a gateway with testConfig and mutate and starts gw.Run
// (what the binary runs); it returns the logs and a channel with Run's result.
// The test's end stops it.
func runGateway(t *testing.T, mutate ...func(*gateway.Config)) (*syncBuffer, <-chan error) {
	t.Helper()
	cfg, _ := testConfig(t, minio, mutate...)
	log, logs := testLogger(t)
	gw, err := gateway.New(t.Context(), cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	_, done := runUntilCleanup(t, gw.Run)
	return logs, done
}

// waitListening waits for the log line of a gateway started by runGateway
// that says it listens, and fails if Run ends first.
func waitListening(t *testing.T, logs *syncBuffer, done <-chan error) {
	t.Helper()
	waitUntil(t, "the gateway to listen", 30*time.Second, func() bool {
		select {
		case err := <-done:
			t.Fatalf("Run ended: %v\n%s", err, logs.String())
		default:
		}
		return strings.Contains(logs.String(), "ftp2s3 listening")
	})
}

func bucketExists(t *testing.T, name string) bool {
	t.Helper()
	_, err := minio.Client().HeadBucket(context.Background(), &s3.HeadBucketInput{Bucket: aws.String(name)})
	return err == nil
}

// TestCreateBuckets: with FTP2S3_CREATE_BUCKETS the gateway makes
// FTP2S3_BUCKET, the buckets of user homes and the anonymous home before it
// listens, says so in its log, and a second start finds them there.
func TestCreateBuckets(t *testing.T) {
	t.Parallel()
	base := bucketName(t)
	def, home, anon := base+"-def", base+"-home", base+"-anon"
	mutate := func(c *gateway.Config) {
		c.Bucket = gateway.BucketName(def)
		c.Users += ",bob:" + passwordHash(t) + ":" + home + "/inbox:rw"
		c.AnonymousHome = mustParse[gateway.Home](anon)
		c.CreateBuckets = true
	}
	for _, b := range []string{def, home, anon} {
		if bucketExists(t, b) {
			t.Fatalf("bucket %s exists before the test", b)
		}
	}
	start := func() *syncBuffer {
		logs, done := runGateway(t, mutate)
		waitListening(t, logs, done)
		return logs
	}
	logs := start()
	for _, b := range []string{def, home, anon} {
		if !bucketExists(t, b) {
			t.Errorf("bucket %s was not created", b)
		}
		if !strings.Contains(logs.String(), "msg=\"created bucket\" bucket="+b) {
			t.Errorf("no log line says bucket %s was created", b)
		}
	}
	logs = start()
	if strings.Contains(logs.String(), "created bucket") {
		t.Errorf("the second start created a bucket again:\n%s", logs)
	}
	if n := strings.Count(logs.String(), "bucket exists"); n < 3 {
		t.Errorf("the second start reported %d existing buckets, want at least 3", n)
	}
}

// TestCreateBucketsWaitsForS3: S3 that answers only after a while (a MinIO
// container still starting) is waited for; the bucket is made once it answers.
func TestCreateBucketsWaitsForS3(t *testing.T) {
	t.Parallel()
	port, err := freeTCPPort()
	if err != nil {
		t.Fatal(err)
	}
	late := fmt.Sprintf("127.0.0.1:%d", port)
	name := bucketName(t) + "-late"
	logs, done := runGateway(t, func(c *gateway.Config) {
		c.Bucket = gateway.BucketName(name)
		c.CreateBuckets = true
		c.S3RetryFor = 40 * time.Second
		c.S3.Endpoint = "http://" + late
	})
	waitUntil(t, "a failed attempt to be logged", 20*time.Second, func() bool {
		return strings.Contains(logs.String(), "S3 not reachable yet")
	})
	if strings.Contains(logs.String(), "ftp2s3 listening") {
		t.Fatal("the gateway listens before its bucket exists")
	}
	// MinIO "comes up" at the address the gateway was given.
	forwardTCP(t, late, strings.TrimPrefix(minio.Endpoint, "http://"))
	waitListening(t, logs, done)
	if !bucketExists(t, name) {
		t.Fatalf("bucket %s was not created", name)
	}
}

// TestCreateBucketsGivesUp: S3 that never answers ends the binary with a
// non-zero status and one clear line, within FTP2S3_S3_RETRY_FOR.
func TestCreateBucketsGivesUp(t *testing.T) {
	t.Parallel()
	bin := buildBinary(t)
	port, err := freeTCPPort()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin)
	cmd.Env = []string{
		"PATH=" + os.Getenv("PATH"),
		"AWS_ENDPOINT_URL_S3=http://127.0.0.1:" + fmt.Sprint(port),
		"AWS_REGION=us-east-1", "AWS_ACCESS_KEY_ID=x", "AWS_SECRET_ACCESS_KEY=y",
		"FTP2S3_S3_PATH_STYLE=true", "FTP2S3_LISTEN=127.0.0.1:0",
		"FTP2S3_BUCKET=never-there", "FTP2S3_CREATE_BUCKETS=true", "FTP2S3_S3_RETRY_FOR=3s",
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	start := time.Now()
	err = cmd.Run()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() == 0 {
		t.Fatalf("exit: %v, want a non-zero status; stderr:\n%s", err, stderr.String())
	}
	if took := time.Since(start); took > 30*time.Second {
		t.Errorf("gave up after %s, want about FTP2S3_S3_RETRY_FOR=3s", took)
	}
	last := lastLine(stderr.String())
	if !strings.HasPrefix(last, "ftp2s3: FTP2S3_CREATE_BUCKETS: S3 still unreachable after 3s") {
		t.Errorf("last line %q does not say why; stderr:\n%s", last, stderr.String())
	}
	if strings.Contains(stderr.String(), "ftp2s3 listening") {
		t.Error("the gateway listened although its bucket could not be made")
	}
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}

// forwardTCP accepts on addr and relays each connection to target until the
// test ends.
func forwardTCP(t *testing.T, addr, target string) {
	t.Helper()
	l, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				u, err := net.Dial("tcp", target)
				if err != nil {
					return
				}
				defer u.Close()
				go func() { _, _ = io.Copy(u, c); _ = u.(*net.TCPConn).CloseWrite() }()
				_, _ = io.Copy(c, u)
			}()
		}
	}()
}

// TestCreateBucketRace: replicas starting together (the HA compose file) all
// succeed, and exactly one of them made the bucket.
func TestCreateBucketRace(t *testing.T) {
	t.Parallel()
	name := bucketName(t) + "-race"
	backend := storage.New(minio.Client(), storage.Options{})
	const n = 4
	type result struct {
		created bool
		err     error
	}
	results := make(chan result, n)
	for range n {
		go func() {
			created, err := backend.CreateBucket(context.Background(), name)
			results <- result{created, err}
		}()
	}
	made := 0
	for range n {
		r := <-results
		if r.err != nil {
			t.Errorf("CreateBucket: %v", r.err)
		}
		if r.created {
			made++
		}
	}
	if made != 1 {
		t.Errorf("%d callers report creating the bucket, want exactly 1", made)
	}
	if !bucketExists(t, name) {
		t.Error("the bucket does not exist")
	}
}
