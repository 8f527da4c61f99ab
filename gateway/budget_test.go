package gateway

import (
	"net"
	"strings"
	"testing"
)

// The memory budget's per-client share counts clients as the connection
// limits do: an IPv4 address (v4-mapped or not), an IPv6 /64.
func TestBudgetClient(t *testing.T) {
	for _, c := range []struct{ a, b string }{
		{"192.0.2.1", "::ffff:192.0.2.1"},
		{"2001:db8:1:2::1", "2001:db8:1:2:ffff::9"},
	} {
		ka := budgetClient(&net.TCPAddr{IP: net.ParseIP(c.a), Port: 1000})
		kb := budgetClient(&net.TCPAddr{IP: net.ParseIP(c.b), Port: 2000})
		if ka != kb || ka == "" {
			t.Errorf("%s and %s are one client, keys %q and %q", c.a, c.b, ka, kb)
		}
	}
	if budgetClient(&net.TCPAddr{IP: net.ParseIP("2001:db8:1:3::1")}) == budgetClient(&net.TCPAddr{IP: net.ParseIP("2001:db8:1:2::1")}) {
		t.Error("two /64s share a key")
	}
}

// FTP2S3_UPLOAD_MIN_RATE: 16 KiB/s by default (docs/memory-budget.md); a
// negative rate, which only code can set, is refused naming the variable.
func TestUploadMinRateConfig(t *testing.T) {
	c := DefaultConfig()
	if c.UploadMinRate != 16<<10 {
		t.Fatalf("default FTP2S3_UPLOAD_MIN_RATE %d, want 16 KiB", c.UploadMinRate)
	}
	c.Bucket = "b"
	c.UploadMinRate = -1
	found := false
	for _, err := range c.Validate() {
		found = found || strings.Contains(err.Error(), "FTP2S3_UPLOAD_MIN_RATE")
	}
	if !found {
		t.Fatal("a negative FTP2S3_UPLOAD_MIN_RATE was accepted")
	}
}
