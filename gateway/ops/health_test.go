package ops

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ftp2s3/ftp2s3/storage"
)

// fakeS3 answers every request with status, and counts requests that carry
// a signature.
func fakeS3(t *testing.T, status *atomic.Int32, signed *atomic.Int32) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "" {
			signed.Add(1)
		}
		w.Header().Set("x-amz-request-id", "FAKE1")
		w.WriteHeader(int(status.Load()))
		if status.Load() != 200 {
			_, _ = io.WriteString(w, `<?xml version="1.0"?><Error><Code>AccessDenied</Code><Message>no</Message></Error>`)
			return
		}
		_, _ = io.WriteString(w, `<?xml version="1.0"?><ListAllMyBucketsResult><Buckets></Buckets></ListAllMyBucketsResult>`)
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestReadinessFollowsChecks(t *testing.T) {
	var status, signed atomic.Int32
	status.Store(200)
	srv := fakeS3(t, &status, &signed)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	client := storage.NewStaticClient(srv.URL, "", "key", "secret", true)
	ctx := context.Background()

	r := NewReadiness(client, "", false, log)
	r.interval = time.Second
	if err := r.status(); err == nil {
		t.Fatal("ready before any check")
	}
	r.checkOnce(ctx)
	if err := r.status(); err != nil {
		t.Fatalf("after a good check: %v", err)
	}
	status.Store(403) // credentials refused: not ready in users mode
	r.checkOnce(ctx)
	if err := r.status(); err == nil || !strings.Contains(err.Error(), "403") {
		t.Fatalf("after a refused check: %v", err)
	}
	r.draining.Store(true)
	status.Store(200)
	r.checkOnce(ctx)
	if err := r.status(); err == nil || !strings.Contains(err.Error(), "shutting down") {
		t.Fatalf("while draining: %v", err)
	}

	// FTP2S3_AUTH=s3: an anonymous probe, and S3's refusal proves it is reachable.
	r = NewReadiness(client, "", true, log)
	r.interval = time.Second
	status.Store(403)
	before := signed.Load()
	r.checkOnce(ctx)
	if err := r.status(); err != nil {
		t.Fatalf("s3 auth mode, S3 answering 403: %v", err)
	}
	if signed.Load() != before {
		t.Error("the s3-auth readiness probe was signed with the gateway's credentials")
	}
	status.Store(503)
	r.checkOnce(ctx)
	if err := r.status(); err == nil {
		t.Fatal("s3 auth mode, S3 answering 503: ready")
	}
	srv.Close()
	status.Store(200)
	r.checkOnce(ctx)
	if err := r.status(); err == nil {
		t.Fatal("s3 auth mode, S3 down: ready")
	}
}

func TestLoopbackFor(t *testing.T) {
	for in, want := range map[string]string{":2121": "127.0.0.1:2121", "0.0.0.0:9100": "127.0.0.1:9100", "[::]:9100": "[::1]:9100", "10.0.0.1:21": "10.0.0.1:21"} {
		if got := loopbackFor(in); got != want {
			t.Errorf("loopbackFor(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestHealthcheckByGreeting(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	greetings := []string{"220 ftp2s3 ready\r\n", "421 shutting down\r\n"}
	go func() {
		for _, g := range greetings {
			c, err := l.Accept()
			if err != nil {
				return
			}
			_, _ = c.Write([]byte(g))
			_ = c.Close()
		}
	}()
	if err := Healthcheck("", l.Addr().String(), 2*time.Second); err != nil {
		t.Errorf("220: %v", err)
	}
	if err := Healthcheck("", l.Addr().String(), 2*time.Second); err == nil {
		t.Error("421 counted as healthy")
	}
}
