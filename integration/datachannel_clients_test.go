package integration

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ftp2s3/ftp2s3/gateway"
)

// writePattern writes n pattern bytes to a file in dir and returns its path and
// SHA-256.
func writePattern(t *testing.T, dir, name string, n int64, seed uint64) (string, string) {
	t.Helper()
	p := filepath.Join(dir, name)
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.ReadFrom(newPattern(n, seed)); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	sum, _ := sha256Of(newPattern(n, seed))
	return p, sum
}

func fileSHA(t *testing.T, p string) (string, int64) {
	t.Helper()
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	return sha256Of(f)
}

// TestDataPythonActive: Python's ftplib with set_pasv(False) (PORT) uploads and
// downloads a file byte for byte.
func TestDataPythonActive(t *testing.T) {
	t.Parallel()
	pythonActive(t, startGateway(t), `cmd="PORT 127,0,0,1,`)
}

// TestDataPythonActiveIPv6: the same over ::1, where ftplib sends EPRT |2|.
func TestDataPythonActiveIPv6(t *testing.T) {
	t.Parallel()
	pythonActive(t, startIPv6Gateway(t), `cmd="EPRT |2|::1|`)
}

func pythonActive(t *testing.T, g *testGateway, wantCmd string) {
	dir := t.TempDir()
	src, want := writePattern(t, dir, "src.bin", 3<<20, 11)
	dst := filepath.Join(dir, "dst.bin")
	host, port, _ := net.SplitHostPort(g.Addr)
	cmd := exec.Command("python3", "testdata/ftplib_active.py", host, port, userRW, testPassword, src, "py.bin", dst)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("ftplib: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "STOR 226") || !strings.Contains(string(out), "RETR 226") {
		t.Fatalf("ftplib replies:\n%s", out)
	}
	if sum, n, err := g.object("py.bin"); err != nil || sum != want || n != 3<<20 {
		t.Fatalf("object: %d bytes sha %s, %v", n, sum, err)
	}
	if sum, n := fileSHA(t, dst); sum != want || n != 3<<20 {
		t.Fatalf("download: %d bytes sha %s", n, sum)
	}
	if !strings.Contains(g.Logs.String(), wantCmd) {
		t.Fatalf("ftplib did not send %s", wantCmd)
	}
}

// curlModes are curl's ways of setting up a data connection, with the command
// each one must send.
var curlModes = []struct {
	name, verb string
	args       func(host string) []string
}{
	{"EPSV", "EPSV", func(string) []string { return nil }},
	{"PASV", "PASV", func(string) []string { return []string{"--disable-epsv"} }},
	{"EPRT", "EPRT", func(h string) []string { return []string{"-P", h} }},
	{"PORT", "PORT", func(h string) []string { return []string{"--disable-eprt", "-P", h} }},
}

// curlRoundTrips uploads and downloads a file through g with curl in every mode.
func curlRoundTrips(t *testing.T, g *testGateway, host, urlHost string) {
	dir := t.TempDir()
	src, want := writePattern(t, dir, "src.bin", 2<<20, 5)
	for _, m := range curlModes {
		if host != "127.0.0.1" && m.verb == "PORT" || host != "127.0.0.1" && m.verb == "PASV" {
			continue // IPv4-only commands
		}
		t.Run(m.name, func(t *testing.T) {
			key := "curl-" + strings.ToLower(m.name) + ".bin"
			url := fmt.Sprintf("ftp://%s:%s@%s/%s", userRW, "s3cret%20pass", urlHost, key)
			run := func(args ...string) string {
				t.Helper()
				var out bytes.Buffer
				all := append([]string{"-sS", "-v", "--fail", "--max-time", "60", "-g"}, m.args(host)...)
				cmd := exec.Command("curl", append(all, args...)...)
				cmd.Stdout, cmd.Stderr = &out, &out
				if err := cmd.Run(); err != nil {
					t.Fatalf("curl %v: %v\n%s", args, err, out.String())
				}
				return out.String()
			}
			log := run("-T", src, url)
			if !strings.Contains(log, "> "+m.verb) {
				t.Fatalf("curl did not send %s:\n%s", m.verb, log)
			}
			if sum, _, err := g.object(key); err != nil || sum != want {
				t.Fatalf("object: sha %s, %v", sum, err)
			}
			dst := filepath.Join(dir, key)
			run("-o", dst, url)
			if sum, _ := fileSHA(t, dst); sum != want {
				t.Fatalf("download sha %s, want %s", sum, want)
			}
		})
	}
}

func TestDataCurlModes(t *testing.T) {
	t.Parallel()
	g := startGateway(t)
	curlRoundTrips(t, g, "127.0.0.1", g.Addr)
}

func TestDataCurlIPv6(t *testing.T) {
	t.Parallel()
	g := startIPv6Gateway(t)
	curlRoundTrips(t, g, "::1", g.Addr)
}

// startIPv6Gateway starts a gateway on [::1]. A machine without an IPv6 loopback
// fails the test: IPv6 data connections are part of what the suite proves.
func startIPv6Gateway(t *testing.T) *testGateway {
	t.Helper()
	if !hasIPv6Loopback() {
		t.Fatal("this machine has no IPv6 loopback (::1); the IPv6 data-channel tests need it")
	}
	return startGateway(t, func(c *gateway.Config) { c.Listen = "[::1]:0" })
}

// TestDataIPv6 runs both modes over ::1: PASV is refused with guidance, EPSV
// and EPRT |2| work end to end.
func TestDataIPv6(t *testing.T) {
	t.Parallel()
	g := startIPv6Gateway(t)
	r := rawLogin(t, g.Addr, userRW)
	if msg := r.cmd(522, "PASV"); !strings.Contains(msg, "EPSV") {
		t.Errorf("PASV on IPv6: %q gives no guidance", msg)
	}
	r.cmd(522, "PORT 127,0,0,1,200,1")
	r.cmd(522, "EPRT |1|127.0.0.1|51201|")
	r.cmd(522, "EPSV 1")
	r.cmd(500, "EPRT |2|::2|51201|")

	body := strings.Repeat("over IPv6\n", 5000)
	addr := r.epsvAddr()
	if !strings.HasPrefix(addr, "[::1]:") {
		t.Fatalf("EPSV data address %s", addr)
	}
	d := dialData(t, addr)
	r.cmd(150, "STOR v6.txt")
	_, _ = io.WriteString(d, body)
	d.Close()
	r.expect(226)

	l, err := net.Listen("tcp", "[::1]:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	r.cmd(200, "EPRT |2|::1|%d|", l.Addr().(*net.TCPAddr).Port)
	if err := r.tp.PrintfLine("RETR v6.txt"); err != nil {
		t.Fatal(err)
	}
	_ = l.(*net.TCPListener).SetDeadline(time.Now().Add(10 * time.Second))
	dc, err := l.Accept()
	if err != nil {
		t.Fatalf("the gateway did not connect to the EPRT address: %v", err)
	}
	defer dc.Close()
	r.expect(150)
	var got bytes.Buffer
	if _, err := io.Copy(&got, dc); err != nil || got.String() != body {
		t.Fatalf("EPRT download: %d bytes, %v", got.Len(), err)
	}
	r.expect(226)
	if ra := dc.RemoteAddr().(*net.TCPAddr); !ra.IP.Equal(net.IPv6loopback) {
		t.Fatalf("active connection came from %s", ra)
	}
}

// TestDataLftpBothModes: lftp uploads and downloads in passive and in active
// mode, and the gateway sees the command each mode implies.
func TestDataLftpBothModes(t *testing.T) {
	t.Parallel()
	g := startGateway(t)
	host, port, _ := strings.Cut(g.Addr, ":")
	dir := t.TempDir()
	src, want := writePattern(t, dir, "src.bin", 1<<20, 9)
	for _, m := range []struct{ name, settings, verb string }{
		{"passive", "set ftp:passive-mode on; set ftp:prefer-epsv no", "PASV"},
		{"active", "set ftp:passive-mode off", "PORT 127,0,0,1,"},
	} {
		t.Run(m.name, func(t *testing.T) {
			key := "lftp-" + m.name + ".bin"
			dst := filepath.Join(dir, key)
			script := fmt.Sprintf("set ftp:ssl-allow no; set net:max-retries 1; set net:timeout 20; %s; put %s -o %s; get %s -o %s; bye", m.settings, src, key, key, dst)
			out, err := exec.Command("lftp", "-u", userRW+","+testPassword, "-p", port, "-e", script, host).CombinedOutput()
			if err != nil {
				t.Fatalf("lftp: %v\n%s", err, out)
			}
			if sum, _, err := g.object(key); err != nil || sum != want {
				t.Fatalf("object: sha %s, %v\n%s", sum, err, out)
			}
			if sum, _ := fileSHA(t, dst); sum != want {
				t.Fatalf("download sha %s, want %s", sum, want)
			}
			if logs := g.Logs.String(); !strings.Contains(logs, `cmd="`+m.verb) && !strings.Contains(logs, "cmd="+m.verb) {
				t.Fatalf("lftp in %s mode never sent %s", m.name, m.verb)
			}
		})
	}
}

// TestDataWgetBothModes: wget downloads in passive mode (its default) and with
// --no-passive-ftp.
func TestDataWgetBothModes(t *testing.T) {
	t.Parallel()
	g := startGateway(t)
	c := g.dial(userRW)
	want, _ := sha256Of(newPattern(1<<20, 4))
	if err := c.Stor("w.bin", newPattern(1<<20, 4)); err != nil {
		t.Fatal(err)
	}
	url := fmt.Sprintf("ftp://%s:%s@%s/w.bin", userRW, "s3cret%20pass", g.Addr)
	for _, m := range []struct {
		name string
		args []string
	}{{"passive", nil}, {"active", []string{"--no-passive-ftp"}}} {
		t.Run(m.name, func(t *testing.T) {
			dst := filepath.Join(t.TempDir(), "w.bin")
			args := append([]string{"-q", "--tries=1", "--timeout=20", "-O", dst}, m.args...)
			if out, err := exec.Command("wget", append(args, url)...).CombinedOutput(); err != nil {
				t.Fatalf("wget: %v\n%s", err, out)
			}
			if sum, n := fileSHA(t, dst); sum != want {
				t.Fatalf("download: %d bytes sha %s", n, sum)
			}
		})
	}
	logs := g.Logs.String()
	if !strings.Contains(logs, `cmd="PORT 127,0,0,1,`) && !strings.Contains(logs, `cmd="EPRT |1|127.0.0.1|`) {
		t.Fatal("wget --no-passive-ftp did not use active mode")
	}
}

// TestDataPythonAbort: ftplib's abort() sends ABOR as TCP urgent data; the
// download stops and the session goes on.
func TestDataPythonAbort(t *testing.T) {
	t.Parallel()
	g := startGateway(t)
	if err := g.dial(userRW).Stor("big.bin", newPattern(32<<20, 8)); err != nil {
		t.Fatal(err)
	}
	host, port, _ := net.SplitHostPort(g.Addr)
	out, err := exec.Command("python3", "testdata/ftplib_abort.py", host, port, userRW, testPassword, "big.bin").CombinedOutput()
	if err != nil {
		t.Fatalf("ftplib: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "ABOR 426") || !strings.Contains(string(out), "ABOR-2 226") || !strings.Contains(string(out), "NOOP 200") {
		t.Fatalf("ftplib replies:\n%s", out)
	}
}
