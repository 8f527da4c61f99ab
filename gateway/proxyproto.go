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
	"syscall"
	"time"

	"github.com/pires/go-proxyproto"
)

// PROXY protocol (HAProxy's spec, versions 1 and 2) on the control listener: a
// load balancer in TCP mode prepends one header naming the real client, so that
// logs, connection limits, bans and the passive-connection IP check see the
// client rather than the balancer. Only the control connection carries a header;
// passive data connections come straight from the client to the replica's
// published port range, and are checked against the address the header declared.
//
// The header is parsed by github.com/pires/go-proxyproto; this file maps
// FTP2S3_PROXY_PROTOCOL and FTP2S3_PROXY_TRUSTED onto its per-connection
// policies (docs/networking.md "Behind a load balancer: PROXY protocol").

var (
	// errNoProxyHeader: a trusted source in required mode sent no header.
	errNoProxyHeader = errors.New("no PROXY protocol header")
	// errUntrustedProxy: a PROXY header (or, in required mode, any connection)
	// from a source outside FTP2S3_PROXY_TRUSTED.
	errUntrustedProxy = errors.New("PROXY protocol header from an untrusted source")
)

// ProxyPolicy decides how the control listener treats PROXY protocol headers.
type ProxyPolicy struct {
	// Mode is "off" (headers are not read: a header is an unknown command),
	// "optional" (a trusted source may send one) or "required" (every connection
	// must come from a trusted source and start with one).
	Mode string
	// Trusted are the balancers allowed to declare client addresses.
	Trusted []netip.Prefix
	// HeaderTimeout bounds waiting for and reading the header in required
	// mode. Zero means 5 s.
	HeaderTimeout time.Duration
	// OptionalWait is how long, in optional mode, a trusted source has to send
	// a header before the connection is taken as plain FTP (FTP clients wait for
	// the server's 220, balancers send the header at once), and how long the
	// check for an untrusted source's header waits on a first line too short
	// to tell. Zero means 1 s.
	OptionalWait time.Duration
	Log          *slog.Logger
}

// ParseTrusted reads FTP2S3_PROXY_TRUSTED: comma-separated CIDRs or single IPs.
func ParseTrusted(s string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, item := range strings.Split(s, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		if !strings.Contains(item, "/") {
			a, err := netip.ParseAddr(item)
			if err != nil {
				return nil, fmt.Errorf("%q is not a CIDR or IP address", item)
			}
			out = append(out, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
			continue
		}
		p, err := netip.ParsePrefix(item)
		if err != nil {
			return nil, fmt.Errorf("%q is not a CIDR or IP address", item)
		}
		out = append(out, p.Masked())
	}
	return out, nil
}

func (p *ProxyPolicy) trusted(addr net.Addr) bool {
	ta, ok := addr.(*net.TCPAddr)
	if !ok {
		return false
	}
	a, ok := netip.AddrFromSlice(ta.IP)
	if !ok {
		return false
	}
	a = a.Unmap()
	for _, pf := range p.Trusted {
		if pf.Contains(a) {
			return true
		}
	}
	return false
}

// connPolicy is the library's policy for one connection: in required mode a
// trusted source must send a header (REQUIRE) and anyone else is refused; in
// optional mode a trusted source may send one (USE), and anyone else is plain
// FTP whose header, if it sends one, ends the connection (REJECT: IGNORE
// would serve it with its own address, hiding a misconfigured balancer).
func (p *ProxyPolicy) connPolicy(o proxyproto.ConnPolicyOptions) (proxyproto.Policy, error) {
	trusted := p.trusted(o.Upstream)
	switch {
	case trusted && p.Mode == "required":
		return proxyproto.REQUIRE, nil
	case trusted:
		return proxyproto.USE, nil
	case p.Mode == "required":
		return proxyproto.REJECT, errUntrustedProxy
	default:
		return proxyproto.REJECT, nil
	}
}

// headerTimeout is the library's ReadHeaderTimeout for a trusted source. In
// optional mode it is also how long a plain FTP client from a trusted address
// waits for its greeting: when it passes, the library takes the connection as
// one without a header.
func (p *ProxyPolicy) headerTimeout() time.Duration {
	if p.Mode == "required" {
		if p.HeaderTimeout > 0 {
			return p.HeaderTimeout
		}
		return 5 * time.Second
	}
	return p.optionalWait()
}

func (p *ProxyPolicy) optionalWait() time.Duration {
	if p.OptionalWait > 0 {
		return p.OptionalWait
	}
	return time.Second
}

// tcpOnly refuses a header that declares a UDP or Unix-socket client: limits,
// bans and the passive-connection check all work on the client's IP address.
// A header without an address (v1 UNKNOWN, v2 LOCAL) keeps the connection's.
func tcpOnly(h *proxyproto.Header) error {
	if h.Command.IsLocal() {
		return nil
	}
	if _, _, ok := h.TCPAddrs(); !ok {
		return fmt.Errorf("PROXY header: unsupported address family 0x%02x (only TCP)", byte(h.TransportProtocol))
	}
	return nil
}

// accept applies the policy to a new control connection and returns the
// connection to serve, whose RemoteAddr is the client a trusted header declared.
// An error means the connection must be closed without a greeting.
func (p *ProxyPolicy) accept(ctx context.Context, c net.Conn) (net.Conn, error) {
	if p == nil || p.Mode == "" || p.Mode == "off" {
		return c, nil
	}
	policy, err := p.connPolicy(proxyproto.ConnPolicyOptions{Upstream: c.RemoteAddr(), Downstream: c.LocalAddr()})
	if err != nil {
		return nil, err
	}
	if policy == proxyproto.REJECT {
		// Greeted at once; the library looks for a header when the session
		// first reads. Its timeout bounds how long a first line starting with
		// a signature's first byte but shorter than the 12-byte v2 signature
		// ("PWD\r\n") waits for more bytes; a header sent after it is an
		// unknown command, and still not believed.
		pc := proxyproto.NewConn(c, proxyproto.WithPolicy(policy), proxyproto.SetReadHeaderTimeout(p.optionalWait()))
		return &proxyConn{Conn: c, pc: pc, log: p.Log}, nil
	}
	pc := proxyproto.NewConn(c, proxyproto.WithPolicy(policy), proxyproto.ValidateHeader(tcpOnly),
		proxyproto.SetReadHeaderTimeout(p.headerTimeout()))
	// Close and Shutdown's deadline end a header wait as they end sessions.
	stop := context.AfterFunc(ctx, func() { _ = c.Close() })
	// A zero-length read makes the library read the header now, before the
	// limits and bans look at the address, and consumes nothing after it.
	_, err = pc.Read(nil)
	if !stop() {
		return nil, fmt.Errorf("read PROXY header: %w", context.Cause(ctx))
	}
	switch {
	case errors.Is(err, proxyproto.ErrNoProxyProtocol):
		return nil, errNoProxyHeader
	case err != nil:
		return nil, fmt.Errorf("read PROXY header: %w", err)
	}
	return &proxyConn{Conn: c, pc: pc, remote: pc.RemoteAddr(), log: p.Log}, nil
}

// proxyConn is a control connection whose reads go through the library's Conn
// (the header, then the stream). Everything else goes to the socket: writes,
// because an untrusted source in optional mode is greeted before it sends a
// byte and the library's Write would first wait for a header; LocalAddr,
// because PASV announces the replica's own address, not the balancer's that a
// header declares as destination.
type proxyConn struct {
	net.Conn // the socket
	pc       *proxyproto.Conn
	// remote is the client a trusted header declared, or the peer; nil for an
	// untrusted source, whose header is never believed.
	remote  net.Addr
	log     *slog.Logger
	refused sync.Once
}

func (c *proxyConn) Read(p []byte) (int, error) {
	n, err := c.pc.Read(p)
	if errors.Is(err, proxyproto.ErrSuperfluousProxyHeader) {
		c.refused.Do(func() {
			if c.log != nil {
				c.log.Warn("PROXY header refused: source not in FTP2S3_PROXY_TRUSTED", "remote", c.Conn.RemoteAddr().String())
			}
			_ = c.Conn.Close()
		})
		return n, fmt.Errorf("%w %s", errUntrustedProxy, c.Conn.RemoteAddr())
	}
	return n, err
}

// RemoteAddr is the client the PROXY header declared, else the peer.
func (c *proxyConn) RemoteAddr() net.Addr {
	if c.remote != nil {
		return c.remote
	}
	return c.Conn.RemoteAddr()
}

// SetDeadline and SetReadDeadline go through the library's Conn, which
// restores the caller's read deadline after its own header deadline.
func (c *proxyConn) SetDeadline(t time.Time) error { return c.pc.SetDeadline(t) }

// SetReadDeadline: see SetDeadline.
func (c *proxyConn) SetReadDeadline(t time.Time) error { return c.pc.SetReadDeadline(t) }

// SyscallConn exposes the socket, so that the session can still peek at it for
// a closed peer and keep urgent data inline.
func (c *proxyConn) SyscallConn() (syscall.RawConn, error) {
	if sc, ok := c.Conn.(syscall.Conn); ok {
		return sc.SyscallConn()
	}
	return nil, errors.New("not a socket")
}
