package integration

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ftp2s3/ftp2s3/gateway"
)

// startUpload logs in, opens a passive data connection and sends STOR, leaving
// the caller to write the file.
func startUpload(t *testing.T, addr, name string) (*ftpRaw, net.Conn) {
	t.Helper()
	r := rawLogin(t, addr, userRW)
	data := r.data()
	r.cmd(150, "STOR %s", name)
	return r, data
}

// connectDuringShutdown checks that a new control connection is turned away:
// refused outright or answered 421.
func connectDuringShutdown(t *testing.T, addr string) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return // refused: the listener is closed
	}
	defer c.Close()
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	line, err := bufio.NewReader(c).ReadString('\n')
	if err == nil && !strings.HasPrefix(line, "421") {
		t.Errorf("a new connection during shutdown got %q, want 421", strings.TrimSpace(line))
	}
}

func TestShutdownFinishesTransfersWithinGraceAndAbortsTheRest(t *testing.T) {
	t.Parallel()
	// Long enough for A to finish after the checks below on a loaded runner
	// (at 4 s it was aborted there); the test waits it out once, in parallel
	// with the others.
	const grace = 15 * time.Second
	g := startOpsGateway(t, minio, func(c *gateway.Config) {
		c.ShutdownGrace = grace
		c.PartSize = 5 << 20
		c.DataTimeout = 30 * time.Second
	}, nil)

	// A will finish inside the grace period.
	a, aData := startUpload(t, g.Addr, "finishes.bin")
	aBody := newPattern(2<<20, 1)
	if _, err := io.CopyN(aData, aBody, 1<<20); err != nil {
		t.Fatal(err)
	}
	// B sends more than a part, so a multipart upload is open in S3, then stalls.
	b, bData := startUpload(t, g.Addr, "stalls.bin")
	if _, err := io.CopyN(bData, newPattern(7<<20, 2), 7<<20); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the stalled upload's multipart upload to exist", 20*time.Second, func() bool {
		return strings.Contains(strings.Join(g.pendingUploads(), ","), "stalls.bin")
	})
	// C is logged in and idle.
	c := rawDial(t, g.Addr)
	c.expect(220)
	c.login(userRW)

	start := time.Now()
	g.Stop()

	// The idle session is closed at once, with 421.
	if code, msg, err := c.reply(3 * time.Second); code != 421 {
		t.Errorf("idle session during shutdown: %d %q (%v), want 421 at once", code, msg, err)
	}
	connectDuringShutdown(t, g.Addr)
	if code, body := httpGet(t, g.OpsURL+"/readyz"); code != http.StatusServiceUnavailable || !strings.Contains(body, "shutting down") {
		t.Errorf("/readyz while draining: %d %q, want 503 shutting down", code, body)
	}

	// A finishes its file well inside the grace period and hears 226, then 421.
	if _, err := io.Copy(aData, aBody); err != nil {
		t.Fatal(err)
	}
	_ = aData.Close()
	a.expect(226)
	if code, _, _ := a.reply(5 * time.Second); code != 421 {
		t.Errorf("after its transfer, a draining session answered %d, want 421", code)
	}

	// B is aborted when the grace period ends.
	code, msg, _ := b.reply(grace + 10*time.Second)
	if code != 426 && code != 451 {
		t.Errorf("stalled upload at the end of the grace period: %d %q, want 426 or 451", code, msg)
	}
	if waited := time.Since(start); waited < grace-500*time.Millisecond {
		t.Errorf("the stalled upload was aborted after %s, before the grace period (%s)", waited, grace)
	}
	select {
	case err := <-g.Done:
		if err != nil {
			t.Errorf("Serve returned %v after a graceful shutdown", err)
		}
		g.Done <- nil
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not return after the grace period")
	}

	wantSum, _ := sha256Of(newPattern(2<<20, 1))
	if sum, n, err := g.object("finishes.bin"); err != nil || sum != wantSum || n != 2<<20 {
		t.Errorf("finished upload: %d bytes, %v; want the whole file", n, err)
	}
	if _, _, err := g.object("stalls.bin"); err == nil {
		t.Error("the aborted upload left an object")
	}
	if p := g.pendingUploads(); len(p) != 0 {
		t.Errorf("multipart uploads left behind: %v", p)
	}
}

// TestBinaryExitsZeroOnSIGTERM runs the real binary: SIGTERM with an upload in
// flight lets it finish, turns new clients away and exits with status 0.
func TestBinaryExitsZeroOnSIGTERM(t *testing.T) {
	t.Parallel()
	bin := buildBinary(t)
	bucket := bucketName(t)
	if err := minio.CreateBucket(context.Background(), bucket); err != nil {
		t.Fatal(err)
	}
	opsPort, _ := freeTCPPort()
	env, addr := serveEnv(t, bucket)
	env = append(env,
		fmt.Sprintf("FTP2S3_METRICS_LISTEN=127.0.0.1:%d", opsPort),
		"FTP2S3_SHUTDOWN_GRACE=20s",
		"FTP2S3_LOG_FORMAT=json", "FTP2S3_LOG_LEVEL=debug",
	)
	cmd, logs, exited := startBinary(t, bin, env)
	healthcheck := func(env []string) error {
		hc := exec.Command(bin, "healthcheck")
		hc.Env = env
		return hc.Run()
	}
	waitUntil(t, "ftp2s3 healthcheck to pass", 20*time.Second, func() bool { return healthcheck(env) == nil })
	// Without FTP2S3_METRICS_LISTEN the healthcheck expects the FTP greeting.
	var ftpOnly []string
	for _, kv := range env {
		if !strings.HasPrefix(kv, "FTP2S3_METRICS_LISTEN=") {
			ftpOnly = append(ftpOnly, kv)
		}
	}
	if err := healthcheck(ftpOnly); err != nil {
		t.Errorf("healthcheck by FTP greeting: %v", err)
	}

	up, data := startUpload(t, addr, "inflight.bin")
	body := newPattern(3<<20, 7)
	if _, err := io.CopyN(data, body, 1<<20); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the shutdown to begin", 10*time.Second, func() bool { return strings.Contains(logs.String(), "shutting down") })
	connectDuringShutdown(t, addr)
	if _, err := io.Copy(data, body); err != nil {
		t.Fatal(err)
	}
	_ = data.Close()
	up.expect(226)

	select {
	case err := <-exited:
		exited <- err
		var exit *exec.ExitError
		if errors.As(err, &exit) || err != nil {
			t.Fatalf("ftp2s3 exited with %v after SIGTERM, want status 0; logs:\n%s", err, logs.String())
		}
	case <-time.After(15 * time.Second):
		t.Fatal("ftp2s3 did not exit after SIGTERM and its last transfer")
	}
	if err := healthcheck(env); err == nil {
		t.Error("healthcheck passes with the gateway stopped")
	}

	// The object is whole, and every log line is JSON with the session fields.
	g := &testGateway{t: t, Bucket: bucket, S3: minio.Client()}
	want, _ := sha256Of(newPattern(3<<20, 7))
	if sum, _, err := g.object("inflight.bin"); err != nil || sum != want {
		t.Errorf("the upload that finished during shutdown: %v", err)
	}
	var sawTransfer, sawDone bool
	for _, line := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Errorf("log line is not JSON: %q", line)
			continue
		}
		switch rec["msg"] {
		case "transfer":
			sawTransfer = true
			for _, k := range []string{"session", "remote", "user", "direction", "path", "bytes", "seconds", "mb_per_s", "result", "code"} {
				if _, ok := rec[k]; !ok {
					t.Errorf("transfer line lacks %q: %s", k, line)
				}
			}
		case "shutdown complete":
			sawDone = true
		}
	}
	if !sawTransfer || !sawDone {
		t.Errorf("logs lack the transfer line (%v) or the shutdown line (%v)", sawTransfer, sawDone)
	}
}
