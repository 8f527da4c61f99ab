package integration

import (
	"crypto/tls"
	"io"
	"net/textproto"
	"strings"
	"testing"

	"github.com/ftp2s3/ftp2s3/gateway"
)

// tlsLogin opens an explicit-FTPS control connection with conf and logs in; it
// returns nil and the handshake error when the gateway refuses the handshake.
func tlsLogin(t *testing.T, g *ftpsGateway, conf *tls.Config) (*ftpRaw, error) {
	t.Helper()
	r := rawDial(t, g.Addr)
	r.expect(220)
	r.cmd(234, "AUTH TLS")
	tc := tls.Client(r.c, conf)
	if err := tc.Handshake(); err != nil {
		return nil, err
	}
	r.c = tc
	r.tp = textproto.NewConn(tc)
	r.login(userRW)
	return r, nil
}

// TestFTPSMinVersion: FTP2S3_TLS_MIN_VERSION=1.3 refuses a client that stops at
// TLS 1.2 (Go's and curl's) and lets a TLS 1.3 client in.
func TestFTPSMinVersion(t *testing.T) {
	t.Parallel()
	g := startFTPS(t, "explicit", func(c *gateway.Config) { c.TLSMinVersion = gateway.TLSVersion(tls.VersionTLS13) })
	base := tls.Config{RootCAs: g.Cert.Pool(), ServerName: "127.0.0.1"}
	old := base.Clone()
	old.MaxVersion = tls.VersionTLS12
	if _, err := tlsLogin(t, g, old); err == nil {
		t.Fatal("a TLS 1.2 client was let in with FTP2S3_TLS_MIN_VERSION=1.3")
	}
	r, err := tlsLogin(t, g, base.Clone())
	if err != nil {
		t.Fatalf("TLS 1.3 client: %v", err)
	}
	if v := r.c.(*tls.Conn).ConnectionState().Version; v != tls.VersionTLS13 {
		t.Fatalf("negotiated %x, want TLS 1.3", v)
	}
	curl := []string{"-sS", "--max-time", "30", "--ssl-reqd", "--cacert", g.Cert.CertFile}
	url := "ftp://" + userRW + ":" + pctPassword + "@" + g.Addr + "/"
	if out, err := runTool(t, "curl", append(curl, "--tls-max", "1.2", url)...); err == nil {
		t.Fatalf("curl --tls-max 1.2 listed against a 1.3 minimum:\n%s", out)
	}
	if out, err := runTool(t, "curl", append(curl, url)...); err != nil {
		t.Fatalf("curl with TLS 1.3: %v\n%s", err, out)
	}
}

// TestFTPSCipherList: FTP2S3_TLS_CIPHERS limits the TLS 1.2 suites; a client
// offering only another suite is refused, one offering the listed suite gets it.
func TestFTPSCipherList(t *testing.T) {
	t.Parallel()
	var ciphers gateway.CipherList
	if err := ciphers.UnmarshalText([]byte("TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384")); err != nil {
		t.Fatal(err)
	}
	g := startFTPS(t, "explicit", func(c *gateway.Config) { c.TLSCiphers = ciphers })
	conf := func(suite uint16) *tls.Config {
		return &tls.Config{RootCAs: g.Cert.Pool(), ServerName: "127.0.0.1", MaxVersion: tls.VersionTLS12, CipherSuites: []uint16{suite}}
	}
	if _, err := tlsLogin(t, g, conf(tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256)); err == nil {
		t.Fatal("a suite outside FTP2S3_TLS_CIPHERS was accepted")
	}
	r, err := tlsLogin(t, g, conf(tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384))
	if err != nil {
		t.Fatalf("listed suite: %v", err)
	}
	if cs := r.c.(*tls.Conn).ConnectionState().CipherSuite; cs != tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384 {
		t.Fatalf("negotiated %s", tls.CipherSuiteName(cs))
	}
}

// TestFTPSSessionReuseModes: with FTP2S3_TLS_SESSION_REUSE=enabled a PROT P data
// connection resumes the control connection's session when the client asks,
// with off it cannot (every data connection makes a full handshake), and in
// both a client that does not resume is served.
func TestFTPSSessionReuseModes(t *testing.T) {
	t.Parallel()
	for _, mode := range []gateway.SessionReuse{gateway.ReuseEnabled, gateway.ReuseOff} {
		t.Run(string(mode), func(t *testing.T) {
			t.Parallel()
			g := startFTPS(t, "explicit", func(c *gateway.Config) { c.TLSSessionReuse = mode })
			g.putObject("r.txt", "resumed or not")
			for _, cache := range []bool{true, false} {
				conf := &tls.Config{RootCAs: g.Cert.Pool(), ServerName: "127.0.0.1"}
				if cache {
					conf.ClientSessionCache = tls.NewLRUClientSessionCache(4)
				}
				r, err := tlsLogin(t, g, conf)
				if err != nil {
					t.Fatal(err)
				}
				r.cmd(200, "PBSZ 0")
				r.cmd(200, "PROT P")
				addr := r.epsvAddr()
				r.send("RETR r.txt")
				raw := dialData(t, addr)
				r.expect(150)
				dc := tls.Client(raw, conf)
				if err := dc.Handshake(); err != nil {
					t.Fatalf("data handshake: %v", err)
				}
				body, _ := io.ReadAll(dc)
				_ = dc.Close()
				r.expect(226)
				if string(body) != "resumed or not" {
					t.Fatalf("downloaded %q", body)
				}
				want := cache && mode == gateway.ReuseEnabled
				if got := dc.ConnectionState().DidResume; got != want {
					t.Fatalf("client cache %v, mode %s: data connection resumed %v, want %v", cache, mode, got, want)
				}
			}
		})
	}
}

// TestTLSPolicyConfigErrors: bad values stop the start with the variable named.
func TestTLSPolicyConfigErrors(t *testing.T) {
	t.Parallel()
	bin := buildBinary(t)
	for _, tc := range []struct{ env, want string }{
		{"FTP2S3_TLS_MIN_VERSION=1.4", "FTP2S3_TLS_MIN_VERSION"},
		{"FTP2S3_TLS_CIPHERS=TLS_AES_128_GCM_SHA256", "FTP2S3_TLS_CIPHERS"},
		{"FTP2S3_TLS_CIPHERS=NOT_A_SUITE", "FTP2S3_TLS_CIPHERS"},
		{"FTP2S3_TLS_SESSION_REUSE=sometimes", "FTP2S3_TLS_SESSION_REUSE"},
	} {
		out, code := runBinaryEnv(bin, tc.env)
		if code != 2 || !strings.Contains(out, tc.want) {
			t.Errorf("%s: exit %d, output %q; want exit 2 naming %s", tc.env, code, out, tc.want)
		}
	}
}
