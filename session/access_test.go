package session

import (
	"context"
	"crypto/tls"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestReadOnlyGuard: every registered verb that writes is refused with 550 for a
// read-only user before its handler runs (so it holds for verbs added later).
func TestReadOnlyGuard(t *testing.T) {
	s := &Session{cfg: &Config{}, user: &User{Name: "r", ReadOnly: true}, cwd: "/", ctx: context.Background()}
	s.cfg.setDefaults()
	s.log = s.cfg.Logger
	n := 0
	for verb := range writeVerbs {
		if _, ok := commands[verb]; !ok {
			continue
		}
		n++
		if r := s.dispatch(verb, "x"); r.Code != codeActionNotTaken {
			t.Errorf("%s as a read-only user: %d %q, want 550", verb, r.Code, r.Text())
		}
	}
	if n < 4 {
		t.Fatalf("only %d write verbs registered; STOR, DELE, MKD, RMD at least", n)
	}
}

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

func TestFEATShowsFTPSOnlyWithTLS(t *testing.T) {
	off := &Session{cfg: &Config{}}
	on := &Session{cfg: &Config{TLS: &tls.Config{}}}
	if strings.Contains(off.handleFEAT("").Text(), "AUTH TLS") {
		t.Error("FEAT lists AUTH TLS without TLS configured")
	}
	for _, f := range []string{"AUTH TLS", "PBSZ", "PROT"} {
		if !strings.Contains(on.handleFEAT("").Text(), f) {
			t.Errorf("FEAT lacks %s with TLS configured", f)
		}
	}
}
