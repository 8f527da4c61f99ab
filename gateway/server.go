// Package gateway is the FTP front door: listeners, connection limits, the
// data-channel layer (passive port pool, active dialer) and the wiring of
// configuration, storage and sessions.
package gateway

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ftp2s3/ftp2s3/session"
)

// Server accepts FTP control connections and runs a session for each, within
// the connection limits. Its lifecycle follows net/http: Serve, Shutdown, Close.
type Server struct {
	sess     *session.Config
	log      *slog.Logger
	maxConns int
	maxPerIP int
	proxy    *ProxyPolicy
	drain    chan struct{} // closed by Shutdown; sessions end after their transfer
	bans     *Bans

	mu        sync.Mutex
	total     int
	perIP     map[string]int
	listeners map[net.Listener]struct{}
	closing   bool

	refused atomic.Int64

	sessions sync.WaitGroup
	ctx      context.Context // parent of every session; cancelled to abort them
	cancel   context.CancelFunc
}

// ServerOptions configure a Server.
type ServerOptions struct {
	Session             *session.Config
	MaxConnections      int
	MaxConnectionsPerIP int
	// Proxy, when set, reads PROXY protocol headers on control connections.
	Proxy *ProxyPolicy
	// Bans, when set, refuses addresses banned for failed logins.
	Bans *Bans
}

// NewServer returns a Server that is not yet listening.
func NewServer(o ServerOptions) *Server {
	ctx, cancel := context.WithCancel(context.Background())
	log := o.Session.Logger
	if log == nil {
		log = slog.Default()
	}
	drain := make(chan struct{})
	sc := o.Session.WithDefaults()
	sc.Draining = drain
	return &Server{
		sess: sc, log: log, maxConns: o.MaxConnections, maxPerIP: o.MaxConnectionsPerIP, proxy: o.Proxy, drain: drain, bans: o.Bans,
		perIP: map[string]int{}, listeners: map[net.Listener]struct{}{}, ctx: ctx, cancel: cancel,
	}
}

// ErrServerClosed is returned by Serve after Shutdown or Close.
var ErrServerClosed = errors.New("ftp2s3: server closed")

// Serve accepts connections on l until Shutdown or Close.
func (s *Server) Serve(l net.Listener) error { return s.serve(l, false) }

// ServeImplicitTLS accepts implicit-FTPS connections on l: TLS from the first
// byte (after the PROXY header, when one is expected).
func (s *Server) ServeImplicitTLS(l net.Listener) error { return s.serve(l, true) }

func (s *Server) serve(l net.Listener, implicitTLS bool) error {
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		return ErrServerClosed
	}
	s.listeners[l] = struct{}{}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.listeners, l)
		s.mu.Unlock()
	}()
	var backoff time.Duration
	for {
		c, err := l.Accept()
		if err != nil {
			s.mu.Lock()
			closing := s.closing
			s.mu.Unlock()
			if closing {
				return ErrServerClosed
			}
			if errors.Is(err, net.ErrClosed) {
				return fmt.Errorf("accept: %w", err)
			}
			// Anything else (EMFILE, ECONNABORTED, …) is treated as passing: wait
			// a little and go on rather than take the server down.
			s.log.Warn("accept failed; retrying", "err", err)
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			time.Sleep(backoff)
			continue
		}
		backoff = 0
		s.handle(c, implicitTLS)
	}
}

// handle serves one accepted connection in its own goroutine: the PROXY header
// (if any) is read first, so that the limits count the real client.
func (s *Server) handle(c net.Conn, implicitTLS bool) {
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		go s.refuse(c, "Server shutting down", implicitTLS)
		return
	}
	s.sessions.Add(1)
	s.mu.Unlock()
	go func() {
		defer s.sessions.Done()
		peer := c.RemoteAddr().String()
		pc, err := s.proxy.accept(s.ctx, c)
		if err != nil {
			s.log.Warn("connection refused", "remote", peer, "reason", err.Error())
			s.refused.Add(1)
			_ = c.Close()
			return
		}
		c := pc
		if peer != c.RemoteAddr().String() {
			s.log.Debug("PROXY header", "proxy", peer, "remote", c.RemoteAddr().String())
		}
		ip := remoteIP(c)
		if reason := s.admit(ip, remoteAddr(c)); reason != "" {
			s.refuse(c, reason, implicitTLS)
			return
		}
		defer s.release(ip)
		sess := session.New(s.sess, c)
		if implicitTLS {
			sess.UseImplicitTLS()
		}
		sess.Serve(s.ctx)
	}()
}

// admit counts a connection from ip against the limits and the ban list, or
// says why not. It runs after the PROXY header, so both see the real client.
func (s *Server) admit(ip string, addr netip.Addr) string {
	banned := s.bans != nil && s.bans.Banned(addr)
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.closing:
		return "Server shutting down"
	case banned:
		return "Too many failed logins from your address; try again later"
	case s.total >= s.maxConns:
		return "Too many connections; try again later"
	case s.perIP[ip] >= s.maxPerIP:
		return "Too many connections from your address; try again later"
	}
	s.total++
	s.perIP[ip]++
	return ""
}

func (s *Server) release(ip string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.total--
	if s.perIP[ip]--; s.perIP[ip] <= 0 {
		delete(s.perIP, ip)
	}
}

// refuse answers 421 with reason and closes the connection. On an implicit-FTPS
// port the answer needs a TLS handshake first, bounded by the deadline.
func (s *Server) refuse(c net.Conn, reason string, implicitTLS bool) {
	s.log.Warn("connection refused", "remote", c.RemoteAddr().String(), "reason", reason)
	s.refused.Add(1)
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if implicitTLS && s.sess.TLS != nil {
		tc := tls.Server(c, s.sess.TLS)
		if tc.Handshake() != nil {
			return
		}
		defer tc.Close()
		c = tc
	}
	_, _ = fmt.Fprintf(c, "421 %s\r\n", reason)
}

func remoteAddr(c net.Conn) netip.Addr {
	if a, ok := c.RemoteAddr().(*net.TCPAddr); ok {
		if ip, ok := netip.AddrFromSlice(a.IP); ok {
			return ip.Unmap()
		}
	}
	return netip.Addr{}
}

func remoteIP(c net.Conn) string {
	if a, ok := c.RemoteAddr().(*net.TCPAddr); ok {
		return a.IP.String()
	}
	return c.RemoteAddr().String()
}

// Shutdown drains the server: new connections get 421, idle sessions are closed
// with 421 at once, and sessions with a transfer running are closed when it ends.
// When ctx is done first, the remaining transfers are aborted (uploads leave no
// object and no multipart upload behind). Shutdown returns once every session has
// ended, with ctx's error if the grace period ran out; the listeners are closed
// on return.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.closing = true
	select {
	case <-s.drain:
	default:
		close(s.drain)
	}
	s.mu.Unlock()
	defer s.stopListening()
	done := make(chan struct{})
	go func() { s.sessions.Wait(); close(done) }()
	select {
	case <-done:
		s.cancel()
		return nil
	case <-ctx.Done():
		s.cancel()
		<-done
		return ctx.Err()
	}
}

// Close stops accepting and ends every session at once.
func (s *Server) Close() error {
	s.stopListening()
	s.cancel()
	s.sessions.Wait()
	return nil
}

func (s *Server) stopListening() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closing = true
	for l := range s.listeners {
		_ = l.Close()
	}
}

// Refused returns how many connections were refused since start.
func (s *Server) Refused() int64 { return s.refused.Load() }

// ActiveSessions returns how many control connections are open.
func (s *Server) ActiveSessions() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.total
}
