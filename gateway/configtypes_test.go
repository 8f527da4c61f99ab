package gateway

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"github.com/ftp2s3/ftp2s3/session"
)

// TestTypedFieldsParseOnce: each variable that wiring used to parse again
// arrives in Config as the value wiring uses.
func TestTypedFieldsParseOnce(t *testing.T) {
	c, problems := loadConfig(map[string]string{
		"FTP2S3_BUCKET": "incoming", "FTP2S3_PREFIX": "/a/../b//c/",
		"FTP2S3_ANONYMOUS_HOME": "pub/x/", "FTP2S3_BUCKETS": " one, two ,",
		"FTP2S3_PROXY_TRUSTED":          "10.1.2.3, 192.168.0.7/16",
		"FTP2S3_PASSIVE_HOST_OVERRIDES": "10.0.0.0/8=ftp.internal",
		"FTP2S3_LOG_LEVEL":              "warn", "FTP2S3_AUTH": "s3",
	})
	if len(problems) > 0 {
		t.Fatal(problems)
	}
	if h := c.DefaultHome(); h != (session.Home{Bucket: "incoming", Prefix: "b/c"}) {
		t.Errorf("default home %+v", h)
	}
	if c.AnonymousHome != HomeAt(session.Home{Bucket: "pub", Prefix: "x"}) {
		t.Errorf("anonymous home %+v", c.AnonymousHome)
	}
	if fmt.Sprint(c.Buckets) != "map[one:true two:true]" {
		t.Errorf("buckets %v", c.Buckets)
	}
	if fmt.Sprint(c.ProxyTrusted) != "[10.1.2.3/32 192.168.0.0/16]" {
		t.Errorf("trusted %v", c.ProxyTrusted)
	}
	if len(c.PassiveHostOverrides) != 1 || c.PassiveHostOverrides[0].Prefix != netip.MustParsePrefix("10.0.0.0/8") ||
		c.PassiveHostOverrides[0].Host != "ftp.internal" {
		t.Errorf("overrides %+v", c.PassiveHostOverrides)
	}
	if slog.Level(c.LogLevel) != slog.LevelWarn || c.Auth != "s3" {
		t.Errorf("log level %v, auth %q", slog.Level(c.LogLevel), c.Auth)
	}
	// Unset and "/" differ for the anonymous home: off, and every bucket.
	d := DefaultConfig()
	if d.AnonymousHome.Set || d.Buckets != nil || d.ProxyTrusted != nil || d.DefaultHome() != (session.Home{}) {
		t.Errorf("defaults: %+v %v %v %+v", d.AnonymousHome, d.Buckets, d.ProxyTrusted, d.DefaultHome())
	}
	var every Home
	if err := every.UnmarshalText([]byte(" / ")); err != nil || every != HomeAt(session.Home{}) {
		t.Errorf(`"/" read as %+v, %v`, every, err)
	}
}

// TestBucketWithPrefixRefused: FTP2S3_BUCKET holds a bucket name only. A
// "bucket/prefix" there used to pass (the home was parsed from the two
// variables joined) while /readyz asked S3 for a bucket of that name.
func TestBucketWithPrefixRefused(t *testing.T) {
	_, problems := loadConfig(map[string]string{"FTP2S3_BUCKET": "incoming/x"})
	if len(problems) != 1 || !strings.HasPrefix(problems[0].Error(), "FTP2S3_BUCKET: ") ||
		!strings.Contains(problems[0].Error(), "FTP2S3_PREFIX") {
		t.Fatalf("problems %v, want one line naming FTP2S3_BUCKET and pointing at FTP2S3_PREFIX", problems)
	}
}

// TestNewUsesFilesReadAtLoad: the users file and the key pair are read once,
// when the configuration is loaded; New wires what was read. The files are
// gone before New here, so any second read would fail.
func TestNewUsesFilesReadAtLoad(t *testing.T) {
	dir := t.TempDir()
	hash, err := bcrypt.GenerateFromPassword([]byte("pw"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	usersFile := filepath.Join(dir, "users")
	if err := os.WriteFile(usersFile, []byte("carol:"+string(hash)+":carols-bucket/in:rw\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cert, key := writePair(t, 1)
	cfg, problems := loadConfig(map[string]string{"FTP2S3_USERS_FILE": usersFile, "FTP2S3_BUCKET": "shared",
		"FTP2S3_TLS": "explicit", "FTP2S3_TLS_CERT": cert, "FTP2S3_TLS_KEY": key})
	if len(problems) > 0 {
		t.Fatal(problems)
	}
	for _, f := range []string{usersFile, cert, key} {
		if err := os.Remove(f); err != nil {
			t.Fatal(err)
		}
	}
	cfg.S3 = S3Access{Endpoint: "http://127.0.0.1:1", AccessKey: "k", SecretKey: "s"}
	g, err := New(context.Background(), cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatalf("New read a file again: %v", err)
	}
	if g.users != cfg.StaticUsers || g.Certs != cfg.KeyPair || g.Certs == nil {
		t.Fatalf("New did not wire the users and key pair LoadConfig read")
	}
	if _, err := g.users.Authenticate(context.Background(), "carol", "pw"); err != nil {
		t.Errorf("carol does not log in: %v", err)
	}
	if got := fmt.Sprint(servedBuckets(&g.Config, g.users)); got != "[carols-bucket shared]" {
		t.Errorf("served buckets %s, want [carols-bucket shared]", got)
	}
}
