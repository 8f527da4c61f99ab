// Package gateway is the FTP front door: listeners, connection limits, PROXY
// protocol, TLS, configuration and the wiring of storage, sessions and the
// subpackages (datachan: data connections; auth: logins; ops: metrics and
// health).
package gateway

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ftp2s3/ftp2s3/gateway/auth"
	"github.com/ftp2s3/ftp2s3/gateway/clientaddr"
	"github.com/ftp2s3/ftp2s3/internal/ratelog"
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
	bans     *auth.Bans

	mu        sync.Mutex
	total     int
	perIP     map[netip.Addr]int // by clientaddr.Key: IPv6 per /64
	listeners map[net.Listener]struct{}
	closing   bool

	refused atomic.Int64
	// refusedLog bounds the "connection refused" lines: a banned or
	// over-limit client can reconnect in a loop (see refusalLog).
	refusedLog *ratelog.Limiter

	sessions sync.WaitGroup
	ctx      context.Context // parent of every session; cancelled to abort them
	cancel   context.CancelFunc

	// accepting counts the accept loops (serve); refusals the 421s sent after
	// closing, which only accept loops start, so they are waited for after them.
	accepting sync.WaitGroup
	refusals  sync.WaitGroup
}

// ServerOptions configure a Server.
type ServerOptions struct {
	Session             *session.Config
	MaxConnections      int
	MaxConnectionsPerIP int
	// Proxy, when set, reads PROXY protocol headers on control connections.
	Proxy *ProxyPolicy
	// Bans, when set, refuses addresses banned for failed logins.
	Bans *auth.Bans
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
	if sc.ClientKey == nil {
		sc.ClientKey = budgetClient
	}
	return &Server{
		sess: sc, log: log, maxConns: o.MaxConnections, maxPerIP: o.MaxConnectionsPerIP, proxy: o.Proxy, drain: drain, bans: o.Bans,
		perIP: map[netip.Addr]int{}, listeners: map[net.Listener]struct{}{}, ctx: ctx, cancel: cancel,
		refusedLog: ratelog.New(10*time.Second, 10),
	}
}

// budgetClient is the client a peer's transfers count as in the memory
// budget's per-client share: the same unit as the connection limits and bans.
func budgetClient(a net.Addr) string {
	if t, ok := a.(*net.TCPAddr); ok {
		return clientaddr.Key(clientaddr.FromTCP(t).WithZone("")).String()
	}
	return a.String()
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
	s.accepting.Add(1)
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.listeners, l)
		s.mu.Unlock()
		s.accepting.Done()
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
		s.refusals.Add(1)
		go func() {
			defer s.refusals.Done()
			s.refuse(c, "Server shutting down", implicitTLS)
		}()
		return
	}
	s.sessions.Add(1)
	s.mu.Unlock()
	go func() {
		defer s.sessions.Done()
		peer := c.RemoteAddr().String()
		pc, err := s.proxy.accept(s.ctx, c)
		if err != nil {
			s.refusalLog(peer, err.Error())
			_ = c.Close()
			return
		}
		c := pc
		if peer != c.RemoteAddr().String() {
			s.log.Debug("PROXY header", "proxy", peer, "remote", c.RemoteAddr().String())
		}
		addr := clientaddr.Remote(c)
		if reason := s.admit(addr); reason != "" {
			s.refuse(c, reason, implicitTLS)
			return
		}
		defer s.release(addr)
		sess := session.New(s.sess, c)
		if implicitTLS {
			sess.UseImplicitTLS()
		}
		sess.Serve(s.ctx)
	}()
}

// admit counts a connection from addr against the limits and the ban list, or
// says why not. It runs after the PROXY header, so both see the real client.
// The per-address limit counts IPv6 clients per /64, as the bans do: one
// subscriber gets a whole /64 and could otherwise open MAX_CONNECTIONS_PER_IP
// connections from each of its addresses.
func (s *Server) admit(addr netip.Addr) string {
	banned := s.bans != nil && s.bans.Banned(addr)
	ip := clientaddr.Key(addr)
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

func (s *Server) release(addr netip.Addr) {
	ip := clientaddr.Key(addr)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.total--
	if s.perIP[ip]--; s.perIP[ip] <= 0 {
		delete(s.perIP, ip)
	}
}

// refuse answers 421 with reason and closes the connection. On an
// implicit-FTPS port nothing can be said in clear (a TLS client would read the
// 421 as a broken record), and a handshake just to say no would hand every
// refused or banned client a full asymmetric-crypto operation for free, so the
// refusal there is a TLS alert record, sent before any handshake: see
// refuseTLS.
func (s *Server) refuse(c net.Conn, reason string, implicitTLS bool) {
	s.refusalLog(c.RemoteAddr().String(), reason)
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if implicitTLS {
		refuseTLS(c)
		return
	}
	_, _ = fmt.Fprintf(c, "421 %s\r\n", reason)
}

// tlsAccessDenied is a TLS record holding one fatal alert, access_denied (RFC
// 8446 §6; alerts before the handshake travel in clear). The record version is
// TLS 1.0's, which every TLS client accepts in a first record.
var tlsAccessDenied = []byte{21, 3, 1, 0, 2, 2, 49}

// refuseTLS turns an implicit-FTPS client away without a handshake: the client
// reports "access denied" rather than a reset. The ClientHello is read (and
// thrown away) before closing, since closing a socket with unread data sends
// a reset that may overtake the alert.
func refuseTLS(c net.Conn) {
	_, _ = c.Write(tlsAccessDenied)
	if tc, ok := c.(interface{ CloseWrite() error }); ok {
		_ = tc.CloseWrite()
	}
	_ = c.SetReadDeadline(time.Now().Add(time.Second))
	_, _ = io.Copy(io.Discard, io.LimitReader(c, 64<<10))
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

// stopListening closes the listeners and waits until their accept loops and
// the refusals they started are over.
func (s *Server) stopListening() {
	s.mu.Lock()
	s.closing = true
	for l := range s.listeners {
		_ = l.Close()
	}
	s.mu.Unlock()
	s.accepting.Wait()
	s.refusals.Wait()
}

// refusalLog counts a refused connection and logs it, a few per period: the
// metric counts every one (Refused).
func (s *Server) refusalLog(remote, reason string) {
	s.refused.Add(1)
	if ok, left := s.refusedLog.Allow(time.Now()); ok {
		s.log.Warn("connection refused", "remote", remote, "reason", reason, "not_logged", left)
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
