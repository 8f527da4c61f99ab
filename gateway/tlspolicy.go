package gateway

import (
	"crypto/tls"
	"fmt"
	"log/slog"
	"strings"
)

// TLSVersion is the oldest TLS version the gateway accepts
// (FTP2S3_TLS_MIN_VERSION: 1.0, 1.1, 1.2 or 1.3).
type TLSVersion uint16

var tlsVersions = map[string]TLSVersion{
	"1.0": tls.VersionTLS10, "1.1": tls.VersionTLS11, "1.2": tls.VersionTLS12, "1.3": tls.VersionTLS13,
}

// UnmarshalText parses "1.2" (a "TLS" prefix is tolerated: "TLS1.2", "tls 1.2").
func (v *TLSVersion) UnmarshalText(b []byte) error {
	s := strings.TrimSpace(strings.TrimPrefix(strings.ToLower(strings.TrimSpace(string(b))), "tls"))
	got, ok := tlsVersions[s]
	if !ok {
		return fmt.Errorf("%q is not one of 1.0, 1.1, 1.2, 1.3", string(b))
	}
	*v = got
	return nil
}

// String gives the version as the variable takes it.
func (v TLSVersion) String() string {
	for name, x := range tlsVersions {
		if x == v {
			return name
		}
	}
	return fmt.Sprintf("0x%04x", uint16(v))
}

// CipherList is the TLS 1.2 (and older) cipher suites the gateway offers, by Go's
// names (FTP2S3_TLS_CIPHERS, comma-separated). Empty keeps Go's defaults. TLS 1.3
// suites are not configurable in crypto/tls, so naming one is an error rather
// than a setting that silently does nothing.
type CipherList []uint16

// UnmarshalText parses "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,…".
func (l *CipherList) UnmarshalText(b []byte) error {
	byName := map[string]*tls.CipherSuite{}
	for _, cs := range append(tls.CipherSuites(), tls.InsecureCipherSuites()...) {
		byName[cs.Name] = cs
	}
	var out CipherList
	for _, name := range strings.Split(string(b), ",") {
		name = strings.TrimSpace(name)
		if name == "" {
			continue
		}
		cs, ok := byName[name]
		if !ok {
			return fmt.Errorf("%q is not a cipher suite Go knows (names as in crypto/tls, e.g. TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256)", name)
		}
		if onlyTLS13(cs) {
			return fmt.Errorf("%s is a TLS 1.3 suite; TLS 1.3 suites are always on and cannot be chosen", name)
		}
		out = append(out, cs.ID)
	}
	*l = out
	return nil
}

func onlyTLS13(cs *tls.CipherSuite) bool {
	return len(cs.SupportedVersions) == 1 && cs.SupportedVersions[0] == tls.VersionTLS13
}

// Insecure names the listed suites that crypto/tls calls insecure (RC4, 3DES,
// CBC with SHA-256), so that start-up can warn about them.
func (l CipherList) Insecure() []string {
	var names []string
	for _, cs := range tls.InsecureCipherSuites() {
		for _, id := range l {
			if id == cs.ID {
				names = append(names, cs.Name)
			}
		}
	}
	return names
}

// SessionReuse is FTP2S3_TLS_SESSION_REUSE: whether a PROT P data connection
// may, or must, resume the control connection's TLS session.
type SessionReuse string

const (
	// ReuseOff issues no session tickets: every data connection makes a full
	// handshake. For clients whose resumption is broken rather than absent.
	ReuseOff SessionReuse = "off"
	// ReuseEnabled offers resumption (tickets of the control connection's own
	// keys) and accepts data connections that do not resume.
	ReuseEnabled SessionReuse = "enabled"
	// ReuseRequired refuses (522) a data connection that does not resume.
	ReuseRequired SessionReuse = "required"
)

// UnmarshalText accepts off, enabled or required.
func (r *SessionReuse) UnmarshalText(b []byte) error {
	switch v := SessionReuse(strings.ToLower(strings.TrimSpace(string(b)))); v {
	case ReuseOff, ReuseEnabled, ReuseRequired:
		*r = v
		return nil
	}
	return fmt.Errorf("%q is not one of off, enabled, required", string(b))
}

// TLSPolicy is what the configuration says about TLS beyond the certificate.
type TLSPolicy struct {
	MinVersion TLSVersion
	Ciphers    CipherList
	Reuse      SessionReuse
}

// apply sets the policy on a server configuration.
func (p TLSPolicy) apply(c *tls.Config) {
	c.MinVersion = uint16(p.MinVersion)
	if c.MinVersion == 0 {
		c.MinVersion = tls.VersionTLS12
	}
	if len(p.Ciphers) > 0 {
		c.CipherSuites = append([]uint16(nil), p.Ciphers...)
	}
	// Without tickets a TLS 1.2 or 1.3 client cannot resume: crypto/tls keeps no
	// server-side session cache, so this switches resumption off altogether.
	c.SessionTicketsDisabled = p.Reuse == ReuseOff
}

// warnWeakTLS says at start-up when the policy lets in what crypto/tls
// considers weak: an operator may need it for an old device, but should see it.
func warnWeakTLS(cfg *Config, log *slog.Logger) {
	if cfg.TLSMinVersion != 0 && cfg.TLSMinVersion < TLSVersion(tls.VersionTLS12) {
		log.Warn("FTP2S3_TLS_MIN_VERSION allows TLS versions older than 1.2", "min_version", cfg.TLSMinVersion.String())
	}
	if weak := cfg.TLSCiphers.Insecure(); len(weak) > 0 {
		log.Warn("FTP2S3_TLS_CIPHERS lists suites crypto/tls calls insecure", "suites", strings.Join(weak, ","))
	}
}
