package datachan

import (
	"errors"
	"net"
	"testing"

	"github.com/ftp2s3/ftp2s3/session"
)

// TestCheckActiveDialPeer: with FTP2S3_ACTIVE_DIAL_PEER a private address
// named by PORT/EPRT is dialled at the peer; everything else is decided as
// without it, and the gateway never dials anyone but the peer.
func TestCheckActiveDialPeer(t *testing.T) {
	peer4 := session.ConnInfo{Remote: &net.TCPAddr{IP: net.ParseIP("203.0.113.7"), Port: 50000}}
	peer6 := session.ConnInfo{Remote: &net.TCPAddr{IP: net.ParseIP("2001:db8::7"), Port: 50000}}
	for _, c := range []struct {
		ctrl     session.ConnInfo
		named    string
		port     int
		dialPeer bool
		ok       bool
	}{
		{peer4, "203.0.113.7", 40000, false, true},
		{peer4, "192.168.1.5", 40000, false, false}, // today's refusal
		{peer4, "192.168.1.5", 40000, true, true},
		{peer4, "10.0.0.9", 40000, true, true},
		{peer4, "172.18.0.1", 40000, true, true},
		{peer4, "127.0.0.1", 40000, true, true},
		{peer4, "100.64.3.4", 40000, true, true},
		{peer4, "169.254.1.1", 40000, true, true},
		{peer4, "0.0.0.0", 40000, true, true},
		{peer4, "198.51.100.9", 40000, true, false}, // someone else's public address
		{peer4, "192.168.1.5", 21, true, false},     // privileged port: refused as ever
		{peer4, "203.0.113.7", 1023, true, false},
		{peer4, "fd00::5", 40000, true, false}, // other family
		{peer6, "fd00::5", 40000, true, true},
		{peer6, "fe80::1", 40000, true, true},
		{peer6, "2001:db8::8", 40000, true, false},
	} {
		target := &net.TCPAddr{IP: net.ParseIP(c.named), Port: c.port}
		to, err := checkActive(c.ctrl, target, c.dialPeer)
		if c.ok != (err == nil) {
			t.Errorf("peer %s, named %s:%d, dialPeer %v: err %v, want ok=%v", c.ctrl.Remote.IP, c.named, c.port, c.dialPeer, err, c.ok)
			continue
		}
		if err != nil {
			if !errors.Is(err, session.ErrActiveRefused) {
				t.Errorf("%s: error %v is not ErrActiveRefused", c.named, err)
			}
			continue
		}
		if !to.IP.Equal(c.ctrl.Remote.IP) || to.Port != c.port {
			t.Errorf("named %s:%d: dials %s, want the peer %s at port %d", c.named, c.port, to, c.ctrl.Remote.IP, c.port)
		}
	}
}
