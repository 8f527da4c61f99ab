package integration

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/jlaffaye/ftp"
	"golang.org/x/crypto/bcrypt"

	"github.com/ftp2s3/ftp2s3/gateway"
	"github.com/ftp2s3/ftp2s3/integration/miniotest"
	"github.com/ftp2s3/ftp2s3/storage"
)

// minio is the one MinIO server of this test binary.
var minio *miniotest.Server

// scratchDir holds what the whole test binary shares (MinIO's data, the
// ftp2s3 binary); TestMain removes it.
var scratchDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp(scratchParent(), "ftp2s3-it-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "FAIL:", err)
		os.Exit(1)
	}
	scratchDir = dir
	minio, err = miniotest.Start(filepath.Join(dir, "minio"), 0)
	if err != nil {
		// These tests exist to run against a real MinIO: never skip them.
		fmt.Fprintln(os.Stderr, "FAIL: cannot start MinIO for the integration tests:", err)
		os.Exit(1)
	}
	code := m.Run()
	minio.Stop()
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

// scratchParent is where TestMain puts the shared MinIO's data: in memory
// (/dev/shm) when that has room for what the suite writes, else the temporary
// folder. MinIO fdatasyncs every object's metadata, which on a disk made the
// tests writing thousands of small objects the slowest of the suite.
func scratchParent() string {
	var st syscall.Statfs_t
	if err := syscall.Statfs("/dev/shm", &st); err == nil && int64(st.Bavail)*st.Bsize >= 8<<30 {
		return "/dev/shm"
	}
	return ""
}

// Test users; their hashes are made once per binary, at bcrypt's lowest cost:
// every test logs in, and under -race one check at the default cost takes
// seconds of CPU (on a loaded runner, past a client's 30 s timeout). Tests of
// what the cost buys use a hash of their own (slowHash).
const (
	userRW       = "alice"
	userRO       = "reader"
	userAll      = "root"
	testPassword = "s3cret pass"
)

var (
	hashOnce sync.Once
	pwHash   string
)

func passwordHash(t *testing.T) string {
	hashOnce.Do(func() {
		h, err := bcrypt.GenerateFromPassword([]byte(testPassword), bcrypt.MinCost)
		if err != nil {
			panic(err)
		}
		pwHash = string(h)
	})
	return pwHash
}

// testGateway is an in-process gateway on loopback in front of the shared MinIO,
// with a bucket of its own.
type testGateway struct {
	t       *testing.T
	Addr    string // host:port of the control listener
	Port    int
	Bucket  string
	S3      *s3.Client       // the test's own view of MinIO, as root
	Backend *storage.Backend // the gateway's (GW.Backend)
	GW      *gateway.Gateway
	Logs    *syncBuffer
}

var bucketSeq atomic.Int64

// bucketName makes a valid, unique bucket name from the test's name.
func bucketName(t *testing.T) string {
	name := strings.ToLower(regexp.MustCompile(`[^a-zA-Z0-9]+`).ReplaceAllString(t.Name(), "-"))
	if len(name) > 40 {
		name = name[:40]
	}
	return strings.Trim(fmt.Sprintf("t%d-%s", bucketSeq.Add(1), name), "-")
}

// testConfig is the configuration every test gateway starts from: srv as its
// S3, a bucket of its own there as the default home, a loopback listener, a
// passive range of its own (freePortRange), and the users alice (rw), reader (r) and root
// (every bucket); mutate adjusts it.
// It returns the configuration and the bucket made for the test (mutate may
// have cleared cfg.Bucket for multi-bucket mode).
func testConfig(t *testing.T, srv *miniotest.Server, mutate ...func(*gateway.Config)) (gateway.Config, string) {
	t.Helper()
	bucket := bucketName(t)
	if err := srv.CreateBucket(context.Background(), bucket); err != nil {
		t.Fatal(err)
	}
	h := passwordHash(t)
	cfg := gateway.DefaultConfig()
	cfg.Listen = "127.0.0.1:0"
	cfg.PassivePorts = passiveRange(t, 50)
	cfg.Bucket = gateway.BucketName(bucket)
	cfg.Users = strings.Join([]string{
		userRW + ":" + h,
		userRO + ":" + h + ":" + bucket + ":r",
		userAll + ":" + h + ":/:rw",
	}, ",")
	cfg.DataTimeout = 10 * time.Second
	cfg.S3 = gateway.S3Access{Endpoint: srv.Endpoint, AccessKey: miniotest.AccessKey, SecretKey: miniotest.SecretKey}
	cfg.S3PathStyle = true
	for _, m := range mutate {
		if m != nil {
			m(&cfg)
		}
	}
	if problems := cfg.Validate(); len(problems) > 0 {
		t.Fatalf("test configuration invalid: %v", problems)
	}
	return cfg, bucket
}

// testLogger logs at debug level to the test's log and to a buffer the test can
// search.
func testLogger(t *testing.T) (*slog.Logger, *syncBuffer) {
	logs := &syncBuffer{}
	return slog.New(slog.NewTextHandler(io.MultiWriter(logs, testWriter{t}), &slog.HandlerOptions{Level: slog.LevelDebug})), logs
}

// startGateway starts a gateway in front of the shared MinIO through
// gateway.New, the constructor cmd/ftp2s3 uses; mutate adjusts its
// configuration.
func startGateway(t *testing.T, mutate ...func(*gateway.Config)) *testGateway {
	t.Helper()
	cfg, bucket := testConfig(t, minio, mutate...)
	log, logs := testLogger(t)
	gw, err := gateway.New(t.Context(), cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = gw.Server.Serve(l) }()
	t.Cleanup(func() { _ = gw.Close() })
	return &testGateway{t: t, Addr: l.Addr().String(), Port: l.Addr().(*net.TCPAddr).Port, Bucket: bucket,
		S3: minio.Client(), Backend: gw.Backend, GW: gw, Logs: logs}
}

// runUntilCleanup runs serve (a gateway's Run or Serve) until cancel is
// called or the test ends, and then waits up to a minute for it to return. done
// receives serve's result; a test that takes it puts a value back for the
// clean-up.
func runUntilCleanup(t *testing.T, serve func(context.Context) error) (cancel context.CancelFunc, done chan error) {
	ctx, cancel := context.WithCancel(context.Background())
	done = make(chan error, 1)
	go func() { done <- serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(time.Minute):
			t.Error("gateway did not stop within a minute")
		}
	})
	return cancel, done
}

// testWriter sends log lines to the test's log, shown on failure or with -v.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// dial logs in with jlaffaye/ftp.
func (g *testGateway) dial(user string, opts ...ftp.DialOption) *ftp.ServerConn {
	g.t.Helper()
	opts = append([]ftp.DialOption{ftp.DialWithTimeout(20 * time.Second)}, opts...)
	c, err := ftp.Dial(g.Addr, opts...)
	if err != nil {
		g.t.Fatalf("dial %s: %v", g.Addr, err)
	}
	if err := c.Login(user, testPassword); err != nil {
		g.t.Fatalf("login %s: %v", user, err)
	}
	g.t.Cleanup(func() { _ = c.Quit() })
	return c
}

// retrAll downloads path through c.
func retrAll(c *ftp.ServerConn, path string) ([]byte, error) {
	r, err := c.Retr(path)
	if err != nil {
		return nil, err
	}
	data, err := io.ReadAll(r)
	return data, errors.Join(err, r.Close())
}

// mustRetr fails unless downloading path through c gives exactly want.
func mustRetr(t *testing.T, c *ftp.ServerConn, path, want string) {
	t.Helper()
	if b, err := retrAll(c, path); err != nil || string(b) != want {
		t.Fatalf("RETR %s: %q, %v; want %q", path, b, err, want)
	}
}

// object returns the SHA-256 and size of an object read directly from MinIO.
func (g *testGateway) object(key string) (string, int64, error) {
	out, err := g.S3.GetObject(context.Background(), &s3.GetObjectInput{Bucket: aws.String(g.Bucket), Key: aws.String(key)})
	if err != nil {
		return "", 0, err
	}
	defer out.Body.Close()
	h := sha256.New()
	n, err := io.Copy(h, out.Body)
	return hex.EncodeToString(h.Sum(nil)), n, err
}

// putObject writes an object directly to MinIO.
func (g *testGateway) putObject(key string, body string) {
	g.t.Helper()
	_, err := g.S3.PutObject(context.Background(), &s3.PutObjectInput{Bucket: aws.String(g.Bucket), Key: aws.String(key), Body: strings.NewReader(body)})
	if err != nil {
		g.t.Fatal(err)
	}
}

// pendingUploads lists the multipart uploads left in the bucket.
func (g *testGateway) pendingUploads() []string {
	g.t.Helper()
	out, err := g.S3.ListMultipartUploads(context.Background(), &s3.ListMultipartUploadsInput{Bucket: aws.String(g.Bucket)})
	if err != nil {
		g.t.Fatal(err)
	}
	var keys []string
	for _, u := range out.Uploads {
		keys = append(keys, aws.ToString(u.Key))
	}
	return keys
}

// patternReader yields n deterministic pseudo-random bytes without holding them:
// one xorshift step per 8 bytes (a step per byte made generating a GiB under
// -race one of the suite's slowest steps). Byte k is byte k%8 of step k/8, so
// the stream is the same however it is read, and a shorter pattern of a seed
// is a prefix of a longer one.
type patternReader struct {
	n, off int64
	state  uint64
	word   [8]byte
	have   int // bytes of word not yet handed out, at its end
}

func newPattern(n int64, seed uint64) *patternReader { return &patternReader{n: n, state: seed | 1} }

func (p *patternReader) step() uint64 {
	p.state ^= p.state << 13
	p.state ^= p.state >> 7
	p.state ^= p.state << 17
	return p.state
}

func (p *patternReader) Read(b []byte) (int, error) {
	if p.off >= p.n {
		return 0, io.EOF
	}
	if rem := p.n - p.off; int64(len(b)) > rem {
		b = b[:rem]
	}
	i := 0
	for ; i < len(b) && p.have > 0; i++ {
		b[i] = p.word[8-p.have]
		p.have--
	}
	for ; i+8 <= len(b); i += 8 {
		binary.LittleEndian.PutUint64(b[i:], p.step())
	}
	if i < len(b) {
		binary.LittleEndian.PutUint64(p.word[:], p.step())
		p.have = 8
		for ; i < len(b); i++ {
			b[i] = p.word[8-p.have]
			p.have--
		}
	}
	p.off += int64(len(b))
	return len(b), nil
}

func sha256Of(r io.Reader) (string, int64) {
	h := sha256.New()
	n, _ := io.Copy(h, r)
	return hex.EncodeToString(h.Sum(nil)), n
}

// aloneEnv names the test a child process of this test binary runs (see
// inOwnProcess).
const aloneEnv = "FTP2S3_IT_ALONE"

// inOwnProcess is for tests that measure the whole process (its goroutines,
// open files, heap or resident memory), which tests running in parallel would
// move. In the normal run it marks the test parallel, runs it again alone in a
// fresh process of this test binary (with a MinIO of its own, from TestMain),
// reports that run's result and returns false: the caller returns at once. In
// that child it returns true and the caller's body runs.
func inOwnProcess(t *testing.T) bool {
	t.Helper()
	if os.Getenv(aloneEnv) == t.Name() {
		return true
	}
	t.Parallel()
	cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^"+regexp.QuoteMeta(t.Name())+"$", "-test.count=1")
	cmd.Env = append(os.Environ(), aloneEnv+"="+t.Name())
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("alone in a process of its own: %v\n%s", err, out)
	}
	if strings.Contains(string(out), "no tests to run") {
		t.Fatalf("alone in a process of its own, the test did not run:\n%s", out)
	}
	t.Logf("alone in a process of its own: %s", out) // quiet unless it failed
	return false
}
