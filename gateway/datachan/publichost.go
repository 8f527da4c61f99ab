package datachan

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"time"

	"github.com/ftp2s3/ftp2s3/session"
)

// resolveTimeout bounds the DNS lookup of FTP2S3_PUBLIC_HOST behind one PASV.
const resolveTimeout = 5 * time.Second

// advertisedIP picks the address a passive reply announces: a per-client
// override, else FTP2S3_PUBLIC_HOST (resolved at reply time, so a DNS change
// needs no restart), else the address the client reached us on. A name that
// does not resolve falls back to that local address, with a warning: a passive
// reply that works on the local network beats no passive mode at all.
func (d *DataChannels) advertisedIP(ctx context.Context, ctrl session.ConnInfo) net.IP {
	host := d.hostFor(ctrl.Remote.IP)
	if host == "" {
		return ctrl.Local.IP
	}
	if ip := net.ParseIP(host); ip != nil {
		return ip
	}
	if ctrl.Local.IP.To4() == nil {
		// IPv6 control connection: only EPSV can follow, which announces no
		// address, so the lookup would be wasted.
		return ctrl.Local.IP
	}
	ips, err := d.lookup(ctx, host)
	if err != nil {
		return ctrl.Local.IP
	}
	// Only PASV uses the address (EPSV announces just the port), and PASV can
	// carry IPv4 only: prefer an IPv4 address when the name has both.
	for _, ip := range ips {
		if ip.To4() != nil {
			return ip
		}
	}
	return ips[0]
}

// dnsFresh is how long a lookup of the passive host is reused. It is short, so
// a changed record shows up within seconds, yet a burst of PASV commands (or a
// DNS server that times out) costs one lookup, not one each.
const dnsFresh = 10 * time.Second

type dnsAnswer struct {
	ips []net.IP
	err error
	at  time.Time
}

// lookup resolves host, reusing an answer younger than dnsFresh. A failure is
// logged once per lookup, not once per PASV.
func (d *DataChannels) lookup(ctx context.Context, host string) ([]net.IP, error) {
	d.dnsMu.Lock()
	defer d.dnsMu.Unlock() // held across the lookup: concurrent PASV share it
	if a, ok := d.dnsCache[host]; ok && time.Since(a.at) < dnsFresh {
		return a.ips, a.err
	}
	ctx, cancel := context.WithTimeout(ctx, resolveTimeout)
	defer cancel()
	ips, err := d.resolve(ctx, host)
	if err == nil && len(ips) == 0 {
		err = errors.New("no addresses")
	}
	if err != nil {
		d.log.Warn("cannot resolve the passive host; announcing the local address instead", "host", host, "err", err)
	}
	if ctx.Err() == nil || err == nil { // a session that went away says nothing about DNS
		d.dnsCache[host] = dnsAnswer{ips: ips, err: err, at: time.Now()}
	}
	return ips, err
}

// hostFor returns the configured host to announce to a client at ip: the first
// matching override, else FTP2S3_PUBLIC_HOST.
func (d *DataChannels) hostFor(ip net.IP) string {
	if a, ok := netip.AddrFromSlice(ip); ok {
		a = a.Unmap()
		for _, o := range d.overrides {
			if o.Prefix.Contains(a) {
				return o.Host
			}
		}
	}
	return d.publicHost
}

// CheckHost accepts an IP address or a DNS name (RFC 1123 labels; "_" is let
// through for names some internal DNS servers hand out). It catches the usual
// mistakes, a URL or a host:port, at start-up rather than at the first PASV.
func CheckHost(h string) error {
	if net.ParseIP(h) != nil {
		return nil
	}
	if h == "" || len(h) > 253 {
		return fmt.Errorf("%q is neither an IP address nor a host name", h)
	}
	for _, label := range strings.Split(strings.TrimSuffix(h, "."), ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return fmt.Errorf("%q is neither an IP address nor a host name", h)
		}
		for _, r := range label {
			if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
				return fmt.Errorf("%q is neither an IP address nor a host name", h)
			}
		}
	}
	return nil
}

// HostOverride advertises Host to passive clients whose address is in Prefix.
type HostOverride struct {
	Prefix netip.Prefix
	Host   string
}

// ParseHostOverrides reads FTP2S3_PASSIVE_HOST_OVERRIDES: "cidr=host,cidr=host".
func ParseHostOverrides(s string) ([]HostOverride, error) {
	var out []HostOverride
	for _, item := range strings.Split(s, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		cidr, host, ok := strings.Cut(item, "=")
		if !ok || strings.TrimSpace(host) == "" {
			return nil, fmt.Errorf("%q is not cidr=host", item)
		}
		p, err := netip.ParsePrefix(strings.TrimSpace(cidr))
		if err != nil {
			return nil, fmt.Errorf("%q: %v", cidr, err)
		}
		if err := CheckHost(strings.TrimSpace(host)); err != nil {
			return nil, err
		}
		out = append(out, HostOverride{Prefix: p.Masked(), Host: strings.TrimSpace(host)})
	}
	return out, nil
}
