// Package session implements one FTP control connection: command parsing,
// replies, login, path mapping and the transfers it starts. It consumes storage
// through FS and data connections through DataChannels.
package session

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/text/encoding"

	"github.com/ftp2s3/ftp2s3/storage"
)

// Config holds what every session of a gateway shares. It is read-only once
// sessions run.
type Config struct {
	FS          FS
	Auth        Authenticator
	Data        DataChannels
	ActiveMode  bool          // allow PORT/EPRT
	IdleTimeout time.Duration // control connection idle limit
	DataTimeout time.Duration // data connection setup and stall limit
	Logger      *slog.Logger

	// TLS enables FTPS (RFC 4217) when set: AUTH TLS, PBSZ, PROT and TLS on
	// data connections under PROT P. Each session clones it (see handle_tls.go).
	TLS *tls.Config
	// TLSRequired refuses USER before AUTH TLS and transfers under PROT C.
	TLSRequired bool
	// TLSSessionReuse refuses a PROT P data connection that does not resume the
	// control connection's TLS session.
	TLSSessionReuse bool
	// TLSStrictEOF refuses a PROT P upload that ends without close_notify (handle_tls.go).
	TLSStrictEOF bool
	// LoginTimeout closes a connection that has not logged in by then.
	LoginTimeout time.Duration
	// Guard, when set, slows down and bans addresses that keep failing to log in.
	Guard LoginGuard
	// TLSStats, when set, counts handshakes and refusals (shared by all sessions).
	TLSStats *TLSStats
	// PathEncoding is the code page of clients that send names that are not
	// UTF-8 (pathenc.go); nil means UTF-8 only.
	PathEncoding encoding.Encoding
	// IgnoreSetStat accepts MFMT, MDTM <time> and SITE UTIME without storing
	// the time (FTP2S3_SETSTAT=ignore; handle_setstat.go).
	IgnoreSetStat bool

	// Greeting is the text of the 220 banner.
	Greeting string
	// Observer is told about sessions, commands, logins and transfers (metrics);
	// nil means nobody listens.
	Observer Observer
	// ProgressInterval is how often a running transfer logs its progress; zero
	// means every minute.
	ProgressInterval time.Duration
	// CommandTimeout bounds how long one command may wait for storage before it
	// is answered 451 (deadline.go); zero means no bound.
	CommandTimeout time.Duration
	// Events, when set, hears what clients did (events.go); ObjectMetadata
	// says what every written object records about who sent it; UploadCheck,
	// when its Checker is set, may refuse an upload before its 226.
	Events         Events
	ObjectMetadata ObjectMetadata
	UploadCheck    UploadCheck
	// Draining, when closed, asks every session to end: an idle session at once
	// with 421, a session with a transfer running once the transfer is over.
	Draining <-chan struct{}
	// ClientKey names the client a connection's peer belongs to, for the
	// memory budget's per-client share (storage.WithClient); the gateway
	// counts an IPv6 /64 as one client (gateway/clientaddr). Nil: the peer's
	// IP address.
	ClientKey func(remote net.Addr) string
}

// observer returns the configured Observer or one that ignores everything. It does
// not write cfg, which sessions share.
func (c *Config) observer() Observer {
	if c.Observer == nil {
		return NopObserver{}
	}
	return c.Observer
}

func (c *Config) progressInterval() time.Duration {
	if c.ProgressInterval <= 0 {
		return time.Minute
	}
	return c.ProgressInterval
}

// WithDefaults returns a copy of c with every unset field at its default. A
// server calls it once, so that sessions starting in parallel only read their
// shared Config (New fills defaults too, which would otherwise race).
func (c Config) WithDefaults() *Config {
	c.setDefaults()
	return &c
}

func (c *Config) setDefaults() {
	if c.IdleTimeout <= 0 {
		c.IdleTimeout = 5 * time.Minute
	}
	if c.DataTimeout <= 0 {
		c.DataTimeout = 30 * time.Second
	}
	if c.LoginTimeout <= 0 {
		c.LoginTimeout = 60 * time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Greeting == "" {
		c.Greeting = "ftp2s3 ready"
	}
}

// maxLineLength bounds one command line (RFC 959 sets no limit; 8 KiB is far
// beyond any real path and keeps a hostile client from growing our buffers).
const maxLineLength = 8192

// Session is the state of one control connection. Only the goroutine running
// Serve touches it, except where a field says otherwise.
type Session struct {
	cfg  *Config
	conn net.Conn // the control connection: raw, or the TLS layer over it once secured
	raw  net.Conn // the TCP connection underneath, for peeking
	ctrl ConnInfo
	id   string
	log  *slog.Logger
	// base lives as long as the session; ctx is the running command's, with
	// its deadline (deadline.go), and base between commands.
	base context.Context
	ctx  context.Context
	// cmd is the row of the command whose handler runs (set by dispatch), so
	// that a handler shared by several verbs reads their facts from it.
	cmd *command

	wmu sync.Mutex // serialises replies from Serve and the transfer goroutine
	w   *bufio.Writer

	pendingUser string
	user        *User
	fs          FS
	cwd         string // cleaned virtual path

	binary     bool // TYPE I (the default) or TYPE A
	restOffset int64
	renameFrom string // RNFR's path until the next command (RNTO uses it)
	allocHint  int64  // ALLO's size for the next STOR/APPE, 0 when unknown
	epsvAll    bool
	data       dataSetup
	quit       bool
	info       infoState   // HOST, CLNT, OPTS MLST and OPTS HASH state: handle_info.go
	utf8       atomic.Bool // OPTS UTF8 ON: replies and listings in UTF-8 (pathenc.go); read by the transfer goroutine

	tls tlsState // FTPS state; see handle_tls.go

	xfer  *runningTransfer // the transfer in progress, nil when none runs
	queue lineQueue        // lines that arrived during a transfer, run after it
	login *time.Timer      // the login timeout; nil outside Serve

	ctrlClosed chan struct{} // closed when the control connection reads EOF or fails
	// resume restarts the line reader after it delivered an AUTH line, carrying
	// the TLS connection to read from when the control connection was upgraded.
	resume chan net.Conn
}

// New prepares a session for conn.
func New(cfg *Config, conn net.Conn) *Session {
	// Defaults go on a copy: sessions start concurrently and share cfg.
	own := *cfg
	own.setDefaults()
	cfg = &own
	id := newID()
	s := &Session{
		cfg:        cfg,
		conn:       conn,
		raw:        conn,
		id:         id,
		w:          bufio.NewWriter(conn),
		fs:         cfg.FS,
		cwd:        "/",
		binary:     true,
		ctrlClosed: make(chan struct{}),
		resume:     make(chan net.Conn, 1),
	}
	keepUrgentInline(conn)
	s.ctrl.Local, _ = conn.LocalAddr().(*net.TCPAddr)
	s.ctrl.Remote, _ = conn.RemoteAddr().(*net.TCPAddr)
	s.log = cfg.Logger.With("session", id, "remote", conn.RemoteAddr().String())
	return s
}

func newID() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// clientKey is the client the peer belongs to (Config.ClientKey).
func (s *Session) clientKey() string {
	if s.cfg.ClientKey != nil {
		return s.cfg.ClientKey(s.conn.RemoteAddr())
	}
	if s.ctrl.Remote != nil {
		return s.ctrl.Remote.IP.String()
	}
	return s.conn.RemoteAddr().String()
}

// ID returns the session's identifier as it appears in logs.
func (s *Session) ID() string { return s.id }

// line is one command line read from the control connection, or the error
// that ended reading.
type line struct {
	text    string
	tooLong bool
	err     error
}

// Serve runs the session until the client quits, the connection fails, the idle
// timeout passes or ctx ends. It closes the connection before returning and
// leaves no goroutine behind.
//
// It is the session's one command loop: a line is either executed at once, or,
// while a transfer runs, heard (ABOR, STAT) or queued (and once the queue is
// full, left unread until the transfer is over); queued lines run from
// this same loop once the transfer is over, so pipelining transfers never nests
// calls (see TestPipelinedTransfersDoNotNest).
func (s *Session) Serve(ctx context.Context) {
	ctx, cancel := context.WithCancel(ctx)
	// Every transfer's buffers count against this client's share of the
	// memory budget.
	ctx = storage.WithClient(ctx, s.clientKey())
	s.base, s.ctx = ctx, ctx
	if s.tls.implicit && !s.implicitHandshake() {
		cancel()
		s.conn.Close()
		return
	}
	lines := make(chan line)
	var readers sync.WaitGroup
	defer func() {
		s.stopTransfer(errCtrlClosed)
		s.data.close()
		cancel()
		s.conn.Close()
		readers.Wait()
		s.log.Info("session closed")
		s.cfg.observer().SessionClosed()
	}()

	s.cfg.observer().SessionOpened()
	s.log.Info("session opened", "local", s.conn.LocalAddr().String())
	// The greeting goes out before the first read: a read can end the
	// connection (an untrusted source's PROXY header, gateway/proxyproto.go),
	// and the client is owed its 220 first.
	s.send(reply(codeReady, "%s", s.cfg.Greeting))
	readers.Add(1)
	go func() {
		defer readers.Done()
		s.readLines(ctx, lines)
	}()
	// The idle timer runs from the last complete line while nothing else runs, so
	// a client trickling a byte at a time cannot keep a session alive; a transfer
	// may run for hours, so it stops the clock.
	idle := time.NewTimer(s.cfg.IdleTimeout)
	defer idle.Stop()
	// The login timer bounds how long a connection that never logs in may hold a
	// slot. REIN starts it again (handleREIN).
	s.login = time.NewTimer(s.cfg.LoginTimeout)
	defer s.login.Stop()
	for !s.quit {
		if s.xfer == nil {
			select {
			case <-s.cfg.Draining:
				s.log.Info("closing for shutdown")
				s.send(reply(codeNotAvailable, "Server shutting down, closing control connection"))
				return
			case <-s.revoked():
				s.closeRevoked()
				return
			default:
			}
			if l, ok := s.queue.pop(); ok {
				s.execute(l)
				idle.Reset(s.cfg.IdleTimeout)
				continue
			}
		}
		// While a transfer runs only its own events, the login timer and the
		// control connection are watched: shutdown and ctx reach the transfer
		// through its context, and the loop sees them once it is over.
		var done <-chan struct{}
		var draining, revoked <-chan struct{}
		var idleC <-chan time.Time
		var finished <-chan Reply
		var progress <-chan time.Time
		in := lines
		if x := s.xfer; x != nil {
			finished, progress = x.done, x.progress.C
			if s.queue.full() {
				in = nil // backpressure: see lineQueue
			}
		} else {
			done, draining, revoked, idleC = ctx.Done(), s.cfg.Draining, s.revoked(), idle.C
		}
		select {
		case <-done:
			s.send(reply(codeNotAvailable, "Server shutting down, closing control connection"))
			return
		case <-revoked:
			s.closeRevoked()
			return
		case <-draining:
			s.log.Info("closing for shutdown")
			s.send(reply(codeNotAvailable, "Server shutting down, closing control connection"))
			return
		case <-idleC:
			s.log.Info("idle timeout")
			s.send(reply(codeNotAvailable, "Idle timeout (%s), closing control connection", s.cfg.IdleTimeout))
			return
		case <-s.login.C:
			if s.user == nil {
				s.log.Info("login timeout")
				s.send(reply(codeNotAvailable, "Login timeout (%s), closing control connection", s.cfg.LoginTimeout))
				return
			}
		case r := <-finished:
			s.send(r)
			s.endTransfer(r.Code)
			idle.Reset(s.cfg.IdleTimeout)
		case <-progress:
			s.logProgress()
		case l := <-in:
			if s.xfer != nil {
				s.duringTransfer(l)
				continue
			}
			if l.err != nil {
				if !errors.Is(l.err, io.EOF) && !errors.Is(l.err, net.ErrClosed) {
					s.log.Debug("control connection read failed", "err", l.err)
				}
				return
			}
			s.execute(l)
			idle.Reset(s.cfg.IdleTimeout)
		}
	}
}

// revoked is the logged-in user's Revoked channel; nil (never ready) before
// login or for a user whose record cannot change.
func (s *Session) revoked() <-chan struct{} {
	if s.user == nil {
		return nil
	}
	return s.user.Revoked
}

// closeRevoked ends a session whose user record was removed or changed
// (User.Revoked): like a shutdown, between transfers.
func (s *Session) closeRevoked() {
	s.log.Info("closing: the user's record changed or was removed")
	s.send(reply(codeNotAvailable, "Your account changed; log in again"))
}

// readLines reads command lines until the connection fails, sending each to out.
// Reading goes on while a transfer runs, so ABOR and STAT arrive at once and a
// vanished client is noticed before its upload is committed, until the client
// fills the queue (Serve then stops taking lines and this goroutine waits with
// the one it read). After an AUTH line it
// stops until the control loop has answered it: the next bytes may be a TLS
// ClientHello, which must go to the TLS layer and not be read as a command.
func (s *Session) readLines(ctx context.Context, out chan<- line) {
	defer close(s.ctrlClosed)
	r := bufio.NewReaderSize(s.conn, maxLineLength)
	for {
		l := readLine(r)
		l.text = s.decodeLine(l.text)
		select {
		case out <- l:
		case <-ctx.Done():
			return
		}
		if l.err != nil {
			return
		}
		if verb, _ := parseLine(l.text); commands[verb].upgradesConn() {
			select {
			case c := <-s.resume:
				if c != nil {
					// Whatever the client sent in clear after AUTH is dropped with
					// the old buffer, so no command can be injected before TLS.
					r = bufio.NewReaderSize(c, maxLineLength)
				}
			case <-ctx.Done():
				return
			}
		}
	}
}

// readLine reads one CRLF- (or LF-) terminated line. An over-long line is
// discarded up to its end and reported as tooLong without being buffered.
func readLine(r *bufio.Reader) line {
	buf, err := r.ReadSlice('\n')
	if errors.Is(err, bufio.ErrBufferFull) {
		for errors.Is(err, bufio.ErrBufferFull) {
			_, err = r.ReadSlice('\n')
		}
		if err != nil {
			return line{err: err}
		}
		return line{tooLong: true}
	}
	if err != nil {
		return line{err: err}
	}
	return line{text: stripTelnet(strings.TrimRight(string(buf), "\r\n"))}
}

// stripTelnet removes Telnet IAC sequences (RFC 854), which clients send around
// ABOR ("IAC IP IAC DM ABOR").
func stripTelnet(s string) string {
	if strings.IndexByte(s, 0xff) < 0 {
		return s
	}
	b := []byte(s)
	out := b[:0]
	for i := 0; i < len(b); i++ {
		if b[i] == 0xff {
			if i+1 < len(b) && b[i+1] == 0xff { // escaped 0xff data byte
				out = append(out, 0xff)
			}
			i++
			continue
		}
		if b[i] == 0xf2 && len(out) == 0 { // a Data Mark left over from urgent data
			continue
		}
		out = append(out, b[i])
	}
	return string(out)
}

// send writes a reply to the control connection.
func (s *Session) send(r Reply) {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	_ = s.conn.SetWriteDeadline(time.Now().Add(s.cfg.DataTimeout))
	_, _ = s.w.WriteString(s.encodeText(r.String()))
	if err := s.w.Flush(); err != nil {
		s.log.Debug("reply write failed", "err", err)
	}
}

// controlGone reports whether the client has closed or reset the control
// connection. It is checked right before an upload is committed: a client process
// that dies mid-upload closes its data connection too, which looks exactly like a
// finished file in stream mode.
func (s *Session) controlGone() bool {
	select {
	case <-s.ctrlClosed:
		return true
	default:
	}
	return peerClosed(s.raw)
}
