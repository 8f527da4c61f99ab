package integration

import (
	"context"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// TestAbandonedUploadAbortedAfterCrash (issue 13 §4): the binary is killed
// with SIGKILL in the middle of a multipart upload, which leaves the upload
// in the bucket; restarted with FTP2S3_ABANDONED_UPLOAD_AGE=2s it aborts it
// within seconds and logs it.
func TestAbandonedUploadAbortedAfterCrash(t *testing.T) {
	t.Parallel()
	bin := buildBinary(t)
	bucket := bucketName(t)
	if err := minio.CreateBucket(context.Background(), bucket); err != nil {
		t.Fatal(err)
	}
	env, addr := serveEnv(t, bucket)
	env = append(env, "FTP2S3_PART_SIZE=5MiB", "FTP2S3_LOG_LEVEL=debug")
	g := &testGateway{t: t, Bucket: bucket, S3: minio.Client()}

	first, logs, exited := startBinary(t, bin, env) // default age: 24h
	waitUntil(t, "the first gateway to listen", 20*time.Second, func() bool { return strings.Contains(logs.String(), "ftp2s3 listening") })
	_, data := startUpload(t, addr, "crash.bin")
	if _, err := io.CopyN(data, newPattern(7<<20, 3), 7<<20); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the multipart upload to exist", 20*time.Second, func() bool {
		return strings.Contains(strings.Join(g.pendingUploads(), ","), "crash.bin")
	})
	if err := first.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-exited
	exited <- nil
	if p := g.pendingUploads(); len(p) != 1 {
		t.Fatalf("after kill -9: pending uploads %v, want the one left behind", p)
	}
	// The sweep runs at start-up (then hourly): let the upload pass the age first.
	waitUntil(t, "the abandoned upload to be older than 2s", 10*time.Second, func() bool {
		out, err := g.S3.ListMultipartUploads(context.Background(), &s3.ListMultipartUploadsInput{Bucket: aws.String(bucket)})
		return err == nil && len(out.Uploads) == 1 && time.Since(aws.ToTime(out.Uploads[0].Initiated)) > 2500*time.Millisecond
	})

	_, logs2, _ := startBinary(t, bin, append(env, "FTP2S3_ABANDONED_UPLOAD_AGE=2s"))
	start := time.Now()
	waitUntil(t, "the abandoned upload to be aborted", 30*time.Second, func() bool { return len(g.pendingUploads()) == 0 })
	t.Logf("abandoned upload aborted %s after the restart", time.Since(start).Round(time.Millisecond))
	waitUntil(t, "the log line of the abort", 5*time.Second, func() bool {
		return strings.Contains(logs2.String(), "aborted an abandoned multipart upload") && strings.Contains(logs2.String(), "crash.bin")
	})
	if _, _, err := g.object("crash.bin"); err == nil {
		t.Fatal("the crashed upload left an object")
	}
}

// TestAbandonedSweepSparesOwnUploads: a sweep with age 0 aborts a multipart
// upload some other writer left, but not the one this gateway is streaming,
// which then completes.
func TestAbandonedSweepSparesOwnUploads(t *testing.T) {
	t.Parallel()
	g := startGateway(t, smallParts)
	ctx := context.Background()
	foreign, err := g.S3.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String(g.Bucket), Key: aws.String("foreign.bin")})
	if err != nil {
		t.Fatal(err)
	}
	up := g.startUpload("own.bin", 7<<20, 5) // more than a part; the data connection stays open
	waitUntil(t, "the gateway's multipart upload to exist", 20*time.Second, func() bool {
		return strings.Contains(strings.Join(g.pendingUploads(), ","), "own.bin")
	})
	n, err := g.Backend.AbortAbandoned(ctx, g.Bucket, "", 0)
	if err != nil || n != 1 {
		t.Fatalf("AbortAbandoned: %d aborted, %v; want 1 (the foreign upload)", n, err)
	}
	if p := strings.Join(g.pendingUploads(), ","); p != "own.bin" {
		t.Fatalf("pending after the sweep: %q, want own.bin only (foreign upload %s)", p, aws.ToString(foreign.UploadId))
	}
	if err := <-up.done; err != nil {
		t.Fatal(err)
	}
	_ = up.data.Close()
	up.ctl.expect(226)
	if p := g.pendingUploads(); len(p) != 0 {
		t.Fatalf("pending after the upload finished: %v", p)
	}
}
