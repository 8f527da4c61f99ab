package clientaddr

import (
	"net"
	"net/netip"
	"testing"
)

// TestKey: IPv4 counts per address (v4-mapped or not), IPv6 per /64, zone
// or not.
func TestKey(t *testing.T) {
	same := [][]string{
		{"192.0.2.1", "::ffff:192.0.2.1"},
		{"2001:db8:1:2::1", "2001:db8:1:2:ffff::3", "2001:db8:1:2::"},
		{"fe80::1%eth0", "fe80::2"},
	}
	seen := map[netip.Addr]int{}
	for group, addrs := range same {
		for _, a := range addrs {
			k := Key(netip.MustParseAddr(a))
			if g, ok := seen[k]; ok && g != group {
				t.Errorf("%s shares key %s with group %d", a, k, g)
			}
			seen[k] = group
			if k != Key(netip.MustParseAddr(addrs[0])) {
				t.Errorf("Key(%s) = %s, want the key of %s", a, k, addrs[0])
			}
		}
	}
	if Key(netip.MustParseAddr("2001:db8:1:3::1")) == Key(netip.MustParseAddr("2001:db8:1:2::1")) {
		t.Error("two /64s share a key")
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
