package session

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"testing"
)

// revokingAuth grants one login whose Revoked channel the test closes, and
// records the LoginInfo it was given; password "down" is ErrAuthUnavailable.
type revokingAuth struct {
	revoked chan struct{}
	info    chan LoginInfo
}

func (a revokingAuth) Authenticate(ctx context.Context, name, password string) (*User, error) {
	info, _ := LoginInfoFrom(ctx)
	a.info <- info
	if password == "down" {
		return nil, fmt.Errorf("%w: test", ErrAuthUnavailable)
	}
	return &User{Name: name, Home: Home{Bucket: "b"}, Revoked: a.revoked}, nil
}

// TestRevokedUserIdleSessionGets421: closing User.Revoked ends an idle
// session with 421 at once; the Authenticator saw the client's address and
// the session id.
func TestRevokedUserIdleSessionGets421(t *testing.T) {
	a := revokingAuth{revoked: make(chan struct{}), info: make(chan LoginInfo, 1)}
	c := startSession(t, newMemFS(), func(cfg *Config) { cfg.Auth = a })
	c.expect("USER alice", 331)
	c.expect("PASS pw", 230)
	info := <-a.info
	if info.Addr != netip.MustParseAddr("127.0.0.1") || info.TLS || len(info.Session) != 12 {
		t.Fatalf("login info %+v", info)
	}
	c.expect("NOOP", 200)
	close(a.revoked)
	if code, text := c.read(); code != 421 || !strings.Contains(text, "account changed") {
		t.Fatalf("after revocation: %d %q, want 421", code, text)
	}
}

// TestAuthUnavailableIs421: an Authenticator that cannot tell gets the client
// 421 and a closed connection, not 530.
func TestAuthUnavailableIs421(t *testing.T) {
	a := revokingAuth{info: make(chan LoginInfo, 1)}
	c := startSession(t, newMemFS(), func(cfg *Config) { cfg.Auth = a })
	c.expect("USER alice", 331)
	if code, text := c.cmd("PASS down"); code != 421 || !strings.Contains(text, "authentication service unavailable") {
		t.Fatalf("PASS with the service down: %d %q", code, text)
	}
}
