// Package ops is the gateway's operations side: Prometheus metrics, the
// /metrics, /healthz and /readyz endpoints with the background S3 readiness
// check, the S3 event notifications endpoint (FTP2S3_S3_EVENTS_LISTEN) and the
// healthcheck command's probe.
package ops

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

// Readiness answers /readyz from a background check of S3, so that a probe
// never waits on S3 and a burst of probes never becomes a burst of requests.
type Readiness struct {
	client *s3.Client
	bucket string // HeadBucket on it when set, else ListBuckets
	log    *slog.Logger
	// reachOnly: any answer from S3 will do. Under FTP2S3_AUTH=s3 the gateway may
	// have no credentials of its own (each user brings theirs), so the check is
	// an anonymous request and S3's refusal proves it is reachable.
	reachOnly bool

	draining atomic.Bool // shutting down: a balancer should stop sending clients

	mu       sync.Mutex
	interval time.Duration // between checks; Run sets it
	err      error         // outcome of the last check
	checked  time.Time     // when it finished; zero before the first
}

// NewReadiness returns the check of S3 behind /readyz: HeadBucket on bucket
// (FTP2S3_BUCKET) when set, else ListBuckets. With reachOnly (FTP2S3_AUTH=s3,
// where the gateway may have no credentials of its own) the request is
// anonymous and any answer from S3 will do.
func NewReadiness(client *s3.Client, bucket string, reachOnly bool, log *slog.Logger) *Readiness {
	r := &Readiness{client: client, bucket: bucket, log: log, interval: 5 * time.Second}
	if reachOnly {
		r.reachOnly = true
		r.client = s3.New(client.Options(), func(o *s3.Options) { o.Credentials = aws.AnonymousCredentials{} })
	}
	return r
}

// Run checks at once and then every interval (zero: 5 s) until ctx ends.
func (r *Readiness) Run(ctx context.Context, interval time.Duration) {
	if interval > 0 {
		r.mu.Lock()
		r.interval = interval
		r.mu.Unlock()
	}
	t := time.NewTicker(r.checkInterval())
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

func (r *Readiness) checkInterval() time.Duration {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.interval
}

func (r *Readiness) checkOnce(ctx context.Context) {
	cctx, cancel := context.WithTimeout(ctx, min(max(r.checkInterval(), time.Second), 5*time.Second))
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

// Drain marks the gateway as shutting down: /readyz answers 503 from now on,
// so that a balancer stops sending clients.
func (r *Readiness) Drain() { r.draining.Store(true) }

// status returns nil when the gateway is ready, else why not.
func (r *Readiness) status() error {
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

// Handler serves /metrics, /healthz (the process is alive and serving HTTP)
// and /readyz (S3 reachable with valid credentials, and not shutting down).
func Handler(m *Metrics, ready *Readiness) http.Handler {
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

// opsIdleTimeout closes an idle keep-alive connection of the operations
// server; a variable so that a test need not wait a minute.
var opsIdleTimeout = time.Minute

// Serve runs the operations HTTP server (h, from Handler) on l, the
// FTP2S3_METRICS_LISTEN listener, until ctx ends.
func Serve(ctx context.Context, l net.Listener, h http.Handler, log *slog.Logger) error {
	// Probes and scrapes send a small GET: a bounded header, and no idle
	// connection kept past a scrape interval or two (without IdleTimeout
	// net/http keeps one forever). docs/security.md.
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       opsIdleTimeout,
		MaxHeaderBytes:    16 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
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
