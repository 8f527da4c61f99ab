package gateway

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
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
	ports      PortRange
	publicHost string
	overrides  []hostOverride
	log        *slog.Logger

	mu    sync.Mutex
	inUse map[int]bool
	next  int // round-robin start, so a just-released port rests a while

	exhausted atomic.Int64
	strangers atomic.Int64
}

// NewDataChannels builds the data-channel layer from the configuration.
func NewDataChannels(c *Config, log *slog.Logger) (*DataChannels, error) {
	ov, err := parseHostOverrides(c.PassiveHostOverrides)
	if err != nil {
		return nil, err
	}
	return &DataChannels{ports: c.PassivePorts, publicHost: c.PublicHost, overrides: ov, log: log, inUse: map[int]bool{}, next: c.PassivePorts.Lo}, nil
}

// Exhausted returns how many times a PASV/EPSV found no free port.
func (d *DataChannels) Exhausted() int64 { return d.exhausted.Load() }

// PortsInUse returns how many passive ports are reserved right now.
func (d *DataChannels) PortsInUse() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.inUse)
}

// ListenPassive reserves a port of the range and listens on it, on the address
// the control connection came in on.
func (d *DataChannels) ListenPassive(ctx context.Context, ctrl session.ConnInfo) (session.PassiveListener, error) {
	advertised, err := d.advertisedIP(ctx, ctrl)
	if err != nil {
		return nil, err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	n := d.ports.Hi - d.ports.Lo + 1
	for i := 0; i < n; i++ {
		port := d.ports.Lo + (d.next-d.ports.Lo+i)%n
		if d.inUse[port] {
			continue
		}
		var lc net.ListenConfig
		l, err := lc.Listen(ctx, "tcp", net.JoinHostPort(ctrl.Local.IP.String(), strconv.Itoa(port)))
		if err != nil {
			continue // taken by someone outside the gateway; try the next
		}
		d.inUse[port] = true
		d.next = d.ports.Lo + (port-d.ports.Lo+1)%n
		return &passiveListener{
			owner: d, port: port, l: l.(*net.TCPListener), peer: ctrl.Remote.IP,
			advertised: &net.TCPAddr{IP: advertised, Port: port},
		}, nil
	}
	d.exhausted.Add(1)
	return nil, session.ErrNoPassivePorts
}

func (d *DataChannels) release(port int) {
	d.mu.Lock()
	delete(d.inUse, port)
	d.mu.Unlock()
}

// advertisedIP picks the address a passive reply announces: a per-client
// override, else FTP2S3_PUBLIC_HOST (resolved now, so a DNS change needs no
// restart), else the address the client reached us on.
func (d *DataChannels) advertisedIP(ctx context.Context, ctrl session.ConnInfo) (net.IP, error) {
	host := d.publicHost
	if a, ok := netip.AddrFromSlice(ctrl.Remote.IP); ok {
		a = a.Unmap()
		for _, o := range d.overrides {
			if o.prefix.Contains(a) {
				host = o.host
				break
			}
		}
	}
	if host == "" {
		return ctrl.Local.IP, nil
	}
	if ip := net.ParseIP(host); ip != nil {
		return ip, nil
	}
	ips, err := net.DefaultResolver.LookupIP(ctx, "ip", host)
	if err != nil || len(ips) == 0 {
		return nil, fmt.Errorf("resolve public host %q: %w", host, err)
	}
	wantV4 := ctrl.Local.IP.To4() != nil
	for _, ip := range ips {
		if (ip.To4() != nil) == wantV4 {
			return ip, nil
		}
	}
	return ips[0], nil
}

type passiveListener struct {
	owner      *DataChannels
	port       int
	l          *net.TCPListener
	peer       net.IP
	advertised *net.TCPAddr
	closeOnce  sync.Once
}

func (p *passiveListener) Advertised() *net.TCPAddr { return p.advertised }

// Accept waits for the control connection's peer. A connection from any other
// address is closed and logged, and the wait goes on until ctx ends.
func (p *passiveListener) Accept(ctx context.Context) (net.Conn, error) {
	if dl, ok := ctx.Deadline(); ok {
		_ = p.l.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { _ = p.l.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	for {
		c, err := p.l.AcceptTCP()
		if err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			return nil, err
		}
		if ra, ok := c.RemoteAddr().(*net.TCPAddr); ok && sameIP(ra.IP, p.peer) {
			return c, nil
		}
		p.owner.strangers.Add(1)
		p.owner.log.Warn("passive data connection from a stranger refused", "port", p.port, "from", c.RemoteAddr().String(), "expected", p.peer.String())
		_ = c.Close()
	}
}

func (p *passiveListener) Close() error {
	var err error
	p.closeOnce.Do(func() {
		err = p.l.Close()
		p.owner.release(p.port)
	})
	return err
}

func sameIP(a, b net.IP) bool {
	return a.Equal(b)
}

// CheckActive enforces RFC 2577 bounce protection: the data connection may only
// go back to the client itself, and never to a privileged port.
func (d *DataChannels) CheckActive(ctrl session.ConnInfo, target *net.TCPAddr) error {
	if !sameIP(target.IP, ctrl.Remote.IP) {
		return fmt.Errorf("%w: the address must be your own (%s)", session.ErrActiveRefused, ctrl.Remote.IP)
	}
	if target.Port < 1024 {
		return fmt.Errorf("%w: port %d is below 1024", session.ErrActiveRefused, target.Port)
	}
	return nil
}

// DialActive connects to the client from the control connection's local address.
func (d *DataChannels) DialActive(ctx context.Context, ctrl session.ConnInfo, target *net.TCPAddr) (net.Conn, error) {
	if err := d.CheckActive(ctrl, target); err != nil {
		return nil, err
	}
	dialer := net.Dialer{LocalAddr: &net.TCPAddr{IP: ctrl.Local.IP}}
	c, err := dialer.DialContext(ctx, "tcp", target.String())
	if err != nil {
		return nil, fmt.Errorf("connect to %s: %w", target, err)
	}
	return c, nil
}
