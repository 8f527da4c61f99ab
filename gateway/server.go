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
	bans     *Bans

	mu        sync.Mutex
	total     int
	perIP     map[string]int
	listeners map[net.Listener]struct{}
	closing   bool

	sessions sync.WaitGroup
	ctx      context.Context // parent of every session; cancelled to abort them
	cancel   context.CancelFunc
}

// ServerOptions configure a Server.
type ServerOptions struct {
	Session             *session.Config
	MaxConnections      int
	MaxConnectionsPerIP int
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
	return &Server{
		sess: o.Session, log: log, maxConns: o.MaxConnections, maxPerIP: o.MaxConnectionsPerIP, bans: o.Bans,
		perIP: map[string]int{}, listeners: map[net.Listener]struct{}{}, ctx: ctx, cancel: cancel,
	}
}

// ErrServerClosed is returned by Serve after Shutdown or Close.
var ErrServerClosed = errors.New("ftp2s3: server closed")

// Serve accepts connections on l until Shutdown or Close.
func (s *Server) Serve(l net.Listener) error { return s.serve(l, false) }

// ServeImplicitTLS accepts implicit-FTPS connections on l: TLS from the first byte.
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

func (s *Server) handle(c net.Conn, implicitTLS bool) {
	ip := remoteIP(c)
	banned := s.bans != nil && s.bans.Banned(remoteAddr(c))
	s.mu.Lock()
	reason := ""
	switch {
	case s.closing:
		reason = "Server shutting down"
	case banned:
		reason = "Too many failed logins from your address; try again later"
	case s.total >= s.maxConns:
		reason = "Too many connections; try again later"
	case s.perIP[ip] >= s.maxPerIP:
		reason = "Too many connections from your address; try again later"
	}
	if reason != "" {
		// Close waits for the refusal too, unless it has begun waiting already.
		tracked := !s.closing
		if tracked {
			s.sessions.Add(1)
		}
		s.mu.Unlock()
		s.log.Warn("connection refused", "remote", c.RemoteAddr().String(), "reason", reason)
		go func() {
			if tracked {
				defer s.sessions.Done()
			}
			refuse(c, reason, implicitTLS, s.sess.TLS)
		}()
		return
	}
	s.total++
	s.perIP[ip]++
	s.sessions.Add(1)
	s.mu.Unlock()

	go func() {
		defer func() {
			s.mu.Lock()
			s.total--
			if s.perIP[ip]--; s.perIP[ip] <= 0 {
				delete(s.perIP, ip)
			}
			s.mu.Unlock()
			s.sessions.Done()
		}()
		sess := session.New(s.sess, c)
		if implicitTLS {
			sess.UseImplicitTLS()
		}
		sess.Serve(s.ctx)
	}()
}

// refuse answers 421 and closes. On an implicit-FTPS port the answer needs a
// TLS handshake first; it runs in its own goroutine, bounded by deadlines, so
// a refused client cannot stall the accept loop.
func refuse(c net.Conn, reason string, implicitTLS bool, conf *tls.Config) {
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if implicitTLS && conf != nil {
		tc := tls.Server(c, conf)
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

// Shutdown stops accepting, waits for sessions to end until ctx is done, then
// ends the rest (running uploads are aborted cleanly) and waits for them.
func (s *Server) Shutdown(ctx context.Context) error {
	s.stopListening()
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

// ActiveSessions returns how many control connections are open.
func (s *Server) ActiveSessions() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.total
}
