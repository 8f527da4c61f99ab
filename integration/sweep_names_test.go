package integration

import (
	"io"
	"strings"
	"testing"
	"time"
)

// s3Requests is the gateway's S3 request counter (ftp2s3_s3_requests_total,
// every operation and result) read from its registry.
func s3Requests(t *testing.T, g *testGateway) float64 {
	t.Helper()
	mfs, err := g.GW.Metrics.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	total := 0.0
	for _, mf := range mfs {
		if mf.GetName() == "ftp2s3_s3_requests_total" {
			for _, m := range mf.GetMetric() {
				total += m.GetCounter().GetValue()
			}
		}
	}
	return total
}

// TestStorNameS3RefusesIs553 (issue 20 §6): MinIO refuses a path component
// over 255 bytes (400 XMinioInvalidObjectName). That refusal is permanent, so
// the client hears 553 with the reason — not 451, which tells it to retry —
// and no multipart upload is left behind, for a file of one request and for
// one of several parts.
func TestStorNameS3RefusesIs553(t *testing.T) {
	t.Parallel()
	g := startGateway(t, smallParts)
	for _, size := range []int64{100, 2*smallPart + 1} {
		name := strings.Repeat("n", 300) + ".bin"
		r, data := startUpload(t, g.Addr, name)
		_, _ = io.Copy(data, newPattern(size, 7)) // the gateway may stop reading early
		_ = data.Close()
		code, msg, err := r.reply(30 * time.Second)
		if err != nil || code != 553 || !strings.Contains(msg, "InvalidObjectName") {
			t.Fatalf("STOR of %d bytes under a 300-byte name: %d %q, %v; want 553 with S3's reason", size, code, msg, err)
		}
		t.Logf("STOR of %d bytes: %d %s", size, code, msg)
		if p := g.pendingUploads(); len(p) != 0 {
			t.Fatalf("multipart uploads left after the refusal: %v", p)
		}
	}
}

// TestStorKeyOverS3LimitRefusedBeforeS3 (issue 20 §6): a key over S3's
// documented 1,024 bytes (every path component short) is refused with 553
// before the 150 and before any S3 request.
func TestStorKeyOverS3LimitRefusedBeforeS3(t *testing.T) {
	t.Parallel()
	g := startGateway(t)
	name := strings.Repeat("abcdefghij/", 100) + "file.txt" // 1,108 bytes
	r := rawLogin(t, g.Addr, userRW)
	r.pasv()
	before := s3Requests(t, g)
	if msg := r.cmd(553, "STOR %s", name); !strings.Contains(msg, "longer than S3's limit of 1024 bytes") {
		t.Errorf("553 without the reason: %q", msg)
	}
	if after := s3Requests(t, g); after != before {
		t.Fatalf("S3 requests during the refused STOR: %v, want none", after-before)
	}
	r.cmd(553, "MKD %s", name[:len(name)-len("file.txt")]+strings.Repeat("x", 200))
	if after := s3Requests(t, g); after != before {
		t.Fatalf("S3 requests during the refused MKD: %v, want none", after-before)
	}
}
