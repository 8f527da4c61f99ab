package integration

import (
	"context"
	"fmt"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/jlaffaye/ftp"

	"github.com/ftp2s3/ftp2s3/gateway"
	"github.com/ftp2s3/ftp2s3/integration/miniotest"
)

// TestS3EventsInvalidateEveryReplica (issue 13 §6): two gateways serve one
// bucket with a one-hour cache; MinIO's webhook targets (one per replica,
// configured by environment variables) post the bucket's notifications to
// each FTP2S3_S3_EVENTS_LISTEN. A third writer going straight to S3 adds and
// then deletes a file: both gateways' cached listings and stats show each
// change (without events they would for an hour). The time from the write to
// both listings showing it is logged.
func TestS3EventsInvalidateEveryReplica(t *testing.T) {
	t.Parallel()
	p1, _ := freeTCPPort()
	p2, _ := freeTCPPort()
	var env []string
	for i, p := range []int{p1, p2} {
		id := fmt.Sprintf("R%d", i+1)
		env = append(env, "MINIO_NOTIFY_WEBHOOK_ENABLE_"+id+"=on",
			fmt.Sprintf("MINIO_NOTIFY_WEBHOOK_ENDPOINT_%s=http://127.0.0.1:%d/events", id, p))
	}
	srv, err := miniotest.StartEnv(filepath.Join(t.TempDir(), "minio"), ownPort(t), env...)
	if err != nil {
		t.Fatalf("start MinIO with webhook targets: %v", err)
	}
	t.Cleanup(srv.Stop)
	ctx := context.Background()
	bucket := bucketName(t)
	if err := srv.CreateBucket(ctx, bucket); err != nil {
		t.Fatal(err)
	}
	direct := srv.Client()
	events := []types.Event{"s3:ObjectCreated:*", "s3:ObjectRemoved:*"}
	// MinIO may list its webhook targets a moment after it reports ready
	// (seen on a loaded machine): until then it answers that the ARN does
	// not exist, so that answer is asked again.
	var putErr error
	waitUntil(t, "MinIO to accept its webhook targets' ARNs", 30*time.Second, func() bool {
		_, putErr = direct.PutBucketNotificationConfiguration(ctx, &s3.PutBucketNotificationConfigurationInput{
			Bucket: aws.String(bucket),
			NotificationConfiguration: &types.NotificationConfiguration{QueueConfigurations: []types.QueueConfiguration{
				{QueueArn: aws.String("arn:minio:sqs::R1:webhook"), Events: events},
				{QueueArn: aws.String("arn:minio:sqs::R2:webhook"), Events: events},
			}},
		})
		if putErr != nil && !strings.Contains(putErr.Error(), "ARN does not exist") {
			t.Fatalf("PutBucketNotificationConfiguration: %v", putErr)
		}
		return putErr == nil
	})
	replica := func(port int) *opsGateway {
		return startOpsGateway(t, srv, func(c *gateway.Config) {
			c.Bucket = gateway.BucketName(bucket)
			c.CacheTTL = time.Hour
			c.S3EventsListen = fmt.Sprintf("127.0.0.1:%d", port)
		}, nil)
	}
	gws := []*opsGateway{replica(p1), replica(p2)}
	for _, g := range gws {
		waitUntil(t, "the events endpoint to listen", 10*time.Second, func() bool {
			resp, err := http.Get(fmt.Sprintf("http://%s/events", g.GW.Config.S3EventsListen))
			if err != nil {
				return false
			}
			resp.Body.Close()
			return resp.StatusCode == http.StatusMethodNotAllowed
		})
	}
	conns := []*ftp.ServerConn{gws[0].dial(userRW), gws[1].dial(userRW)}
	// Seed both caches: the listing, and the new file's absence.
	for _, c := range conns {
		if names, err := c.NameList("/"); err != nil || len(names) != 0 {
			t.Fatalf("NLST of the empty bucket: %v, %v", names, err)
		}
		if _, err := c.FileSize("news.txt"); ftpCode(err) != 550 {
			t.Fatalf("SIZE before the write: %v", err)
		}
	}

	// The listings are cached: asking again reaches no S3 (hits grow).
	for i, c := range conns {
		hits, _ := gws[i].Backend.CacheStats()
		if _, err := c.NameList("/"); err != nil {
			t.Fatal(err)
		}
		if after, _ := gws[i].Backend.CacheStats(); after <= hits {
			t.Fatalf("replica %d answered a repeated NLST without its cache", i+1)
		}
	}

	start := time.Now()
	if _, err := direct.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String("news.txt"),
		Body: strings.NewReader("written behind the gateways")}); err != nil {
		t.Fatal(err)
	}
	for i, c := range conns {
		waitUntil(t, fmt.Sprintf("replica %d to list news.txt", i+1), 10*time.Second, func() bool {
			names, err := c.NameList("/")
			return err == nil && slices.Contains(names, "news.txt")
		})
		if n, err := c.FileSize("news.txt"); err != nil || n != int64(len("written behind the gateways")) {
			t.Fatalf("replica %d SIZE news.txt: %d, %v", i+1, n, err)
		}
	}
	t.Logf("a write straight to S3 showed in both replicas' cached listings after %s", time.Since(start).Round(time.Millisecond))

	start = time.Now()
	if _, err := direct.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(bucket), Key: aws.String("news.txt")}); err != nil {
		t.Fatal(err)
	}
	for i, c := range conns {
		waitUntil(t, fmt.Sprintf("replica %d to drop news.txt", i+1), 10*time.Second, func() bool {
			names, err := c.NameList("/")
			return err == nil && !slices.Contains(names, "news.txt")
		})
		if _, err := c.FileSize("news.txt"); ftpCode(err) != 550 {
			t.Fatalf("replica %d SIZE after the delete: %v", i+1, err)
		}
	}
	t.Logf("a delete straight in S3 showed in both replicas' cached listings after %s", time.Since(start).Round(time.Millisecond))
}
