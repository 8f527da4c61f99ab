package integration

import (
	"errors"
	"io"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ftp2s3/ftp2s3/gateway"
)

func TestDataBounceRefused(t *testing.T) {
	t.Parallel()
	g := startGateway(t)
	r := rawLogin(t, g.Addr, userRW)
	g.putObject("f.txt", "secret")

	// A third host listening where the bounce would go: it must never be called.
	victim, err := net.Listen("tcp", "127.0.0.2:0")
	if err != nil {
		t.Fatal(err)
	}
	defer victim.Close()
	vp := victim.Addr().(*net.TCPAddr).Port
	called := make(chan struct{}, 1)
	go func() {
		if c, err := victim.Accept(); err == nil {
			called <- struct{}{}
			c.Close()
		}
	}()

	if msg := r.cmd(500, "PORT 127,0,0,2,%d,%d", vp>>8, vp&0xff); !strings.Contains(msg, "your own") {
		t.Errorf("PORT to another host: reason missing in %q", msg)
	}
	if msg := r.cmd(500, "EPRT |1|127.0.0.2|%d|", vp); !strings.Contains(msg, "your own") {
		t.Errorf("EPRT to another host: reason missing in %q", msg)
	}
	if msg := r.cmd(500, "PORT 127,0,0,1,0,80"); !strings.Contains(msg, "1024") {
		t.Errorf("PORT to port 80: reason missing in %q", msg)
	}
	r.cmd(501, "PORT 127,0,0,1,4")
	r.cmd(522, "EPRT |9|127.0.0.1|5000|")
	// Nothing was set up, so the transfer has no data connection.
	r.cmd(425, "RETR f.txt")
	if n := g.GW.Data.Stats().ActiveRefused; n != 3 {
		t.Fatalf("ActiveRefused = %d, want 3", n)
	}
	// The refusals are counted and answered, and the 425 shows no data
	// connection was set up: nothing is left that could still dial the victim.
	select {
	case <-called:
		t.Fatal("the gateway connected to the bounce target")
	default:
	}

	off := startGateway(t, func(c *gateway.Config) { c.ActiveMode = false })
	r2 := rawLogin(t, off.Addr, userRW)
	r2.cmd(502, "PORT 127,0,0,1,200,1")
	r2.cmd(502, "EPRT |1|127.0.0.1|51201|")
}

func TestDataPassiveStrangerDropped(t *testing.T) {
	t.Parallel()
	g := startGateway(t)
	r := rawLogin(t, g.Addr, userRW)
	addr := r.pasv()
	// The stranger, first on the port, is cut off without a byte (the reset
	// may come before its dial even returns) ...
	stranger, err := (&net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.2")}, Timeout: 10 * time.Second}).Dial("tcp", addr)
	if err == nil {
		defer stranger.Close()
		_ = stranger.SetReadDeadline(time.Now().Add(10 * time.Second))
		if n, err := stranger.Read(make([]byte, 16)); n != 0 || err == nil {
			t.Fatalf("stranger read %d bytes, err %v; want its connection closed", n, err)
		}
	} else if !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("stranger dial from 127.0.0.2: %v", err)
	}
	if err := r.tp.PrintfLine("STOR real.txt"); err != nil {
		t.Fatal(err)
	}
	// ... and the real client, arriving later, still gets its transfer.
	d := dialData(t, addr)
	r.expect(150)
	if _, err := io.WriteString(d, "from the real client"); err != nil {
		t.Fatal(err)
	}
	d.Close()
	r.expect(226)
	want, _ := sha256Of(strings.NewReader("from the real client"))
	if sum, _, err := g.object("real.txt"); err != nil || sum != want {
		t.Fatalf("object: %s, %v", sum, err)
	}
	if n := g.GW.Data.Stats().Strangers; n != 1 {
		t.Fatalf("Strangers = %d, want 1", n)
	}
	if !strings.Contains(g.Logs.String(), "stranger") || !strings.Contains(g.Logs.String(), "127.0.0.2") {
		t.Fatal("the stranger was not logged with its address")
	}
}

// TestDataConnectBeforeAndAfterCommand: Python connects the data socket right
// after PASV, before STOR/RETR; other clients connect after sending the command.
func TestDataConnectBeforeAndAfterCommand(t *testing.T) {
	t.Parallel()
	g := startGateway(t)
	r := rawLogin(t, g.Addr, userRW)
	body := strings.Repeat("order independence\n", 1000)

	d := dialData(t, r.pasv()) // before
	r.cmd(150, "STOR before.txt")
	_, _ = io.WriteString(d, body)
	d.Close()
	r.expect(226)

	addr := r.epsvAddr() // after
	r.send("RETR before.txt")
	g.waitLog(`msg="transfer started"`, "cmd=RETR") // the command is in before the connection
	d = dialData(t, addr)
	r.expect(150)
	got, err := io.ReadAll(d)
	if err != nil || string(got) != body {
		t.Fatalf("download: %d bytes, %v; want %d", len(got), err, len(body))
	}
	r.expect(226)
}

// freePortPair is a 2-port passive range that nothing listens on right now
// (see freePortRange), so that no outgoing connection or other gateway takes
// one of the two ports and turns the test's exhaustion into an accident.
func freePortPair(t *testing.T) gateway.PortRange {
	lo, hi := freePortRange(t, 2)
	return gateway.PortRange{Lo: lo, Hi: hi}
}

// TestDataPoolExhaustion: a range of 2 ports and 3 concurrent transfers: the
// third gets 425 at once, and a port freed by a finished transfer serves it.
func TestDataPoolExhaustion(t *testing.T) {
	t.Parallel()
	// a and b hold their transfers open, idle, while c logs in: a data
	// timeout of a minute keeps them from ending on a loaded runner.
	g := startGateway(t, func(c *gateway.Config) { c.PassivePorts, c.DataTimeout = freePortPair(t), time.Minute })
	type running struct {
		r *ftpRaw
		d net.Conn
	}
	start := func(name string) running {
		r := rawLogin(t, g.Addr, userRW)
		d := r.data()
		r.cmd(150, "STOR %s", name)
		if _, err := io.WriteString(d, "first half of "+name+"; "); err != nil {
			t.Fatal(err)
		}
		return running{r, d}
	}
	a, b := start("a.txt"), start("b.txt")
	c := rawLogin(t, g.Addr, userRW)
	start425 := time.Now()
	if msg := c.cmd(425, "EPSV"); !strings.Contains(msg, "try again") {
		t.Errorf("425 text %q", msg)
	}
	if el := time.Since(start425); el > 5*time.Second {
		t.Errorf("exhaustion answered after %s; want at once", el)
	}
	c.cmd(425, "PASV")
	if st := g.GW.Data.Stats(); st.Exhausted != 2 || st.PortsInUse != 2 || st.PortsTotal != 2 {
		t.Fatalf("stats %+v", st)
	}
	if !strings.Contains(g.Logs.String(), "exhausted") {
		t.Fatal("exhaustion not logged")
	}

	_, _ = io.WriteString(a.d, "second half")
	a.d.Close()
	a.r.expect(226)
	if n := g.GW.Data.Stats().PortsInUse; n != 1 {
		t.Fatalf("after 226, %d ports still reserved; want the finished transfer's port back", n)
	}
	d := c.data()
	c.cmd(150, "STOR c.txt")
	_, _ = io.WriteString(d, "third")
	d.Close()
	c.expect(226)
	b.d.Close()
	b.r.expect(226)
	for _, k := range []string{"a.txt", "b.txt", "c.txt"} {
		if _, _, err := g.object(k); err != nil {
			t.Errorf("%s: %v", k, err)
		}
	}
}

// TestDataRepeatedPASVDoesNotDrain: a session holds one port however many PASV
// it sends, and a port nobody uses returns to the pool after 2×DATA_TIMEOUT.
func TestDataRepeatedPASVDoesNotDrain(t *testing.T) {
	t.Parallel()
	g := startGateway(t, func(c *gateway.Config) {
		c.PassivePorts = freePortPair(t)
		c.DataTimeout = 500 * time.Millisecond
	})
	greedy := rawLogin(t, g.Addr, userRW)
	for i := 0; i < 10; i++ {
		greedy.pasv()
		if n := g.GW.Data.Stats().PortsInUse; n != 1 {
			t.Fatalf("after %d PASV one session holds %d ports", i+1, n)
		}
	}
	other := rawLogin(t, g.Addr, userRW)
	other.pasv()
	waitUntil(t, "unused ports to expire", 10*time.Second, func() bool { return g.GW.Data.Stats().PortsInUse == 0 })
	// At least the two last reservations; on a loaded machine an earlier one of
	// greedy's may have expired between two PASV too.
	if st := g.GW.Data.Stats(); st.Expired < 2 {
		t.Fatalf("Expired = %d, want at least 2 (%+v)", st.Expired, st)
	}
	if msg := greedy.cmd(425, "STOR late.txt"); !strings.Contains(msg, "expired") {
		t.Fatalf("STOR on an expired port: %q", msg)
	}
}

func TestDataEPSVAll(t *testing.T) {
	t.Parallel()
	g := startGateway(t)
	g.putObject("x.txt", "x")
	r := rawLogin(t, g.Addr, userRW)
	r.cmd(200, "EPSV ALL")
	r.cmd(503, "PASV")
	r.cmd(503, "PORT 127,0,0,1,200,1")
	r.cmd(503, "EPRT |1|127.0.0.1|51201|")
	d := r.data()
	r.cmd(150, "NLST")
	list, _ := io.ReadAll(d)
	r.expect(226)
	if !strings.Contains(string(list), "x.txt") {
		t.Fatalf("NLST after EPSV ALL: %q", list)
	}
}

func TestDataPublicHost(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, host, overrides, want string
		logged                      string
	}{
		{name: "name resolved at reply time", host: "localhost", want: "127.0.0.1"},
		{name: "IP announced as is", host: "192.0.2.10", want: "192.0.2.10"},
		{name: "override for local clients", host: "192.0.2.10", overrides: "10.0.0.0/8=10.0.0.5,127.0.0.0/8=127.0.0.1", want: "127.0.0.1"},
		{name: "unresolvable name falls back", host: "no-such-host.invalid", want: "127.0.0.1", logged: "cannot resolve"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := startGateway(t, func(c *gateway.Config) {
				c.PublicHost = tc.host
				c.PassiveHostOverrides = mustParse[gateway.HostOverrides](tc.overrides)
			})
			r := rawLogin(t, g.Addr, userRW)
			addr := r.pasv()
			if host, _, _ := net.SplitHostPort(addr); host != tc.want {
				t.Fatalf("PASV announced %s, want %s", host, tc.want)
			}
			if tc.logged != "" && !strings.Contains(g.Logs.String(), tc.logged) {
				t.Fatalf("%q not logged", tc.logged)
			}
			if tc.want != "127.0.0.1" {
				return // a documentation address: nothing listens there from here
			}
			d := dialData(t, addr)
			r.cmd(150, "STOR p.txt")
			_, _ = io.WriteString(d, "via the announced address")
			d.Close()
			r.expect(226)
		})
	}
}

// TestDataPublicHostIPv6Only: an IPv6 public host cannot be put in a PASV
// reply; the client is told to use EPSV, which still works.
func TestDataPublicHostIPv6Only(t *testing.T) {
	t.Parallel()
	g := startGateway(t, func(c *gateway.Config) { c.PublicHost = "2001:db8::7" })
	r := rawLogin(t, g.Addr, userRW)
	if msg := r.cmd(522, "PASV"); !strings.Contains(msg, "EPSV") {
		t.Fatalf("522 text %q", msg)
	}
	if n := g.GW.Data.Stats().PortsInUse; n != 0 {
		t.Fatalf("a refused PASV keeps %d ports", n)
	}
	d := r.data()
	r.cmd(150, "NLST")
	_, _ = io.ReadAll(d)
	r.expect(226)
}

// stalledUpload starts a STOR of more than one part (so a multipart upload
// exists on the S3 side) and then sends nothing more.
func stalledUpload(t *testing.T, g *testGateway, r *ftpRaw, name string) net.Conn {
	t.Helper()
	d := r.data()
	r.cmd(150, "STOR %s", name)
	if _, err := io.Copy(d, newPattern(6<<20, 7)); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the multipart upload to start", 10*time.Second, func() bool { return len(g.pendingUploads()) == 1 })
	return d
}

func noLeftovers(t *testing.T, g *testGateway, key string) {
	t.Helper()
	if _, _, err := g.object(key); err == nil {
		t.Errorf("%s exists after a failed upload", key)
	}
	if p := g.pendingUploads(); len(p) != 0 {
		t.Errorf("multipart uploads left behind: %v", p)
	}
}

func TestDataStalledUploadAborted(t *testing.T) {
	t.Parallel()
	g := startGateway(t, func(c *gateway.Config) { c.DataTimeout = 2 * time.Second; c.PartSize = 5 << 20 })
	r := rawLogin(t, g.Addr, userRW)
	stalledUpload(t, g, r, "stalled.bin")
	start := time.Now()
	if msg := r.expect(426); !strings.Contains(msg, "timed out") {
		t.Errorf("426 text %q", msg)
	}
	if el := time.Since(start); el > 15*time.Second {
		t.Errorf("stall noticed after %s with a 2s data timeout", el)
	}
	noLeftovers(t, g, "stalled.bin")
}

// TestDataStalledDownload: a client that stops reading gets 426 once the
// gateway could not write for the data timeout.
func TestDataStalledDownload(t *testing.T) {
	t.Parallel()
	g := startGateway(t, func(c *gateway.Config) { c.DataTimeout = 2 * time.Second })
	if err := g.dial(userRW).Stor("big.bin", newPattern(32<<20, 5)); err != nil {
		t.Fatal(err)
	}
	r := rawLogin(t, g.Addr, userRW)
	d := r.data()
	r.cmd(150, "RETR big.bin")
	if _, err := io.ReadFull(d, make([]byte, 1<<20)); err != nil {
		t.Fatal(err)
	}
	start := time.Now() // and read no more: socket buffers fill, writes block
	if msg := r.expect(426); !strings.Contains(msg, "timed out") {
		t.Errorf("426 text %q", msg)
	}
	if el := time.Since(start); el > 15*time.Second {
		t.Errorf("stall noticed after %s with a 2s data timeout", el)
	}
}

func TestDataAborDuringUpload(t *testing.T) {
	t.Parallel()
	g := startGateway(t, func(c *gateway.Config) { c.PartSize = 5 << 20 })
	r := rawLogin(t, g.Addr, userRW)
	d := stalledUpload(t, g, r, "aborted.bin")
	r.cmd(426, "ABOR")
	r.expect(226)
	_ = d.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := d.Read(make([]byte, 1)); err == nil {
		t.Error("the data connection is still open after ABOR")
	}
	noLeftovers(t, g, "aborted.bin")
	r.cmd(257, "PWD") // the session goes on
}

func TestDataAborDuringDownload(t *testing.T) {
	t.Parallel()
	g := startGateway(t)
	c := g.dial(userRW)
	if err := c.Stor("big.bin", newPattern(8<<20, 3)); err != nil {
		t.Fatal(err)
	}
	r := rawLogin(t, g.Addr, userRW)
	d := r.data()
	r.cmd(150, "RETR big.bin")
	if _, err := io.ReadFull(d, make([]byte, 64<<10)); err != nil {
		t.Fatal(err)
	}
	// The client reads no further; the gateway is blocked writing.
	r.cmd(426, "ABOR")
	r.expect(226)
	_ = d.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.Copy(io.Discard, d); err != nil && !strings.Contains(err.Error(), "reset") {
		t.Fatalf("data connection after ABOR: %v", err)
	}
}

// TestDataIdleTimerPausedDuringTransfer: a transfer longer than the control
// idle timeout is not cut; a client silent afterwards still is.
func TestDataIdleTimerPausedDuringTransfer(t *testing.T) {
	t.Parallel()
	g := startGateway(t, func(c *gateway.Config) { c.IdleTimeout = time.Second })
	r := rawLogin(t, g.Addr, userRW)
	d := r.data()
	r.cmd(150, "STOR slow.txt")
	for i := 0; i < 12; i++ { // 2.4 s, more than twice the idle timeout
		if _, err := io.WriteString(d, "tick\n"); err != nil {
			t.Fatalf("write %d: %v", i, err)
		}
		time.Sleep(200 * time.Millisecond) // a slow client's pace is the case under test
	}
	d.Close()
	r.expect(226)
	if _, n, err := g.object("slow.txt"); err != nil || n != 60 {
		t.Fatalf("object: %d bytes, %v", n, err)
	}
	start := time.Now()
	r.expect(421)
	if el := time.Since(start); el < 500*time.Millisecond || el > 10*time.Second {
		t.Fatalf("idle timeout after %s, want about 1s after the transfer", el)
	}
}

func hasIPv6Loopback() bool {
	l, err := net.Listen("tcp", "[::1]:0")
	if err != nil {
		return false
	}
	l.Close()
	return true
}
