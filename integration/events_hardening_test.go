package integration

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
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

// The events endpoint's hardening (issue 20 §1), end to end: a gateway in
// front of the shared MinIO with a one-hour cache and FTP2S3_S3_EVENTS_LISTEN
// on a loopback port of its own; requests are posted as MinIO's webhook target
// posts them.

const eventsToken = "3c1f0e9a7b5d42c8a6e1f0d9b8c7a6e5"

// eventsGateway is a gateway with the events endpoint at URL (…/events), and a
// control connection whose cache the tests watch.
type eventsGateway struct {
	*opsGateway
	URL  string
	conn *ftp.ServerConn
}

func startEventsGateway(t *testing.T, srv *miniotest.Server, token string) *eventsGateway {
	t.Helper()
	port, err := freeTCPPort()
	if err != nil {
		t.Fatal(err)
	}
	g := startOpsGateway(t, srv, func(c *gateway.Config) {
		c.CacheTTL = time.Hour
		c.S3EventsListen = fmt.Sprintf("127.0.0.1:%d", port)
		c.S3EventsToken = gateway.Secret(token)
	}, nil)
	u := fmt.Sprintf("http://127.0.0.1:%d/events", port)
	waitUntil(t, "the events endpoint to listen", 10*time.Second, func() bool {
		resp, err := http.Get(u)
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusMethodNotAllowed
	})
	return &eventsGateway{opsGateway: g, URL: u, conn: g.dial(userRW)}
}

// post sends body with the Authorization value auth ("" for none) and returns
// the status.
func (g *eventsGateway) post(auth, body string) int {
	g.t.Helper()
	req, err := http.NewRequest(http.MethodPost, g.URL, strings.NewReader(body))
	if err != nil {
		g.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
	if err != nil {
		g.t.Fatalf("POST /events: %v", err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode
}

// names lists the root through the gateway (from its cache once seeded).
func (g *eventsGateway) names() []string {
	g.t.Helper()
	names, err := g.conn.NameList("/")
	if err != nil {
		g.t.Fatalf("NLST: %v", err)
	}
	return names
}

// writeBehind seeds the cached listing of the root, then writes key straight
// to MinIO: the gateway does not show it until its cache is invalidated.
func (g *eventsGateway) writeBehind(key string) {
	g.t.Helper()
	if names := g.names(); slices.Contains(names, key) {
		g.t.Fatalf("%s listed before it was written: %q", key, names)
	}
	g.putObject(key, "written behind the gateway's back")
	if names := g.names(); slices.Contains(names, key) {
		g.t.Fatalf("the listing was not cached: %s shows without an event", key)
	}
}

// minioRecord is one record as MinIO's webhook target sends it.
func minioRecord(bucket, key string) string {
	return fmt.Sprintf(`{"eventVersion":"2.0","eventSource":"minio:s3","eventName":"s3:ObjectCreated:Put",`+
		`"s3":{"s3SchemaVersion":"1.0","bucket":{"name":%q,"arn":"arn:aws:s3:::%s"},"object":{"key":%q,"size":33}}}`,
		bucket, bucket, key)
}

func minioEvent(records ...string) string {
	return `{"EventName":"s3:ObjectCreated:Put","Records":[` + strings.Join(records, ",") + `]}`
}

// TestEventsHardeningToken: with FTP2S3_S3_EVENTS_TOKEN set, a notification
// without the token or with another one gets 401 and the cache keeps its
// entries; with the token, a change made behind the gateway's back shows at
// once. (Before issue 20 any request invalidated.)
func TestEventsHardeningToken(t *testing.T) {
	t.Parallel()
	g := startEventsGateway(t, minio, eventsToken)
	g.writeBehind("behind.txt")
	body := minioEvent(minioRecord(g.Bucket, "behind.txt"))
	for _, auth := range []string{"", "Bearer wrong-token", "Bearer " + eventsToken[:len(eventsToken)-1], eventsToken, "Basic " + eventsToken} {
		if code := g.post(auth, body); code != http.StatusUnauthorized {
			t.Fatalf("Authorization %q: HTTP %d, want 401", auth, code)
		}
		if names := g.names(); slices.Contains(names, "behind.txt") {
			t.Fatalf("Authorization %q invalidated the cache: %q", auth, names)
		}
	}
	if !strings.Contains(g.Logs.String(), "no valid token") {
		t.Fatalf("no log line for the refused requests:\n%s", g.Logs.String())
	}
	if n := strings.Count(g.Logs.String(), "no valid token"); n != 1 {
		t.Errorf("%d log lines for 5 refusals in a burst, want 1 (rate-limited)", n)
	}
	if code := g.post("Bearer "+eventsToken, body); code != http.StatusNoContent {
		t.Fatalf("with the token: HTTP %d, want 204", code)
	}
	if names := g.names(); !slices.Contains(names, "behind.txt") {
		t.Fatalf("with the token the listing still misses behind.txt: %q", names)
	}
}

// TestEventsHardeningMinIOSendsTheToken: MinIO's own webhook target, given
// MINIO_NOTIFY_WEBHOOK_AUTH_TOKEN_<ID>, is let in: a write straight to MinIO
// shows in the gateway's cached listing. Its own MinIO, since the webhook
// targets are MinIO's environment.
func TestEventsHardeningMinIOSendsTheToken(t *testing.T) {
	t.Parallel()
	port, err := freeTCPPort()
	if err != nil {
		t.Fatal(err)
	}
	srv, err := miniotest.StartEnv(filepath.Join(t.TempDir(), "minio"), ownPort(t),
		"MINIO_NOTIFY_WEBHOOK_ENABLE_GW=on",
		fmt.Sprintf("MINIO_NOTIFY_WEBHOOK_ENDPOINT_GW=http://127.0.0.1:%d/events", port),
		"MINIO_NOTIFY_WEBHOOK_AUTH_TOKEN_GW="+eventsToken)
	if err != nil {
		t.Fatalf("start MinIO with a webhook target: %v", err)
	}
	t.Cleanup(srv.Stop)
	// With notification targets MinIO answers ready before it has finished
	// initialising (503 XMinioServerNotInitialized for a while).
	waitUntil(t, "MinIO to finish initialising", 30*time.Second, func() bool {
		_, err := srv.Client().ListBuckets(context.Background(), &s3.ListBucketsInput{})
		return err == nil
	})
	g := startOpsGateway(t, srv, func(c *gateway.Config) {
		c.CacheTTL = time.Hour
		c.S3EventsListen = fmt.Sprintf("127.0.0.1:%d", port)
		c.S3EventsToken = eventsToken
	}, nil)
	// MinIO may still be loading its targets when it answers ready; until then
	// it calls the target's ARN unknown.
	var err2 error
	waitUntil(t, "MinIO to take the notification configuration", 20*time.Second, func() bool {
		_, err2 = srv.Client().PutBucketNotificationConfiguration(context.Background(), &s3.PutBucketNotificationConfigurationInput{
			Bucket: aws.String(g.Bucket),
			NotificationConfiguration: &types.NotificationConfiguration{QueueConfigurations: []types.QueueConfiguration{
				{QueueArn: aws.String("arn:minio:sqs::GW:webhook"), Events: []types.Event{"s3:ObjectCreated:*", "s3:ObjectRemoved:*"}},
			}},
		})
		return err2 == nil
	})
	eg := &eventsGateway{opsGateway: g, conn: g.dial(userRW)}
	// Seed the cached listing; with a one-hour TTL only an event can make the
	// write below show.
	if names := eg.names(); len(names) != 0 {
		t.Fatalf("NLST of the empty bucket: %q", names)
	}
	eg.putObject("from-minio.txt", "written behind the gateway's back")
	waitUntil(t, "MinIO's notification to reach the gateway", 10*time.Second, func() bool {
		return slices.Contains(eg.names(), "from-minio.txt")
	})
	if strings.Contains(g.Logs.String(), "no valid token") {
		t.Fatalf("a request from MinIO was refused:\n%s", g.Logs.String())
	}
}

// TestEventsHardeningNestedKey: a 32 KiB key of 16,384 levels (inside the
// 1 MiB body cap) is refused with 400, and the request allocates little. On
// the code before issue 20 it was taken and allocated about 1.4 GB (a heap
// peak near 1 GB). TotalAlloc counts the whole process, so other tests
// running meanwhile add to it; the bound leaves room for that. The growth of
// the resident set's peak is logged (Linux).
func TestEventsHardeningNestedKey(t *testing.T) {
	t.Parallel()
	g := startEventsGateway(t, minio, eventsToken)
	g.writeBehind("deep.txt")
	nested := strings.Repeat("a/", 16384)
	body := minioEvent(minioRecord(g.Bucket, nested))

	runtime.GC()
	rss := resetPeakRSS()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	code := g.post("Bearer "+eventsToken, body)
	runtime.ReadMemStats(&after)
	grown := after.TotalAlloc - before.TotalAlloc
	t.Logf("a %d-byte nested event key: HTTP %d, %.1f MiB allocated by the process meanwhile, peak RSS +%.1f MiB",
		len(nested), code, float64(grown)/(1<<20), float64(max(peakRSS(), procStatus("VmRSS:"))-min(rss, peakRSS()))/(1<<20))
	if code != http.StatusBadRequest {
		t.Errorf("HTTP %d, want 400", code)
	}
	if grown > 64<<20 {
		t.Errorf("%d MiB allocated while the request ran, want under 64", grown>>20)
	}
	if !strings.Contains(g.Logs.String(), "a key of 32768 bytes") {
		t.Errorf("no log line names the refused key's length:\n%s", g.Logs.String())
	}
	// The longest key S3 allows, nested as deep as it goes, is taken.
	deepest := strings.Repeat("a/", 508) + "deep.txt"
	if code := g.post("Bearer "+eventsToken, minioEvent(minioRecord(g.Bucket, deepest), minioRecord(g.Bucket, "deep.txt"))); code != http.StatusNoContent {
		t.Fatalf("a %d-byte key: HTTP %d, want 204", len(deepest), code)
	}
	if names := g.names(); !slices.Contains(names, "deep.txt") {
		t.Fatalf("the accepted event did not invalidate: %q", names)
	}
}

// TestEventsHardeningTooManyRecords: a body of more records than the endpoint
// takes (100) is refused whole: 400, nothing invalidated.
func TestEventsHardeningTooManyRecords(t *testing.T) {
	t.Parallel()
	g := startEventsGateway(t, minio, eventsToken)
	g.writeBehind("many.txt")
	records := []string{minioRecord(g.Bucket, "many.txt")}
	for i := range 100 {
		records = append(records, minioRecord(g.Bucket, "other-"+strconv.Itoa(i)))
	}
	if code := g.post("Bearer "+eventsToken, minioEvent(records...)); code != http.StatusBadRequest {
		t.Fatalf("101 records: HTTP %d, want 400", code)
	}
	if names := g.names(); slices.Contains(names, "many.txt") {
		t.Fatalf("a refused body invalidated the cache: %q", names)
	}
	if code := g.post("Bearer "+eventsToken, minioEvent(records[:100]...)); code != http.StatusNoContent {
		t.Fatalf("100 records: HTTP %d, want 204", code)
	}
	if names := g.names(); !slices.Contains(names, "many.txt") {
		t.Fatalf("100 records did not invalidate: %q", names)
	}
}

// TestEventsHardeningSubscribeURL: an SNS subscription confirmation whose
// SubscribeURL is not an SNS endpoint's is refused (400) and not logged, so a
// stranger cannot put a link of their choosing in front of the operator; an
// SNS one is logged. The gateway fetches neither.
func TestEventsHardeningSubscribeURL(t *testing.T) {
	t.Parallel()
	g := startEventsGateway(t, minio, eventsToken)
	confirm := func(u string) string {
		return fmt.Sprintf(`{"Type":"SubscriptionConfirmation","MessageId":"m","Token":"t",`+
			`"TopicArn":"arn:aws:sns:eu-west-1:123456789012:ftp2s3","SubscribeURL":%q}`, u)
	}
	for _, u := range []string{"https://attacker.example/confirm", "http://sns.eu-west-1.amazonaws.com/?Action=ConfirmSubscription",
		"https://sns.eu-west-1.amazonaws.com.attacker.example/"} {
		if code := g.post("Bearer "+eventsToken, confirm(u)); code != http.StatusBadRequest {
			t.Fatalf("SubscribeURL %s: HTTP %d, want 400", u, code)
		}
	}
	if strings.Contains(g.Logs.String(), "open SubscribeURL") {
		t.Fatalf("a foreign SubscribeURL was shown to the operator:\n%s", g.Logs.String())
	}
	good := "https://sns.eu-west-1.amazonaws.com/?Action=ConfirmSubscription&TopicArn=arn:aws:sns:eu-west-1:123456789012:ftp2s3&Token=t"
	if code := g.post("Bearer "+eventsToken, confirm(good)); code != http.StatusNoContent {
		t.Fatalf("an SNS SubscribeURL: HTTP %d, want 204", code)
	}
	if !strings.Contains(g.Logs.String(), "open SubscribeURL") {
		t.Fatalf("the SNS confirmation was not logged:\n%s", g.Logs.String())
	}
}

// TestEventsHardeningBinaryRefusesOpenListener: the binary will not serve the
// events endpoint on every interface without a token: exit 2, one line naming
// FTP2S3_S3_EVENTS_LISTEN. (Before issue 20 it started and listened.)
func TestEventsHardeningBinaryRefusesOpenListener(t *testing.T) {
	t.Parallel()
	bin := buildBinary(t)
	port, err := freeTCPPort()
	if err != nil {
		t.Fatal(err)
	}
	env, _ := serveEnv(t, bucketName(t))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin)
	cmd.Env = append(env, fmt.Sprintf("FTP2S3_S3_EVENTS_LISTEN=0.0.0.0:%d", port))
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err = cmd.Run()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 2 {
		t.Fatalf("FTP2S3_S3_EVENTS_LISTEN=0.0.0.0:%d without a token: %v, want exit status 2; output:\n%s", port, err, out.String())
	}
	var lines []string
	for _, l := range strings.Split(out.String(), "\n") {
		if strings.Contains(l, "FTP2S3_S3_EVENTS_LISTEN") {
			lines = append(lines, l)
		}
	}
	if len(lines) != 1 || !strings.Contains(lines[0], "FTP2S3_S3_EVENTS_TOKEN") {
		t.Fatalf("want one line naming FTP2S3_S3_EVENTS_LISTEN and the token; output:\n%s", out.String())
	}
}

// resetPeakRSS resets the process's peak resident set (Linux: VmHWM) and
// returns the resident set now; 0 where unsupported.
func resetPeakRSS() uint64 {
	_ = os.WriteFile("/proc/self/clear_refs", []byte("5"), 0)
	return procStatus("VmRSS:")
}

// peakRSS is the resident set's peak since the last reset (bytes). The kernel
// updates it lazily, so it may lag the resident set by a little.
func peakRSS() uint64 { return procStatus("VmHWM:") }

func procStatus(field string) uint64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, field); ok {
			kb, _ := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb << 10
		}
	}
	return 0
}
