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
	verb   string // for logs
	path   string // the virtual path, for logs and error replies
	object string // bucket/key, for logs; set when the transfer starts
	upload bool
	// run moves the data; conn is closed by the caller afterwards.
	run func(ctx context.Context, conn io.ReadWriter) error
	// release, when set, frees what the command took for the transfer (RETR's
	// opened GET) once it is over, whether or not run ever ran.
	release func()
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
	case t.verb == "LIST" || t.verb == "NLST" || t.verb == "MLSD":
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

// runTransfer opens the data connection, sends the preliminary reply, moves the
// data in a goroutine and meanwhile keeps serving the control connection: ABOR
// cancels the transfer, STAT reports progress, a closed control connection
// abandons it, other commands wait until it ends. It returns the code of the
// transfer's final reply.
func (s *Session) runTransfer(prelim Reply, lines <-chan line) int {
	t := prelim.transfer
	if t.release != nil {
		defer t.release() // after the transfer goroutine: every path below waits for it
	}
	setup := s.data
	setup.tls = s.dataTLS() // PROT P: the data connection is TLS
	s.data = dataSetup{}
	if !setup.ready() {
		s.send(reply(codeCantOpenData, "No data connection: send PASV, EPSV, PORT or EPRT first"))
		return codeCantOpenData
	}
	defer setup.close()
	t.object = s.object(t.path)
	s.log.Info("transfer started", "cmd", t.verb, "direction", t.direction(), "path", t.object, "vpath", t.path)
	progress := time.NewTicker(s.cfg.progressInterval())
	defer progress.Stop()

	ctx, cancel := context.WithCancelCause(s.ctx)
	defer cancel(nil)
	state := &transferState{start: time.Now()}
	done := make(chan Reply, 1)
	go func() {
		defer func() {
			if v := recover(); v != nil {
				s.log.Error("transfer panicked", "cmd", t.verb, "path", t.path, "panic", v, "stack", string(debug.Stack()))
				done <- reply(codeLocalError, "Internal error during %s; the transfer was not completed", t.verb)
			}
		}()
		done <- s.transferData(ctx, t, setup, prelim, state)
	}()

	var deferred []line
	defer func() {
		for _, l := range deferred {
			if s.quit {
				return
			}
			s.execute(l, lines)
		}
	}()
	for {
		select {
		case r := <-done:
			s.send(r)
			return r.Code
		case <-progress.C:
			n, elapsed := state.bytes.Load(), time.Since(state.start)
			s.log.Info("transfer progress", "cmd", t.verb, "direction", t.direction(), "path", t.object,
				"bytes", n, "seconds", elapsed.Seconds(), "mb_per_s", float64(n)/elapsed.Seconds()/1e6)
		case l := <-lines:
			if l.err != nil {
				cancel(errCtrlClosed)
				r := <-done
				s.quit = true
				return r.Code
			}
			verb, _ := parseLine(l.text)
			switch verb {
			case "ABOR":
				cancel(errAborted)
				r := <-done
				if r.Code == codeClosingData {
					// The transfer won the race: report it, then the no-op abort.
					s.send(r)
					s.send(reply(codeClosingData, "ABOR successful; the transfer had already completed"))
				} else {
					s.send(reply(codeTransferAborted, "Transfer aborted; data connection closed"))
					s.send(reply(codeClosingData, "ABOR successful"))
					r.Code = codeTransferAborted
				}
				s.observeCommand("ABOR", codeClosingData)
				return r.Code
			case "STAT":
				s.send(Reply{Code: codeSystemStatus, Lines: []string{
					"Transfer in progress:",
					fmt.Sprintf("%s %s: %d bytes in %s", t.verb, t.path, state.bytes.Load(), time.Since(state.start).Round(time.Millisecond)),
					"End of status",
				}})
				s.observeCommand("STAT", codeSystemStatus)
			default:
				deferred = append(deferred, l)
			}
		}
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
	args := []any{"cmd", t.verb, "direction", t.direction(), "path", t.object, "vpath", t.path,
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
