package gateway

import (
	"crypto/tls"
	"fmt"

	"github.com/ftp2s3/ftp2s3/gateway/auth"
	"github.com/ftp2s3/ftp2s3/session"
)

// security is the wiring of TLS, the login guard and anonymous access.
type security struct {
	policy   TLSPolicy
	certs    *Certificates
	bans     *auth.Bans
	authn    session.Authenticator
	tlsStats *session.TLSStats
}

// newSecurity wires the login side; fs is the gateway's storage, which the
// FTP2S3_BUCKETS allow-list narrows for users whose home is every bucket.
func newSecurity(cfg *Config, authn session.Authenticator, fs session.FS) (*security, error) {
	sec := &security{policy: cfg.tlsPolicy(), authn: authn, bans: auth.NewBans(cfg.BanAfter, cfg.BanFor, cfg.BanFor), tlsStats: &session.TLSStats{}}
	if cfg.TLS != "off" {
		certs, err := LoadCertificates(cfg.TLSCert, cfg.TLSKey)
		if err != nil {
			return nil, err
		}
		sec.certs = certs
	}
	if cfg.AnonymousHome != "" {
		home, err := session.ParseHome(cfg.AnonymousHome)
		if err != nil {
			return nil, fmt.Errorf("FTP2S3_ANONYMOUS_HOME: %w", err)
		}
		sec.authn = auth.Anonymous(authn, home)
	}
	allow, err := auth.ParseBucketList(cfg.Buckets)
	if err != nil {
		return nil, fmt.Errorf("FTP2S3_BUCKETS: %w", err)
	}
	if allow != nil {
		sec.authn = auth.AllowBuckets(sec.authn, fs, allow)
	}
	return sec, nil
}

func (s *security) tlsConfig() *tls.Config {
	if s.certs == nil {
		return nil
	}
	return s.certs.TLSConfig(s.policy)
}
