package integration

import (
	"fmt"
	"math/rand/v2"
	"net"
	"sync"
	"testing"

	"github.com/ftp2s3/ftp2s3/gateway"
)

// Passive ranges come from one cursor per test binary over ports below Linux's
// ephemeral range (32768-60999 by default), so that no outgoing connection of
// the tests running in parallel takes a port a gateway expects to listen on,
// and two gateways of this binary never share a port (tests such as
// TestPassiveIdlePortReuse dial their range's ports and expect the gateway's
// answer). The cursor starts at a random block so that test binaries running
// side by side (other packages, other checkouts) start apart; every block is
// checked free on every address before it is handed out.
const passivePortsLo, passivePortsHi = 10000, 32000

var portCursor struct {
	sync.Mutex
	next int
}

// freePortRange returns lo-hi of n consecutive ports that were free on every
// address a moment ago and that no other test of this binary has been given
// recently.
func freePortRange(t *testing.T, n int) (lo, hi int) {
	t.Helper()
	lo, hi, err := takePortRange(n)
	if err != nil {
		t.Fatal(err)
	}
	return lo, hi
}

// freeTCPPort is one port for a server a test starts (a binary, a container,
// a MinIO of its own), from the same cursor: a port from the kernel's
// ephemeral range, as net.Listen(":0") gives, may be taken by another test's
// outgoing connection before the server binds it (it was, for compose).
func freeTCPPort() (int, error) {
	lo, _, err := takePortRange(1)
	return lo, err
}

// ownPort is freeTCPPort for a test (a MinIO of its own).
func ownPort(t *testing.T) int {
	t.Helper()
	p, err := freeTCPPort()
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func takePortRange(n int) (lo, hi int, err error) {
	portCursor.Lock()
	defer portCursor.Unlock()
	if portCursor.next == 0 {
		portCursor.next = passivePortsLo + rand.IntN((passivePortsHi-passivePortsLo)/100)*100
	}
	for range (passivePortsHi - passivePortsLo) / n {
		lo = portCursor.next
		if lo+n-1 > passivePortsHi {
			lo = passivePortsLo
		}
		portCursor.next = lo + n
		if portsFree(lo, n) {
			return lo, lo + n - 1, nil
		}
	}
	return 0, 0, fmt.Errorf("no %d free consecutive ports found in %d-%d", n, passivePortsLo, passivePortsHi)
}

// portsFree reports whether n ports from lo can be listened on, on every
// address.
func portsFree(lo, n int) bool {
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			_ = l.Close()
		}
	}()
	for p := lo; p < lo+n; p++ {
		l, err := net.Listen("tcp", fmt.Sprintf(":%d", p))
		if err != nil {
			return false
		}
		ls = append(ls, l)
	}
	return true
}

// passiveRange is a passive range of n ports of the test's own (see
// freePortRange).
func passiveRange(t *testing.T, n int) gateway.PortRange {
	t.Helper()
	lo, hi := freePortRange(t, n)
	return gateway.PortRange{Lo: lo, Hi: hi}
}
