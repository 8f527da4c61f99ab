package integration

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/ftp2s3/ftp2s3/gateway"
)

// haproxyBin finds HAProxy (scripts/install-deps.sh installs it; /usr/sbin may
// be missing from PATH).
func haproxyBin(t *testing.T) string {
	t.Helper()
	if p, err := exec.LookPath("haproxy"); err == nil {
		return p
	}
	if _, err := os.Stat("/usr/sbin/haproxy"); err == nil {
		return "/usr/sbin/haproxy"
	}
	t.Fatal("haproxy is not installed: run scripts/install-deps.sh")
	return ""
}

// TestHAProxyConfigIsValid asks HAProxy itself to check the shipped file.
func TestHAProxyConfigIsValid(t *testing.T) {
	t.Parallel()
	cfg := filepath.Join(repoRoot(), "deploy", "haproxy", "haproxy.cfg")
	out, err := exec.Command(haproxyBin(t), "-c", "-f", cfg).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "Configuration file is valid") {
		t.Fatalf("haproxy -c: %v\n%s", err, out)
	}
}

// localHAProxyConfig rewrites the shipped haproxy.cfg for loopback: the same
// frontend/backend options, with the replicas' and the listener's addresses of
// this test. Every rewrite must apply, so a change to the shipped file that the
// test no longer understands fails here instead of testing something else.
func localHAProxyConfig(t *testing.T, listen string, servers map[string][2]string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot(), "deploy", "haproxy", "haproxy.cfg"))
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	replace := func(re, with string) {
		t.Helper()
		r := regexp.MustCompile(re)
		if !r.MatchString(s) {
			t.Fatalf("haproxy.cfg no longer matches %q", re)
		}
		s = r.ReplaceAllString(s, with)
	}
	replace(`(?m)^resolvers docker\n(    .*\n)+`, "")
	replace(`resolvers docker init-addr \S+`, "")
	replace(`(?m)^    bind :2121$`, "    bind "+listen)
	replace(`(?m)^    log stdout format raw local0$`, "    log stderr format raw local0")
	var lines []string
	for name, addrs := range servers {
		lines = append(lines, fmt.Sprintf("    server %s %s check port %s", name, addrs[0], addrs[1]))
	}
	replace(`(?m)(^    server .*\n)+`, strings.Join(lines, "\n")+"\n")
	return s
}

// TestHAProxyInFrontOfTwoReplicas runs the shipped HAProxy configuration in
// front of two replicas sharing a bucket: uploads from a client at 127.0.0.2
// reach both replicas, each sees the client's own address (so the passive data
// connection from 127.0.0.2 is accepted although the control connection came
// from HAProxy at 127.0.0.1), and when one replica stops, clients keep working
// through the other.
func TestHAProxyInFrontOfTwoReplicas(t *testing.T) {
	t.Parallel()
	bin := haproxyBin(t)
	proxied := func(c *gateway.Config) {
		c.ProxyProtocol = "required"
		c.ProxyTrusted = mustParse[gateway.Prefixes]("127.0.0.1/32")
	}
	a := startOpsGateway(t, minio, proxied, nil)
	b := startOpsGateway(t, minio, func(c *gateway.Config) { proxied(c); c.Bucket = gateway.BucketName(a.Bucket) }, nil)
	b.Bucket = a.Bucket

	port, err := freeTCPPort()
	if err != nil {
		t.Fatal(err)
	}
	front := fmt.Sprintf("127.0.0.1:%d", port)
	opsPort := func(g *opsGateway) string { return g.OpsURL[strings.LastIndexByte(g.OpsURL, ':')+1:] }
	cfgPath := filepath.Join(t.TempDir(), "haproxy.cfg")
	cfg := localHAProxyConfig(t, front, map[string][2]string{"a": {a.Addr, opsPort(a)}, "b": {b.Addr, opsPort(b)}})
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	hlog := &syncBuffer{}
	cmd := exec.Command(bin, "-db", "-f", cfgPath)
	cmd.Stdout, cmd.Stderr = hlog, hlog
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("haproxy.cfg:\n%s\nhaproxy log:\n%s", cfg, hlog.String())
		}
	})
	waitUntil(t, "HAProxy to pass a greeting through", 15*time.Second, func() bool {
		c, err := net.DialTimeout("tcp", front, time.Second)
		if err != nil {
			return false
		}
		defer c.Close()
		_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
		line, _ := bufio.NewReader(c).ReadString('\n')
		return strings.HasPrefix(line, "220")
	})

	src := filepath.Join(t.TempDir(), "upload.bin")
	if err := os.WriteFile(src, []byte(strings.Repeat("through haproxy\n", 4096)), 0o644); err != nil {
		t.Fatal(err)
	}
	upload := func(name string) {
		t.Helper()
		out, err := exec.Command("curl", "-sS", "--max-time", "20", "--interface", declaredClient,
			"-T", src, fmt.Sprintf("ftp://%s:%s@%s/%s", userRW, strings.ReplaceAll(testPassword, " ", "%20"), front, name)).CombinedOutput()
		if err != nil {
			t.Fatalf("curl upload of %s through HAProxy: %v\n%s", name, err, out)
		}
	}
	for i := range 4 {
		upload(fmt.Sprintf("f%d.bin", i))
	}
	for i := range 4 {
		if _, n, err := a.object(fmt.Sprintf("f%d.bin", i)); err != nil || n != 16*4096 {
			t.Errorf("f%d.bin: %d bytes, %v", i, n, err)
		}
	}
	for name, g := range map[string]*opsGateway{"a": a, "b": b} {
		logs := g.Logs.String()
		if !strings.Contains(logs, "remote="+declaredClient+":") || !strings.Contains(logs, "direction=upload") {
			t.Errorf("replica %s served no upload from %s", name, declaredClient)
		}
		if strings.Contains(logs, "stranger refused") {
			t.Errorf("replica %s refused a data connection from the real client", name)
		}
	}

	// Replica a stops; new clients are sent to b.
	a.Stop()
	if err := <-a.Done; err != nil {
		t.Fatal(err)
	}
	a.Done <- nil
	before := strings.Count(b.Logs.String(), "msg=transfer ")
	for i := range 3 {
		upload(fmt.Sprintf("after-%d.bin", i))
	}
	if got := strings.Count(b.Logs.String(), "msg=transfer ") - before; got != 3 {
		t.Errorf("replica b served %d of the 3 uploads after a stopped", got)
	}
}
