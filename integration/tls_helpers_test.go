package integration

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"testing"

	"github.com/ftp2s3/ftp2s3/gateway"
	"github.com/ftp2s3/ftp2s3/internal/testkit"
)

// ftpsGateway is a gateway with FTPS on, and its implicit port when there is one.
type ftpsGateway struct {
	*testGateway
	Cert         testkit.Cert
	ImplicitAddr string
}

// startFTPS starts a gateway in the given FTP2S3_TLS mode with a fresh certificate.
func startFTPS(t *testing.T, mode string, mutate ...func(*gateway.Config)) *ftpsGateway {
	t.Helper()
	cert := testkit.WriteCert(t, t.TempDir(), 1)
	g := startGateway(t, append([]func(*gateway.Config){func(c *gateway.Config) {
		c.TLS, c.TLSCert, c.TLSKey = gateway.TLSMode(mode), cert.CertFile, cert.KeyFile
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
