package clientaddr

import (
	"net"
	"net/netip"
	"testing"
)

func TestKey(t *testing.T) {
	cases := map[string]string{
		"192.0.2.1":            "192.0.2.1",
		"::ffff:192.0.2.1":     "192.0.2.1",
		"2001:db8:1:2::1":      "2001:db8:1:2::",
		"2001:db8:1:2:ffff::3": "2001:db8:1:2::",
		"2001:db8:1:3::1":      "2001:db8:1:3::",
		"fe80::1%eth0":         "fe80::",
	}
	for in, want := range cases {
		if got := Key(netip.MustParseAddr(in)); got != netip.MustParseAddr(want) {
			t.Errorf("Key(%s) = %s, want %s", in, got, want)
		}
	}
}

func TestFromTCPAndRemote(t *testing.T) {
	a := &net.TCPAddr{IP: net.ParseIP("192.0.2.7"), Port: 21} // 16-byte v4-mapped form
	if got := FromTCP(a); got != netip.MustParseAddr("192.0.2.7") {
		t.Errorf("FromTCP(%s) = %s", a, got)
	}
	ll := &net.TCPAddr{IP: net.ParseIP("fe80::1"), Zone: "eth0"}
	if got := FromTCP(ll); got.Zone() != "eth0" {
		t.Errorf("FromTCP(%s) lost the zone: %s", ll, got)
	}
	c1, c2 := net.Pipe()
	defer c1.Close()
	defer c2.Close()
	if got := Remote(c1); got.IsValid() {
		t.Errorf("Remote of a pipe = %s, want the zero Addr", got)
	}
}
