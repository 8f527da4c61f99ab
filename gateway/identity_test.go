package gateway

import (
	"strings"
	"testing"
	"time"

	"github.com/caarlos0/env/v11"
)

// TestHTTPAuthConfig: FTP2S3_AUTH=http parses its URL once, at load, and
// Validate names each missing or wrong setting.
func TestHTTPAuthConfig(t *testing.T) {
	var c Config
	err := env.ParseWithOptions(&c, env.Options{Environment: map[string]string{
		"FTP2S3_AUTH": "http", "FTP2S3_AUTH_URL": "https://id.example/ftp?x=1", "FTP2S3_AUTH_CACHE_TTL": "0",
	}})
	if err != nil {
		t.Fatal(err)
	}
	if c.AuthURL.URL == nil || c.AuthURL.URL.Host != "id.example" || c.AuthTimeout != 5*time.Second || c.AuthCacheTTL != 0 {
		t.Fatalf("parsed %+v timeout %s ttl %s", c.AuthURL.URL, c.AuthTimeout, c.AuthCacheTTL)
	}
	if p := c.Validate(); len(p) != 0 {
		t.Fatalf("valid http auth refused: %v", p)
	}
	for _, bad := range []string{"ftp://id.example", "id.example/login", "http://", "::"} {
		var u EndpointURL
		if err := u.UnmarshalText([]byte(bad)); err == nil {
			t.Errorf("FTP2S3_AUTH_URL %q accepted", bad)
		}
	}
	cases := []struct {
		mutate func(*Config)
		want   string
	}{
		{func(c *Config) { c.AuthURL.URL = nil }, "FTP2S3_AUTH: http needs FTP2S3_AUTH_URL"},
		{func(c *Config) { c.AuthTimeout = 0 }, "FTP2S3_AUTH_TIMEOUT"},
		{func(c *Config) { c.AuthCacheTTL = -time.Second }, "FTP2S3_AUTH_CACHE_TTL"},
		{func(c *Config) { c.Auth = "users" }, "FTP2S3_AUTH_URL: only used with FTP2S3_AUTH=http"},
	}
	for _, tc := range cases {
		cc := c
		tc.mutate(&cc)
		p := cc.Validate()
		if len(p) != 1 || !strings.HasPrefix(p[0].Error(), tc.want) {
			t.Errorf("want one problem %q, got %v", tc.want, p)
		}
	}
}
