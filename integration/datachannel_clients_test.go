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
	g := startGateway(t)
	dir := t.TempDir()
	src, want := writePattern(t, dir, "src.bin", 3<<20, 11)
	dst := filepath.Join(dir, "dst.bin")
	host, port, _ := strings.Cut(g.Addr, ":")
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
	if !strings.Contains(g.Logs.String(), `cmd="PORT 127,0,0,1,`) {
		t.Fatal("ftplib did not use PORT")
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
	g := startGateway(t)
	curlRoundTrips(t, g, "127.0.0.1", g.Addr)
}

func TestDataCurlIPv6(t *testing.T) {
	g := startIPv6Gateway(t)
	curlRoundTrips(t, g, "::1", g.Addr)
}

// startIPv6Gateway starts a gateway on [::1], or skips on a machine without it.
func startIPv6Gateway(t *testing.T) *testGateway {
	t.Helper()
	if !hasIPv6Loopback() {
		t.Skip("this machine has no IPv6 loopback (::1)")
	}
	return startGateway(t, func(c *gateway.Config) { c.Listen = "[::1]:0" })
}

// TestDataIPv6 runs both modes over ::1: PASV is refused with guidance, EPSV
// and EPRT |2| work end to end.
func TestDataIPv6(t *testing.T) {
	g := startIPv6Gateway(t)
	r := rawLogin(t, g.Addr, userRW)
	if msg := r.cmdExpect(522, "PASV"); !strings.Contains(msg, "EPSV") {
		t.Errorf("PASV on IPv6: %q gives no guidance", msg)
	}
	r.cmdExpect(522, "PORT 127,0,0,1,200,1")
	r.cmdExpect(522, "EPRT |1|127.0.0.1|51201|")
	r.cmdExpect(522, "EPSV 1")
	r.cmdExpect(500, "EPRT |2|::2|51201|")

	body := strings.Repeat("over IPv6\n", 5000)
	addr := r.epsv()
	if !strings.HasPrefix(addr, "[::1]:") {
		t.Fatalf("EPSV data address %s", addr)
	}
	d := dialData(t, addr)
	r.cmdExpect(150, "STOR v6.txt")
	_, _ = io.WriteString(d, body)
	d.Close()
	r.expect(226)

	l, err := net.Listen("tcp", "[::1]:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	r.cmdExpect(200, "EPRT |2|::1|%d|", l.Addr().(*net.TCPAddr).Port)
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
