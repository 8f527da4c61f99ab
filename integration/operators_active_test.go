package integration

import (
	"io"
	"net"
	"strings"
	"testing"

	"github.com/ftp2s3/ftp2s3/gateway"
)

// activeNamingPrivate logs in from 127.0.0.1, listens there, and names a
// private address the gateway does not see (as a client behind NAT or on the
// Docker host does) in EPRT; it returns the reply and the listener.
func activeNamingPrivate(t *testing.T, g *testGateway) (*ftpRaw, int, string, net.Listener) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Close() })
	r := rawLogin(t, g.Addr, userRW)
	code, msg := r.ask("EPRT |1|192.168.77.5|%d|", l.Addr().(*net.TCPAddr).Port)
	return r, code, msg, l
}

// TestOperatorsActiveDialPeer: with FTP2S3_ACTIVE_DIAL_PEER an EPRT naming a
// private address is served by connecting back to the control connection's
// peer at the named port, and the file arrives whole; without it the same
// EPRT is refused, and a public address that is not the client's stays
// refused either way (bounce protection).
func TestOperatorsActiveDialPeer(t *testing.T) {
	t.Parallel()
	t.Run("off", func(t *testing.T) {
		t.Parallel()
		g := startGateway(t)
		_, code, msg, _ := activeNamingPrivate(t, g)
		if code != 500 || !strings.Contains(msg, "must be your own") {
			t.Errorf("EPRT naming a private address without the option: %d %s, want 500", code, msg)
		}
	})
	t.Run("on", func(t *testing.T) {
		t.Parallel()
		g := startGateway(t, func(c *gateway.Config) { c.ActiveDialPeer = true })
		g.putObject("peer.txt", "dialled back to the peer\n")
		r, code, msg, l := activeNamingPrivate(t, g)
		if code != 200 {
			t.Fatalf("EPRT naming a private address with the option: %d %s", code, msg)
		}
		r.cmd(150, "RETR peer.txt")
		c, err := l.Accept()
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(c)
		_ = c.Close()
		if err != nil || string(body) != "dialled back to the peer\n" {
			t.Errorf("data %q, %v", body, err)
		}
		r.expect(226)
		// A public address that is not the client's: still refused.
		if code, msg := r.ask("EPRT |1|198.51.100.9|%d|", 40000); code != 500 {
			t.Errorf("EPRT naming another public address: %d %s, want 500", code, msg)
		}
		if code, msg := r.ask("PORT 10,1,2,3,0,21"); code != 500 {
			t.Errorf("PORT naming port 21: %d %s, want 500", code, msg)
		}
	})
}
