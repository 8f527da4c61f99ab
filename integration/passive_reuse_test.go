package integration

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"syscall"
	"testing"
	"time"

	"github.com/ftp2s3/ftp2s3/gateway"
)

// TestPassiveIdlePortReuse: a passive port keeps listening after its transfer
// for the next reservation (gateway/datachan idleListen). Transfers going
// round a 3-port range all succeed; between them the ports listen idle, are
// not counted in use, and reset a stranger's connection; Gateway.Close stops
// them all.
func TestPassiveIdlePortReuse(t *testing.T) {
	t.Parallel()
	g := startGateway(t, func(c *gateway.Config) {
		c.PassivePorts = gateway.PortRange{Lo: c.PassivePorts.Lo, Hi: c.PassivePorts.Lo + 2}
	})
	c := g.dial(userRW)
	for i := range 9 { // three times round the range
		name := fmt.Sprintf("reuse-%d.txt", i)
		body := fmt.Sprintf("file %d through a reused passive port", i)
		if err := c.Stor(name, bytes.NewBufferString(body)); err != nil {
			t.Fatalf("STOR %s: %v", name, err)
		}
		mustRetr(t, c, name, body)
	}
	data := g.GW.Data
	waitUntil(t, "the ports to listen idle, none in use", 10*time.Second, func() bool {
		st := data.Stats()
		return st.PortsIdle >= 1 && st.PortsInUse == 0 && st.Reservations == 0
	})

	// One more transfer on a port we know: it listens idle for the next
	// idleListen (5 s) after the 226. (Waiting for all three to be idle at
	// once failed on a loaded runner: the first had stopped listening before
	// the last was released.)
	lo := g.GW.Config.PassivePorts.Lo
	r := rawLogin(t, g.Addr, userRW)
	port := r.epsv()
	d := dialData(t, fmt.Sprintf("127.0.0.1:%d", port))
	r.cmd(150, "STOR known-port.txt")
	_, _ = io.WriteString(d, "through a known port")
	_ = d.Close()
	r.expect(226)
	before := data.Stats().Strangers
	if s, err := dialDataFrom(t, "127.0.0.2", "127.0.0.1", port); err == nil {
		_ = s.SetReadDeadline(time.Now().Add(5 * time.Second))
		if n, err := s.Read(make([]byte, 1)); n != 0 || err == nil {
			t.Fatalf("stranger on an idle port read %d bytes, %v; want it reset", n, err)
		}
		_ = s.Close()
	} else if !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("stranger dialling an idle port: %v; want accepted then reset", err)
	}
	waitUntil(t, "the stranger to be counted", 10*time.Second, func() bool { return data.Stats().Strangers == before+1 })
	g.waitLog("passive data connection from a stranger refused", fmt.Sprintf("port=%d", port))

	// The session goes on transferring after the stranger.
	if err := c.Stor("after-stranger.txt", bytes.NewBufferString("still fine")); err != nil {
		t.Fatalf("STOR after the stranger: %v", err)
	}
	mustRetr(t, c, "after-stranger.txt", "still fine")

	if err := g.GW.Close(); err != nil {
		t.Fatal(err)
	}
	if st := data.Stats(); st.PortsIdle != 0 || st.PortsInUse != 0 {
		t.Fatalf("after Gateway.Close: %+v, want nothing listening", st)
	}
	for port := lo; port <= lo+2; port++ {
		if s, err := dialDataFrom(t, "", "127.0.0.1", port); !errors.Is(err, syscall.ECONNREFUSED) {
			if s != nil {
				_ = s.Close()
			}
			t.Fatalf("port %d after Gateway.Close: %v, want connection refused", port, err)
		}
	}
}
