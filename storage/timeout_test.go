package storage

import (
	"context"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// silentServer accepts connections, reads what comes and never answers.
func silentServer(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	t.Cleanup(func() { l.Close(); close(done) })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				go func() { <-done; c.Close() }()
				_, _ = io.Copy(io.Discard, c)
			}()
		}
	}()
	return "http://" + l.Addr().String()
}

// TestAttemptTimeout: a request to an S3 that never answers fails once the
// attempt timeout has passed, with nothing else to stop it, and both kinds of
// HTTP client the gateway builds carry the timeout.
func TestAttemptTimeout(t *testing.T) {
	endpoint := silentServer(t)
	const limit = 300 * time.Millisecond
	for name, hc := range map[string]s3.HTTPClient{
		"net/http":  newHTTPClient(),
		"buildable": awshttp.NewBuildableClient(),
	} {
		t.Run(name, func(t *testing.T) {
			base := NewStaticClient(endpoint, "", "k", "s", true)
			client := s3.New(base.Options(), func(o *s3.Options) { o.HTTPClient = hc }, AttemptTimeout(limit),
				func(o *s3.Options) { o.RetryMaxAttempts = 1 })
			if got := headerTimeout(client); got != limit {
				t.Fatalf("the client's header timeout: %s, want %s", got, limit)
			}
			start := time.Now()
			_, err := client.HeadObject(context.Background(), &s3.HeadObjectInput{Bucket: aws.String("b"), Key: aws.String("k")})
			waited := time.Since(start)
			if !IsTimeout(err) {
				t.Fatalf("HeadObject against a silent S3: %v, want a timeout", err)
			}
			if waited < limit || waited > limit+5*time.Second {
				t.Fatalf("HeadObject failed after %s; the attempt timeout is %s (%v)", waited, limit, err)
			}
			if _, ok := hc.(*http.Client); ok && hc.(*http.Client).Transport.(*http.Transport).ResponseHeaderTimeout != 0 {
				t.Fatal("AttemptTimeout changed the transport it was given instead of a copy")
			}
		})
	}
}
