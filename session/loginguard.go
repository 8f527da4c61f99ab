package session

import (
	"context"
	"errors"
	"net/netip"
	"time"
)

// LoginGuard slows down and bans addresses that keep failing to log in. The
// gateway implements it; sessions report every failure.
type LoginGuard interface {
	// BeginLogin is called before a password is checked, and may wait for the
	// address's turn (the guard bounds the checks in flight per address). It
	// fails with ErrBanned when the address is banned. done is called once the
	// outcome has been reported.
	BeginLogin(ctx context.Context, addr netip.Addr) (done func(), err error)
	// LoginFailed records a failed login from addr and returns how long to wait
	// before answering, and whether addr is now banned.
	LoginFailed(addr netip.Addr) (delay time.Duration, banned bool)
}

// ErrBanned is LoginGuard.BeginLogin's answer for a banned address.
var ErrBanned = errors.New("address banned after failed logins")

// remoteAddr is the client's address for the login guard.
func (s *Session) remoteAddr() netip.Addr {
	if s.ctrl.Remote == nil {
		return netip.Addr{}
	}
	a, _ := netip.AddrFromSlice(s.ctrl.Remote.IP)
	return a.Unmap()
}

// loginFailed applies the guard after a wrong password: it waits out the delay
// (which makes guessing slow) and reports whether the address is now banned.
func (s *Session) loginFailed() bool {
	if s.cfg.Guard == nil {
		return false
	}
	delay, banned := s.cfg.Guard.LoginFailed(s.remoteAddr())
	if delay > 0 {
		t := time.NewTimer(delay)
		defer t.Stop()
		select {
		case <-t.C:
		case <-s.ctx.Done():
		}
	}
	if banned {
		s.log.Warn("address banned after repeated login failures")
	}
	return banned || s.ctx.Err() == context.Canceled
}
