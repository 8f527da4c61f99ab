package datachan

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ftp2s3/ftp2s3/internal/testkit"
	"github.com/ftp2s3/ftp2s3/session"
)

// testPorts returns a range of n ports that nothing listens on right now,
// below the kernel's ephemeral range and the integration harness's ranges
// (31000 and up), so that neither an outgoing connection nor a test binary
// running at the same time takes one and turns the pool's arithmetic into luck.
func testPorts(t testing.TB, n int) PortRange {
	t.Helper()
	for i := 0; i < 200; i++ {
		lo := 20000 + rand.IntN(10000)
		free := true
		for p := lo; p < lo+n && free; p++ {
			l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
			if err != nil {
				free = false
				continue
			}
			l.Close()
		}
		if free {
			return PortRange{Lo: lo, Hi: lo + n - 1}
		}
	}
	t.Fatalf("no %d free ports in 20000-30000", n)
	return PortRange{}
}

type logBuf struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *logBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// newTestChannels builds a pool of three free ports, with the defaults of
// FTP2S3_MAX_CONNECTIONS_PER_IP and a short data timeout, then mutate applied.
func newTestChannels(t *testing.T, mutate func(*Options)) (*DataChannels, *logBuf) {
	t.Helper()
	logs := &logBuf{}
	o := Options{Ports: testPorts(t, 3), DataTimeout: 5 * time.Second, MaxPerClient: 50,
		Log: slog.New(slog.NewTextHandler(logs, nil))}
	if mutate != nil {
		mutate(&o)
	}
	d := New(o)
	t.Cleanup(func() { _ = d.Close() })
	return d, logs
}

func loopCtrl(remote string) session.ConnInfo {
	return session.ConnInfo{
		Local:  &net.TCPAddr{IP: net.ParseIP("127.0.0.1"), Port: 2121},
		Remote: &net.TCPAddr{IP: net.ParseIP(remote), Port: 50000},
	}
}

func TestPoolExhaustionAndRelease(t *testing.T) {
	d, _ := newTestChannels(t, nil)
	ctx := context.Background()
	var ls []session.PassiveListener
	seen := map[int]bool{}
	for i := 0; i < 3; i++ {
		l, err := d.ListenPassive(ctx, loopCtrl("127.0.0.1"))
		if err != nil {
			t.Fatalf("reservation %d: %v", i, err)
		}
		p := l.Advertised().Port
		if p < d.ports.Lo || p > d.ports.Hi || seen[p] {
			t.Fatalf("port %d outside %s or handed out twice", p, d.ports)
		}
		seen[p] = true
		ls = append(ls, l)
	}
	if _, err := d.ListenPassive(ctx, loopCtrl("127.0.0.1")); !errors.Is(err, session.ErrNoPassivePorts) {
		t.Fatalf("4th reservation of a 3-port range: %v, want ErrNoPassivePorts", err)
	}
	if st := d.Stats(); st.Exhausted != 1 || st.PortsInUse != 3 || st.PortsTotal != 3 {
		t.Fatalf("stats %+v", st)
	}
	freed := ls[1].Advertised().Port
	_ = ls[1].Close()
	_ = ls[1].Close() // idempotent: must not release a port someone else holds
	l, err := d.ListenPassive(ctx, loopCtrl("127.0.0.1"))
	if err != nil {
		t.Fatalf("after release: %v", err)
	}
	if l.Advertised().Port != freed {
		t.Fatalf("got port %d, want the freed %d", l.Advertised().Port, freed)
	}
	ls[1] = l
	for _, l := range ls {
		_ = l.Close()
	}
	if n := d.Stats().PortsInUse; n != 0 {
		t.Fatalf("%d ports still reserved after closing all", n)
	}
}

func TestPoolSkipsPortsTakenOutsideTheGateway(t *testing.T) {
	d, _ := newTestChannels(t, nil)
	squat, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", itoa(d.ports.Lo)))
	if err != nil {
		t.Fatal(err)
	}
	defer squat.Close()
	l, err := d.ListenPassive(context.Background(), loopCtrl("127.0.0.1"))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if l.Advertised().Port == d.ports.Lo {
		t.Fatal("handed out a port another process listens on")
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

func TestUnusedPortExpires(t *testing.T) {
	d, logs := newTestChannels(t, func(o *Options) { o.DataTimeout = 100 * time.Millisecond })
	l, err := d.ListenPassive(context.Background(), loopCtrl("127.0.0.1"))
	if err != nil {
		t.Fatal(err)
	}
	testkit.WaitUntil(t, "the unused port to be released", 5*time.Second, func() bool { return d.Stats().PortsInUse == 0 })
	if st := d.Stats(); st.Expired != 1 {
		t.Fatalf("Expired = %d, want 1", st.Expired)
	}
	if _, err := l.Accept(context.Background()); !errors.Is(err, session.ErrPassiveExpired) {
		t.Fatalf("Accept on an expired port: %v, want ErrPassiveExpired", err)
	}
	if !strings.Contains(logs.String(), "no transfer used it") {
		t.Fatalf("expiry not logged:\n%s", logs)
	}
	_ = l.Close()
}

func TestClaimedPortDoesNotExpire(t *testing.T) {
	d, _ := newTestChannels(t, func(o *Options) { o.DataTimeout = 100 * time.Millisecond })
	l, err := d.ListenPassive(context.Background(), loopCtrl("127.0.0.1"))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	addr := net.JoinHostPort("127.0.0.1", itoa(l.Advertised().Port))
	accepted := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		c, err := l.Accept(ctx) // claimed: a transfer waits on it
		if err == nil {
			c.Close()
		}
		accepted <- err
	}()
	// A port reserved after l and never claimed: once it has expired, l's
	// expiry time has passed too.
	witness, err := d.ListenPassive(context.Background(), loopCtrl("127.0.0.1"))
	if err != nil {
		t.Fatal(err)
	}
	defer witness.Close()
	testkit.WaitUntil(t, "the unclaimed witness port to expire", 5*time.Second, func() bool { return d.Stats().Expired == 1 })
	if c, err := net.Dial("tcp", addr); err == nil {
		_, _ = c.Write([]byte("x"))
		c.Close()
	}
	if err := <-accepted; err != nil {
		t.Fatalf("a port in use by a transfer expired: %v", err)
	}
	if st := d.Stats(); st.Expired != 1 || st.PortsInUse != 1 {
		t.Fatalf("stats %+v, want only the witness expired and l still in use", st)
	}
}

func TestStrangerRefusedRealClientAccepted(t *testing.T) {
	d, logs := newTestChannels(t, nil)
	l, err := d.ListenPassive(context.Background(), loopCtrl("127.0.0.1"))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	addr := net.JoinHostPort("127.0.0.1", itoa(l.Advertised().Port))
	// The stranger is cut off without a byte (the reset may even beat the dial).
	if stranger, err := (&net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.2")}}).Dial("tcp", addr); err == nil {
		_ = stranger.SetReadDeadline(time.Now().Add(5 * time.Second))
		if n, err := stranger.Read(make([]byte, 1)); n != 0 || err == nil || isTimeout(err) {
			t.Fatalf("stranger read %d bytes, err %v; want the connection closed", n, err)
		}
		stranger.Close()
	}
	accepted := make(chan net.Conn, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		c, err := l.Accept(ctx)
		if err != nil {
			t.Error(err)
		}
		accepted <- c
	}()
	real, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer real.Close()
	c := <-accepted
	if c == nil {
		t.Fatal("real client not accepted")
	}
	defer c.Close()
	if got := c.RemoteAddr().String(); got != real.LocalAddr().String() {
		t.Fatalf("accepted %s, want the real client %s", got, real.LocalAddr())
	}
	// The reservation takes one connection; a second one from the same client is
	// reset, and the port stays reserved until Close.
	if extra, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		_ = extra.SetReadDeadline(time.Now().Add(5 * time.Second))
		if n, err := extra.Read(make([]byte, 1)); n != 0 || err == nil || isTimeout(err) {
			t.Errorf("a second connection for one reservation: read %d, %v; want it reset", n, err)
		}
		extra.Close()
	}
	if d.Stats().PortsInUse != 1 {
		t.Errorf("PortsInUse = %d while the transfer runs, want 1", d.Stats().PortsInUse)
	}
	testkit.WaitUntil(t, "the stranger and the second connection to be counted", 5*time.Second, func() bool { return d.Stats().Strangers == 2 })
	if !strings.Contains(logs.String(), "stranger") || !strings.Contains(logs.String(), "has its data connection already") {
		t.Fatalf("stranger and second connection not counted or logged: %+v\n%s", d.Stats(), logs)
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

func TestAcceptTimesOut(t *testing.T) {
	d, _ := newTestChannels(t, nil)
	l, err := d.ListenPassive(context.Background(), loopCtrl("127.0.0.1"))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	if _, err := l.Accept(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Accept with nobody connecting: %v, want deadline exceeded", err)
	}
	if el := time.Since(start); el > 3*time.Second {
		t.Fatalf("Accept took %s to time out", el)
	}
}

func TestAdvertisedAddress(t *testing.T) {
	ctx := context.Background()
	cases := []struct {
		name, public, overrides, client, want string
		resolveErr                            bool
	}{
		{name: "local address by default", client: "127.0.0.1", want: "127.0.0.1"},
		{name: "public IP", public: "203.0.113.7", client: "127.0.0.1", want: "203.0.113.7"},
		{name: "public name resolved, IPv4 preferred", public: "ftp.example", client: "127.0.0.1", want: "198.51.100.4"},
		{name: "unresolvable name falls back", public: "ftp.example", resolveErr: true, client: "127.0.0.1", want: "127.0.0.1"},
		{name: "override for in-cluster clients", public: "203.0.113.7", overrides: "10.0.0.0/8=10.1.2.3, 127.0.0.0/8=127.0.0.1", client: "10.9.9.9", want: "10.1.2.3"},
		{name: "first matching override wins", public: "203.0.113.7", overrides: "10.0.0.0/8=10.1.2.3,10.9.0.0/16=10.4.4.4", client: "10.9.9.9", want: "10.1.2.3"},
		{name: "outside clients get the public host", public: "203.0.113.7", overrides: "10.0.0.0/8=10.1.2.3", client: "192.0.2.1", want: "203.0.113.7"},
		{name: "override to a name", overrides: "127.0.0.0/8=ftp.example", client: "127.0.0.1", want: "198.51.100.4"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			overrides, err := ParseHostOverrides(tc.overrides)
			if err != nil {
				t.Fatal(err)
			}
			d, logs := newTestChannels(t, func(o *Options) { o.PublicHost = tc.public; o.Overrides = overrides })
			d.resolve = func(ctx context.Context, host string) ([]net.IP, error) {
				if tc.resolveErr || host != "ftp.example" {
					return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
				}
				return []net.IP{net.ParseIP("2001:db8::4"), net.ParseIP("198.51.100.4")}, nil
			}
			ctrl := loopCtrl(tc.client)
			if got := d.advertisedIP(ctx, ctrl); !got.Equal(net.ParseIP(tc.want)) {
				t.Fatalf("advertised %s, want %s", got, tc.want)
			}
			if tc.resolveErr && !strings.Contains(logs.String(), "cannot resolve") {
				t.Fatalf("fallback not logged:\n%s", logs)
			}
		})
	}
}

func TestCheckActive(t *testing.T) {
	d, _ := newTestChannels(t, nil)
	ctrl := loopCtrl("127.0.0.1")
	ok := []*net.TCPAddr{
		{IP: net.ParseIP("127.0.0.1"), Port: 1024},
		{IP: net.IPv4(127, 0, 0, 1), Port: 65535},
	}
	for _, a := range ok {
		if err := d.CheckActive(ctrl, a); err != nil {
			t.Errorf("%s refused: %v", a, err)
		}
	}
	bad := []*net.TCPAddr{
		{IP: net.ParseIP("127.0.0.2"), Port: 5000}, // bounce to another host
		{IP: net.ParseIP("127.0.0.1"), Port: 80},   // privileged port
		{IP: net.ParseIP("127.0.0.1"), Port: 1023},
		{IP: net.ParseIP("::1"), Port: 5000},
		nil,
	}
	for _, a := range bad {
		if err := d.CheckActive(ctrl, a); !errors.Is(err, session.ErrActiveRefused) {
			t.Errorf("%v accepted (%v)", a, err)
		}
	}
	if n := d.Stats().ActiveRefused; n != int64(len(bad)) {
		t.Fatalf("ActiveRefused = %d, want %d", n, len(bad))
	}
	if _, err := d.DialActive(context.Background(), ctrl, &net.TCPAddr{IP: net.ParseIP("127.0.0.2"), Port: 5000}); !errors.Is(err, session.ErrActiveRefused) {
		t.Fatalf("DialActive skipped the bounce check: %v", err)
	}
}

func TestDialActive(t *testing.T) {
	d, _ := newTestChannels(t, nil)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		if c, err := l.Accept(); err == nil {
			_, _ = c.Write([]byte("hello"))
			c.Close()
		}
	}()
	c, err := d.DialActive(context.Background(), loopCtrl("127.0.0.1"), l.Addr().(*net.TCPAddr))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if b, _ := io.ReadAll(c); string(b) != "hello" {
		t.Fatalf("read %q", b)
	}
	if la := c.LocalAddr().(*net.TCPAddr); !la.IP.Equal(net.ParseIP("127.0.0.1")) {
		t.Fatalf("dialled from %s, want the control connection's local address", la)
	}
}

func TestCheckHost(t *testing.T) {
	for _, ok := range []string{"203.0.113.7", "::1", "2001:db8::1", "localhost", "ftp.example.com", "ftp.example.com.", "ftp2s3", "my_svc.ns.svc.cluster.local"} {
		if err := CheckHost(ok); err != nil {
			t.Errorf("CheckHost(%q): %v", ok, err)
		}
	}
	for _, bad := range []string{"", "ftp://ftp.example.com", "ftp.example.com:2121", "-bad.example", "a..b", "has space", "[::1]", strings.Repeat("a", 64) + ".com"} {
		if err := CheckHost(bad); err == nil {
			t.Errorf("CheckHost(%q) accepted", bad)
		}
	}
	for _, bad := range []string{"10.0.0.0/8=10.0.0.1:30000", "10.0.0.0/8", "10.0.0.0/33=ftp.example", "10.0.0.0/8="} {
		if _, err := ParseHostOverrides(bad); err == nil {
			t.Errorf("ParseHostOverrides(%q) accepted", bad)
		}
	}
}

func TestPublicHostLookupReused(t *testing.T) {
	d, logs := newTestChannels(t, func(o *Options) { o.PublicHost = "ftp.example" })
	calls := 0
	d.resolve = func(ctx context.Context, host string) ([]net.IP, error) {
		calls++
		return nil, &net.DNSError{Err: "server misbehaving", Name: host, IsTemporary: true}
	}
	for i := 0; i < 5; i++ {
		if got := d.advertisedIP(context.Background(), loopCtrl("127.0.0.1")); !got.Equal(net.ParseIP("127.0.0.1")) {
			t.Fatalf("advertised %s, want the local fallback", got)
		}
	}
	if calls != 1 || strings.Count(logs.String(), "cannot resolve") != 1 {
		t.Fatalf("%d lookups and %d warnings for 5 PASV; want 1 and 1", calls, strings.Count(logs.String(), "cannot resolve"))
	}
	v6 := session.ConnInfo{Local: &net.TCPAddr{IP: net.IPv6loopback}, Remote: &net.TCPAddr{IP: net.IPv6loopback}}
	d.dnsCache = map[string]dnsAnswer{}
	d.advertisedIP(context.Background(), v6)
	if calls != 1 {
		t.Fatal("looked the PASV host up for an IPv6 control connection, where only EPSV works")
	}
}

// TestPortSharedAcrossAddresses: one port serves one session per client
// address at once; each connection reaches the session of its own address; a
// client runs out of ports only for itself.
func TestPortSharedAcrossAddresses(t *testing.T) {
	d, _ := newTestChannels(t, nil)
	ctx := context.Background()
	hold := func(peer string) []session.PassiveListener {
		var ls []session.PassiveListener
		for i := 0; i < 3; i++ {
			l, err := d.ListenPassive(ctx, loopCtrl(peer))
			if err != nil {
				t.Fatalf("%s, reservation %d of a 3-port range: %v", peer, i+1, err)
			}
			ls = append(ls, l)
		}
		if _, err := d.ListenPassive(ctx, loopCtrl(peer)); !errors.Is(err, session.ErrNoPassivePorts) {
			t.Fatalf("%s, 4th reservation: %v, want ErrNoPassivePorts", peer, err)
		}
		return ls
	}
	one, two := hold("127.0.0.2"), hold("127.0.0.3")
	if st := d.Stats(); st.PortsInUse != 3 || st.Reservations != 6 {
		t.Fatalf("stats %+v, want 3 ports carrying 6 reservations", st)
	}
	// Both clients connect to the first port of each: each session gets its own.
	for i := range one {
		port := one[i].Advertised().Port
		var other session.PassiveListener
		for _, l := range two {
			if l.Advertised().Port == port {
				other = l
			}
		}
		for _, pair := range []struct {
			src string
			l   session.PassiveListener
		}{{"127.0.0.3", other}, {"127.0.0.2", one[i]}} {
			c, err := (&net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(pair.src)}}).Dial("tcp", net.JoinHostPort("127.0.0.1", itoa(port)))
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			actx, cancel := context.WithTimeout(ctx, 5*time.Second)
			got, err := pair.l.Accept(actx)
			cancel()
			if err != nil {
				t.Fatalf("port %d, client %s: %v", port, pair.src, err)
			}
			if got.RemoteAddr().String() != c.LocalAddr().String() {
				t.Fatalf("port %d: the session of %s got %s's connection", port, pair.src, got.RemoteAddr())
			}
			got.Close()
		}
	}
	for _, l := range append(one, two...) {
		_ = l.Close()
	}
	if st := d.Stats(); st.PortsInUse != 0 || st.Reservations != 0 || st.PortsIdle != 3 {
		t.Fatalf("after closing every reservation: %+v, want the 3 ports idle, none in use", st)
	}
	_ = d.Close()
	d.mu.Lock()
	open := len(d.open)
	d.mu.Unlock()
	if open != 0 {
		t.Fatalf("%d ports still listening after Close", open)
	}
}

// TestPassiveBudgetPerClient: one client address (IPv6: its /64) holds at most
// FTP2S3_MAX_CONNECTIONS_PER_IP reservations, even with ports to spare.
func TestPassiveBudgetPerClient(t *testing.T) {
	d, _ := newTestChannels(t, func(o *Options) { o.Ports = testPorts(t, 6); o.MaxPerClient = 2 })
	ctx := context.Background()
	v6 := func(remote string) session.ConnInfo {
		return session.ConnInfo{Local: &net.TCPAddr{IP: net.IPv6loopback, Port: 2121}, Remote: &net.TCPAddr{IP: net.ParseIP(remote), Port: 50000}}
	}
	if !hasIPv6Loopback() {
		t.Fatal("this test needs ::1")
	}
	var ls []session.PassiveListener
	for _, peer := range []string{"2001:db8:1:2::1", "2001:db8:1:2::2"} {
		l, err := d.ListenPassive(ctx, v6(peer))
		if err != nil {
			t.Fatal(err)
		}
		ls = append(ls, l)
	}
	if _, err := d.ListenPassive(ctx, v6("2001:db8:1:2::3")); !errors.Is(err, session.ErrNoPassivePorts) {
		t.Fatalf("third reservation from one /64: %v, want ErrNoPassivePorts", err)
	}
	if l, err := d.ListenPassive(ctx, v6("2001:db8:1:3::1")); err != nil {
		t.Fatalf("another /64: %v", err)
	} else {
		ls = append(ls, l)
	}
	_ = ls[0].Close()
	if l, err := d.ListenPassive(ctx, v6("2001:db8:1:2::3")); err != nil {
		t.Fatalf("after a release: %v", err)
	} else {
		ls = append(ls, l)
	}
	for _, l := range ls {
		_ = l.Close()
	}
}

func hasIPv6Loopback() bool {
	l, err := net.Listen("tcp", "[::1]:0")
	if err != nil {
		return false
	}
	l.Close()
	return true
}
