package integration

import (
	"testing"
	"time"

	"github.com/jlaffaye/ftp"

	"github.com/ftp2s3/ftp2s3/gateway"
	"github.com/ftp2s3/ftp2s3/integration/miniotest"
)

// s3RequestsOf is the gateway's S3 request counter for one operation, every
// result together.
func s3RequestsOf(t *testing.T, g *testGateway, op string) float64 {
	t.Helper()
	mfs, err := g.GW.Metrics.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	total := 0.0
	for _, mf := range mfs {
		if mf.GetName() != "ftp2s3_s3_requests_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "operation" && l.GetValue() == op {
					total += m.GetCounter().GetValue()
				}
			}
		}
	}
	return total
}

// TestS3AuthRequestCountedOnce (issue 20 §6): under FTP2S3_AUTH=s3 one SIZE
// is one HeadObject in ftp2s3_s3_requests_total. Per-user clients used to be
// built from a client that already carried the metrics middleware, and
// storage added it again: every request counted twice.
func TestS3AuthRequestCountedOnce(t *testing.T) {
	t.Parallel()
	g := startGateway(t, s3AuthMode)
	g.putObject("sized.txt", "twelve bytes")
	c, err := dialFromAddr(t, g, "127.0.0.1", miniotest.AccessKey, miniotest.SecretKey)
	if err != nil {
		t.Fatal(err)
	}
	before := s3RequestsOf(t, g, "HeadObject")
	if n, err := c.FileSize("sized.txt"); err != nil || n != 12 {
		t.Fatalf("SIZE: %d, %v", n, err)
	}
	if d := s3RequestsOf(t, g, "HeadObject") - before; d != 1 {
		t.Fatalf("one SIZE counted as %v HeadObject requests, want 1", d)
	}
}

// TestS3AuthReusesIdentityBackend (issue 20 §6): a login verified again after
// the credential TTL reuses the identity's storage and its cache, instead of
// building a new one with an empty cache for every such login (each up to a
// full cache). The second session's LIST is answered from the listing the
// first session cached: no ListObjectsV2 is sent for it.
func TestS3AuthReusesIdentityBackend(t *testing.T) {
	t.Parallel()
	const ttl = 300 * time.Millisecond
	g := startGateway(t, s3AuthMode, func(c *gateway.Config) { c.Storage.S3AuthTTL = ttl })
	g.putObject("listed.txt", "x")
	first, err := dialFromAddr(t, g, "127.0.0.1", miniotest.AccessKey, miniotest.SecretKey)
	if err != nil {
		t.Fatal(err)
	}
	if names, err := first.NameList("/"); err != nil || len(names) != 1 {
		t.Fatalf("first NLST: %v, %v", names, err)
	}
	// Log in until a login is verified with S3 again (its check is a counted
	// ListObjectsV2): that login is past the credential TTL.
	var second *ftp.ServerConn
	waitUntil(t, "a login verified again after the credential TTL", 20*time.Second, func() bool {
		before := s3RequestsOf(t, g, "ListObjectsV2")
		c, err := dialFromAddr(t, g, "127.0.0.1", miniotest.AccessKey, miniotest.SecretKey)
		if err != nil {
			t.Fatal(err)
		}
		second = c
		return s3RequestsOf(t, g, "ListObjectsV2") > before
	})
	before := s3RequestsOf(t, g, "ListObjectsV2")
	if names, err := second.NameList("/"); err != nil || len(names) != 1 {
		t.Fatalf("second NLST: %v, %v", names, err)
	}
	if d := s3RequestsOf(t, g, "ListObjectsV2") - before; d != 0 {
		t.Fatalf("the second session's NLST sent %v ListObjectsV2, want 0 (the first session's cached listing)", d)
	}
}
