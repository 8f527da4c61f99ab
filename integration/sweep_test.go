package integration

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// TestSweepSparesAnotherReplicasLiveUpload (issue 20 §5): two gateways serve
// one bucket, A in this process and B the binary. A streams an upload that writes a part about every
// second for ten seconds; gateway B starts with FTP2S3_ABANDONED_UPLOAD_AGE=2s
// once that upload began more than 2 s ago, and sweeps every 2 s. B must see
// the upload (its log says it kept it) and leave it alone: A's upload ends 226
// with the right SHA-256. Before the fix B aborted it, counting age from the
// upload's initiation.
func TestSweepSparesAnotherReplicasLiveUpload(t *testing.T) {
	t.Parallel()
	a := startGateway(t, smallParts)
	const key = "replica-a.bin"
	// 20 s of upload: B (a process to start, under a loaded runner) must
	// sweep at least once while it runs.
	const perSecond, seconds = smallPart + 1<<20, 20

	ctl, data := startUpload(t, a.Addr, key)
	sum := sha256.New()
	src := io.TeeReader(newPattern(perSecond*seconds, 20), sum)
	written := make(chan error, 1)
	go func() {
		// Paced, not synchronising: a part's worth of data every second, as
		// a slow client (or a long upload seen over a short window) sends it.
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		for i := 0; i < seconds; i++ {
			if _, err := io.CopyN(data, src, perSecond); err != nil {
				written <- err
				return
			}
			<-tick.C
		}
		written <- data.Close()
	}()
	waitUntil(t, "A's upload to be older than B's age", 20*time.Second, func() bool {
		out, err := a.S3.ListMultipartUploads(context.Background(), &s3.ListMultipartUploadsInput{Bucket: aws.String(a.Bucket)})
		return err == nil && len(out.Uploads) == 1 && time.Since(aws.ToTime(out.Uploads[0].Initiated)) > 2500*time.Millisecond
	})

	// B is the binary, another process: a gateway spares the uploads it runs
	// itself, and only another process shows what a second replica sees.
	env, _ := serveEnv(t, a.Bucket)
	_, logs, _ := startBinary(t, buildBinary(t), append(env, "FTP2S3_ABANDONED_UPLOAD_AGE=2s", "FTP2S3_LOG_LEVEL=debug"))

	const aborted = "aborted an abandoned multipart upload"
	waitUntil(t, "B's sweep to keep A's live upload", 30*time.Second, func() bool {
		s := logs.String()
		if strings.Contains(s, aborted) {
			t.Fatalf("gateway B aborted A's live upload:\n%s", s)
		}
		return strings.Contains(s, "upload still active, kept") && strings.Contains(s, key)
	})
	if err := <-written; err != nil {
		t.Fatalf("writing the upload: %v", err)
	}
	ctl.expect(226)
	want := hex.EncodeToString(sum.Sum(nil))
	if got, n, err := a.object(key); err != nil || got != want || n != perSecond*seconds {
		t.Fatalf("stored object: sha256 %s, %d bytes, %v; want %s, %d bytes", got, n, err, want, perSecond*seconds)
	}
	if s := logs.String(); strings.Contains(s, aborted) {
		t.Fatalf("gateway B aborted an upload:\n%s", s)
	}
}
