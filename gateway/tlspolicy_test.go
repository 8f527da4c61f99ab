package gateway

import (
	"crypto/tls"
	"strings"
	"testing"
)

func TestTLSVersionParse(t *testing.T) {
	for in, want := range map[string]uint16{"1.2": tls.VersionTLS12, "TLS1.3": tls.VersionTLS13, " tls 1.0 ": tls.VersionTLS10} {
		var v TLSVersion
		if err := v.UnmarshalText([]byte(in)); err != nil || uint16(v) != want {
			t.Errorf("%q: %x, %v; want %x", in, uint16(v), err, want)
		}
	}
	var v TLSVersion
	if err := v.UnmarshalText([]byte("1.4")); err == nil {
		t.Error("1.4 parsed")
	}
	if TLSVersion(tls.VersionTLS13).String() != "1.3" {
		t.Error("String")
	}
}

func TestCipherListParse(t *testing.T) {
	var l CipherList
	if err := l.UnmarshalText([]byte("TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256, TLS_RSA_WITH_3DES_EDE_CBC_SHA")); err != nil {
		t.Fatal(err)
	}
	if len(l) != 2 || l[0] != tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256 {
		t.Fatalf("parsed %v", l)
	}
	if weak := l.Insecure(); len(weak) != 1 || weak[0] != "TLS_RSA_WITH_3DES_EDE_CBC_SHA" {
		t.Fatalf("insecure %v", weak)
	}
	for _, bad := range []string{"TLS_AES_128_GCM_SHA256", "NOPE"} {
		if err := l.UnmarshalText([]byte(bad)); err == nil {
			t.Errorf("%s parsed", bad)
		}
	}
}

func TestTLSPolicyApply(t *testing.T) {
	cases := []struct {
		p          TLSPolicy
		min        uint16
		noTickets  bool
		suiteCount int
	}{
		{TLSPolicy{}, tls.VersionTLS12, false, 0},
		{TLSPolicy{MinVersion: TLSVersion(tls.VersionTLS13), Reuse: ReuseOff}, tls.VersionTLS13, true, 0},
		{TLSPolicy{Ciphers: CipherList{tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256}, Reuse: ReuseRequired}, tls.VersionTLS12, false, 1},
	}
	for i, c := range cases {
		conf := &tls.Config{}
		c.p.apply(conf)
		if conf.MinVersion != c.min || conf.SessionTicketsDisabled != c.noTickets || len(conf.CipherSuites) != c.suiteCount {
			t.Errorf("case %d: min %x tickets-off %v suites %d", i, conf.MinVersion, conf.SessionTicketsDisabled, len(conf.CipherSuites))
		}
	}
}

func TestDefaultTLSPolicy(t *testing.T) {
	c := DefaultConfig()
	if c.TLSSessionReuse != ReuseEnabled || c.TLSMinVersion != TLSVersion(tls.VersionTLS12) || len(c.TLSCiphers) != 0 {
		t.Fatalf("defaults: reuse %q, min %s, ciphers %v", c.TLSSessionReuse, c.TLSMinVersion, c.TLSCiphers)
	}
	c.TLSCiphers = CipherList{tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256}
	c.TLSMinVersion = TLSVersion(tls.VersionTLS13)
	c.TLS, c.TLSCert, c.TLSKey = "explicit", "x", "y"
	var found bool
	for _, e := range c.validateTLS() {
		found = found || strings.Contains(e.Error(), "FTP2S3_TLS_CIPHERS")
	}
	if !found {
		t.Fatal("ciphers with a 1.3 minimum not refused")
	}
}
