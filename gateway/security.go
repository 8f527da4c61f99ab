package gateway

import (
	"crypto/tls"

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

// newSecurity wires the login side, with the FTP2S3_BUCKETS allow-list on the
// home of users whose home is every bucket.
func newSecurity(cfg *Config, authn session.Authenticator) (*security, error) {
	sec := &security{policy: cfg.tlsPolicy(), authn: authn, bans: auth.NewBans(cfg.BanAfter, cfg.BanFor, cfg.BanFor), tlsStats: &session.TLSStats{}}
	sec.certs = cfg.KeyPair // LoadConfig read it
	if cfg.TLS != "off" && sec.certs == nil {
		certs, err := LoadCertificates(cfg.TLSCert, cfg.TLSKey)
		if err != nil {
			return nil, err
		}
		sec.certs = certs
	}
	if cfg.AnonymousHome.Set {
		sec.authn = auth.Anonymous(authn, cfg.AnonymousHome.Home)
	}
	if len(cfg.Buckets) > 0 {
		sec.authn = auth.AllowBuckets(sec.authn, cfg.Buckets)
	}
	return sec, nil
}

func (s *security) tlsConfig() *tls.Config {
	if s.certs == nil {
		return nil
	}
	return s.certs.TLSConfig(s.policy)
}
