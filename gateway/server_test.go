package gateway

import (
	"bytes"
	"crypto/tls"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ftp2s3/ftp2s3/session"
)

// TestLimitsCountIPv6Per64: the per-address connection limit counts an IPv6
// client's whole /64, like the bans.
func TestLimitsCountIPv6Per64(t *testing.T) {
	s := NewServer(ServerOptions{Session: &session.Config{}, MaxConnections: 100, MaxConnectionsPerIP: 2})
	for _, a := range []string{"2001:db8:1:2::1", "2001:db8:1:2::2"} {
		if r := s.admit(netip.MustParseAddr(a)); r != "" {
			t.Fatalf("%s refused: %s", a, r)
		}
	}
	if r := s.admit(netip.MustParseAddr("2001:db8:1:2:ffff::3")); !strings.Contains(r, "your address") {
		t.Fatalf("third address of one /64: %q, want refused", r)
	}
	if r := s.admit(netip.MustParseAddr("2001:db8:1:3::1")); r != "" {
		t.Fatalf("the next /64 refused: %s", r)
	}
	s.release(netip.MustParseAddr("2001:db8:1:2::1"))
	if r := s.admit(netip.MustParseAddr("2001:db8:1:2::9")); r != "" {
		t.Fatalf("after a release: %s", r)
	}
}

// TestImplicitTLSRefusedWithoutHandshake: a refused implicit-FTPS client gets a
// TLS access_denied alert, not a handshake.
func TestImplicitTLSRefusedWithoutHandshake(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	// No certificate at all: a handshake on the server side could not even start.
	s := NewServer(ServerOptions{Session: &session.Config{}, MaxConnections: 1, MaxConnectionsPerIP: 0})
	go func() { _ = s.ServeImplicitTLS(l) }()
	defer s.Close()
	c, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	tc := tls.Client(c, &tls.Config{InsecureSkipVerify: true})
	err = tc.Handshake()
	if err == nil || !strings.Contains(err.Error(), "access denied") {
		t.Fatalf("handshake with a refused client: %v, want the access_denied alert", err)
	}
	if _, err := io.ReadAll(c); err != nil && !errors.Is(err, net.ErrClosed) {
		t.Logf("after the alert: %v", err)
	}
	if s.Refused() != 1 {
		t.Fatalf("Refused = %d", s.Refused())
	}
}

// TestCloseWaitsForRefusals: a connection that arrives while the server closes
// is refused by a goroutine the server waits for, so Close returns with no
// refusal left running. The implicit-FTPS refusal waits up to a second for the
// client's ClientHello, which this client never sends.
func TestCloseWaitsForRefusals(t *testing.T) {
	s := NewServer(ServerOptions{Session: &session.Config{}, MaxConnections: 1})
	s.mu.Lock()
	s.closing = true // as during a drain: the listeners still accept
	s.mu.Unlock()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	c, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	sc, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	s.handle(sc, true)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 1<<16)
	n := runtime.Stack(buf, true)
	if stacks := string(buf[:n]); strings.Contains(stacks, "(*Server).refuse") {
		t.Fatalf("a refusal still runs after Close:\n%s", stacks)
	}
	if got := s.Refused(); got != 1 {
		t.Fatalf("Refused() = %d, want 1", got)
	}
}

// TestRefusalFloodLogsAFewLines: a client over its connection limit (or
// banned) can reconnect in a loop; each connection still gets its 421 and is
// counted, but only a few per period get a log line.
func TestRefusalFloodLogsAFewLines(t *testing.T) {
	var mu sync.Mutex
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(writerFunc(func(p []byte) (int, error) {
		mu.Lock()
		defer mu.Unlock()
		return logs.Write(p)
	}), nil))
	s := NewServer(ServerOptions{Session: &session.Config{Logger: log}, MaxConnections: 0})
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = s.Serve(l) }()
	defer s.Close()
	const flood = 40
	for i := range flood {
		c, err := net.Dial("tcp", l.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		reply, _ := io.ReadAll(c)
		c.Close()
		if !strings.HasPrefix(string(reply), "421 ") {
			t.Fatalf("connection %d: %q, want 421", i+1, reply)
		}
	}
	if got := s.Refused(); got != flood {
		t.Fatalf("Refused() = %d, want %d", got, flood)
	}
	mu.Lock()
	defer mu.Unlock()
	if got := strings.Count(logs.String(), "connection refused"); got < 1 || got > 10 {
		t.Fatalf("%d log lines for %d refusals in a burst, want 1–10:\n%s", got, flood, logs.String())
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }
