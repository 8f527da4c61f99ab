package integration

import (
	"context"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/ftp2s3/ftp2s3/gateway"
	"github.com/ftp2s3/ftp2s3/integration/miniotest"
	"github.com/ftp2s3/ftp2s3/storage"
)

// A transfer logs a line when it starts, progress lines while it runs (every
// minute in production; the test lowers the interval), and a summary at the end.
func TestLogsTransferProgress(t *testing.T) {
	t.Parallel()
	g := startGateway(t, func(c *gateway.Config) { c.ProgressInterval = 150 * time.Millisecond })
	r, data := startUpload(t, g.Addr, "slow.bin")
	body := newPattern(2<<20, 3)
	if _, err := io.CopyN(data, body, 1<<20); err != nil {
		t.Fatal(err)
	}
	// The transfer pauses half-way until two progress lines have been logged.
	waitUntil(t, "two progress lines", 20*time.Second, func() bool {
		return strings.Count(g.Logs.String(), `msg="transfer progress"`) >= 2
	})
	if _, err := io.Copy(data, body); err != nil {
		t.Fatal(err)
	}
	_ = data.Close()
	r.expect(226)

	logs := g.Logs.String()
	var progress []string
	for _, l := range strings.Split(logs, "\n") {
		if strings.Contains(l, `msg="transfer progress"`) {
			progress = append(progress, l)
		}
	}
	if len(progress) < 2 {
		t.Fatalf("%d progress lines, want at least 2", len(progress))
	}
	for _, want := range []string{"direction=upload", "path=" + g.Bucket + "/slow.bin", "bytes=", "mb_per_s=", "user=" + userRW, "session="} {
		if !strings.Contains(progress[0], want) {
			t.Errorf("progress line lacks %q: %s", want, progress[0])
		}
	}
	if !strings.Contains(logs, `msg="transfer started"`) || !strings.Contains(logs, "bytes=2097152") {
		t.Error("the start line or the summary with the full byte count is missing")
	}
}

// S3 failures carry S3's request id, in the error and in the transfer's log
// line, so that an operator can find the request in MinIO's or AWS's logs.
func TestS3ErrorsCarryTheRequestID(t *testing.T) {
	t.Parallel()
	bad := storage.NewStaticClient(minio.Endpoint, "us-east-1", miniotest.AccessKey, "not-the-secret", true)
	b := storage.New(bad, storage.Options{})
	_, err := b.StatDir(context.Background(), "some-bucket", "dir")
	if err == nil {
		t.Fatal("a request with a wrong secret succeeded")
	}
	id := storage.RequestID(err)
	if id == "" || !strings.Contains(err.Error(), id) {
		t.Fatalf("error %q: request id %q", err, id)
	}

	g := startOpsGateway(t, minio, func(c *gateway.Config) { c.S3.SecretKey = "not-the-secret" }, nil)
	r := rawDial(t, g.Addr)
	r.expect(220)
	r.login(userRW)
	port := r.epsv()
	data, err := dialDataFrom(t, "", "127.0.0.1", port)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.tp.PrintfLine("STOR denied.bin"); err != nil {
		t.Fatal(err)
	}
	code, msg, _ := r.reply(10 * time.Second)
	if code == 150 {
		_, _ = io.WriteString(data, "payload")
		_ = data.Close()
		code, msg, _ = r.reply(10 * time.Second)
	}
	if code != 451 && code != 550 {
		t.Fatalf("STOR with S3 refusing the gateway: %d %q, want 451", code, msg)
	}
	if !strings.Contains(g.Logs.String(), "s3_request_id=") {
		t.Error("the failure was logged without the S3 request id")
	}
	refused := 0.0
	for series, v := range scrape(t, g) {
		if strings.HasPrefix(series, "ftp2s3_s3_requests_total{") && strings.Contains(series, `result="client_error"`) {
			refused += v
		}
	}
	if refused < 1 {
		t.Error("the refused S3 requests were not counted as client_error")
	}
}
