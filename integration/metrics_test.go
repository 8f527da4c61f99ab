package integration

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jlaffaye/ftp"

	"github.com/ftp2s3/ftp2s3/gateway"
	"github.com/ftp2s3/ftp2s3/integration/miniotest"
)

// opsGateway is a gateway run the way the binary runs it (Gateway.Serve, with
// the operations HTTP server), in front of srv.
type opsGateway struct {
	*testGateway
	OpsURL string             // http://127.0.0.1:port
	Stop   context.CancelFunc // starts the graceful shutdown
	Done   chan error         // Serve's result
}

// startOpsGateway starts a gateway with metrics on a server of its own;
// mutate adjusts the configuration, tune the gateway before it serves.
func startOpsGateway(t *testing.T, srv *miniotest.Server, mutate func(*gateway.Config), tune func(*gateway.Gateway)) *opsGateway {
	t.Helper()
	cfg, bucket := testConfig(t, srv, mutate)
	log, logs := testLogger(t)
	gw, err := gateway.New(t.Context(), cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	gw.ReadyCheckInterval = 200 * time.Millisecond
	if tune != nil {
		tune(gw)
	}
	ctrl, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		t.Fatal(err)
	}
	ops, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cancel, done := runUntilCleanup(t, func(ctx context.Context) error { return gw.Serve(ctx, ctrl, ops) })
	tg := &testGateway{t: t, Addr: ctrl.Addr().String(), Port: ctrl.Addr().(*net.TCPAddr).Port, Bucket: bucket,
		S3: srv.Client(), Backend: gw.Backend, GW: gw, Logs: logs}
	return &opsGateway{testGateway: tg, OpsURL: "http://" + ops.Addr().String(), Stop: cancel, Done: done}
}

// httpGet returns the status and body of a GET.
func httpGet(t *testing.T, u string) (int, string) {
	t.Helper()
	c := &http.Client{Timeout: 10 * time.Second}
	resp, err := c.Get(u)
	if err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// scrape reads /metrics into series → value, the series written as exposed
// (`name{label="v",…}`, labels in Prometheus' sorted order).
func scrape(t *testing.T, g *opsGateway) map[string]float64 {
	t.Helper()
	code, body := httpGet(t, g.OpsURL+"/metrics")
	if code != http.StatusOK {
		t.Fatalf("/metrics: HTTP %d", code)
	}
	out := map[string]float64{}
	sc := bufio.NewScanner(strings.NewReader(body))
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("unparsable metrics line %q", line)
		}
		out[line[:i]] = v
	}
	return out
}

func TestMetricsCountAScriptedSession(t *testing.T) {
	t.Parallel()
	g := startOpsGateway(t, minio, nil, nil)
	before := scrape(t, g)

	// A failed login on a connection of its own.
	bad, err := ftp.Dial(g.Addr, ftp.DialWithTimeout(10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if err := bad.Login(userRW, "wrong password"); err == nil {
		t.Fatal("login with a wrong password succeeded")
	}
	_ = bad.Quit()

	// A good one: STOR, RETR, LIST.
	c := g.dial(userRW, ftp.DialWithDisabledMLSD(true))
	payload := bytes.Repeat([]byte("metrics!"), 12500) // 100,000 bytes
	if err := c.Stor("m.bin", bytes.NewReader(payload)); err != nil {
		t.Fatal(err)
	}
	r, err := c.Retr("m.bin")
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(r)
	_ = r.Close()
	if !bytes.Equal(got, payload) {
		t.Fatalf("RETR returned %d bytes, want %d", len(got), len(payload))
	}
	if _, err := c.List("/"); err != nil {
		t.Fatal(err)
	}
	if err := c.Quit(); err != nil {
		t.Fatal(err)
	}

	waitUntil(t, "sessions to close", 5*time.Second, func() bool { return scrape(t, g)["ftp2s3_sessions_active"] == 0 })
	after := scrape(t, g)
	delta := func(series string) float64 { return after[series] - before[series] }
	want := map[string]float64{
		`ftp2s3_sessions_total`:                                                 2,
		`ftp2s3_logins_total{result="ok"}`:                                      1,
		`ftp2s3_logins_total{result="failed"}`:                                  1,
		`ftp2s3_commands_total{class="2xx",command="PASS"}`:                     1,
		`ftp2s3_commands_total{class="5xx",command="PASS"}`:                     1,
		`ftp2s3_commands_total{class="2xx",command="STOR"}`:                     1,
		`ftp2s3_commands_total{class="2xx",command="RETR"}`:                     1,
		`ftp2s3_commands_total{class="2xx",command="LIST"}`:                     1,
		`ftp2s3_transfers_total{direction="upload",result="ok"}`:                1,
		`ftp2s3_transfers_total{direction="download",result="ok"}`:              1,
		`ftp2s3_transfers_total{direction="list",result="ok"}`:                  1,
		`ftp2s3_transfer_bytes_total{direction="upload",result="ok"}`:           100000,
		`ftp2s3_transfer_bytes_total{direction="download",result="ok"}`:         100000,
		`ftp2s3_transfer_duration_seconds_count{direction="upload"}`:            1,
		`ftp2s3_s3_requests_total{operation="PutObject",result="ok"}`:           1,
		`ftp2s3_s3_request_duration_seconds_count{operation="PutObject"}`:       1,
		`ftp2s3_passive_ports_in_use`:                                           0,
		`ftp2s3_transfers_total{direction="upload",result="failed"}`:            0,
		`ftp2s3_s3_requests_total{operation="PutObject",result="server_error"}`: 0,
	}
	for series, n := range want {
		if d := delta(series); d != n {
			t.Errorf("%s moved by %v, want %v", series, d, n)
		}
	}
	if after[`ftp2s3_s3_requests_total{operation="GetObject",result="ok"}`] < 1 {
		t.Error("no successful GetObject counted for the RETR")
	}
	if after["ftp2s3_cache_hits_total"]+after["ftp2s3_cache_misses_total"] < 1 {
		t.Error("the metadata cache counted no lookups")
	}
	for _, name := range []string{"ftp2s3_cache_evictions_total", "ftp2s3_passive_ports_exhausted_total", "ftp2s3_passive_ports_idle", "ftp2s3_connections_refused_total", "go_goroutines"} {
		if _, ok := after[name]; !ok {
			t.Errorf("%s is not exported", name)
		}
	}

	// The transfer log lines carry what an operator greps for.
	logs := g.Logs.String()
	for _, want := range []string{"msg=transfer ", "direction=upload", "path=" + g.Bucket + "/m.bin", "bytes=100000", "result=ok", "code=226", "mb_per_s=", "user=" + userRW} {
		if !strings.Contains(logs, want) {
			t.Errorf("logs lack %q", want)
		}
	}
	if strings.Contains(logs, "wrong password") {
		t.Error("a password appears in the logs")
	}
}

func TestHealthAndReadinessFollowS3(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "minio")
	own, err := miniotest.Start(dir, ownPort(t))
	if err != nil {
		t.Fatal(err)
	}
	stopped := false
	t.Cleanup(func() {
		if !stopped {
			own.Stop()
		}
	})
	u, _ := url.Parse(own.Endpoint)
	port, _ := strconv.Atoi(u.Port())
	g := startOpsGateway(t, own, nil, nil)

	ready := func(want int) func() bool {
		return func() bool { code, _ := httpGet(t, g.OpsURL+"/readyz"); return code == want }
	}
	waitUntil(t, "/readyz to answer 200", 10*time.Second, ready(http.StatusOK))
	if code, body := httpGet(t, g.OpsURL+"/healthz"); code != http.StatusOK || strings.TrimSpace(body) != "ok" {
		t.Fatalf("/healthz: %d %q", code, body)
	}

	own.Stop()
	stopped = true
	waitUntil(t, "/readyz to answer 503 with MinIO stopped", 15*time.Second, ready(http.StatusServiceUnavailable))
	if code, body := httpGet(t, g.OpsURL+"/readyz"); !strings.Contains(body, "not ready") {
		t.Errorf("/readyz with MinIO stopped: %d %q", code, body)
	}
	if code, _ := httpGet(t, g.OpsURL+"/healthz"); code != http.StatusOK {
		t.Errorf("/healthz with MinIO stopped: %d, want 200 (the process is alive)", code)
	}
	if !strings.Contains(g.Logs.String(), "not ready: S3 check failed") {
		t.Error("the readiness change was not logged")
	}

	again, err := miniotest.Start(dir, port)
	if err != nil {
		t.Fatal(err)
	}
	stopped = false
	own = again
	waitUntil(t, "/readyz to answer 200 again with MinIO back", 20*time.Second, ready(http.StatusOK))

	// Draining turns the gateway unready before it stops serving.
	g.Stop()
	if err := <-g.Done; err != nil {
		t.Fatalf("Serve after shutdown: %v", err)
	}
	g.Done <- nil // for the cleanup
	c := &http.Client{Timeout: 2 * time.Second}
	if resp, err := c.Get(g.OpsURL + "/healthz"); err == nil {
		resp.Body.Close()
		t.Error("the operations server still answers after shutdown")
	}
}

// probeRequests passes every request to MinIO and counts the readiness
// probe's (HeadBucket, or ListBuckets without FTP2S3_BUCKET) and those of them
// that carry a signature.
type probeRequests struct {
	base   http.RoundTripper
	signed atomic.Int64
	all    atomic.Int64
}

func (s *probeRequests) RoundTrip(r *http.Request) (*http.Response, error) {
	path := strings.Trim(r.URL.Path, "/")
	headBucket := r.Method == http.MethodHead && path != "" && !strings.Contains(path, "/")
	listBuckets := r.Method == http.MethodGet && path == ""
	if headBucket || listBuckets {
		s.all.Add(1)
		if r.Header.Get("Authorization") != "" {
			s.signed.Add(1)
		}
	}
	return s.base.RoundTrip(r)
}

// TestReadinessCredentialModes: with FTP2S3_AUTH=users the gateway's own
// credentials must work, so a wrong secret keeps /readyz at 503 with S3's 403
// in the body; with FTP2S3_AUTH=s3 the gateway needs no credentials of its own,
// so its probe is anonymous and MinIO's refusal proves S3 reachable.
func TestReadinessCredentialModes(t *testing.T) {
	t.Parallel()
	wrongSecret := func(c *gateway.Config) { c.S3.SecretKey = "not-the-secret" }
	users := startOpsGateway(t, minio, wrongSecret, nil)
	waitUntil(t, "/readyz to refuse a wrong secret", 10*time.Second, func() bool {
		code, body := httpGet(t, users.OpsURL+"/readyz")
		return code == http.StatusServiceUnavailable && strings.Contains(body, "403")
	})

	probe := &probeRequests{base: http.DefaultTransport}
	s3mode := startOpsGateway(t, minio, func(c *gateway.Config) {
		s3AuthMode(c)
		wrongSecret(c)
		c.S3.HTTPClient = &http.Client{Transport: probe}
	}, nil)
	waitUntil(t, "/readyz to answer 200 in s3 auth mode", 10*time.Second, func() bool {
		code, _ := httpGet(t, s3mode.OpsURL+"/readyz")
		return code == http.StatusOK
	})
	if probe.all.Load() == 0 || probe.signed.Load() != 0 {
		t.Fatalf("s3 auth mode readiness: %d probes, %d of them signed with the gateway's credentials; want only anonymous ones",
			probe.all.Load(), probe.signed.Load())
	}
}
