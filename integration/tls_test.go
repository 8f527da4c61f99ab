package integration

import (
	"crypto/tls"
	"fmt"
	"io"
	"net/textproto"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jlaffaye/ftp"

	"github.com/ftp2s3/ftp2s3/gateway"
	"github.com/ftp2s3/ftp2s3/internal/testkit"
)

const pctPassword = "s3cret%20pass"

// reuseRequired turns on FTP2S3_TLS_SESSION_REUSE=required.
func reuseRequired(c *gateway.Config) { c.TLSSessionReuse = "required" }

// TestFTPSCurlExplicit: curl --ssl-reqd uploads, lists and downloads against a
// gateway that requires data connections to resume the control connection's TLS
// session (curl does resume). Passive only: curl 7.88 sends active-mode FTPS data
// in clear (a curl bug; the gateway refuses it with 425), so active mode is
// covered with lftp and Python below.
func TestFTPSCurlExplicit(t *testing.T) {
	t.Parallel()
	g := startFTPS(t, "explicit", reuseRequired)
	src, want := patternFile(t, 3<<20+17, 7)
	base := fmt.Sprintf("ftp://%s:%s@%s/", userRW, pctPassword, g.Addr)
	curlTLS := []string{"-sS", "--fail", "--max-time", "60", "--ssl-reqd", "--cacert", g.Cert.CertFile}
	for _, mode := range []struct {
		name  string
		extra []string
	}{{"passive", nil}, {"epsv-off", []string{"--disable-epsv"}}} {
		t.Run(mode.name, func(t *testing.T) {
			key := mode.name + ".bin"
			args := append(append(append([]string{}, curlTLS...), mode.extra...), "-T", src, base+key)
			if out, err := runTool(t, "curl", args...); err != nil {
				t.Fatalf("curl upload: %v\n%s", err, out)
			}
			if sum, _, err := g.object(key); err != nil || sum != want {
				t.Fatalf("object %s: sha %s, err %v; want %s", key, sum, err, want)
			}
			dst := filepath.Join(t.TempDir(), "dst.bin")
			args = append(append(append([]string{}, curlTLS...), mode.extra...), "-o", dst, base+key)
			if out, err := runTool(t, "curl", args...); err != nil {
				t.Fatalf("curl download: %v\n%s", err, out)
			}
			if sum, _ := fileSHA(t, dst); sum != want {
				t.Fatalf("downloaded sha %s, want %s", sum, want)
			}
			out, err := runTool(t, "curl", append(append(append([]string{}, curlTLS...), mode.extra...), base)...)
			if err != nil || !strings.Contains(out, key) {
				t.Fatalf("curl list: %v\n%s", err, out)
			}
		})
	}
	if strings.Contains(g.Logs.String(), "not resumed") {
		t.Fatal("a curl data connection did not resume the TLS session")
	}
}

// TestFTPSCurlImplicit: curl ftps:// speaks TLS from the first byte.
func TestFTPSCurlImplicit(t *testing.T) {
	t.Parallel()
	g := startFTPS(t, "implicit", reuseRequired)
	src, want := patternFile(t, 1<<20+3, 8)
	base := fmt.Sprintf("ftps://%s:%s@%s/", userRW, pctPassword, g.ImplicitAddr)
	tlsArgs := []string{"-sS", "--fail", "--max-time", "60", "--cacert", g.Cert.CertFile}
	if out, err := runTool(t, "curl", append(tlsArgs, "-T", src, base+"implicit.bin")...); err != nil {
		t.Fatalf("curl upload: %v\n%s", err, out)
	}
	if sum, _, err := g.object("implicit.bin"); err != nil || sum != want {
		t.Fatalf("object: sha %s, err %v; want %s", sum, err, want)
	}
	dst := filepath.Join(t.TempDir(), "dst.bin")
	if out, err := runTool(t, "curl", append(tlsArgs, "-o", dst, base+"implicit.bin")...); err != nil {
		t.Fatalf("curl download: %v\n%s", err, out)
	}
	if sum, _ := fileSHA(t, dst); sum != want {
		t.Fatalf("downloaded sha %s, want %s", sum, want)
	}
	// In implicit mode the plain port still answers, but only for AUTH TLS.
	r := rawDial(t, g.Addr)
	r.read()
	if code, msg := r.ask("USER %s", userRW); code != 530 || !strings.Contains(msg, "TLS") {
		t.Fatalf("USER in clear on the plain port: %d %q, want 530 naming TLS", code, msg)
	}
}

// TestFTPSLftp: lftp with ftp:ssl-force uploads and downloads; it resumes the
// TLS session on data connections, so session reuse can be required.
func TestFTPSLftp(t *testing.T) {
	t.Parallel()
	g := startFTPS(t, "required", reuseRequired)
	src, want := patternFile(t, 2<<20+5, 9)
	for _, tc := range []struct {
		passive  bool
		priority string // GnuTLS priorities: the second run is TLS 1.2 with session tickets
	}{{true, "NORMAL"}, {false, "NORMAL"}, {true, "NORMAL:-VERS-TLS1.3"}} {
		passive := tc.passive
		name := fmt.Sprintf("lftp-passive-%v-%s.bin", passive, strings.ReplaceAll(tc.priority, ":", ""))
		dst := filepath.Join(t.TempDir(), "dst.bin")
		script := strings.Join([]string{
			"set ftp:ssl-force true", "set ftp:ssl-protect-data true", "set ssl:verify-certificate no",
			fmt.Sprintf("set ftp:passive-mode %v", passive), "set ssl:priority " + tc.priority,
			"set net:max-retries 1", "set net:timeout 20", "set cmd:fail-exit true",
			fmt.Sprintf("open -u \"%s,%s\" ftp://%s", userRW, testPassword, g.Addr),
			"put " + src + " -o " + name, "get " + name + " -o " + dst, "cls -1",
		}, "; ")
		out, err := runTool(t, "lftp", "-c", script)
		if err != nil {
			t.Fatalf("lftp (passive %v): %v\n%s", passive, err, out)
		}
		if sum, _, err := g.object(name); err != nil || sum != want {
			t.Fatalf("object: sha %s, err %v; want %s", sum, err, want)
		}
		if sum, _ := fileSHA(t, dst); sum != want {
			t.Fatalf("downloaded sha %s, want %s", sum, want)
		}
		if !strings.Contains(out, name) {
			t.Fatalf("cls did not list the file:\n%s", out)
		}
	}
	if strings.Contains(g.Logs.String(), "not resumed") {
		t.Fatal("an lftp data connection did not resume the TLS session")
	}
}

const pythonFTPTLS = `
import ftplib, hashlib, io, ssl, sys
host, port, user, pw, cafile, src, name, passive = sys.argv[1:9]
ctx = ssl.create_default_context(cafile=cafile)
ftp = ftplib.FTP_TLS(context=ctx, timeout=30)
ftp.connect(host, int(port))
ftp.login(user, pw)
ftp.prot_p()
ftp.set_pasv(passive == "passive")
try:
    with open(src, "rb") as f:
        ftp.storbinary("STOR " + name, f)
    h = hashlib.sha256()
    ftp.retrbinary("RETR " + name, h.update)
    print("sha256", h.hexdigest())
    print("names", ftp.nlst())
except (ftplib.Error, OSError) as e:
    print("refused:", e)
    try:
        print("reply:", ftp.getresp())
    except Exception as e2:
        print("reply:", e2)
    sys.exit(3)
ftp.quit()
`

// TestFTPSPython: Python's ftplib.FTP_TLS with prot_p() round-trips a file with
// checksums, passive and active; it does not resume TLS sessions, so with session
// reuse required its data connection is refused with 522.
func TestFTPSPython(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		reuse bool
		mode  string
	}{{false, "passive"}, {false, "active"}, {true, "passive"}} {
		reuse := tc.reuse
		t.Run(fmt.Sprintf("%s/reuse_required=%v", tc.mode, reuse), func(t *testing.T) {
			g := startFTPS(t, "explicit", func(c *gateway.Config) {
				if reuse {
					c.TLSSessionReuse = "required"
				}
			})
			src, want := patternFile(t, 1<<20+11, 10)
			host, port, _ := strings.Cut(g.Addr, ":")
			out, err := runTool(t, "python3", "-c", pythonFTPTLS, host, port, userRW, testPassword, g.Cert.CertFile, src, "py.bin", tc.mode)
			if reuse {
				// Under TLS 1.3 the client may already be writing when the server,
				// having seen a fresh session, closes; it then hears 522 on the
				// control connection.
				if err == nil || !strings.Contains(out, "522") {
					t.Fatalf("python without session reuse: %v\n%s\nwant a 522 refusal", err, out)
				}
				if !strings.Contains(g.Logs.String(), "TLS session not resumed") {
					t.Fatal("the refusal was not logged")
				}
				if _, _, err := g.object("py.bin"); err == nil {
					t.Fatal("the refused upload left an object")
				}
				return
			}
			if err != nil {
				t.Fatalf("python: %v\n%s", err, out)
			}
			if !strings.Contains(out, "sha256 "+want) {
				t.Fatalf("python downloaded something else:\n%s\nwant sha %s", out, want)
			}
			if sum, _, err := g.object("py.bin"); err != nil || sum != want {
				t.Fatalf("object: sha %s, err %v; want %s", sum, err, want)
			}
		})
	}
}

// TestFTPSSessionReuseGo shows the reuse check with one client, two ways: Go's TLS
// client resumes only with a session cache (and a ServerName to key it by).
func TestFTPSSessionReuseGo(t *testing.T) {
	t.Parallel()
	g := startFTPS(t, "explicit", reuseRequired)
	g.putObject("hello.txt", "hello over TLS")
	dialTLS := func(conf *tls.Config) *ftp.ServerConn {
		c, err := ftp.Dial(g.Addr, ftp.DialWithTimeout(10*time.Second), ftp.DialWithExplicitTLS(conf))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.Quit() })
		if err := c.Login(userRW, testPassword); err != nil {
			t.Fatal(err)
		}
		return c
	}
	resuming := dialTLS(&tls.Config{RootCAs: g.Cert.Pool(), ServerName: "127.0.0.1", ClientSessionCache: tls.NewLRUClientSessionCache(4)})
	if _, err := resuming.List("/"); err != nil {
		t.Fatalf("LIST with a resuming client: %v", err)
	}
	plain := dialTLS(&tls.Config{RootCAs: g.Cert.Pool(), ServerName: "127.0.0.1"})
	_, err := plain.List("/")
	if code := ftpCode(err); code != 522 && code != 425 {
		t.Fatalf("LIST with a client that does not resume: %v, want 522", err)
	}
	if !strings.Contains(g.Logs.String(), "TLS session not resumed") {
		t.Fatal("the refusal was not logged")
	}
	st := g.GW.TLSStats
	if st.DataNotResumed.Load() != 1 || st.DataHandshakes.Load() != 1 || st.ControlHandshakes.Load() != 2 {
		t.Fatalf("TLS stats: %d control, %d data, %d not resumed; want 2, 1, 1",
			st.ControlHandshakes.Load(), st.DataHandshakes.Load(), st.DataNotResumed.Load())
	}
}

// TestFTPSRequiredMode: no login in clear, no data in clear, no CCC.
func TestFTPSRequiredMode(t *testing.T) {
	t.Parallel()
	g := startFTPS(t, "required")
	r := rawDial(t, g.Addr)
	if code, _ := r.read(); code != 220 {
		t.Fatalf("greeting %d", code)
	}
	if code, msg := r.ask("USER %s", userRW); code != 530 || !strings.Contains(msg, "AUTH TLS") {
		t.Fatalf("USER before AUTH: %d %q, want 530 with a reason", code, msg)
	}
	r.cmd(503, "PBSZ 0")
	r.cmd(234, "AUTH TLS")
	r.startTLS(&tls.Config{RootCAs: g.Cert.Pool(), ServerName: "127.0.0.1"})
	r.cmd(331, "USER %s", userRW)
	r.cmd(230, "PASS %s", testPassword)
	r.cmd(503, "AUTH TLS")
	r.cmd(533, "CCC")
	r.cmd(200, "PBSZ 0")
	r.cmd(534, "PROT C")
	r.cmd(536, "PROT S")
	r.cmd(229, "EPSV")
	if code, msg := r.ask("LIST"); code != 521 {
		t.Fatalf("LIST under PROT C in required mode: %d %q, want 521", code, msg)
	}
	r.cmd(200, "PROT P")
	msg := r.cmd(211, "FEAT")
	for _, f := range []string{"AUTH TLS", "PBSZ", "PROT"} {
		if !strings.Contains(msg, f) {
			t.Errorf("FEAT lacks %s:\n%s", f, msg)
		}
	}
	// jlaffaye/ftp drives the whole explicit flow (AUTH TLS, PBSZ 0, PROT P).
	c, err := ftp.Dial(g.Addr, ftp.DialWithTimeout(10*time.Second), ftp.DialWithExplicitTLS(&tls.Config{RootCAs: g.Cert.Pool(), ServerName: "127.0.0.1"}))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Quit()
	if err := c.Login(userRW, testPassword); err != nil {
		t.Fatal(err)
	}
	if err := c.Stor("go.txt", strings.NewReader("stored over TLS")); err != nil {
		t.Fatal(err)
	}
	if sum, n, err := g.object("go.txt"); err != nil || n != 15 {
		t.Fatalf("object: %s %d %v", sum, n, err)
	}
}

// TestFTPSPlaintextAfterAUTHIsDropped: commands pipelined in clear right behind
// AUTH TLS (a command-injection attempt) are never executed.
func TestFTPSPlaintextAfterAUTHIsDropped(t *testing.T) {
	t.Parallel()
	g := startFTPS(t, "explicit")
	r := rawDial(t, g.Addr)
	r.read()
	if _, err := fmt.Fprintf(r.c, "AUTH TLS\r\nMKD injected\r\n"); err != nil {
		t.Fatal(err)
	}
	if code, _ := r.read(); code != 234 {
		t.Fatalf("AUTH: %d", code)
	}
	// The handshake fails or succeeds depending on how the bytes arrive; either
	// way MKD must not run. Before looking, wait until the session is past the
	// point where it would have: commands run in order, so a reply to a later
	// command over TLS, or the session's end, proves MKD's turn is over.
	tc := tls.Client(r.c, &tls.Config{InsecureSkipVerify: true})
	if err := tc.Handshake(); err == nil {
		r.c, r.tp = tc, textproto.NewConn(tc)
		if code, msg := r.ask("NOOP"); code != 200 {
			t.Fatalf("NOOP over TLS after AUTH: %d %q", code, msg)
		}
	} else if closed, last := r.closedWithin(20 * time.Second); !closed {
		t.Fatalf("the handshake failed (%v) but the session goes on (last line %q)", err, last)
	}
	if _, _, err := g.object("injected/"); err == nil {
		t.Fatal("a command sent in clear after AUTH TLS was executed")
	}
}

// TestFTPSCertificateReloadOnSIGHUP: a new certificate is served after the
// reload SIGHUP triggers, and a session opened before keeps working.
func TestFTPSCertificateReloadOnSIGHUP(t *testing.T) {
	t.Parallel()
	g := startFTPS(t, "explicit")
	serial := func() int64 {
		t.Helper()
		r := rawDial(t, g.Addr)
		r.read()
		r.cmd(234, "AUTH TLS")
		tc := tls.Client(r.c, &tls.Config{InsecureSkipVerify: true})
		if err := tc.Handshake(); err != nil {
			t.Fatal(err)
		}
		return tc.ConnectionState().PeerCertificates[0].SerialNumber.Int64()
	}
	old, err := ftp.Dial(g.Addr, ftp.DialWithTimeout(10*time.Second), ftp.DialWithExplicitTLS(&tls.Config{InsecureSkipVerify: true}))
	if err != nil {
		t.Fatal(err)
	}
	defer old.Quit()
	if err := old.Login(userRW, testPassword); err != nil {
		t.Fatal(err)
	}
	if s := serial(); s != 1 {
		t.Fatalf("serial %d before reload, want 1", s)
	}
	testkit.WriteCert(t, filepath.Dir(g.Cert.CertFile), 2)
	// What cmd/ftp2s3 does on SIGHUP (its TestSIGHUPReloads).
	if err := g.GW.ReloadTLS(); err != nil {
		t.Fatal(err)
	}
	if ok, _ := g.GW.Certs.Reloads(); ok != 2 {
		t.Fatalf("%d certificate loads after the reload, want 2", ok)
	}
	if s := serial(); s != 2 {
		t.Fatalf("serial %d after SIGHUP, want the new certificate's 2", s)
	}
	if _, err := old.List("/"); err != nil {
		t.Fatalf("a session from before the reload broke: %v", err)
	}
	// A broken file on reload keeps the good certificate.
	if err := os.WriteFile(g.Cert.KeyFile, []byte("garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, failedBefore := g.GW.Certs.Reloads()
	if err := g.GW.ReloadTLS(); err == nil {
		t.Fatal("a reload from a broken key file succeeded")
	}
	if _, failed := g.GW.Certs.Reloads(); failed != failedBefore+1 {
		t.Fatalf("%d failed reloads, want %d", failed, failedBefore+1)
	}
	g.waitLog("TLS certificate reload failed; keeping the previous one")
	if s := serial(); s != 2 {
		t.Fatalf("serial %d after a failed reload, want 2", s)
	}
}

// TestFTPSConfigErrors: a missing or mismatched key stops start-up with a line
// naming the variable, and the binary exits with status 2.
func TestFTPSConfigErrors(t *testing.T) {
	t.Parallel()
	a := testkit.WriteCert(t, t.TempDir(), 1)
	b := testkit.WriteCert(t, t.TempDir(), 2)
	cases := []struct {
		name, cert, key, want string
	}{
		{"missing key file", a.CertFile, "/nonexistent/key.pem", "FTP2S3_TLS_KEY"},
		{"mismatched key", a.CertFile, b.KeyFile, "is not the private key"},
		{"key as cert", a.KeyFile, a.KeyFile, "holds no PEM certificate"},
	}
	for _, tc := range cases {
		cfg := gateway.DefaultConfig()
		cfg.TLS, cfg.TLSCert, cfg.TLSKey = "explicit", tc.cert, tc.key
		problems := append(cfg.Validate(), cfg.LoadFiles()...)
		if len(problems) == 0 || !strings.Contains(fmt.Sprint(problems), tc.want) {
			t.Errorf("%s: problems %v, want one mentioning %q", tc.name, problems, tc.want)
		}
	}
	bin := buildBinary(t)
	out, code := runBinaryEnv(bin, "FTP2S3_TLS=required", "FTP2S3_TLS_CERT="+a.CertFile, "FTP2S3_TLS_KEY="+b.KeyFile)
	if code != 2 || !strings.Contains(out, "FTP2S3_TLS_KEY") {
		t.Fatalf("exit %d, output:\n%s\nwant 2 and a line naming FTP2S3_TLS_KEY", code, out)
	}
}

// TestFTPSStolenDataConnectionRefused: with session reuse required, a client
// that holds a valid TLS session of its own (from another control connection of
// the same gateway) still cannot take over someone else's passive data
// connection: tickets are only good on the control connection that issued them.
func TestFTPSStolenDataConnectionRefused(t *testing.T) {
	t.Parallel()
	g := startFTPS(t, "explicit", reuseRequired)
	login := func(cache tls.ClientSessionCache) *ftpRaw {
		r := rawDial(t, g.Addr)
		r.read()
		r.cmd(234, "AUTH TLS")
		r.startTLS(&tls.Config{RootCAs: g.Cert.Pool(), ServerName: "127.0.0.1", ClientSessionCache: cache})
		r.cmd(331, "USER %s", userRW)
		r.cmd(230, "PASS %s", testPassword) // the session ticket arrives with this reply
		r.cmd(200, "PBSZ 0")
		r.cmd(200, "PROT P")
		return r
	}
	victim := login(tls.NewLRUClientSessionCache(4))
	attackerCache := tls.NewLRUClientSessionCache(4)
	login(attackerCache)

	addr := victim.epsvAddr()
	victim.send("LIST")
	raw := dialData(t, addr)
	if code, _ := victim.read(); code != 150 {
		t.Fatalf("LIST preliminary reply %d", code)
	}
	stolen := tls.Client(raw, &tls.Config{RootCAs: g.Cert.Pool(), ServerName: "127.0.0.1", ClientSessionCache: attackerCache})
	_ = stolen.Handshake()
	_, _ = io.Copy(io.Discard, stolen)
	if stolen.ConnectionState().DidResume {
		t.Fatal("the attacker's ticket resumed on the victim's data connection")
	}
	if code, msg := victim.read(); code != 522 {
		t.Fatalf("victim's LIST after a stolen data connection: %d %q, want 522", code, msg)
	}
}

// TestFTPSMinimumTLS12: clients offering nothing newer than TLS 1.1 are refused.
func TestFTPSMinimumTLS12(t *testing.T) {
	t.Parallel()
	g := startFTPS(t, "implicit")
	c, err := tls.Dial("tcp", g.ImplicitAddr, &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS10, MaxVersion: tls.VersionTLS11})
	if err == nil {
		c.Close()
		t.Fatal("a TLS 1.1 handshake succeeded")
	}
	c, err = tls.Dial("tcp", g.ImplicitAddr, &tls.Config{RootCAs: g.Cert.Pool(), ServerName: "127.0.0.1", MaxVersion: tls.VersionTLS12})
	if err != nil {
		t.Fatalf("TLS 1.2: %v", err)
	}
	defer c.Close()
	if v := c.ConnectionState().Version; v != tls.VersionTLS12 {
		t.Fatalf("negotiated %s", tls.VersionName(v))
	}
}

// TestFTPSCurlTLS12: TLS 1.2 clients work; curl (OpenSSL) resumes TLS 1.2
// sessions by session ID only, which Go's TLS server does not keep, so with
// FTP2S3_TLS_SESSION_REUSE=required its data connections are refused (documented).
func TestFTPSCurlTLS12(t *testing.T) {
	t.Parallel()
	for _, reuse := range []bool{false, true} {
		g := startFTPS(t, "explicit", func(c *gateway.Config) {
			if reuse {
				c.TLSSessionReuse = "required"
			}
		})
		src, want := patternFile(t, 512<<10, 12)
		base := fmt.Sprintf("ftp://%s:%s@%s/", userRW, pctPassword, g.Addr)
		args := []string{"-sS", "--fail", "--max-time", "60", "--ssl-reqd", "--tls-max", "1.2", "--cacert", g.Cert.CertFile}
		out, err := runTool(t, "curl", append(args, "-T", src, base+"tls12.bin")...)
		if reuse {
			if err == nil {
				t.Fatal("curl over TLS 1.2 passed the session-reuse check without resuming")
			}
			continue
		}
		if err != nil {
			t.Fatalf("curl TLS 1.2 upload: %v\n%s", err, out)
		}
		if sum, _, err := g.object("tls12.bin"); err != nil || sum != want {
			t.Fatalf("object: sha %s, err %v; want %s", sum, err, want)
		}
	}
}

// TestFTPSWget: wget downloads over explicit and implicit FTPS, resuming the TLS
// session on its data connections (--ftps-resume-ssl is its default).
func TestFTPSWget(t *testing.T) {
	t.Parallel()
	g := startFTPS(t, "implicit", reuseRequired)
	src, want := patternFile(t, 700<<10+9, 13)
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	g.putObject("wget.bin", string(b))
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"explicit", []string{fmt.Sprintf("ftps://%s:%s@%s/wget.bin", userRW, pctPassword, g.Addr)}},
		{"implicit", []string{"--ftps-implicit", fmt.Sprintf("ftps://%s:%s@%s/wget.bin", userRW, pctPassword, g.ImplicitAddr)}},
	} {
		dst := filepath.Join(t.TempDir(), "dst.bin")
		args := append([]string{"-q", "--tries=1", "--timeout=20", "--ca-certificate=" + g.Cert.CertFile, "-O", dst}, tc.args...)
		if out, err := runTool(t, "wget", args...); err != nil {
			t.Fatalf("wget %s: %v\n%s", tc.name, err, out)
		}
		if sum, _ := fileSHA(t, dst); sum != want {
			t.Fatalf("wget %s downloaded sha %s, want %s", tc.name, sum, want)
		}
	}
	if strings.Contains(g.Logs.String(), "not resumed") {
		t.Fatal("a wget data connection did not resume the TLS session")
	}
}
