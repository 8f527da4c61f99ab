package session

import (
	"context"
	"net/netip"
	"sync"
	"testing"
	"time"
)

type fakeGuard struct {
	mu     sync.Mutex
	failed int
}

func (g *fakeGuard) LoginFailed(netip.Addr) (time.Duration, bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.failed++
	return 10 * time.Millisecond, g.failed >= 2
}

func (g *fakeGuard) BeginLogin(context.Context, netip.Addr) (func(), error) { return func() {}, nil }

type rejectAll struct{}

func (rejectAll) Authenticate(context.Context, string, string) (*User, error) {
	return nil, ErrAuthFailed
}

// TestLoginGuardBan: a failure the guard turns into a ban answers 421 and ends
// the session; the password is never part of a reply.
func TestLoginGuardBan(t *testing.T) {
	g := &fakeGuard{}
	s := &Session{cfg: &Config{Auth: rejectAll{}, Guard: g}, cwd: "/", ctx: context.Background()}
	s.cfg.setDefaults()
	s.log = s.cfg.Logger
	s.dispatch("USER", "u")
	if r := s.dispatch("PASS", "hunter2"); r.Code != codeNotLoggedIn || s.quit {
		t.Fatalf("first failure: %d %q quit=%v", r.Code, r.Text(), s.quit)
	}
	s.dispatch("USER", "u")
	r := s.dispatch("PASS", "hunter2")
	if r.Code != codeNotAvailable || !s.quit {
		t.Fatalf("second failure: %d %q quit=%v, want 421 and quit", r.Code, r.Text(), s.quit)
	}
	if g.failed != 2 {
		t.Fatalf("guard saw %d failures", g.failed)
	}
}
