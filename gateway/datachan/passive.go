// Package datachan is the gateway's data-channel layer: the passive port pool
// (ports shared by clients of different addresses, reservations that expire),
// the active-mode dialer with its bounce protection, and the address a passive
// reply announces (FTP2S3_PUBLIC_HOST, FTP2S3_PASSIVE_HOST_OVERRIDES).
package datachan

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ftp2s3/ftp2s3/internal/ratelog"
)

// DataChannels implements session.DataChannels: a pool of passive ports from the
// configured range and a dialer for active mode, with the checks that keep both
// from being abused (only the control connection's peer may connect or be
// connected to).
type DataChannels struct {
	ports       PortRange
	publicHost  string
	overrides   []HostOverride
	dataTimeout time.Duration
	// expireAfter is how long a reserved port waits for its transfer command
	// before it goes back to the pool.
	expireAfter time.Duration
	// idleAfter is how long a port listens on after its last reservation
	// ended: idleListen, shorter in tests.
	idleAfter time.Duration
	// dialPeer: FTP2S3_ACTIVE_DIAL_PEER (active.go).
	dialPeer bool
	log      *slog.Logger
	// resolve looks a host name up; a field so that tests can make DNS fail.
	resolve func(ctx context.Context, host string) ([]net.IP, error)
	// listen opens a passive port's socket; a field so that tests can count
	// listens.
	listen func(ctx context.Context, addr string) (*net.TCPListener, error)
	// loopEnded, when set (by tests), is called as a port's accept loop ends.
	loopEnded func(port int)

	dnsMu    sync.Mutex
	dnsCache map[string]dnsAnswer

	// strangerLog and secondLog bound the log lines of refused passive
	// connections (acceptLoop): anyone can dial a passive port in a loop.
	strangerLog, secondLog *ratelog.Limiter

	// maxPerClient is how many reservations one client (an IPv4 address, an
	// IPv6 /64) may hold at once: FTP2S3_MAX_CONNECTIONS_PER_IP.
	maxPerClient int

	mu        sync.Mutex
	open      map[portKey]*sharedPort // listening ports, each with its reservations
	perClient map[netip.Addr]int      // reservations by clientaddr.Key
	reserved  int                     // reservations in all
	next      int                     // round-robin start, so a just-released port rests a while
	closed    bool                    // Close was called: nothing listens any more
	done      chan struct{}           // closed by Close, to cut accept-loop back-offs short
	loops     sync.WaitGroup          // accept loops running

	exhausted     atomic.Int64
	strangers     atomic.Int64
	expired       atomic.Int64
	activeRefused atomic.Int64
}

// Stats is a snapshot of the data-channel layer's counters, for metrics.
type Stats struct {
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
	// session or several, from different addresses): what exhaustion is about.
	// A port that listens on only for reuse after its last reservation (see
	// idleListen) is not in use: any session may take it.
	PortsInUse int
	// PortsIdle is how many passive sockets listen with no reservation, kept
	// open for reuse; each goes on for at most idleListen.
	PortsIdle int
	// Reservations is how many sessions hold a passive port right now.
	Reservations int
	// PortsTotal is the size of the passive range.
	PortsTotal int
}

// Options configure the data-channel layer.
type Options struct {
	Ports      PortRange      // FTP2S3_PASSIVE_PORTS
	PublicHost string         // FTP2S3_PUBLIC_HOST; empty: the address the client reached
	Overrides  []HostOverride // FTP2S3_PASSIVE_HOST_OVERRIDES
	// DataTimeout is FTP2S3_DATA_TIMEOUT; a reserved port waits twice as long
	// for its transfer command. Zero means 30 s.
	DataTimeout time.Duration
	// MaxPerClient is how many reservations one client (an IPv4 address, an
	// IPv6 /64) may hold at once: FTP2S3_MAX_CONNECTIONS_PER_IP. Zero: no bound.
	MaxPerClient int
	// DialPeer is FTP2S3_ACTIVE_DIAL_PEER: PORT/EPRT naming a private address
	// connects to the control connection's peer instead (active.go).
	DialPeer bool
	Log      *slog.Logger
}

// A few refused connections per period keep a line each (an operator
// chasing a NAT problem sees them); a flood gets a line per period saying how
// many were left out. Stats().Strangers counts them all.
const (
	refusalLogEvery = 10 * time.Second
	refusalLogBurst = 10
)

// New builds the data-channel layer.
func New(o Options) *DataChannels {
	log := o.Log
	if log == nil {
		log = slog.Default()
	}
	dt := o.DataTimeout
	if dt <= 0 {
		dt = 30 * time.Second
	}
	return &DataChannels{
		ports: o.Ports, publicHost: o.PublicHost, overrides: o.Overrides,
		dataTimeout: dt, expireAfter: 2 * dt, idleAfter: idleListen, log: log, dialPeer: o.DialPeer,
		resolve: func(ctx context.Context, host string) ([]net.IP, error) {
			return net.DefaultResolver.LookupIP(ctx, "ip", host)
		},
		listen: func(ctx context.Context, addr string) (*net.TCPListener, error) {
			var lc net.ListenConfig
			l, err := lc.Listen(ctx, "tcp", addr)
			if err != nil {
				return nil, err
			}
			return l.(*net.TCPListener), nil
		},
		done:         make(chan struct{}),
		maxPerClient: o.MaxPerClient,
		open:         map[portKey]*sharedPort{}, perClient: map[netip.Addr]int{},
		next: o.Ports.Lo, dnsCache: map[string]dnsAnswer{},
		strangerLog: ratelog.New(refusalLogEvery, refusalLogBurst), secondLog: ratelog.New(refusalLogEvery, refusalLogBurst),
	}
}

// Stats returns the current counters.
func (d *DataChannels) Stats() Stats {
	d.mu.Lock()
	defer d.mu.Unlock()
	ports, idle := map[int]bool{}, 0
	for k, sp := range d.open {
		if len(sp.peers) == 0 {
			idle++
		} else {
			ports[k.port] = true
		}
	}
	return Stats{
		Exhausted:     d.exhausted.Load(),
		Strangers:     d.strangers.Load(),
		Expired:       d.expired.Load(),
		ActiveRefused: d.activeRefused.Load(),
		PortsInUse:    len(ports),
		PortsIdle:     idle,
		Reservations:  d.reserved,
		PortsTotal:    d.ports.Hi - d.ports.Lo + 1,
	}
}

// PortRange is an inclusive TCP port range written "lo-hi".
type PortRange struct{ Lo, Hi int }

// UnmarshalText parses "lo-hi" (or a single port).
func (p *PortRange) UnmarshalText(b []byte) error {
	s := strings.TrimSpace(string(b))
	lo, hi, found := strings.Cut(s, "-")
	if !found {
		hi = lo
	}
	l, err1 := strconv.Atoi(strings.TrimSpace(lo))
	h, err2 := strconv.Atoi(strings.TrimSpace(hi))
	if err1 != nil || err2 != nil || l < 1024 || h > 65535 || l > h {
		return fmt.Errorf("%q is not a port range lo-hi with 1024 <= lo <= hi <= 65535", s)
	}
	*p = PortRange{Lo: l, Hi: h}
	return nil
}

// String renders the range as "lo-hi".
func (p PortRange) String() string { return fmt.Sprintf("%d-%d", p.Lo, p.Hi) }
