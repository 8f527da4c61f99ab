package integration

import (
	"bufio"
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/textproto"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
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

// ctlConn is a hand-driven control connection, for checks no client library
// makes on purpose.
type ctlConn struct {
	t    *testing.T
	conn net.Conn
	tp   *textproto.Conn
}

func ctlDial(t *testing.T, addr string, local string) *ctlConn {
	t.Helper()
	d := net.Dialer{Timeout: 10 * time.Second}
	if local != "" {
		d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(local)}
	}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	_ = c.SetDeadline(time.Now().Add(60 * time.Second))
	return &ctlConn{t: t, conn: c, tp: textproto.NewConn(c)}
}

// cmd sends a command and returns the reply's code and text (code 0 and the
// error text when the connection ended).
func (r *ctlConn) cmd(format string, args ...any) (int, string) {
	r.t.Helper()
	if err := r.tp.PrintfLine(format, args...); err != nil {
		return 0, err.Error()
	}
	return r.read()
}

func (r *ctlConn) read() (int, string) {
	code, msg, err := r.tp.ReadResponse(0)
	if err != nil && code == 0 {
		return 0, err.Error()
	}
	return code, msg
}

// startTLS upgrades the connection after a 234.
func (r *ctlConn) startTLS(conf *tls.Config) {
	r.t.Helper()
	tc := tls.Client(r.conn, conf)
	if err := tc.Handshake(); err != nil {
		r.t.Fatalf("TLS handshake: %v", err)
	}
	r.conn = tc
	r.tp = textproto.NewConn(tc)
}

// expect fails the test unless the reply has the code.
func (r *ctlConn) expect(want int, format string, args ...any) string {
	r.t.Helper()
	code, msg := r.cmd(format, args...)
	if code != want {
		r.t.Fatalf("%s: got %d %q, want %d", strings.Fields(fmt.Sprintf(format, args...))[0], code, msg, want)
	}
	return msg
}

// closedWithin reports whether the server closes the connection within d
// (reading and discarding whatever it sends first), and what it sent last.
func (r *ctlConn) closedWithin(d time.Duration) (bool, string) {
	_ = r.conn.SetReadDeadline(time.Now().Add(d))
	br := bufio.NewReader(r.conn)
	last := ""
	for {
		l, err := br.ReadString('\n')
		if l != "" {
			last = strings.TrimSpace(l)
		}
		if err != nil {
			var ne net.Error
			if ok := asNetError(err, &ne); ok && ne.Timeout() {
				return false, last
			}
			return true, last
		}
	}
}

func asNetError(err error, target *net.Error) bool {
	ne, ok := err.(net.Error)
	if ok {
		*target = ne
	}
	return ok
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
