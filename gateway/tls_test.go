package gateway

import (
	"crypto/tls"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ftp2s3/ftp2s3/internal/testkit"
)

// writePair writes a self-signed certificate with the given serial and its key
// into a directory of their own.
func writePair(t *testing.T, serial int64) (string, string) {
	c := testkit.WriteCert(t, t.TempDir(), serial)
	return c.CertFile, c.KeyFile
}

func TestCertificatesReloadKeepsOldOnFailure(t *testing.T) {
	dir := t.TempDir()
	c1, k1 := writePair(t, 1)
	c2, k2 := writePair(t, 2)
	cert, key := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	cp := func(from, to string) {
		b, _ := os.ReadFile(from)
		if err := os.WriteFile(to, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	cp(c1, cert)
	cp(k1, key)
	certs, err := LoadCertificates(cert, key)
	if err != nil {
		t.Fatal(err)
	}
	conf := certs.TLSConfig(TLSPolicy{})
	if conf.MinVersion != tls.VersionTLS12 {
		t.Fatalf("MinVersion %x, want TLS 1.2", conf.MinVersion)
	}
	serial := func() int64 {
		c, _ := conf.GetCertificate(nil)
		return c.Leaf.SerialNumber.Int64()
	}
	cp(c2, cert) // the key does not match yet: a half-finished renewal
	if err := certs.Reload(); err == nil || !strings.Contains(err.Error(), "not the private key") {
		t.Fatalf("reload with a mismatched key: %v", err)
	}
	if serial() != 1 {
		t.Fatal("a failed reload replaced the certificate")
	}
	cp(k2, key)
	if err := certs.Reload(); err != nil || serial() != 2 {
		t.Fatalf("reload: %v, serial %d", err, serial())
	}
	if ok, failed := certs.Reloads(); ok != 2 || failed != 1 {
		t.Fatalf("reload counters %d ok, %d failed", ok, failed)
	}
}

func TestValidateTLS(t *testing.T) {
	dir := t.TempDir()
	c1, k1 := writePair(t, 1)
	_, k2 := writePair(t, 2)
	cases := []struct {
		mutate func(*Config)
		want   string // "" = valid
	}{
		{func(c *Config) {}, ""},
		{func(c *Config) { c.TLS, c.TLSCert, c.TLSKey = "explicit", c1, k1 }, ""},
		{func(c *Config) { c.TLS = "required" }, "needs FTP2S3_TLS_CERT and FTP2S3_TLS_KEY"},
		{func(c *Config) { c.TLS, c.TLSCert, c.TLSKey = "implicit", c1, k2 }, "FTP2S3_TLS_KEY"},
		{func(c *Config) { c.TLS, c.TLSCert, c.TLSKey = "explicit", c1, filepath.Join(dir, "none") }, "FTP2S3_TLS_KEY"},
		{func(c *Config) { c.TLS, c.TLSCert, c.TLSKey = "explicit", k1, k1 }, "FTP2S3_TLS_CERT"},
		{func(c *Config) { c.TLSListen = ":2990" }, "FTP2S3_TLS_LISTEN"},
		{func(c *Config) { c.TLSSessionReuse = "required" }, "FTP2S3_TLS_SESSION_REUSE"},
		{func(c *Config) { c.LoginTimeout = 0 }, "FTP2S3_LOGIN_TIMEOUT"},
	}
	for i, tc := range cases {
		c := DefaultConfig()
		tc.mutate(&c)
		problems := fmt.Sprint(append(c.Validate(), c.LoadFiles()...))
		if tc.want == "" && problems != "[]" {
			t.Errorf("case %d: unexpected problems %s", i, problems)
		}
		if tc.want != "" && !strings.Contains(problems, tc.want) {
			t.Errorf("case %d: problems %s, want one mentioning %s", i, problems, tc.want)
		}
	}
	c := DefaultConfig()
	c.TLS = "implicit"
	if c.implicitListen() != DefaultTLSListen {
		t.Errorf("implicit without FTP2S3_TLS_LISTEN listens on %q", c.implicitListen())
	}
}
