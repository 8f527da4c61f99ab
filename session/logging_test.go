package session

import (
	"bytes"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/ftp2s3/ftp2s3/internal/testkit"
)

func TestLogString(t *testing.T) {
	if got := logString("short"); got != "short" {
		t.Fatalf("short string changed: %q", got)
	}
	long := strings.Repeat("é", 1000) // 2000 bytes
	got := logString(long)
	if len(got) > maxLoggedString+40 || !utf8.ValidString(got) || !strings.Contains(got, "truncated, 2000 bytes") {
		t.Fatalf("logString of 2000 bytes: %d bytes %q", len(got), got)
	}
}

// lockedBuffer is a log destination shared by the session's goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestClientStringsBoundedInLogs: long user names, HOST, CLNT, paths and command
// lines reach the log cut to maxLoggedString bytes, and HOST is taken once, so
// no log line grows with what the client sends.
func TestClientStringsBoundedInLogs(t *testing.T) {
	logs := &lockedBuffer{}
	c := startSession(t, newMemFS("b"), func(cfg *Config) {
		cfg.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	})
	big := strings.Repeat("x", 8000)
	c.expect("HOST h"+strings.Repeat(".example", 30), 220)
	for range 20 {
		c.expect("HOST "+big, 503)
	}
	c.expect("CLNT "+big, 200)
	c.expect("USER "+big, 331)
	c.expect("PASS wrong", 530)
	c.expect("USER alice", 331)
	c.expect("PASS pw", 230)
	c.expect("DELE "+big, 553)
	c.expect("DELE "+big[:1000], 550)
	c.expect("RMD "+big[:1000], 550)
	c.expect(big, 502)
	_, code, _ := c.upload("STOR a"+strings.Repeat("b", 1000), "data")
	if code != 226 {
		t.Fatalf("STOR: %d", code)
	}
	c.expect("QUIT", 221)
	waitLog(t, logs, "session closed")
	for _, l := range strings.Split(logs.String(), "\n") {
		if len(l) > 2048 {
			t.Fatalf("log line of %d bytes: %.300q…", len(l), l)
		}
	}
}

// waitLog waits until the log holds want.
func waitLog(t *testing.T, logs *lockedBuffer, want string) {
	t.Helper()
	if !testkit.Eventually(10*time.Second, func() bool { return strings.Contains(logs.String(), want) }) {
		t.Fatalf("log never said %q:\n%s", want, logs.String())
	}
}

// TestREINRestartsLoginTimeout: after REIN the session is logged out, and a
// client that does not log in again is closed by the login timeout, as a new
// connection would be.
func TestREINRestartsLoginTimeout(t *testing.T) {
	c := startSession(t, newMemFS("b"), func(cfg *Config) { cfg.LoginTimeout = 300 * time.Millisecond })
	c.expect("USER alice", 331)
	c.expect("PASS pw", 230)
	// Stay logged in past the first login timeout, then log out. A witness
	// session opened after c and never logged in shows when that time has come.
	c.expect("NOOP", 200)
	w := startSession(t, newMemFS("b"), func(cfg *Config) { cfg.LoginTimeout = 300 * time.Millisecond })
	if code, text := w.read(); code != 421 || !strings.Contains(text, "Login timeout") {
		t.Fatalf("witness session: %d %q, want 421 login timeout", code, text)
	}
	c.expect("NOOP", 200)
	c.expect("REIN", 220)
	if code, text := c.read(); code != 421 || !strings.Contains(text, "Login timeout") {
		t.Fatalf("after REIN: %d %q, want 421 login timeout", code, text)
	}
}
