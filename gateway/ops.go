package gateway

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/ftp2s3/ftp2s3/storage"
)

// readiness answers /readyz from a background check of S3, so that a probe
// never waits on S3 and a burst of probes never becomes a burst of requests.
type readiness struct {
	client   *s3.Client
	bucket   string // HeadBucket on it when set, else ListBuckets
	interval time.Duration
	log      *slog.Logger
	// reachOnly: any answer from S3 will do. Under FTP2S3_AUTH=s3 the gateway may
	// have no credentials of its own (each user brings theirs), so the check is
	// an anonymous request and S3's refusal proves it is reachable.
	reachOnly bool

	draining atomic.Bool // shutting down: a balancer should stop sending clients

	mu      sync.Mutex
	err     error     // outcome of the last check
	checked time.Time // when it finished; zero before the first
}

func newReadiness(client *s3.Client, cfg *Config, log *slog.Logger) *readiness {
	r := &readiness{client: client, bucket: cfg.Bucket, log: log}
	if cfg.Auth == "s3" {
		r.reachOnly = true
		r.client = s3.New(client.Options(), func(o *s3.Options) { o.Credentials = aws.AnonymousCredentials{} })
	}
	return r
}

// run checks at once and then every interval until ctx ends.
func (r *readiness) run(ctx context.Context) {
	t := time.NewTicker(r.interval)
	defer t.Stop()
	for {
		r.checkOnce(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (r *readiness) checkOnce(ctx context.Context) {
	cctx, cancel := context.WithTimeout(ctx, min(max(r.interval, time.Second), 5*time.Second))
	defer cancel()
	var err error
	if r.bucket != "" {
		_, err = r.client.HeadBucket(cctx, &s3.HeadBucketInput{Bucket: aws.String(r.bucket)})
		if err != nil {
			err = fmt.Errorf("HeadBucket %s: %w", r.bucket, err)
		}
	} else {
		_, err = r.client.ListBuckets(cctx, &s3.ListBucketsInput{MaxBuckets: aws.Int32(1)})
		if err != nil {
			err = fmt.Errorf("ListBuckets: %w", err)
		}
	}
	if ctx.Err() != nil {
		return // shutting down: keep the last real answer
	}
	if st := storage.HTTPStatus(err); r.reachOnly && st >= 400 && st < 500 {
		err = nil
	}
	r.mu.Lock()
	was, first := r.err, r.checked.IsZero()
	r.err, r.checked = err, time.Now()
	r.mu.Unlock()
	switch {
	case err != nil && (was == nil || first):
		r.log.Warn("not ready: S3 check failed", "err", err)
	case err == nil && (was != nil || first):
		r.log.Info("ready: S3 reachable")
	}
}

// status returns nil when the gateway is ready, else why not.
func (r *readiness) status() error {
	if r.draining.Load() {
		return errors.New("shutting down")
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	switch {
	case r.checked.IsZero():
		return errors.New("S3 not checked yet")
	case time.Since(r.checked) > 3*r.interval+5*time.Second:
		return fmt.Errorf("last S3 check is %s old", time.Since(r.checked).Round(time.Second))
	}
	return r.err
}

// opsHandler serves /metrics, /healthz (the process is alive and serving HTTP)
// and /readyz (S3 reachable with valid credentials, and not shutting down).
func opsHandler(m *Metrics, ready *readiness) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(m.Registry(), promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		if err := ready.status(); err != nil {
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = fmt.Fprintf(w, "not ready: %v\n", err)
			return
		}
		_, _ = fmt.Fprintln(w, "ready")
	})
	return mux
}

// serveOps runs the operations HTTP server on l until ctx ends.
func (g *Gateway) serveOps(ctx context.Context, l net.Listener) error {
	srv := &http.Server{
		Handler:           opsHandler(g.Metrics, g.ready),
		ReadHeaderTimeout: 5 * time.Second,
		ErrorLog:          slog.NewLogLogger(g.Log.Handler(), slog.LevelWarn),
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(l) }()
	select {
	case err := <-errc:
		return fmt.Errorf("FTP2S3_METRICS_LISTEN: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_ = srv.Shutdown(sctx)
	<-errc
	return nil
}

// Healthcheck probes a running gateway from the same environment (the
// container's HEALTHCHECK): GET /healthz on metricsAddr when it is set, else
// expect the 220 greeting on listenAddr. Wildcard hosts are probed on loopback.
func Healthcheck(metricsAddr, listenAddr string, timeout time.Duration) error {
	if metricsAddr != "" {
		c := &http.Client{Timeout: timeout}
		resp, err := c.Get("http://" + loopbackFor(metricsAddr) + "/healthz")
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("/healthz answered %s", resp.Status)
		}
		return nil
	}
	conn, err := net.DialTimeout("tcp", loopbackFor(listenAddr), timeout)
	if err != nil {
		return err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(timeout))
	line, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil {
		return fmt.Errorf("no greeting: %w", err)
	}
	if !strings.HasPrefix(line, "220") {
		return fmt.Errorf("greeting %q is not 220", strings.TrimSpace(line))
	}
	_, _ = conn.Write([]byte("QUIT\r\n"))
	return nil
}

// loopbackFor turns ":2121" or "0.0.0.0:2121" into an address to dial locally.
func loopbackFor(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	switch host {
	case "", "0.0.0.0":
		host = "127.0.0.1"
	case "::":
		host = "::1"
	}
	return net.JoinHostPort(host, port)
}
