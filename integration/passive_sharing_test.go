package integration

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jlaffaye/ftp"

	"github.com/ftp2s3/ftp2s3/gateway"
)

// barrier holds n parties until every one has arrived (or given up) and the
// test has released them, so that the test can look at the gateway while all
// of them are mid-transfer. It never holds anybody longer than its limit.
type barrier struct {
	n        int64
	arrived  atomic.Int64
	failed   atomic.Int64
	all      chan struct{}
	once     sync.Once
	gate     chan struct{}
	gateOnce sync.Once
	limit    time.Duration
}

func newBarrier(n int, limit time.Duration) *barrier {
	return &barrier{n: int64(n), all: make(chan struct{}), gate: make(chan struct{}), limit: limit}
}

// release lets the parties held at the barrier go on.
func (b *barrier) release() { b.gateOnce.Do(func() { close(b.gate) }) }

func (b *barrier) count(c *atomic.Int64) {
	if c.Add(1); b.arrived.Load()+b.failed.Load() >= b.n {
		b.once.Do(func() { close(b.all) })
	}
}

// arrive waits for the others; it reports false when the limit ran out first.
func (b *barrier) arrive() bool {
	b.count(&b.arrived)
	limit := time.After(b.limit)
	for _, c := range []chan struct{}{b.all, b.gate} {
		select {
		case <-c:
		case <-limit:
			return false
		}
	}
	return true
}

// fail counts a party that will never arrive.
func (b *barrier) fail() { b.count(&b.failed) }

// wait blocks the test until everyone arrived or failed, within the limit.
func (b *barrier) wait(t *testing.T) {
	t.Helper()
	select {
	case <-b.all:
	case <-time.After(b.limit):
		t.Fatalf("barrier: %d arrived, %d failed of %d within %s", b.arrived.Load(), b.failed.Load(), b.n, b.limit)
	}
}

// barrierReader yields body after its first Read waits at the barrier: an
// upload that is reading it has its data connection open.
type barrierReader struct {
	b     *barrier
	body  io.Reader
	first bool
}

func (r *barrierReader) Read(p []byte) (int, error) {
	if !r.first {
		r.first = true
		if !r.b.arrive() {
			return 0, fmt.Errorf("barrier limit passed")
		}
	}
	return r.body.Read(p)
}

// loopbackClient logs quickUser in from the loopback address src; control and
// data connections both leave from src.
func loopbackClient(addr, src string) (*ftp.ServerConn, error) {
	d := net.Dialer{Timeout: 20 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}}
	c, err := ftp.Dial(addr, ftp.DialWithTimeout(60*time.Second), ftp.DialWithDialer(d))
	if err != nil {
		return nil, err
	}
	if err := c.Login(quickUser, testPassword); err != nil {
		_ = c.Quit()
		return nil, err
	}
	return c, nil
}

// sessionBody is what session i of the test uploads: different for every
// session, so that a mix-up shows.
func sessionBody(i int) []byte {
	return bytes.Repeat([]byte(fmt.Sprintf("session %04d of the passive sharing test\n", i)), 40)
}

// TestPassivePortsShared: 300 transfers run at once through a 10-port passive
// range, from 150 client addresses with two sessions each. Every port serves
// one session per address; the two sessions of one address get different
// ports and each its own data, both up and down; a stranger connecting to any
// port is still reset.
func TestPassivePortsShared(t *testing.T) {
	t.Parallel()
	const addrs, perAddr, ports = 150, 2, 10
	const sessions = addrs * perAddr
	g := startGateway(t, withQuickUser, func(c *gateway.Config) {
		c.PassivePorts.Hi = c.PassivePorts.Lo + ports - 1
		c.MaxConnections = sessions + 20
		c.DataTimeout = 60 * time.Second
	})
	clients := make([]*ftp.ServerConn, sessions)
	src := func(i int) string { return fmt.Sprintf("127.0.0.%d", 10+i/perAddr) }
	var wg sync.WaitGroup
	errs := make([]error, sessions)
	for i := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			clients[i], errs[i] = loopbackClient(g.Addr, src(i))
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("session %d from %s: login: %v", i, src(i), err)
		}
	}
	defer func() {
		for _, c := range clients {
			_ = c.Quit()
		}
	}()

	// Uploads: every session holds its data connection open at the barrier.
	up := newBarrier(sessions, 90*time.Second)
	defer up.release()
	for i, c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := &barrierReader{b: up, body: bytes.NewReader(sessionBody(i))}
			if errs[i] = c.Stor(fmt.Sprintf("s%03d.txt", i), r); errs[i] != nil && !r.first {
				up.fail()
			}
		}()
	}
	up.wait(t)
	st := g.GW.Data.Stats()
	t.Logf("at the upload barrier: %d reservations on %d ports", st.Reservations, st.PortsInUse)
	if st.Reservations != sessions || st.PortsInUse > ports {
		t.Errorf("%d reservations on %d ports at once, want %d on at most %d", st.Reservations, st.PortsInUse, sessions, ports)
	}
	// A stranger (no session from its address) is reset on every port.
	// A port nobody has reserved is not listening at all: the kernel refuses
	// the stranger there and the gateway never sees it.
	strangers := st.Strangers
	listening := 0
	for p := g.GW.Config.PassivePorts.Lo; p <= g.GW.Config.PassivePorts.Hi; p++ {
		c, err := dialDataFrom(t, "127.0.0.250", "127.0.0.1", p)
		if errors.Is(err, syscall.ECONNREFUSED) {
			continue
		}
		listening++
		if err != nil {
			continue // reset before the dial even returned
		}
		_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
		if n, err := c.Read(make([]byte, 1)); n != 0 || err == nil || isTimeoutErr(err) {
			t.Errorf("stranger on port %d: read %d bytes, %v; want a reset", p, n, err)
		}
		c.Close()
	}
	up.release()
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("session %d from %s: STOR: %v", i, src(i), err)
		}
	}
	if listening != st.PortsInUse {
		t.Errorf("strangers reached %d listening ports, want the %d in use", listening, st.PortsInUse)
	}
	if n := g.GW.Data.Stats().Strangers - strangers; n != int64(listening) {
		t.Errorf("%d strangers counted, want %d", n, listening)
	}
	if t.Failed() {
		t.FailNow()
	}

	// Downloads, all at once: every session has its data connection open at
	// the barrier, then reads; each must get its own file.
	down := newBarrier(sessions, 90*time.Second)
	defer down.release()
	for i, c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = retrOwn(c, down, i)
		}()
	}
	// (The gateway may have finished sending a file this small before the
	// barrier opens, so its reservations are not counted here.)
	down.wait(t)
	down.release()
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("session %d from %s: %v", i, src(i), err)
		}
	}
	for i := 0; i < sessions; i += 37 {
		sum, _, err := g.object(fmt.Sprintf("s%03d.txt", i))
		if want, _ := sha256Of(bytes.NewReader(sessionBody(i))); err != nil || sum != want {
			t.Errorf("object s%03d.txt: %v, sha %s, want %s", i, err, sum, want)
		}
	}
}

// retrOwn downloads session i's file after the barrier and checks it is that
// session's data.
func retrOwn(c *ftp.ServerConn, b *barrier, i int) error {
	r, err := c.Retr(fmt.Sprintf("s%03d.txt", i))
	if err != nil {
		b.fail()
		return fmt.Errorf("RETR: %w", err)
	}
	if !b.arrive() {
		_ = r.Close()
		return fmt.Errorf("barrier limit passed")
	}
	got, err := io.ReadAll(r)
	cerr := r.Close()
	if err != nil || cerr != nil {
		return fmt.Errorf("RETR: %v %v", err, cerr)
	}
	if want := sessionBody(i); !bytes.Equal(got, want) {
		return fmt.Errorf("RETR got %q…, want %q…", firstLine(got), firstLine(want))
	}
	return nil
}

func firstLine(b []byte) string {
	s, _, _ := strings.Cut(string(b), "\n")
	return s
}

func isTimeoutErr(err error) bool {
	ne, ok := err.(net.Error)
	return ok && ne.Timeout()
}
