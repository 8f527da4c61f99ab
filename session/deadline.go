package session

import (
	"context"
	"errors"
	"time"
)

// Each command runs on a context of its own (Session.ctx), derived from the
// session's (Session.base) with a deadline of Config.CommandTimeout, so that an
// S3 that accepts a request and never answers costs the client a 451 after a
// bounded wait instead of freezing the session's one command loop: the idle
// timer, the login timer, queued lines and the shutdown drain all wait for the
// loop. The gateway sets the deadline to FTP2S3_S3_RETRY_FOR plus
// FTP2S3_S3_ATTEMPT_TIMEOUT (docs/keepalives-and-timeouts.md).
//
// A transfer's S3 calls never run on it: its data goroutine takes a context from
// Session.base (startTransfer), bounded by the data connection's stall rule and
// each S3 attempt's timeout instead; RETR's first GET, whose body the transfer
// sends, is made on one that outlives the command (outliving). A row with
// runsLong (a directory rename: up to FTP2S3_MAX_RENAME_KEYS copies) gets no
// deadline: each of its S3 attempts is bounded, the whole is not.

// errS3Timeout is the cause of a command context's deadline, and what errReply
// makes of an S3 request whose attempts timed out (storage.IsTimeout).
var errS3Timeout = errors.New("S3 did not answer in time")

// commandContext returns the context the command of row c runs on.
func (s *Session) commandContext(c *command) (context.Context, context.CancelFunc) {
	if d := s.cfg.CommandTimeout; d > 0 && (c == nil || c.flags&runsLong == 0) {
		return context.WithDeadlineCause(s.base, time.Now().Add(d), errS3Timeout)
	}
	return context.WithCancel(s.base)
}

// timedOut replaces a failure reply with the reply for the command's deadline
// when that deadline is what ended the command: whatever the handler made of
// the context error, the client learns that S3 was too slow, with a code that
// tells it to try again.
func timedOut(ctx context.Context, verb string, r Reply) Reply {
	if r.Code < 400 || !errors.Is(context.Cause(ctx), errS3Timeout) {
		return r
	}
	t := errReply(errS3Timeout, verb)
	if r.err != nil {
		t.err = r.err // the log keeps S3's request id, if there was one
	}
	return t
}

// outliving returns a context for a call whose result outlives the command
// (RETR's first GET, whose body the transfer sends): the command's deadline
// cancels it while the call runs, then settle detaches it and reports whether
// it is still live; release cancels it once the result is no longer used.
func (s *Session) outliving() (ctx context.Context, settle func() bool, release func()) {
	ctx, cancel := context.WithCancelCause(s.base)
	cmd := s.ctx
	stop := context.AfterFunc(cmd, func() { cancel(context.Cause(cmd)) })
	return ctx, func() bool { return stop() && ctx.Err() == nil }, func() { cancel(nil) }
}
