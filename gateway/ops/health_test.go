package ops

import (
	"net"
	"testing"
	"time"
)

// The readiness check itself is tested against MinIO: integration's
// TestHealthAndReadinessFollowS3, TestReadinessCredentialModes and the drain in
// TestBinaryExitsZeroOnSIGTERM.

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
