package session

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// FTP security extensions (RFC 2228, RFC 4217): AUTH, PBSZ, PROT, CCC and TLS on
// the control and data connections. Their rows are in commands.go.

// TLSStats counts FTPS events across the sessions of a gateway; the gateway
// exports them as metrics (docs/operations.md "Metrics, health and readiness").
type TLSStats struct {
	ControlHandshakes     atomic.Int64 // control connections secured (AUTH TLS or implicit)
	ControlHandshakeFails atomic.Int64
	DataHandshakes        atomic.Int64 // PROT P data connections secured
	DataHandshakeFails    atomic.Int64
	DataNotResumed        atomic.Int64 // data connections refused by FTP2S3_TLS_SESSION_REUSE
	// UploadsWithoutCloseNotify counts PROT P uploads whose data connection
	// ended with a bare TCP close instead of TLS close_notify (see tlsData).
	UploadsWithoutCloseNotify atomic.Int64
}

// unusedTLSStats collects the counts of a session configured without TLSStats.
var unusedTLSStats TLSStats

func (s *Session) tlsStats() *TLSStats {
	if s.cfg.TLSStats != nil {
		return s.cfg.TLSStats
	}
	return &unusedTLSStats
}

// tlsState is a session's FTPS state.
type tlsState struct {
	conf     *tls.Config // the session's own clone of Config.TLS
	active   bool        // the control connection is TLS
	implicit bool        // TLS from the first byte (implicit FTPS)
	private  bool        // PROT P: data connections use TLS
	upgrade  bool        // AUTH accepted; the handshake follows the 234 reply
}

// sessionTLSConfig clones the gateway's TLS configuration with session-ticket keys
// of this session's own. A data connection can then only resume a TLS session that
// was issued on this control connection, which is what FTP2S3_TLS_SESSION_REUSE
// relies on: a stranger racing for the passive port cannot present such a ticket.
func sessionTLSConfig(base *tls.Config) *tls.Config {
	c := base.Clone()
	var key [32]byte
	_, _ = rand.Read(key[:])
	c.SetSessionTicketKeys([][32]byte{key})
	return c
}

// UseImplicitTLS makes Serve start TLS before the greeting (implicit FTPS). It
// must be called before Serve.
func (s *Session) UseImplicitTLS() { s.tls.implicit = true }

// implicitHandshake secures the connection before anything is sent.
func (s *Session) implicitHandshake() bool {
	if s.cfg.TLS == nil {
		s.log.Error("implicit TLS connection without a TLS configuration")
		return false
	}
	s.tls.conf = sessionTLSConfig(s.cfg.TLS)
	tc := tls.Server(s.raw, s.tls.conf)
	if err := s.handshake(tc); err != nil {
		s.log.Info("implicit TLS handshake failed", "err", err)
		s.tlsStats().ControlHandshakeFails.Add(1)
		return false
	}
	s.tlsStats().ControlHandshakes.Add(1)
	s.conn = tc
	s.w.Reset(tc)
	s.tls.active, s.tls.private = true, true // implicit FTPS protects data by default
	return true
}

func (s *Session) handshake(tc *tls.Conn) error {
	ctx, cancel := context.WithTimeout(s.ctx, s.cfg.DataTimeout)
	defer cancel()
	if err := tc.HandshakeContext(ctx); err != nil {
		return err
	}
	st := tc.ConnectionState()
	s.log.Debug("TLS established", "version", tls.VersionName(st.Version), "cipher", tls.CipherSuiteName(st.CipherSuite))
	return nil
}

func (s *Session) handleAUTH(arg string) Reply {
	if s.cfg.TLS == nil {
		return reply(codeNotImplemented, "AUTH not available: TLS is not configured on this server")
	}
	if s.tls.active {
		return reply(codeBadSequence, "The control connection is already protected by TLS")
	}
	mech := strings.ToUpper(strings.TrimSpace(arg))
	switch mech {
	case "TLS", "TLS-C":
	case "SSL", "TLS-P":
		// draft-murray-auth-ftp-ssl: these imply protected data connections.
		s.tls.private = true
	default:
		return reply(codeNotImplementedParam, "AUTH %s not supported; use AUTH TLS", mech)
	}
	s.tls.upgrade = true
	return reply(codeAuthOK, "AUTH %s successful; start TLS negotiation", mech)
}

// afterAUTH runs once an AUTH line has been answered. If AUTH was accepted, the
// TLS handshake runs on the connection (the client starts it on hearing 234); in
// every case the line reader resumes, on the TLS connection if there is one.
func (s *Session) afterAUTH() {
	var next net.Conn
	if s.tls.upgrade {
		s.tls.upgrade = false
		s.tls.conf = sessionTLSConfig(s.cfg.TLS)
		tc := tls.Server(s.raw, s.tls.conf)
		if err := s.handshake(tc); err != nil {
			// The stream is mid-handshake garbage now: nothing sensible can follow.
			s.log.Info("TLS handshake after AUTH failed", "err", err)
			s.tlsStats().ControlHandshakeFails.Add(1)
			s.quit = true
		} else {
			s.tlsStats().ControlHandshakes.Add(1)
			s.wmu.Lock()
			s.conn = tc
			s.w.Reset(tc)
			s.wmu.Unlock()
			s.tls.active = true
			// RFC 4217 §8: after AUTH the user must log in again.
			s.pendingUser = ""
			next = tc
		}
	}
	s.resume <- next
}

func (s *Session) handlePBSZ(arg string) Reply {
	if !s.tls.active {
		return reply(codeBadSequence, "PBSZ needs a TLS-protected control connection (AUTH TLS first)")
	}
	// RFC 4217 §8: TLS is a streaming protection; the only buffer size is 0. PROT
	// without PBSZ is accepted too, as most servers do.
	return reply(codeOK, "PBSZ=0")
}

func (s *Session) handlePROT(arg string) Reply {
	if !s.tls.active {
		return reply(codeBadSequence, "PROT needs a TLS-protected control connection (AUTH TLS first)")
	}
	switch strings.ToUpper(strings.TrimSpace(arg)) {
	case "P":
		s.tls.private = true
		return reply(codeOK, "Protection level set to P (data connections use TLS)")
	case "C":
		if s.cfg.TLSRequired {
			return reply(codeProtectionDenied, "PROT C refused: this server requires protected data connections (PROT P)")
		}
		s.tls.private = false
		return reply(codeOK, "Protection level set to C (data connections in clear)")
	case "S", "E":
		return reply(codeProtNotSupported, "Protection level %s not supported by TLS; use P or C", strings.ToUpper(arg))
	}
	return reply(codeNotImplementedParam, "Protection level %s not understood; use P or C", arg)
}

func (s *Session) handleCCC(string) Reply {
	return reply(codeCommandProtDenied, "CCC refused: the control connection stays encrypted")
}

// loginNeedsTLS reports whether USER/PASS must be refused because the server
// requires TLS and the control connection is still in clear.
func (s *Session) loginNeedsTLS() (Reply, bool) {
	if s.cfg.TLSRequired && !s.tls.active {
		return reply(codeNotLoggedIn, "TLS required: send AUTH TLS before logging in, so that your password is not sent in clear"), true
	}
	return Reply{}, false
}

// dataTLS returns the TLS configuration for the next data connection, nil for a
// clear one.
func (s *Session) dataTLS() *tls.Config {
	if s.tls.private && s.tls.conf != nil {
		return s.tls.conf
	}
	return nil
}

// clearDataRefused refuses a data connection in clear when the server requires
// protected data (RFC 4217 §9: 521). It reads only the immutable configuration,
// so the transfer goroutine may call it.
func (s *Session) clearDataRefused(setup dataSetup) *Reply {
	if setup.tls == nil && s.cfg.TLSRequired {
		r := reply(codeProtNotAllowed, "Data connections must be protected: send PBSZ 0 and PROT P first")
		return &r
	}
	return nil
}

// secureData runs the server side of the TLS handshake on a data connection
// (RFC 4217 §10: the server is the TLS server in passive and active mode alike)
// and enforces session reuse when configured. It runs after the preliminary
// reply: clients start the handshake only once they have heard it.
func (s *Session) secureData(ctx context.Context, conn net.Conn, conf *tls.Config) (net.Conn, *Reply) {
	raw := &eofWatch{Conn: conn}
	batch := &recordBatcher{Conn: raw}
	tc := tls.Server(batch, conf)
	hctx, cancel := context.WithTimeout(ctx, s.cfg.DataTimeout)
	defer cancel()
	if err := tc.HandshakeContext(hctx); err != nil {
		s.log.Warn("TLS handshake on the data connection failed", "err", err)
		s.tlsStats().DataHandshakeFails.Add(1)
		r := reply(codeCantOpenData, "TLS handshake on the data connection failed")
		return nil, &r
	}
	if s.cfg.TLSSessionReuse && !tc.ConnectionState().DidResume {
		s.log.Warn("data connection refused: TLS session not resumed", "data_peer", conn.RemoteAddr().String())
		s.tlsStats().DataNotResumed.Add(1)
		_ = tc.Close()
		r := reply(codeDataTLSFailed, "TLS session reuse required: the data connection must resume the control connection's TLS session")
		return nil, &r
	}
	s.tlsStats().DataHandshakes.Add(1)
	_ = tc.SetDeadline(time.Time{})
	return &tlsData{Conn: tc, raw: raw, batch: batch, s: s}, nil
}

// errNoCloseNotify: a PROT P upload ended without TLS close_notify while
// FTP2S3_TLS_STRICT_EOF is on.
var errNoCloseNotify = errors.New("TLS data connection ended without close_notify")

// eofWatch records whether the raw data connection itself reached end of file.
type eofWatch struct {
	net.Conn
	eof atomic.Bool
}

func (w *eofWatch) Read(p []byte) (int, error) {
	n, err := w.Conn.Read(p)
	if err == io.EOF {
		w.eof.Store(true)
	}
	return n, err
}

// tlsData is a PROT P data connection that tells how an upload ended. In
// stream mode the end of the data connection is the end of the file, and
// crypto/tls reports io.EOF both for a close_notify alert and for a bare TCP
// FIN at a record boundary — which anyone on the path can inject to cut a file
// short. After close_notify the TLS layer stops reading at the alert, so the
// raw connection has not reported EOF yet; after a bare FIN it has. Such an
// upload is refused when Config.TLSStrictEOF is on (451 through errReply,
// nothing stored, like vsftpd's strict_ssl_read_eof); otherwise it is logged
// and counted, so that an operator can see whether their clients would pass.
type tlsData struct {
	*tls.Conn
	raw    *eofWatch
	batch  *recordBatcher
	wmu    sync.Mutex
	s      *Session
	warned bool // Read is called from the transfer's goroutine only
}

// Write sends a large buffer as few socket writes of several records each
// (tlsbatch.go); the records are on the socket when it returns. Writes are
// serialised so that one batch is open at a time.
func (c *tlsData) Write(p []byte) (int, error) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if len(p) < batchMin {
		return c.Conn.Write(p)
	}
	c.batch.begin()
	n, err := c.Conn.Write(p)
	if ferr := c.batch.end(); ferr != nil {
		// A send of gathered records failed: those counted in n may not have
		// left, so none is reported written.
		return 0, ferr
	}
	return n, err
}

func (c *tlsData) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if err != io.EOF || !c.raw.eof.Load() {
		return n, err
	}
	if !c.warned {
		c.warned = true
		c.s.tlsStats().UploadsWithoutCloseNotify.Add(1)
		c.s.log.Warn("TLS data connection ended without close_notify: the file may be truncated",
			"data_peer", c.RemoteAddr().String(), "refused", c.s.cfg.TLSStrictEOF)
	}
	if c.s.cfg.TLSStrictEOF {
		return n, errNoCloseNotify
	}
	return n, err
}
