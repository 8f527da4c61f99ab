package gateway

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// PROXY protocol (HAProxy's spec, versions 1 and 2) on the control listener: a
// load balancer in TCP mode prepends one header naming the real client, so that
// logs, connection limits, bans and the passive-connection IP check see the
// client rather than the balancer. Only the control connection carries a header;
// passive data connections come straight from the client to the replica's
// published port range, and are checked against the address the header declared.

// Signatures of the two header versions.
var (
	proxyV1Sig = []byte("PROXY ")
	proxyV2Sig = []byte("\r\n\r\n\x00\r\nQUIT\n")
)

// proxyV1MaxLen is the longest v1 header, CRLF included (spec §2.1).
const proxyV1MaxLen = 107

var (
	// errNoProxyHeader: the connection's first bytes are not a PROXY header.
	errNoProxyHeader = errors.New("no PROXY protocol header")
	// errUntrustedProxy: a PROXY header from a source outside FTP2S3_PROXY_TRUSTED.
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
	// HeaderTimeout bounds reading a header once it has started (and, in
	// required mode, waiting for it). Zero means 5 s.
	HeaderTimeout time.Duration
	// OptionalWait is how long, in optional mode, a trusted source has to start a
	// header before the connection is taken as plain FTP (FTP clients wait for
	// the server's 220, balancers send the header at once). Zero means 1 s.
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

// accept applies the policy to a new control connection and returns the
// connection to serve, whose RemoteAddr is the client a trusted header declared.
// An error means the connection must be closed without a greeting.
func (p *ProxyPolicy) accept(ctx context.Context, c net.Conn) (net.Conn, error) {
	if p == nil || p.Mode == "" || p.Mode == "off" {
		return c, nil
	}
	if !p.trusted(c.RemoteAddr()) {
		if p.Mode == "required" {
			return nil, errUntrustedProxy
		}
		// Served as plain FTP; a header it sends anyway ends the connection.
		return &proxyConn{Conn: c, r: bufio.NewReader(c), guard: true, log: p.Log}, nil
	}
	headerTimeout := p.HeaderTimeout
	if headerTimeout <= 0 {
		headerTimeout = 5 * time.Second
	}
	wait := p.OptionalWait
	if wait <= 0 {
		wait = time.Second
	}
	stop := context.AfterFunc(ctx, func() { _ = c.SetReadDeadline(time.Unix(1, 0)) })
	defer stop()
	defer func() { _ = c.SetReadDeadline(time.Time{}) }()
	r := bufio.NewReader(c)
	if p.Mode == "optional" {
		_ = c.SetReadDeadline(time.Now().Add(wait))
		if _, err := r.Peek(1); err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) && ctx.Err() == nil {
				return &proxyConn{Conn: c, r: r}, nil // a plain FTP client waiting for 220
			}
			return nil, fmt.Errorf("read PROXY header: %w", err)
		}
	}
	_ = c.SetReadDeadline(time.Now().Add(headerTimeout))
	src, err := readProxyHeader(r)
	switch {
	case errors.Is(err, errNoProxyHeader) && p.Mode == "optional":
		return &proxyConn{Conn: c, r: r}, nil
	case err != nil:
		return nil, err
	}
	pc := &proxyConn{Conn: c, r: r}
	if src != nil {
		pc.remote = src
	}
	return pc, nil
}

// readProxyHeader reads a v1 or v2 header. It returns the declared source, or
// nil for a header that declares none (v1 UNKNOWN, v2 LOCAL: health checks).
func readProxyHeader(r *bufio.Reader) (*net.TCPAddr, error) {
	first, err := r.Peek(1)
	if err != nil {
		return nil, fmt.Errorf("read PROXY header: %w", err)
	}
	sig := proxyV1Sig
	if first[0] == proxyV2Sig[0] {
		sig = proxyV2Sig
	}
	ok, err := hasPrefix(r, sig)
	if err != nil {
		return nil, fmt.Errorf("read PROXY header: %w", err)
	}
	if !ok {
		return nil, errNoProxyHeader
	}
	if sig[0] == 'P' {
		return readProxyV1(r)
	}
	return readProxyV2(r)
}

// hasPrefix reports whether r's next bytes are sig, without consuming them and
// without waiting for more bytes than it takes to see a mismatch, so that a
// short command line such as "PWD\r\n" never blocks on bytes that will not come.
func hasPrefix(r *bufio.Reader, sig []byte) (bool, error) {
	for i := 1; i <= len(sig); i++ {
		b, err := r.Peek(i)
		if err != nil {
			return false, err
		}
		if b[i-1] != sig[i-1] {
			return false, nil
		}
	}
	return true, nil
}

// readProxyV1 parses "PROXY TCP4|TCP6|UNKNOWN src dst sport dport\r\n".
func readProxyV1(r *bufio.Reader) (*net.TCPAddr, error) {
	var line []byte
	for {
		b, err := r.ReadByte()
		if err != nil {
			return nil, fmt.Errorf("read PROXY v1 header: %w", err)
		}
		line = append(line, b)
		if b == '\n' {
			break
		}
		if len(line) >= proxyV1MaxLen {
			return nil, errors.New("PROXY v1 header longer than 107 bytes")
		}
	}
	if !bytes.HasSuffix(line, []byte("\r\n")) {
		return nil, errors.New("PROXY v1 header not terminated by CRLF")
	}
	f := strings.Split(string(line[:len(line)-2]), " ")
	if len(f) >= 2 && f[1] == "UNKNOWN" {
		return nil, nil
	}
	if len(f) != 6 || (f[1] != "TCP4" && f[1] != "TCP6") {
		return nil, fmt.Errorf("malformed PROXY v1 header %q", line[:len(line)-2])
	}
	src, err := netip.ParseAddr(f[2])
	if err != nil || src.Zone() != "" {
		return nil, fmt.Errorf("PROXY v1 header: bad source address %q", f[2])
	}
	dst, err := netip.ParseAddr(f[3])
	if err != nil || dst.Zone() != "" {
		return nil, fmt.Errorf("PROXY v1 header: bad destination address %q", f[3])
	}
	if src.Is4() != (f[1] == "TCP4") || dst.Is4() != (f[1] == "TCP4") {
		return nil, fmt.Errorf("PROXY v1 header: addresses do not match %s", f[1])
	}
	sport, err1 := parsePort(f[4])
	_, err2 := parsePort(f[5])
	if err1 != nil || err2 != nil {
		return nil, fmt.Errorf("PROXY v1 header: bad port in %q", line[:len(line)-2])
	}
	return &net.TCPAddr{IP: src.AsSlice(), Port: sport}, nil
}

func parsePort(s string) (int, error) {
	if s == "" || (len(s) > 1 && s[0] == '0') {
		return 0, errors.New("bad port")
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 || n > 65535 {
		return 0, errors.New("bad port")
	}
	return n, nil
}

// readProxyV2 parses the binary header: signature, version/command, family,
// length, addresses, then TLVs (skipped).
func readProxyV2(r *bufio.Reader) (*net.TCPAddr, error) {
	var hdr [16]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return nil, fmt.Errorf("read PROXY v2 header: %w", err)
	}
	verCmd, fam := hdr[12], hdr[13]
	n := int(binary.BigEndian.Uint16(hdr[14:16]))
	if verCmd>>4 != 2 {
		return nil, fmt.Errorf("PROXY v2 header: unsupported version %d", verCmd>>4)
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(r, body); err != nil {
		return nil, fmt.Errorf("read PROXY v2 addresses: %w", err)
	}
	switch verCmd & 0xf {
	case 0x0: // LOCAL: the balancer's own connection (health check)
		return nil, nil
	case 0x1: // PROXY
	default:
		return nil, fmt.Errorf("PROXY v2 header: unsupported command %d", verCmd&0xf)
	}
	switch fam {
	case 0x11: // TCP over IPv4
		if n < 12 {
			return nil, errors.New("PROXY v2 header: IPv4 address block too short")
		}
		return &net.TCPAddr{IP: net.IP(append([]byte(nil), body[0:4]...)), Port: int(binary.BigEndian.Uint16(body[8:10]))}, nil
	case 0x21: // TCP over IPv6
		if n < 36 {
			return nil, errors.New("PROXY v2 header: IPv6 address block too short")
		}
		return &net.TCPAddr{IP: net.IP(append([]byte(nil), body[0:16]...)), Port: int(binary.BigEndian.Uint16(body[32:34]))}, nil
	case 0x00: // UNSPEC: the spec says to use the real connection's addresses
		return nil, nil
	default:
		return nil, fmt.Errorf("PROXY v2 header: unsupported address family 0x%02x (only TCP)", fam)
	}
}

// proxyConn is a control connection after its PROXY header: reads go through the
// reader that parsed the header, and RemoteAddr is the declared client.
type proxyConn struct {
	net.Conn
	r      *bufio.Reader
	remote net.Addr
	// guard: the source is untrusted, so a header at the start of the stream is
	// refused instead of being served as commands.
	guard     bool
	guardOnce sync.Once
	guardErr  error
	log       *slog.Logger
}

func (c *proxyConn) Read(p []byte) (int, error) {
	if c.guard {
		c.guardOnce.Do(func() {
			for _, sig := range [][]byte{proxyV1Sig, proxyV2Sig} {
				if ok, _ := hasPrefix(c.r, sig); ok {
					c.guardErr = fmt.Errorf("%w %s", errUntrustedProxy, c.Conn.RemoteAddr())
					if c.log != nil {
						c.log.Warn("PROXY header refused: source not in FTP2S3_PROXY_TRUSTED", "remote", c.Conn.RemoteAddr().String())
					}
					_ = c.Conn.Close()
					return
				}
			}
		})
		if c.guardErr != nil {
			return 0, c.guardErr
		}
	}
	return c.r.Read(p)
}

// RemoteAddr is the client the PROXY header declared, else the peer.
func (c *proxyConn) RemoteAddr() net.Addr {
	if c.remote != nil {
		return c.remote
	}
	return c.Conn.RemoteAddr()
}

// SyscallConn exposes the socket, so that the session can still peek at it for
// a closed peer.
func (c *proxyConn) SyscallConn() (syscall.RawConn, error) {
	if sc, ok := c.Conn.(syscall.Conn); ok {
		return sc.SyscallConn()
	}
	return nil, errors.New("not a socket")
}
