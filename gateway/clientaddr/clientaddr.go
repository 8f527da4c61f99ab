// Package clientaddr says what "one client" is for every per-client bound of
// the gateway: the connection limits, the passive-port budget and the bans.
package clientaddr

import (
	"net"
	"net/netip"
)

// Key is the unit a client is counted in: the address itself for IPv4, its
// /64 for IPv6, the block one subscriber gets (it could otherwise take a
// client's whole share from each of its addresses).
func Key(a netip.Addr) netip.Addr {
	a = a.Unmap()
	if a.Is6() {
		p, _ := a.Prefix(64)
		return p.Addr()
	}
	return a
}

// FromTCP converts a net.TCPAddr's IP to the form the gateway keys on: IPv4 as
// IPv4 (not v4-mapped), with the zone kept for link-local addresses.
func FromTCP(a *net.TCPAddr) netip.Addr {
	ip, _ := netip.AddrFromSlice(a.IP)
	return ip.Unmap().WithZone(a.Zone)
}

// Remote is the address of c's peer, or the zero Addr when c is not TCP.
func Remote(c net.Conn) netip.Addr {
	if a, ok := c.RemoteAddr().(*net.TCPAddr); ok {
		return FromTCP(a).WithZone("")
	}
	return netip.Addr{}
}
