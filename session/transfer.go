package session

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"runtime/debug"
	"sync/atomic"
	"time"

	"github.com/ftp2s3/ftp2s3/storage"
)

// Why a transfer ended early; errReply turns each into its reply.

// errAborted: the client sent ABOR (abortTransfer).
var errAborted = errors.New("transfer aborted by the client")

// errDataTimeout: the data connection stalled for longer than Config.DataTimeout.
var errDataTimeout = errors.New("data connection stalled")

// errDataConn: the data connection failed or was closed before the end.
var errDataConn = errors.New("data connection failed")

// errCtrlClosed: the control connection went away while the transfer ran.
var errCtrlClosed = errors.New("control connection closed before the transfer completed")

// dataSetup is how the next transfer gets its data connection: a reserved passive
// port or an active target. A transfer consumes it.
type dataSetup struct {
	passive PassiveListener
	active  *net.TCPAddr
	tls     *tls.Config // PROT P: the data connection is TLS with this configuration
}

func (d *dataSetup) ready() bool { return d.passive != nil || d.active != nil }

func (d *dataSetup) close() {
	if d.passive != nil {
		_ = d.passive.Close()
	}
	*d = dataSetup{}
}

// transfer is the data-connection part of RETR, STOR, LIST and friends.
type transfer struct {
	cmd     string // the command that started it, for metrics
	verb    string // for logs
	path    string // the virtual path, for logs and error replies
	object  string // bucket/key, for logs; set when the transfer starts
	upload  bool
	listing bool // the row's listing: a directory listing, not a download
	// run moves the data; conn is closed by the caller afterwards.
	run func(ctx context.Context, conn io.ReadWriter) error
	// release, when set, frees what the command took for the transfer (RETR's
	// opened GET) once it is over, whether or not run ever ran.
	release func()
	// finished, when set, hears the final reply, the bytes moved and how long
	// it took, whether or not run ever ran (events).
	finished func(r Reply, bytes int64, d time.Duration)
}

// transferState is shared between the transfer goroutine and the control loop
// (for STAT during a transfer).
type transferState struct {
	bytes atomic.Int64
	start time.Time
}

// direction names the way a transfer moves data, for logs and metrics.
func (t *transfer) direction() string {
	switch {
	case t.upload:
		return "upload"
	case t.listing:
		return "list"
	default:
		return "download"
	}
}

// object names the transfer's bucket/key for logs ("" for the bucket list).
func (s *Session) object(vpath string) string {
	loc, err := s.user.Home.resolve(vpath)
	if err != nil || loc.isRoot() {
		return ""
	}
	return loc.bucket + "/" + loc.key
}

// runningTransfer is a transfer whose data moves in its own goroutine while the
// command loop (Serve) keeps reading the control connection.
type runningTransfer struct {
	t        *transfer
	setup    dataSetup
	cancel   context.CancelCauseFunc
	done     chan Reply // the final reply, once the data goroutine is over
	state    *transferState
	progress *time.Ticker
}

// startTransfer opens the data connection and starts moving data in a goroutine;
// Serve then hears ABOR and STAT, queues other commands, and calls endTransfer
// with the final reply. It reports false, having answered the command, when
// there is no data connection to use.
func (s *Session) startTransfer(prelim Reply) bool {
	t := prelim.transfer
	setup := s.data
	setup.tls = s.dataTLS() // PROT P: the data connection is TLS
	s.data = dataSetup{}
	if !setup.ready() {
		if t.release != nil {
			t.release()
		}
		s.send(reply(codeCantOpenData, "No data connection: send PASV, EPSV, PORT or EPRT first"))
		return false
	}
	t.object = logString(s.object(t.path)) // only ever logged
	s.log.Info("transfer started", "cmd", t.verb, "direction", t.direction(), "path", t.object, "vpath", logString(t.path))
	ctx, cancel := context.WithCancelCause(s.base) // not the command's deadline: deadline.go
	x := &runningTransfer{
		t: t, setup: setup, cancel: cancel, done: make(chan Reply, 1),
		state: &transferState{start: time.Now()}, progress: time.NewTicker(s.cfg.progressInterval()),
	}
	s.xfer = x
	go func() {
		defer func() {
			if v := recover(); v != nil {
				s.log.Error("transfer panicked", "cmd", t.verb, "path", t.object, "panic", v, "stack", string(debug.Stack()))
				x.done <- reply(codeLocalError, "Internal error during %s; the transfer was not completed", t.verb)
			}
		}()
		x.done <- func() Reply {
			if t.release != nil {
				defer t.release() // before the final reply, however the transfer ends
			}
			r := s.transferData(ctx, t, setup, prelim, x.state)
			if t.finished != nil {
				t.finished(r, x.state.bytes.Load(), time.Since(x.state.start))
			}
			return r
		}()
	}()
	return true
}

// endTransfer releases what the finished transfer held and counts its command.
func (s *Session) endTransfer(code int) {
	x := s.xfer
	s.xfer = nil
	x.cancel(nil)
	x.progress.Stop()
	x.setup.close()
	s.observeCommand(x.t.cmd, code)
}

// stopTransfer cancels the running transfer, if any, with cause and waits until
// its goroutine is over; it returns the final reply, unsent.
func (s *Session) stopTransfer(cause error) (Reply, bool) {
	x := s.xfer
	if x == nil {
		return Reply{}, false
	}
	x.cancel(cause)
	r := <-x.done
	s.endTransfer(r.Code)
	return r, true
}

func (s *Session) logProgress() {
	x := s.xfer
	n, elapsed := x.state.bytes.Load(), time.Since(x.state.start)
	s.log.Info("transfer progress", "cmd", x.t.verb, "direction", x.t.direction(), "path", x.t.object,
		"bytes", n, "seconds", elapsed.Seconds(), "mb_per_s", float64(n)/elapsed.Seconds()/1e6)
}

// duringTransfer handles a control line that arrives while a transfer runs: a
// verb whose row has whileTransfer (ABOR, STAT) is answered at once, a closed
// control connection abandons the transfer, and every other line waits in the
// queue until it is over; Serve stops reading once the queue is full (see
// lineQueue), so no line a client sends ends the session or the transfer.
//
// NOOP waits in the queue like the rest, and its 200 follows the transfer's
// 226. RFC 959 §4.2 has a server answer commands in the order they came, and
// clients match replies that way: lftp, curl and the usual FTP libraries take
// the next reply after a 150 as the transfer's final one, so a 200 sent before
// the 226 would tell them an upload was stored before S3 confirmed it. The
// clients that send keepalives during a transfer (Apache commons-net's
// control keep-alive, FluentFTP's NOOP daemon) read the late replies after
// the transfer, and vsftpd and pure-ftpd do not read the control connection
// during a transfer at all, so their users already see this order.
func (s *Session) duringTransfer(l line) {
	if l.err != nil {
		s.stopTransfer(errCtrlClosed)
		s.quit = true
		return
	}
	verb, _ := parseLine(l.text)
	if c := commands[verb]; c != nil && c.whileTransfer != nil && !l.tooLong {
		r := c.whileTransfer(s)
		s.send(r)
		s.observeCommand(verb, r.Code)
		return
	}
	s.queue.push(l)
	if s.queue.full() {
		s.log.Info("command queue full during a transfer; not reading the control connection until it ends",
			"commands", s.queue.len(), "bytes", s.queue.bytes)
	}
}

// transferData runs in its own goroutine; it never touches session state other
// than through send.
func (s *Session) transferData(ctx context.Context, t *transfer, setup dataSetup, prelim Reply, state *transferState) Reply {
	// The passive port goes back to the pool before the final reply, so a
	// client that sends PASV right after hearing it finds the port free.
	defer setup.close()
	if r := s.clearDataRefused(setup); r != nil {
		return *r // before the data connection: RFC 4217 §9
	}
	conn, err := s.openData(ctx, setup)
	if err != nil {
		if cause := context.Cause(ctx); cause != nil {
			return errReply(cause, t.path)
		}
		s.log.Warn("data connection failed", "cmd", t.verb, "direction", t.direction(), "path", t.object, "err", err)
		s.cfg.observer().Transfer(t.direction(), 0, time.Since(state.start), false)
		return reply(codeCantOpenData, "Cannot open data connection: %s", dataErrText(err))
	}
	raw := conn
	stop := context.AfterFunc(ctx, func() { _ = raw.Close() })
	defer stop()
	defer func() { _ = conn.Close() }() // the TLS layer once there is one: it sends close_notify
	s.send(Reply{Code: prelim.Code, Lines: prelim.Lines})
	if setup.tls != nil {
		var refused *Reply
		if conn, refused = s.secureData(ctx, raw, setup.tls); refused != nil {
			conn = raw
			return *refused
		}
	}

	dc := &dataConn{Conn: conn, timeout: s.cfg.DataTimeout, state: state}
	err = t.run(ctx, dc)
	if err == nil && !t.upload {
		// Closing the data connection is the end-of-file mark; a failed close
		// means the client may not have everything.
		if cerr := conn.Close(); cerr != nil && !errors.Is(cerr, net.ErrClosed) {
			err = fmt.Errorf("%w: %w", errDataConn, cerr)
		}
	}
	if err != nil {
		if cause := context.Cause(ctx); cause != nil {
			err = cause
		}
	}
	r := reply(codeClosingData, "Transfer complete")
	if err != nil {
		r = errReply(err, t.path)
	}
	elapsed := time.Since(state.start)
	n := state.bytes.Load()
	level, result := s.log.Info, "ok"
	if err != nil {
		level, result = s.log.Warn, "failed"
		if r.Code == codeTransferAborted {
			result = "aborted"
		}
	}
	args := []any{"cmd", t.verb, "direction", t.direction(), "path", t.object, "vpath", logString(t.path),
		"bytes", n, "seconds", elapsed.Seconds(), "result", result, "code", r.Code}
	if secs := elapsed.Seconds(); secs > 0 {
		args = append(args, "mb_per_s", float64(n)/secs/1e6)
	}
	if err != nil {
		args = append(args, "err", err)
		if id := storage.RequestID(err); id != "" {
			args = append(args, "s3_request_id", id)
		}
	}
	level("transfer", args...)
	s.cfg.observer().Transfer(t.direction(), n, elapsed, err == nil)
	return r
}

func (s *Session) openData(ctx context.Context, setup dataSetup) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.DataTimeout)
	defer cancel()
	if setup.passive != nil {
		return setup.passive.Accept(ctx)
	}
	return s.cfg.Data.DialActive(ctx, s.ctrl, setup.active)
}

func dataErrText(err error) string {
	if errors.Is(err, ErrPassiveExpired) {
		return "the passive port expired unused; send PASV or EPSV again"
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, os.ErrDeadlineExceeded) {
		return "timed out waiting for the client"
	}
	var op *net.OpError
	if errors.As(err, &op) && op.Err != nil {
		return op.Err.Error()
	}
	return "connection failed"
}

// dataConn is a data connection with a stall timeout on every read and write,
// and a byte counter. Its errors are tagged so that the reply says whether the
// client went away or stalled.
type dataConn struct {
	net.Conn
	timeout time.Duration
	state   *transferState
}

func (c *dataConn) Read(p []byte) (int, error) {
	_ = c.Conn.SetReadDeadline(time.Now().Add(c.timeout))
	n, err := c.Conn.Read(p)
	c.state.bytes.Add(int64(n))
	if err != nil && err != io.EOF {
		err = c.tag(err)
	}
	return n, err
}

func (c *dataConn) Write(p []byte) (int, error) {
	_ = c.Conn.SetWriteDeadline(time.Now().Add(c.timeout))
	n, err := c.Conn.Write(p)
	c.state.bytes.Add(int64(n))
	if err != nil {
		err = c.tag(err)
	}
	return n, err
}

func (c *dataConn) tag(err error) error {
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return fmt.Errorf("%w: %w", errDataTimeout, err)
	}
	return fmt.Errorf("%w: %w", errDataConn, err)
}
