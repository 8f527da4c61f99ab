package testkit

import (
	"net"
	"testing"
)

// TCPPair returns both ends of a loopback TCP connection, so that deadlines,
// RemoteAddr and socket options behave as on a real listener; both are closed
// when the test ends.
func TCPPair(t testing.TB) (dialed, accepted *net.TCPConn) {
	t.Helper()
	l, err := net.ListenTCP("tcp", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	got := make(chan *net.TCPConn, 1)
	go func() {
		c, _ := l.AcceptTCP()
		got <- c
	}()
	dialed, err = net.DialTCP("tcp", nil, l.Addr().(*net.TCPAddr))
	if err != nil {
		t.Fatal(err)
	}
	if accepted = <-got; accepted == nil {
		dialed.Close()
		t.Fatal("accept failed")
	}
	t.Cleanup(func() { _ = dialed.Close(); _ = accepted.Close() })
	return dialed, accepted
}
