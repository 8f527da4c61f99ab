package integration

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/ftp2s3/ftp2s3/gateway"
)

// ftpsCert is a self-signed certificate for 127.0.0.1, ::1 and localhost,
// generated per test (none is checked in).
type ftpsCert struct {
	CertFile, KeyFile string
	Serial            int64
}

func writeFTPSCert(t *testing.T, dir string, serial int64) ftpsCert {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(serial),
		Subject:               pkix.Name{CommonName: "ftp2s3 test", Organization: []string{"ftp2s3"}},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		IPAddresses:           []net.IP{net.ParseIP("127.0.0.1"), net.ParseIP("::1")},
		DNSNames:              []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	c := ftpsCert{CertFile: filepath.Join(dir, "cert.pem"), KeyFile: filepath.Join(dir, "key.pem"), Serial: serial}
	if err := os.WriteFile(c.CertFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(c.KeyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	return c
}

// pool returns a certificate pool that trusts c.
func (c ftpsCert) pool(t *testing.T) *x509.CertPool {
	t.Helper()
	b, err := os.ReadFile(c.CertFile)
	if err != nil {
		t.Fatal(err)
	}
	p := x509.NewCertPool()
	p.AppendCertsFromPEM(b)
	return p
}

// ftpsGateway is a gateway with FTPS on, and its implicit port when there is one.
type ftpsGateway struct {
	*testGateway
	Cert         ftpsCert
	ImplicitAddr string
}

// startFTPS starts a gateway in the given FTP2S3_TLS mode with a fresh certificate.
func startFTPS(t *testing.T, mode string, mutate ...func(*gateway.Config)) *ftpsGateway {
	t.Helper()
	cert := writeFTPSCert(t, t.TempDir(), 1)
	g := startGateway(t, append([]func(*gateway.Config){func(c *gateway.Config) {
		c.TLS, c.TLSCert, c.TLSKey = mode, cert.CertFile, cert.KeyFile
	}}, mutate...)...)
	fg := &ftpsGateway{testGateway: g, Cert: cert}
	if mode == "implicit" {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		go func() { _ = g.GW.Server.ServeImplicitTLS(l) }()
		fg.ImplicitAddr = l.Addr().String()
	}
	return fg
}

// run runs a client program and returns its combined output.
func runTool(t *testing.T, name string, args ...string) (string, error) {
	t.Helper()
	var out bytes.Buffer
	cmd := exec.Command(name, args...)
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}

// patternFile writes n pattern bytes to a new file and returns its path and SHA-256.
func patternFile(t *testing.T, n int64, seed uint64) (string, string) {
	t.Helper()
	return writePattern(t, t.TempDir(), fmt.Sprintf("src-%d.bin", seed), n, seed)
}

// runBinaryEnv runs the gateway binary with only env set and returns its output and
// exit status.
func runBinaryEnv(bin string, env ...string) (string, int) {
	var out bytes.Buffer
	cmd := exec.Command(bin)
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH")}, env...)
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); ok {
		return out.String(), ee.ExitCode()
	}
	if err != nil {
		return out.String() + err.Error(), -1
	}
	return out.String(), 0
}
