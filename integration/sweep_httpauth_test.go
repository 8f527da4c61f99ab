package integration

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/ftp2s3/ftp2s3/gateway"
)

// TestSweepHTTPAuthCoversAllowedBuckets: under FTP2S3_AUTH=http the identity
// service may give homes only in FTP2S3_BUCKETS, so the abandoned-upload sweep
// covers those buckets (docs/uploads-and-names.md): an upload left in one of
// them is aborted, while one in a bucket outside the list is left alone.
func TestSweepHTTPAuthCoversAllowedBuckets(t *testing.T) {
	t.Parallel()
	allowed, outside := bucketName(t)+"-in", bucketName(t)+"-out"
	for _, b := range []string{allowed, outside} {
		if err := minio.CreateBucket(context.Background(), b); err != nil {
			t.Fatal(err)
		}
	}
	cli := minio.Client()
	leave := func(bucket string) {
		if _, err := cli.CreateMultipartUpload(t.Context(), &s3.CreateMultipartUploadInput{Bucket: aws.String(bucket), Key: aws.String("left.bin")}); err != nil {
			t.Fatal(err)
		}
	}
	pending := func(bucket string) int {
		out, err := cli.ListMultipartUploads(t.Context(), &s3.ListMultipartUploadsInput{Bucket: aws.String(bucket)})
		if err != nil {
			t.Fatal(err)
		}
		return len(out.Uploads)
	}
	leave(allowed)
	leave(outside)
	t.Cleanup(func() {
		out, _ := cli.ListMultipartUploads(context.Background(), &s3.ListMultipartUploadsInput{Bucket: aws.String(outside)})
		if out != nil {
			for _, u := range out.Uploads {
				_, _ = cli.AbortMultipartUpload(context.Background(), &s3.AbortMultipartUploadInput{Bucket: aws.String(outside), Key: u.Key, UploadId: u.UploadId})
			}
		}
	})
	svc := startIdentityService(t, func(authCall) (int, string) { return 403, "" })
	g := startOpsGateway(t, minio, httpAuthMode(svc, func(c *gateway.Config) {
		c.Buckets = gateway.BucketSet{allowed: true}
		c.AbandonedUploadAge = time.Second
	}), nil)
	waitUntil(t, "the upload left in an FTP2S3_BUCKETS bucket to be aborted", 30*time.Second, func() bool { return pending(allowed) == 0 })
	g.waitLog("aborted an abandoned multipart upload", "bucket="+allowed)
	if strings.Contains(g.Logs.String(), "bucket="+outside) {
		t.Fatalf("the sweep touched %s, outside FTP2S3_BUCKETS:\n%s", outside, g.Logs)
	}
	if n := pending(outside); n != 1 {
		t.Fatalf("%d uploads left in %s, outside FTP2S3_BUCKETS; want the 1 left there", n, outside)
	}
}
