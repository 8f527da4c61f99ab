package integration

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/ftp2s3/ftp2s3/gateway"
	"github.com/ftp2s3/ftp2s3/integration/miniotest"
)

// These tests kill a MinIO of their own (never the suite's shared one) in the
// middle of transfers and bring the same server back on the same port and data
// (docs/storage.md "Object-storage semantics": retries of running transfers).

func privateMinio(t *testing.T) *miniotest.Server {
	t.Helper()
	srv, err := miniotest.Start(filepath.Join(t.TempDir(), "minio"), ownPort(t))
	if err != nil {
		t.Fatalf("MinIO for the outage test: %v", err)
	}
	t.Cleanup(srv.Stop)
	return srv
}

// outageTransfers is an upload and a download running through g while the
// test breaks S3.
type outageTransfers struct {
	up, down         *ftpRaw
	upDone, downDone chan struct{}
	// resume holds both transfers a quarter of the way in until the test has
	// broken S3 (closed by goOn): at full speed, on a loaded runner, they
	// could end before the outage.
	resume         chan struct{}
	resumeOnce     sync.Once
	sent, received atomic.Int64
	downSum        string
}

const outageSize = 48 << 20

// goOn lets both transfers run on to their ends.
func (o *outageTransfers) goOn() { o.resumeOnce.Do(func() { close(o.resume) }) }

// startOutageTransfers stores down.bin in S3, then starts STOR up.bin and
// RETR down.bin through g, each in a goroutine of its own, and returns once
// both are well under way (a multipart upload exists and the download has
// passed its first chunk) and held there until goOn.
func startOutageTransfers(t *testing.T, g *opsGateway, srv *miniotest.Server) *outageTransfers {
	t.Helper()
	_, err := srv.Client().PutObject(context.Background(), &s3.PutObjectInput{
		Bucket: aws.String(g.Bucket), Key: aws.String("down.bin"),
		Body: newPattern(outageSize, 41), ContentLength: aws.Int64(outageSize),
	})
	if err != nil {
		t.Fatal(err)
	}
	o := &outageTransfers{upDone: make(chan struct{}), downDone: make(chan struct{}), resume: make(chan struct{})}
	t.Cleanup(o.goOn)
	var data net.Conn
	o.up, data = startUpload(t, g.Addr, "up.bin")
	go func() {
		defer close(o.upDone)
		defer data.Close()
		buf := make([]byte, 256<<10)
		body := newPattern(outageSize, 42)
		for {
			if o.sent.Load() >= outageSize/4 {
				<-o.resume
			}
			n, _ := body.Read(buf)
			if n == 0 {
				return
			}
			if _, err := data.Write(buf[:n]); err != nil {
				return
			}
			o.sent.Add(int64(n))
		}
	}()

	o.down = rawDial(t, g.Addr)
	o.down.expect(220)
	o.down.login(userRW)
	port := o.down.epsv()
	rdata, err := dialDataFrom(t, "", "127.0.0.1", port)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = rdata.Close() })
	o.down.cmd(150, "RETR down.bin")
	go func() {
		defer close(o.downDone)
		h := sha256.New()
		buf := make([]byte, 64<<10)
		for {
			if o.received.Load() >= outageSize/4 {
				<-o.resume
			}
			n, err := rdata.Read(buf)
			h.Write(buf[:n])
			o.received.Add(int64(n))
			if err != nil {
				break
			}
		}
		o.downSum = hex.EncodeToString(h.Sum(nil))
	}()

	waitUntil(t, "the upload's multipart upload to exist", 60*time.Second, func() bool {
		return strings.Contains(strings.Join(g.pendingUploads(), ","), "up.bin")
	})
	waitUntil(t, "the download to pass its first chunk", 60*time.Second, func() bool { return o.received.Load() > 6<<20 })
	return o
}

func outageConfig(retryFor time.Duration) func(*gateway.Config) {
	return func(c *gateway.Config) {
		c.PartSize = 5 << 20
		c.DownloadChunk = 4 << 20
		c.S3RetryFor = retryFor
		c.DataTimeout = time.Minute
	}
}

// TestS3OutageIsSurvived: MinIO dies in the middle of an upload and a download
// and comes back 3 s later; both transfers finish with 226 and the right bytes.
func TestS3OutageIsSurvived(t *testing.T) {
	t.Parallel()
	srv := privateMinio(t)
	g := startOpsGateway(t, srv, outageConfig(30*time.Second), nil)
	o := startOutageTransfers(t, g, srv)

	srv.Kill()
	sentAtKill, receivedAtKill := o.sent.Load(), o.received.Load()
	o.goOn()
	time.Sleep(3 * time.Second) // the outage itself, not a synchronisation
	if err := srv.Restart(); err != nil {
		t.Fatal(err)
	}
	t.Logf("MinIO was down 3 s (plus its restart) with %d of %d bytes sent and %d received", sentAtKill, outageSize, receivedAtKill)
	if sentAtKill >= outageSize || receivedAtKill >= outageSize {
		t.Fatal("a transfer had ended before the outage; the test proves nothing")
	}

	<-o.upDone
	if code, msg, err := o.up.reply(2 * time.Minute); code != 226 {
		t.Fatalf("upload across the outage: %d %q (%v), want 226", code, msg, err)
	}
	<-o.downDone
	if code, msg, err := o.down.reply(2 * time.Minute); code != 226 {
		t.Fatalf("download across the outage: %d %q (%v), want 226", code, msg, err)
	}
	want, _ := sha256Of(newPattern(outageSize, 41))
	if o.downSum != want || o.received.Load() != outageSize {
		t.Errorf("download across the outage: %d bytes, sha256 %s; want %d bytes, %s", o.received.Load(), o.downSum, int64(outageSize), want)
	}
	want, _ = sha256Of(newPattern(outageSize, 42))
	if sum, n, err := g.object("up.bin"); err != nil || sum != want || n != outageSize {
		t.Errorf("uploaded object: %d bytes, sha256 %s, %v; want %d bytes, %s", n, sum, err, int64(outageSize), want)
	}
	logs := g.Logs.String()
	for _, req := range []string{"request=\"UploadPart", "request=\"GetObject"} {
		if !strings.Contains(logs, req) {
			t.Errorf("no retried %s in the logs: the outage did not hit that transfer", req)
		}
	}
}

// TestS3OutagePastRetryWindow: MinIO stays down longer than
// FTP2S3_S3_RETRY_FOR; both transfers fail with 451, and once MinIO is back
// there is no object and no multipart upload.
func TestS3OutagePastRetryWindow(t *testing.T) {
	t.Parallel()
	srv := privateMinio(t)
	g := startOpsGateway(t, srv, outageConfig(4*time.Second), nil)
	o := startOutageTransfers(t, g, srv)

	srv.Kill()
	o.goOn()
	start := time.Now()
	waitUntil(t, "both transfers to give up retrying", time.Minute, func() bool {
		logs := g.Logs.String()
		return strings.Count(logs, "retry window exhausted") >= 2 &&
			strings.Contains(logs, "cmd=RETR direction=download") // the download's final log line
	})
	t.Logf("transfers gave up after %s with FTP2S3_S3_RETRY_FOR=4s", time.Since(start).Round(100*time.Millisecond))
	if err := srv.Restart(); err != nil {
		t.Fatal(err)
	}

	if code, msg, err := o.down.reply(time.Minute); code != 451 {
		t.Errorf("download past the retry window: %d %q (%v), want 451", code, msg, err)
	}
	if code, msg, err := o.up.reply(2 * time.Minute); code != 451 {
		t.Errorf("upload past the retry window: %d %q (%v), want 451", code, msg, err)
	}
	if o.received.Load() >= outageSize {
		t.Error("the whole download arrived although S3 was down")
	}
	if _, _, err := g.object("up.bin"); err == nil {
		t.Error("the failed upload left an object")
	}
	if p := g.pendingUploads(); len(p) != 0 {
		t.Errorf("multipart uploads left behind: %v", p)
	}
}
