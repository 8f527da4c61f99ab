package gateway

import (
	"crypto/tls"
	"fmt"

	"github.com/ftp2s3/ftp2s3/session"
)

// security is the wiring of TLS, the login guard and anonymous access.
type security struct {
	certs    *Certificates
	bans     *Bans
	auth     session.Authenticator
	tlsStats *session.TLSStats
}

func newSecurity(cfg *Config, auth session.Authenticator) (*security, error) {
	sec := &security{auth: auth, bans: NewBans(cfg.BanAfter, cfg.BanFor, cfg.BanFor), tlsStats: &session.TLSStats{}}
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
		sec.auth = anonymousAuth{next: auth, home: home}
	}
	return sec, nil
}

func (s *security) tlsConfig() *tls.Config {
	if s.certs == nil {
		return nil
	}
	return s.certs.TLSConfig()
}
