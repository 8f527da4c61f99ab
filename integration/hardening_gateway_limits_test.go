package integration

import (
	"crypto/tls"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/ftp2s3/ftp2s3/gateway"
)

// quickUser has a bcrypt hash of the lowest cost: tests that log in many times
// (or count guesses) are not to be slowed down by bcrypt, least of all under
// -race, where one cost-10 check takes seconds.
const quickUser = "quick"

var quickHash = sync.OnceValue(func() string {
	h, err := bcrypt.GenerateFromPassword([]byte(testPassword), bcrypt.MinCost)
	if err != nil {
		panic(err)
	}
	return string(h)
})

// withQuickUser adds quickUser (read-write, default home) to a test gateway.
func withQuickUser(c *gateway.Config) { c.Users += "," + quickUser + ":" + quickHash() }

// proxyV1Header6 declares an IPv6 client in a PROXY v1 header (the balancer is
// on loopback; the gateway believes the header).
func proxyV1Header6(src string, srcPort, dstPort int) []byte {
	return fmt.Appendf(nil, "PROXY TCP6 %s ::1 %d %d\r\n", src, srcPort, dstPort)
}

// TestHardeningLimitsCountIPv6Per64: FTP2S3_MAX_CONNECTIONS_PER_IP counts an
// IPv6 client's whole /64, so one subscriber cannot multiply its connections
// (and the passive ports they hold) by its addresses; the next /64 is another
// client.
func TestHardeningLimitsCountIPv6Per64(t *testing.T) {
	t.Parallel()
	g := startGateway(t, func(c *gateway.Config) {
		c.ProxyProtocol = "required"
		c.ProxyTrusted = mustParse[gateway.Prefixes]("127.0.0.1")
		c.MaxConnectionsPerIP = 2
	})
	for i, src := range []string{"2001:db8:1:2::1", "2001:db8:1:2::2"} {
		r := proxied(t, g, proxyV1Header6(src, 40401+i, g.Port))
		r.expect(220)
		r.login(userRW)
		r.epsv() // each holds a passive port
	}
	third := proxied(t, g, proxyV1Header6("2001:db8:1:2:ffff::3", 40410, g.Port))
	if code, msg, err := third.reply(10 * time.Second); code != 421 || !strings.Contains(msg, "your address") {
		t.Fatalf("third connection from one /64: %d %q (%v), want 421", code, msg, err)
	}
	other := proxied(t, g, proxyV1Header6("2001:db8:1:3::1", 40411, g.Port))
	other.expect(220)
	if st := g.GW.Data.Stats(); st.Reservations != 2 {
		t.Fatalf("passive reservations %d, want the two of the /64", st.Reservations)
	}
}

// TestHardeningParallelGuessesBounded: 50 PASS commands fired at once from one
// address get at most FTP2S3_BAN_AFTER passwords checked; the rest wait their
// turn and then hear the ban.
func TestHardeningParallelGuessesBounded(t *testing.T) {
	t.Parallel()
	const parallel, banAfter = 50, 10
	g := startGateway(t, withQuickUser, func(c *gateway.Config) {
		c.BanAfter, c.BanFor = banAfter, time.Minute
		c.MaxConnectionsPerIP = parallel + 5
	})
	conns := make([]*ftpRaw, parallel)
	for i := range conns {
		conns[i] = rawDialFrom(t, g.Addr, "127.0.0.1")
		conns[i].read()
		conns[i].cmd(331, "USER %s", quickUser)
	}
	var wg sync.WaitGroup
	start := make(chan struct{})
	codes := make([]int, parallel)
	for i, r := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			if err := r.tp.PrintfLine("PASS guess-%d", i); err != nil {
				return
			}
			codes[i], _ = r.read()
		}()
	}
	close(start)
	wg.Wait()
	tally := map[int]int{}
	for _, c := range codes {
		tally[c]++
	}
	st := g.GW.Bans.Stats()
	if st.FailedLogins > banAfter || tally[530]+tally[421] != parallel || tally[421] < parallel-banAfter {
		t.Fatalf("%d parallel guesses: %d checked (FailedLogins), replies %v; want at most %d checked and the rest 421",
			parallel, st.FailedLogins, tally, banAfter)
	}
	if st.Bans != 1 {
		t.Fatalf("bans %d, want 1", st.Bans)
	}
	t.Logf("%d parallel guesses: %d checked, replies %v", parallel, st.FailedLogins, tally)
}

// TestHardeningParallelGoodLoginsServed: the bound on checks in flight makes a
// burst of correct logins from one address wait for turns, never fail.
func TestHardeningParallelGoodLoginsServed(t *testing.T) {
	t.Parallel()
	g := startGateway(t, withQuickUser, func(c *gateway.Config) { c.BanAfter = 2 })
	var wg sync.WaitGroup
	errs := make(chan error, 20)
	for i := 0; i < 20; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := dialFromAddr(t, g, "127.0.0.1", quickUser, testPassword); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("good login in a burst: %v", err)
	}
}

// TestHardeningImplicitTLSRefusedBeforeHandshake: on the implicit-FTPS port a
// client over the limits, or banned, is refused with a TLS alert before any
// handshake: the gateway spends no handshake on it, and the client sees "access
// denied" rather than garbage.
func TestHardeningImplicitTLSRefusedBeforeHandshake(t *testing.T) {
	t.Parallel()
	g := startFTPS(t, "implicit", func(c *gateway.Config) {
		c.MaxConnectionsPerIP = 1
		c.BanAfter, c.BanFor = 1, time.Minute
	})
	conf := &tls.Config{RootCAs: g.Cert.Pool(), ServerName: "127.0.0.1"}
	dialTLS := func(src string) (*tls.Conn, error) {
		r := rawDialFrom(t, g.ImplicitAddr, src)
		tc := tls.Client(r.c, conf)
		_ = tc.SetDeadline(time.Now().Add(10 * time.Second))
		return tc, tc.Handshake()
	}
	held, err := dialTLS("127.0.0.1")
	if err != nil {
		t.Fatalf("first implicit-FTPS connection: %v", err)
	}
	defer held.Close()
	// The client's side of a TLS 1.3 handshake ends before the server counts
	// its own: wait for that count before taking the baseline.
	waitUntil(t, "the first handshake counted", 10*time.Second, func() bool {
		return g.GW.TLSStats.ControlHandshakes.Load() >= 1
	})
	handshakes := g.GW.TLSStats.ControlHandshakes.Load()
	refusedBefore := g.GW.Server.Refused()
	if _, err := dialTLS("127.0.0.1"); err == nil || !strings.Contains(err.Error(), "access denied") {
		t.Fatalf("connection over FTP2S3_MAX_CONNECTIONS_PER_IP: handshake %v, want the access_denied alert", err)
	}
	// A banned address is turned away the same way.
	r := rawDialFrom(t, g.Addr, "127.0.0.3")
	r.read()
	r.cmd(234, "AUTH TLS")
	r.startTLS(conf)
	r.cmd(331, "USER %s", userRW)
	if code, _ := r.ask("PASS wrong"); code != 421 {
		t.Fatalf("failure with FTP2S3_BAN_AFTER=1: %d, want 421", code)
	}
	if _, err := dialTLS("127.0.0.3"); err == nil || !strings.Contains(err.Error(), "access denied") {
		t.Fatalf("banned address on the implicit port: handshake %v, want the access_denied alert", err)
	}
	if n := g.GW.Server.Refused() - refusedBefore; n != 2 {
		t.Fatalf("refused %d connections, want 2", n)
	}
	// Only the explicit AUTH TLS above shook hands.
	if n := g.GW.TLSStats.ControlHandshakes.Load() - handshakes; n != 1 {
		t.Fatalf("%d TLS handshakes while refusing, want only the AUTH TLS one", n)
	}
}
