package integration

import (
	"net"
	"strings"
	"testing"
	"time"

	"github.com/jlaffaye/ftp"

	"github.com/ftp2s3/ftp2s3/gateway"
)

// dialFromAddr logs in from a given loopback source address (127.0.0.2 is a second
// client as far as the gateway can tell).
func dialFromAddr(t *testing.T, g *testGateway, src, user, password string) (*ftp.ServerConn, error) {
	t.Helper()
	c, err := ftp.Dial(g.Addr, ftp.DialWithTimeout(10*time.Second),
		ftp.DialWithDialer(net.Dialer{Timeout: 10 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}}))
	if err != nil {
		return nil, err
	}
	if err := c.Login(user, password); err != nil {
		_ = c.Quit()
		return nil, err
	}
	t.Cleanup(func() { _ = c.Quit() })
	return c, nil
}

// TestBans: failures from one address are answered ever more slowly, the
// BAN_AFTER-th gets 421 and the address is refused at connect while banned; a
// second address is not affected.
func TestBans(t *testing.T) {
	t.Parallel()
	g := startGateway(t, func(c *gateway.Config) { c.BanAfter, c.BanFor = 4, time.Minute })
	r := rawDialFrom(t, g.Addr, "127.0.0.1")
	r.read()
	var took []time.Duration
	for i := 0; i < 3; i++ {
		r.cmd(331, "USER %s", userRW)
		start := time.Now()
		r.cmd(530, "PASS wrong-%d", i)
		took = append(took, time.Since(start))
	}
	// Lower bounds only: bcrypt's own time varies with load (and -race).
	for i, min := range []time.Duration{250 * time.Millisecond, 500 * time.Millisecond, time.Second} {
		if took[i] < min {
			t.Fatalf("failure %d answered after %s, want at least %s (delays %v)", i+1, took[i], min, took)
		}
	}
	r.cmd(331, "USER %s", userRW)
	if code, msg := r.ask("PASS wrong-again"); code != 421 {
		t.Fatalf("4th failure: %d %q, want 421", code, msg)
	}
	if closed, _ := r.closedWithin(3 * time.Second); !closed {
		t.Fatal("the connection stayed open after the ban")
	}
	// The banned address is refused at once, even with the right password.
	r2 := rawDialFrom(t, g.Addr, "127.0.0.1")
	if code, msg := r2.read(); code != 421 || !strings.Contains(msg, "failed logins") {
		t.Fatalf("banned address on connect: %d %q, want 421", code, msg)
	}
	// Another address logs in and works normally.
	c, err := dialFromAddr(t, g, "127.0.0.2", userRW, testPassword)
	if err != nil {
		t.Fatalf("login from 127.0.0.2 while 127.0.0.1 is banned: %v", err)
	}
	if _, err := c.List("/"); err != nil {
		t.Fatalf("LIST from 127.0.0.2: %v", err)
	}
	st := g.GW.Bans.Stats()
	if st.FailedLogins != 4 || st.Bans != 1 || st.BannedNow != 1 || st.Refused < 1 {
		t.Fatalf("ban stats %+v", st)
	}
	if strings.Contains(g.Logs.String(), "wrong-") {
		t.Fatal("a password appears in the logs")
	}
}

// TestConnectionLimits: over FTP2S3_MAX_CONNECTIONS_PER_IP and
// FTP2S3_MAX_CONNECTIONS a client hears 421 and is closed.
func TestConnectionLimits(t *testing.T) {
	t.Parallel()
	g := startGateway(t, func(c *gateway.Config) { c.MaxConnections, c.MaxConnectionsPerIP = 3, 2 })
	a := rawDialFrom(t, g.Addr, "127.0.0.1")
	a.read()
	b := rawDialFrom(t, g.Addr, "127.0.0.1")
	b.read()
	c := rawDialFrom(t, g.Addr, "127.0.0.1")
	if code, msg := c.read(); code != 421 || !strings.Contains(msg, "your address") {
		t.Fatalf("3rd connection from one address: %d %q, want 421", code, msg)
	}
	if closed, _ := c.closedWithin(3 * time.Second); !closed {
		t.Fatal("the refused connection stayed open")
	}
	d := rawDialFrom(t, g.Addr, "127.0.0.2")
	if code, _ := d.read(); code != 220 {
		t.Fatalf("connection from another address: %d, want 220", code)
	}
	e := rawDialFrom(t, g.Addr, "127.0.0.3")
	if code, msg := e.read(); code != 421 || !strings.Contains(msg, "Too many connections") {
		t.Fatalf("connection over the total: %d %q, want 421", code, msg)
	}
	// A slot frees when a session ends.
	a.cmd(221, "QUIT")
	waitUntil(t, "the session to end", 10*time.Second, func() bool { return g.GW.Server.ActiveSessions() <= 2 })
	f := rawDialFrom(t, g.Addr, "127.0.0.3")
	if code, _ := f.read(); code != 220 {
		t.Fatalf("connection after a slot freed: %d, want 220", code)
	}
}

// TestLoginTimeout: a connection that does not log in is closed with 421, even
// if it keeps sending commands.
func TestLoginTimeout(t *testing.T) {
	t.Parallel()
	g := startGateway(t, func(c *gateway.Config) { c.LoginTimeout = 1500 * time.Millisecond })
	r := rawDial(t, g.Addr)
	r.read()
	start := time.Now()
	r.cmd(200, "NOOP")
	time.Sleep(700 * time.Millisecond) // a client that keeps sending commands, slowly: the case under test
	r.cmd(215, "SYST")
	closed, last := r.closedWithin(5 * time.Second)
	if !closed || !strings.HasPrefix(last, "421") {
		t.Fatalf("not logged in: closed %v, last reply %q; want 421 and close", closed, last)
	}
	// Generous for a loaded runner; the default login timeout is 60s.
	if d := time.Since(start); d > 10*time.Second {
		t.Fatalf("closed after %s, want about 1.5s", d)
	}
	// A logged-in session is not affected.
	c := g.dial(userRW)
	loginTimeoutWitness(t, g.Addr) // c's login timeout has passed
	if err := c.NoOp(); err != nil {
		t.Fatalf("logged-in session closed by the login timer: %v", err)
	}
}

// TestSlowLoris: a client that sends a command one byte at a time, never
// finishing the line, is dropped at the idle timeout.
func TestSlowLoris(t *testing.T) {
	t.Parallel()
	g := startGateway(t, func(c *gateway.Config) { c.IdleTimeout = 2 * time.Second })
	r := rawDial(t, g.Addr)
	r.read()
	r.cmd(331, "USER %s", userRW)
	r.cmd(230, "PASS %s", testPassword)
	start := time.Now()
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			case <-time.After(300 * time.Millisecond):
			}
			if _, err := r.c.Write([]byte{"NOOPNOOPNOOP"[i%12]}); err != nil {
				return
			}
		}
	}()
	closed, last := r.closedWithin(20 * time.Second)
	if !closed || !strings.HasPrefix(last, "421") {
		t.Fatalf("trickling client: closed %v, last %q; want 421 and close", closed, last)
	}
	// Generous for a loaded runner; the default idle timeout is 5 minutes.
	if d := time.Since(start); d > 15*time.Second {
		t.Fatalf("held for %s with a 2s idle timeout", d)
	}
}
