package datachan

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ftp2s3/ftp2s3/internal/testkit"
	"github.com/ftp2s3/ftp2s3/session"
)

// The idle timers are real timers: testing/synctest cannot drive them here,
// since the accept loops block on real sockets, which a bubble does not count
// as durably blocked. The tests shorten idleAfter and wait on signals instead
// (an accept loop ending, a counter).

// listenLog records the sockets the pool opens.
type listenLog struct {
	mu sync.Mutex
	ls []*net.TCPListener
}

// recordListens makes d report every socket it opens to the returned log; call
// it before the first reservation.
func recordListens(d *DataChannels) *listenLog {
	rec := &listenLog{}
	open := d.listen
	d.listen = func(ctx context.Context, addr string) (*net.TCPListener, error) {
		l, err := open(ctx, addr)
		if err == nil {
			rec.mu.Lock()
			rec.ls = append(rec.ls, l)
			rec.mu.Unlock()
		}
		return l, err
	}
	return rec
}

func (r *listenLog) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.ls)
}

// endedLoops makes d report each accept loop's end on the returned channel;
// call it before the first reservation.
func endedLoops(d *DataChannels) chan int {
	ended := make(chan int, 64)
	d.loopEnded = func(port int) { ended <- port }
	return ended
}

// listenerOf is the socket a reservation's port listens on.
func listenerOf(t *testing.T, d *DataChannels, l session.PassiveListener) *net.TCPListener {
	t.Helper()
	d.mu.Lock()
	defer d.mu.Unlock()
	return l.(*passiveListener).sp.l
}

// reserve takes a reservation for 127.0.0.1 or fails the test.
func reserve(t *testing.T, d *DataChannels) session.PassiveListener {
	t.Helper()
	l, err := d.ListenPassive(context.Background(), loopCtrl("127.0.0.1"))
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// transfer connects to l's port from 127.0.0.1 and checks that l gets that
// very connection.
func transfer(t *testing.T, l session.PassiveListener) {
	t.Helper()
	c, err := net.Dial("tcp", net.JoinHostPort("127.0.0.1", itoa(l.Advertised().Port)))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	got, err := l.Accept(ctx)
	if err != nil {
		t.Fatalf("port %d: %v", l.Advertised().Port, err)
	}
	defer got.Close()
	if got.RemoteAddr().String() != c.LocalAddr().String() {
		t.Fatalf("accepted %s, want %s", got.RemoteAddr(), c.LocalAddr())
	}
}

// TestReleasedPortListenerReused: once reservations have gone round the range,
// each new one takes a port that is still listening from its last reservation:
// the same socket, no new listen, and it carries the transfer.
func TestReleasedPortListenerReused(t *testing.T) {
	d, _ := newTestChannels(t, nil)
	listens := recordListens(d)
	first := map[int]*net.TCPListener{}
	for i := 0; i < 9; i++ {
		l := reserve(t, d)
		port := l.Advertised().Port
		sock := listenerOf(t, d, l)
		if was, ok := first[port]; ok && sock != was {
			t.Fatalf("reservation %d: port %d listens on a new socket, want the one of its first reservation", i+1, port)
		}
		first[port] = sock
		transfer(t, l)
		_ = l.Close()
	}
	if n := listens.count(); n != 3 {
		t.Fatalf("%d listens for 9 reservations of a 3-port range, want 3", n)
	}
	if st := d.Stats(); st.PortsIdle != 3 || st.PortsInUse != 0 || st.Reservations != 0 {
		t.Fatalf("stats %+v, want 3 idle ports, none in use", st)
	}
}

// TestIdlePortRefusesStrangers: a port kept listening without a reservation
// resets every connection, even from the address that held it last, and counts
// and logs it as a stranger.
func TestIdlePortRefusesStrangers(t *testing.T) {
	d, logs := newTestChannels(t, nil)
	l := reserve(t, d)
	addr := net.JoinHostPort("127.0.0.1", itoa(l.Advertised().Port))
	_ = l.Close()
	if st := d.Stats(); st.PortsIdle != 1 || st.PortsInUse != 0 {
		t.Fatalf("stats %+v, want the released port idle and not in use", st)
	}
	for _, src := range []string{"127.0.0.1", "127.0.0.2"} {
		// The idle port accepts, then resets: the reset may even beat the dial.
		c, err := (&net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}}).Dial("tcp", addr)
		if errors.Is(err, syscall.ECONNRESET) {
			continue
		}
		if err != nil {
			t.Fatalf("dial from %s: %v; the idle port should accept, then reset", src, err)
		}
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		if n, err := c.Read(make([]byte, 1)); n != 0 || err == nil || isTimeout(err) {
			t.Fatalf("connection from %s to an idle port: read %d, %v; want it reset", src, n, err)
		}
		c.Close()
	}
	testkit.WaitUntil(t, "both connections to be counted as strangers", 5*time.Second, func() bool { return d.Stats().Strangers == 2 })
	if got := strings.Count(logs.String(), "passive data connection from a stranger refused"); got != 2 {
		t.Fatalf("%d stranger log lines, want 2:\n%s", got, logs)
	}
}

// TestIdlePortStopsListening: a port without a reservation for idleAfter closes
// its socket and ends its accept loop; a port reserved again before then does
// not, although the timer of its earlier idle period has run out.
func TestIdlePortStopsListening(t *testing.T) {
	d, _ := newTestChannels(t, func(o *Options) { o.Ports = testPorts(t, 2) })
	d.idleAfter = 2 * time.Second
	listens := recordListens(d)
	ended := endedLoops(d)

	a := reserve(t, d)
	_ = a.Close() // a's port idle from now
	b := reserve(t, d)
	_ = b.Close() // b's port idle from now, a little after a's
	again := reserve(t, d)
	defer again.Close()
	if again.Advertised().Port != a.Advertised().Port || listens.count() != 2 {
		t.Fatalf("third reservation on port %d after %d listens; want a's port %d reused (the machine took over %s between two calls?)",
			again.Advertised().Port, listens.count(), a.Advertised().Port, d.idleAfter)
	}
	select {
	case port := <-ended:
		if port != b.Advertised().Port {
			t.Fatalf("the accept loop of port %d ended, want the idle %d's", port, b.Advertised().Port)
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("the idle port's accept loop still runs 30 s after its release (idle time %s)", d.idleAfter)
	}
	if st := d.Stats(); st.PortsIdle != 0 || st.PortsInUse != 1 {
		t.Fatalf("stats %+v, want the idle port closed and a's port in use", st)
	}
	if c, err := net.Dial("tcp", net.JoinHostPort("127.0.0.1", itoa(b.Advertised().Port))); !errors.Is(err, syscall.ECONNREFUSED) {
		if c != nil {
			c.Close()
		}
		t.Fatalf("dial to the closed idle port: %v, want connection refused", err)
	}
	// a's old idle timer ran out before b's: the port reserved again still
	// listens and carries its transfer.
	transfer(t, again)
	select {
	case port := <-ended:
		t.Fatalf("the accept loop of port %d ended; only the idle port's should have", port)
	default:
	}
}

// TestCloseEndsIdleListeners: closing the pool closes every socket, idle or
// reserved, and returns once their accept loops have ended; no goroutine stays
// and no later reservation listens.
func TestCloseEndsIdleListeners(t *testing.T) {
	// base may still count goroutines of earlier tests on their way out, so it
	// bounds the end state only; the accept loops are counted by endedLoops.
	base := runtime.NumGoroutine()
	d, _ := newTestChannels(t, nil)
	ended := endedLoops(d)
	var idlePorts []int
	for i := 0; i < 2; i++ {
		l := reserve(t, d)
		idlePorts = append(idlePorts, l.Advertised().Port)
		_ = l.Close()
	}
	held := reserve(t, d)
	defer held.Close()
	if st := d.Stats(); st.PortsIdle != 2 || st.PortsInUse != 1 {
		t.Fatalf("stats %+v, want 2 idle ports and 1 in use", st)
	}
	closed := make(chan struct{})
	go func() { _ = d.Close(); close(closed) }()
	select {
	case <-closed:
	case <-time.After(10 * time.Second):
		t.Fatal("Close did not return within 10 s")
	}
	if n := len(ended); n != 3 {
		t.Fatalf("%d accept loops ended when Close returned, want 3", n)
	}
	for _, port := range append(idlePorts, held.Advertised().Port) {
		if c, err := net.Dial("tcp", net.JoinHostPort("127.0.0.1", itoa(port))); !errors.Is(err, syscall.ECONNREFUSED) {
			if c != nil {
				c.Close()
			}
			t.Fatalf("dial to port %d after Close: %v, want connection refused", port, err)
		}
	}
	if st := d.Stats(); st.PortsIdle != 0 || st.PortsInUse != 0 {
		t.Fatalf("stats %+v after Close, want nothing listening", st)
	}
	if _, err := d.ListenPassive(context.Background(), loopCtrl("127.0.0.1")); !errors.Is(err, session.ErrNoPassivePorts) {
		t.Fatalf("reservation after Close: %v, want ErrNoPassivePorts", err)
	}
	_ = held.Close() // releasing after Close opens nothing again
	if st := d.Stats(); st.PortsIdle != 0 || st.Reservations != 0 {
		t.Fatalf("stats %+v after the last release, want nothing", st)
	}
	testkit.WaitUntil(t, "the goroutine count to return to "+itoa(base), 5*time.Second, func() bool { return runtime.NumGoroutine() <= base })
}

// BenchmarkReservation is one passive transfer's share of the pool's work: a
// reservation, its data connection, its release; "reuse" keeps released ports
// listening as the pool does, "listen-each" closes them at once as before.
// cpu-ns/op is the process's CPU time per transfer, the client's dial and
// close included (the same in both).
func BenchmarkReservation(b *testing.B) {
	for _, mode := range []struct {
		name string
		idle time.Duration
	}{{"reuse", idleListen}, {"listen-each", 0}} {
		b.Run(mode.name, func(b *testing.B) {
			d := New(Options{Ports: testPorts(b, 3), DataTimeout: 5 * time.Second,
				Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
			defer d.Close()
			d.idleAfter = mode.idle
			ctx := context.Background()
			start := cpuTime(b)
			for b.Loop() {
				l, err := d.ListenPassive(ctx, loopCtrl("127.0.0.1"))
				if err != nil {
					b.Fatal(err)
				}
				c, err := net.Dial("tcp", net.JoinHostPort("127.0.0.1", itoa(l.Advertised().Port)))
				if err != nil {
					b.Fatal(err)
				}
				got, err := l.Accept(ctx)
				if err != nil {
					b.Fatal(err)
				}
				got.Close()
				c.Close()
				_ = l.Close()
			}
			b.ReportMetric(float64((cpuTime(b)-start).Nanoseconds())/float64(b.N), "cpu-ns/op")
		})
	}
}

// cpuTime is the CPU time (user and system) the process has used, the client
// side of the benchmark's connections included.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// TestStrangerFloodLogsAFewLines: anyone can dial a passive port in a loop;
// every connection is reset and counted, but only refusalLogBurst of them get
// a log line per period.
func TestStrangerFloodLogsAFewLines(t *testing.T) {
	d, logs := newTestChannels(t, nil)
	l := reserve(t, d)
	defer l.Close()
	addr := net.JoinHostPort("127.0.0.1", itoa(l.Advertised().Port))
	const flood = 3 * refusalLogBurst
	for range flood {
		c, err := (&net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.2")}}).Dial("tcp", addr)
		if err == nil {
			_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
			_, _ = c.Read(make([]byte, 1))
			c.Close()
		}
	}
	testkit.WaitUntil(t, "every stranger to be counted", 10*time.Second, func() bool { return d.Stats().Strangers == flood })
	if got := strings.Count(logs.String(), "passive data connection from a stranger refused"); got != refusalLogBurst {
		t.Fatalf("%d stranger log lines for %d strangers in a burst, want %d:\n%s", got, flood, refusalLogBurst, logs)
	}
}
