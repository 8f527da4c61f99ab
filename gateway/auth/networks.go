package auth

import (
	"fmt"
	"net/netip"
	"strings"
)

// Networks are the client networks a user may log in from; empty means any.
// Both a users-file record's last field and the identity service's
// allowed_networks become one.
type Networks []netip.Prefix

// maxNetworks bounds one user's list: the identity service's answer is
// client-controlled in the sense that it arrives over the network.
const maxNetworks = 256

// ParseNetworks reads networks written as CIDRs ("10.0.0.0/8", "2001:db8::/32")
// or single addresses, each an item of list.
func ParseNetworks(list []string) (Networks, error) {
	if len(list) > maxNetworks {
		return nil, fmt.Errorf("%d networks is more than %d", len(list), maxNetworks)
	}
	var n Networks
	for _, s := range list {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		p, err := netip.ParsePrefix(s)
		if err != nil {
			a, aerr := netip.ParseAddr(s)
			if aerr != nil || a.Zone() != "" {
				return nil, fmt.Errorf("%q is not a network (CIDR such as 192.0.2.0/24) or an address", s)
			}
			p = netip.PrefixFrom(a, a.BitLen())
		}
		if a := p.Addr(); a.Is4In6() {
			// ::ffff:10.0.0.0/104 is 10.0.0.0/8: clients are compared unmapped.
			if p.Bits() < 96 {
				return nil, fmt.Errorf("%q mixes IPv4-mapped and IPv6 addresses", s)
			}
			p = netip.PrefixFrom(a.Unmap(), p.Bits()-96)
		}
		n = append(n, p.Masked())
	}
	return n, nil
}

// Allows reports whether addr may log in: always when the list is empty.
func (n Networks) Allows(addr netip.Addr) bool {
	if len(n) == 0 {
		return true
	}
	addr = addr.Unmap()
	for _, p := range n {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}

// equal reports whether n and m list the same networks in the same order.
func (n Networks) equal(m Networks) bool {
	if len(n) != len(m) {
		return false
	}
	for i := range n {
		if n[i] != m[i] {
			return false
		}
	}
	return true
}
