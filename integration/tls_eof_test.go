package integration

import (
	"crypto/tls"
	"fmt"
	"net"
	"strings"
	"testing"

	"github.com/ftp2s3/ftp2s3/gateway"
	"github.com/ftp2s3/ftp2s3/internal/testkit"
)

func strictEOF(c *gateway.Config) { c.TLSStrictEOF = true }

// TestTLSStrictEOFClients (issue 13 §5): with FTP2S3_TLS_STRICT_EOF on, curl,
// lftp and Python's ftplib upload under PROT P as before: they end their TLS
// data connections with close_notify.
func TestTLSStrictEOFClients(t *testing.T) {
	t.Parallel()
	g := startFTPS(t, "explicit", strictEOF)
	src, want := patternFile(t, 1<<20+3, 21)
	host, port, _ := strings.Cut(g.Addr, ":")

	base := fmt.Sprintf("ftp://%s:%s@%s/", userRW, pctPassword, g.Addr)
	if out, err := runTool(t, "curl", "-sS", "--fail", "--max-time", "60", "--ssl-reqd", "--cacert", g.Cert.CertFile,
		"-T", src, base+"curl.bin"); err != nil {
		t.Fatalf("curl upload: %v\n%s", err, out)
	}
	script := strings.Join([]string{
		"set ftp:ssl-force true", "set ftp:ssl-protect-data true", "set ssl:verify-certificate no",
		"set net:max-retries 1", "set net:timeout 20", "set cmd:fail-exit true",
		fmt.Sprintf("open -u \"%s,%s\" ftp://%s", userRW, testPassword, g.Addr),
		"put " + src + " -o lftp.bin",
	}, "; ")
	if out, err := runTool(t, "lftp", "-c", script); err != nil {
		t.Fatalf("lftp: %v\n%s", err, out)
	}
	if out, err := runTool(t, "python3", "-c", pythonFTPTLS, host, port, userRW, testPassword, g.Cert.CertFile, src, "py.bin", "passive"); err != nil {
		t.Fatalf("python: %v\n%s", err, out)
	}
	for _, key := range []string{"curl.bin", "lftp.bin", "py.bin"} {
		if sum, _, err := g.object(key); err != nil || sum != want {
			t.Fatalf("%s: sha %s, %v; want %s", key, sum, err, want)
		}
	}
	if n := g.GW.TLSStats.UploadsWithoutCloseNotify.Load(); n != 0 {
		t.Fatalf("%d uploads counted as ending without close_notify; these clients send it", n)
	}
}

// truncatedTLSUpload logs in over explicit FTPS, sends STOR under PROT P,
// writes body on the TLS data connection and ends it with a bare TCP FIN, no
// close_notify (as a FIN injected on the path would). It returns the final
// reply.
func truncatedTLSUpload(t *testing.T, g *testGateway, cert testkit.Cert, name, body string) (int, string) {
	t.Helper()
	conf := &tls.Config{RootCAs: cert.Pool(), ServerName: "127.0.0.1", ClientSessionCache: tls.NewLRUClientSessionCache(4)}
	c := rawDial(t, g.Addr)
	if code, msg := c.read(); code != 220 {
		t.Fatalf("greeting %d %q", code, msg)
	}
	c.cmd(234, "AUTH TLS")
	c.startTLS(conf)
	c.cmd(331, "USER %s", userRW)
	c.cmd(230, "PASS %s", testPassword)
	c.cmd(200, "PBSZ 0")
	c.cmd(200, "PROT P")
	raw := dialData(t, c.epsvAddr())
	c.cmd(150, "STOR %s", name)
	tc := tls.Client(raw, conf)
	if err := tc.Handshake(); err != nil {
		t.Fatalf("data TLS handshake: %v", err)
	}
	if _, err := tc.Write([]byte(body)); err != nil {
		t.Fatal(err)
	}
	// FIN without close_notify; the read side stays open so that unread
	// session tickets do not turn the close into a reset.
	if err := raw.(*net.TCPConn).CloseWrite(); err != nil {
		t.Fatal(err)
	}
	return c.read()
}

// TestTLSStrictEOFRefusesTruncatedUpload: with FTP2S3_TLS_STRICT_EOF on, a
// PROT P upload whose data connection ends without close_notify is refused
// with 451 and stores nothing; the refusal is logged and counted.
func TestTLSStrictEOFRefusesTruncatedUpload(t *testing.T) {
	t.Parallel()
	g := startFTPS(t, "explicit", strictEOF)
	code, msg := truncatedTLSUpload(t, g.testGateway, g.Cert, "cut.bin", strings.Repeat("partial ", 1000))
	if code != 451 {
		t.Fatalf("truncated TLS upload with strict EOF: %d %q, want 451", code, msg)
	}
	if _, _, err := g.object("cut.bin"); err == nil {
		t.Fatal("the refused upload left an object")
	}
	if n := g.GW.TLSStats.UploadsWithoutCloseNotify.Load(); n != 1 {
		t.Fatalf("counted %d uploads without close_notify, want 1", n)
	}
	if !strings.Contains(g.Logs.String(), "ended without close_notify") {
		t.Fatal("the refusal was not logged")
	}
}

// TestTLSStrictEOFOffAcceptsAndCounts: by default the same upload is stored
// (as before), with a warning and the metric counting it.
func TestTLSStrictEOFOffAcceptsAndCounts(t *testing.T) {
	t.Parallel()
	cert := testkit.WriteCert(t, t.TempDir(), 1)
	g := startOpsGateway(t, minio, func(c *gateway.Config) {
		c.TLS, c.TLSCert, c.TLSKey = "explicit", cert.CertFile, cert.KeyFile
	}, nil)
	body := strings.Repeat("whole? ", 1000)
	if code, msg := truncatedTLSUpload(t, g.testGateway, cert, "kept.bin", body); code != 226 {
		t.Fatalf("truncated TLS upload without strict EOF: %d %q, want 226", code, msg)
	}
	if _, n, err := g.object("kept.bin"); err != nil || n != int64(len(body)) {
		t.Fatalf("kept.bin: %d bytes, %v", n, err)
	}
	m := scrape(t, g)
	if v := m["ftp2s3_tls_uploads_without_close_notify_total"]; v != 1 {
		t.Fatalf("ftp2s3_tls_uploads_without_close_notify_total = %v, want 1", v)
	}
	// The upload secured its control and its data connection.
	for _, name := range []string{"ftp2s3_tls_control_handshakes_total", "ftp2s3_tls_data_handshakes_total"} {
		if m[name] != 1 {
			t.Errorf("%s = %v, want 1", name, m[name])
		}
	}
	if !strings.Contains(g.Logs.String(), "ended without close_notify") {
		t.Fatal("no warning logged")
	}
}
