package gateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ftp2s3/ftp2s3/session"
)

// DataChannels implements session.DataChannels: a pool of passive ports from the
// configured range and a dialer for active mode, with the checks that keep both
// from being abused (only the control connection's peer may connect or be
// connected to).
type DataChannels struct {
	ports       PortRange
	publicHost  string
	overrides   []hostOverride
	dataTimeout time.Duration
	// expireAfter is how long a reserved port waits for its transfer command
	// before it goes back to the pool.
	expireAfter time.Duration
	log         *slog.Logger
	// resolve looks a host name up; a field so that tests can make DNS fail.
	resolve func(ctx context.Context, host string) ([]net.IP, error)

	dnsMu    sync.Mutex
	dnsCache map[string]dnsAnswer

	// maxPerClient is how many reservations one client (an IPv4 address, an
	// IPv6 /64) may hold at once: FTP2S3_MAX_CONNECTIONS_PER_IP.
	maxPerClient int

	mu        sync.Mutex
	open      map[portKey]*sharedPort // listening ports, each with its reservations
	perClient map[netip.Addr]int      // reservations by clientKey
	reserved  int                     // reservations in all
	next      int                     // round-robin start, so a just-released port rests a while

	exhausted     atomic.Int64
	strangers     atomic.Int64
	expired       atomic.Int64
	activeRefused atomic.Int64
}

// DataStats is a snapshot of the data-channel layer's counters, for metrics.
type DataStats struct {
	// Exhausted counts PASV/EPSV commands that found no free port (answered 425).
	Exhausted int64
	// Strangers counts connections to a passive port that no reservation was
	// waiting for: from an address without one on that port, or a second
	// connection for a reservation that has its own (reset without a byte).
	Strangers int64
	// Expired counts reserved passive ports released because no transfer command
	// used them within twice the data timeout.
	Expired int64
	// ActiveRefused counts PORT/EPRT targets refused by bounce protection.
	ActiveRefused int64
	// PortsInUse is how many passive ports are reserved right now (by one
	// session or several, from different addresses).
	PortsInUse int
	// Reservations is how many sessions hold a passive port right now.
	Reservations int
	// PortsTotal is the size of the passive range.
	PortsTotal int
}

// NewDataChannels builds the data-channel layer from the configuration.
func NewDataChannels(c *Config, log *slog.Logger) (*DataChannels, error) {
	ov, err := parseHostOverrides(c.PassiveHostOverrides)
	if err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.Default()
	}
	dt := c.DataTimeout
	if dt <= 0 {
		dt = 30 * time.Second
	}
	return &DataChannels{
		ports: c.PassivePorts, publicHost: c.PublicHost, overrides: ov,
		dataTimeout: dt, expireAfter: 2 * dt, log: log,
		resolve: func(ctx context.Context, host string) ([]net.IP, error) {
			return net.DefaultResolver.LookupIP(ctx, "ip", host)
		},
		maxPerClient: c.MaxConnectionsPerIP,
		open:         map[portKey]*sharedPort{}, perClient: map[netip.Addr]int{},
		next: c.PassivePorts.Lo, dnsCache: map[string]dnsAnswer{},
	}, nil
}

// Stats returns the current counters.
func (d *DataChannels) Stats() DataStats {
	d.mu.Lock()
	reserved := d.reserved
	d.mu.Unlock()
	return DataStats{
		Exhausted:     d.exhausted.Load(),
		Strangers:     d.strangers.Load(),
		Expired:       d.expired.Load(),
		ActiveRefused: d.activeRefused.Load(),
		PortsInUse:    d.PortsInUse(),
		Reservations:  reserved,
		PortsTotal:    d.ports.Hi - d.ports.Lo + 1,
	}
}

// Exhausted returns how many times a PASV/EPSV found no free port.
func (d *DataChannels) Exhausted() int64 { return d.exhausted.Load() }

// PortsInUse returns how many passive ports are reserved right now.
func (d *DataChannels) PortsInUse() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	ports := map[int]bool{}
	for k := range d.open {
		ports[k.port] = true
	}
	return len(ports)
}

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
			if o.prefix.Contains(a) {
				return o.host
			}
		}
	}
	return d.publicHost
}

// checkHost accepts an IP address or a DNS name (RFC 1123 labels; "_" is let
// through for names some internal DNS servers hand out). It catches the usual
// mistakes, a URL or a host:port, at start-up rather than at the first PASV.
func checkHost(h string) error {
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
