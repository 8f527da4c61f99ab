package ops

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"testing"
	"time"

	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	smithyhttp "github.com/aws/smithy-go/transport/http"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/ftp2s3/ftp2s3/storage"
)

func s3Err(status int, id string) error {
	return fmt.Errorf("stat b/k: %w", &awshttp.ResponseError{
		ResponseError: &smithyhttp.ResponseError{Response: &smithyhttp.Response{Response: &http.Response{StatusCode: status}}, Err: errors.New("api error")},
		RequestID:     id,
	})
}

func TestS3ResultClasses(t *testing.T) {
	cases := map[string]error{
		"ok":           nil,
		"not_found":    s3Err(404, "a"),
		"client_error": s3Err(403, "b"),
		"server_error": s3Err(503, "c"),
		"canceled":     fmt.Errorf("put: %w", context.Canceled),
		"error":        &net.OpError{Op: "dial", Err: errors.New("connection refused")},
	}
	for want, err := range cases {
		if got := s3Result(err); got != want {
			t.Errorf("s3Result(%v) = %s, want %s", err, got, want)
		}
	}
	if id := storage.RequestID(s3Err(500, "REQ123")); id != "REQ123" {
		t.Errorf("RequestID = %q", id)
	}
}

func TestMetricsObserver(t *testing.T) {
	m := NewMetrics()
	m.SessionOpened()
	m.Login(false)
	m.Login(true)
	m.Command("STOR", 226)
	m.Command("STOR", 451)
	m.Transfer("upload", 1000, time.Second, true)
	m.Transfer("upload", 10, time.Second, false)
	m.ObserveS3("PutObject", 5*time.Millisecond, nil)
	m.ObserveS3("HeadObject", time.Millisecond, s3Err(404, "x"))
	m.SessionClosed()
	checks := []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"ftp2s3_sessions_active", nil, 0},
		{"ftp2s3_sessions_total", nil, 1},
		{"ftp2s3_logins_total", map[string]string{"result": "ok"}, 1},
		{"ftp2s3_logins_total", map[string]string{"result": "failed"}, 1},
		{"ftp2s3_commands_total", map[string]string{"command": "STOR", "class": "2xx"}, 1},
		{"ftp2s3_commands_total", map[string]string{"command": "STOR", "class": "4xx"}, 1},
		{"ftp2s3_transfer_bytes_total", map[string]string{"direction": "upload", "result": "ok"}, 1000},
		{"ftp2s3_transfer_bytes_total", map[string]string{"direction": "upload", "result": "failed"}, 10},
		{"ftp2s3_s3_requests_total", map[string]string{"operation": "HeadObject", "result": "not_found"}, 1},
		{"ftp2s3_s3_requests_total", map[string]string{"operation": "PutObject", "result": "ok"}, 1},
		{"ftp2s3_s3_request_duration_seconds", map[string]string{"operation": "PutObject"}, 1}, // sample count
	}
	for _, c := range checks {
		if got := metricValue(t, m.Registry(), c.name, c.labels); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
		}
	}
}

// metricValue reads one series from a registry: a counter's or gauge's value,
// a histogram's sample count.
func metricValue(t *testing.T, reg *prometheus.Registry, name string, labels map[string]string) float64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
	series:
		for _, m := range f.GetMetric() {
			if len(m.GetLabel()) != len(labels) {
				continue
			}
			for _, l := range m.GetLabel() {
				if labels[l.GetName()] != l.GetValue() {
					continue series
				}
			}
			switch {
			case m.Counter != nil:
				return m.GetCounter().GetValue()
			case m.Gauge != nil:
				return m.GetGauge().GetValue()
			case m.Histogram != nil:
				return float64(m.GetHistogram().GetSampleCount())
			}
		}
	}
	t.Fatalf("no series %s%v", name, labels)
	return 0
}
