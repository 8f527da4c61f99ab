package gateway

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"sync/atomic"
	"time"
)

// DefaultTLSListen is where implicit FTPS listens when FTP2S3_TLS=implicit and
// FTP2S3_TLS_LISTEN is empty: 990 is the registered port, but the gateway runs
// without privileges, so it mirrors 2121 for 21.
const DefaultTLSListen = ":2990"

// Certificates holds the gateway's TLS certificate and reloads it from its files
// on demand (Gateway.ReloadTLS, on SIGHUP). Handshakes always see the newest
// certificate that loaded; sessions already running keep theirs.
type Certificates struct {
	certFile, keyFile string
	cert              atomic.Pointer[tls.Certificate]
	reloads, failures atomic.Int64
}

// LoadCertificates reads a certificate chain and its private key, and checks
// that they belong together.
func LoadCertificates(certFile, keyFile string) (*Certificates, error) {
	c := &Certificates{certFile: certFile, keyFile: keyFile}
	if err := c.Reload(); err != nil {
		return nil, err
	}
	return c, nil
}

// Reload reads the files again. On failure the previous certificate stays.
func (c *Certificates) Reload() error {
	cert, err := loadKeyPair(c.certFile, c.keyFile)
	if err != nil {
		c.failures.Add(1)
		return err
	}
	c.cert.Store(&cert)
	c.reloads.Add(1)
	return nil
}

// loadKeyPair wraps tls.LoadX509KeyPair with errors that say which file is wrong.
func loadKeyPair(certFile, keyFile string) (tls.Certificate, error) {
	certPEM, err := os.ReadFile(certFile)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("FTP2S3_TLS_CERT: %w", err)
	}
	keyPEM, err := os.ReadFile(keyFile)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("FTP2S3_TLS_KEY: %w", err)
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		// Tell a mismatch from a file that is not what it should be.
		if !hasCert(certPEM) {
			return tls.Certificate{}, fmt.Errorf("FTP2S3_TLS_CERT: %s holds no PEM certificate", certFile)
		}
		if !bytes.Contains(keyPEM, []byte("PRIVATE KEY-----")) {
			return tls.Certificate{}, fmt.Errorf("FTP2S3_TLS_KEY: %s holds no PEM private key", keyFile)
		}
		return tls.Certificate{}, fmt.Errorf("FTP2S3_TLS_KEY: %s is not the private key of the certificate in %s (%v)", keyFile, certFile, err)
	}
	if cert.Leaf == nil {
		if cert.Leaf, err = x509.ParseCertificate(cert.Certificate[0]); err != nil {
			return tls.Certificate{}, fmt.Errorf("FTP2S3_TLS_CERT: %w", err)
		}
	}
	return cert, nil
}

func hasCert(pemBytes []byte) bool {
	pool := x509.NewCertPool()
	return pool.AppendCertsFromPEM(pemBytes)
}

// Current returns the certificate in use.
func (c *Certificates) Current() *tls.Certificate { return c.cert.Load() }

// Reloads returns how many times the certificate loaded, and how many reloads failed.
func (c *Certificates) Reloads() (ok, failed int64) { return c.reloads.Load(), c.failures.Load() }

// TLSConfig is the gateway's TLS configuration: the policy's versions, suites
// and session resumption, and the current certificate on every handshake.
// Sessions clone it.
func (c *Certificates) TLSConfig(p TLSPolicy) *tls.Config {
	conf := &tls.Config{
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
			return c.Current(), nil
		},
	}
	p.apply(conf)
	return conf
}

// ReloadTLS reads the certificate files again (cmd/ftp2s3 calls it on
// SIGHUP) and logs the outcome. Handshakes from then on get the new
// certificate; running sessions keep theirs. On failure the previous
// certificate stays. Without FTPS there is nothing to reload.
func (g *Gateway) ReloadTLS() error {
	if g.Certs == nil {
		return errors.New("FTPS is off (FTP2S3_TLS=off): no certificate to reload")
	}
	if err := g.Certs.Reload(); err != nil {
		g.Log.Error("TLS certificate reload failed; keeping the previous one", "err", err)
		return err
	}
	leaf := g.Certs.Current().Leaf
	g.Log.Info("TLS certificate reloaded", "subject", leaf.Subject.String(), "not_after", leaf.NotAfter.Format(time.RFC3339))
	return nil
}

// implicitListen returns the implicit-FTPS address, or "" when there is none.
func (c *Config) implicitListen() string {
	if c.TLSListen != "" {
		return c.TLSListen
	}
	if c.TLS == "implicit" {
		return DefaultTLSListen
	}
	return ""
}
