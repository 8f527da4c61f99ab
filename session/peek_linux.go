package session

import (
	"net"
	"syscall"
)

// peerClosed peeks at the socket without consuming anything: a zero-byte read
// means the peer has sent FIN, an error other than "would block" means a reset.
// It uses Control rather than Read so that it never waits for the goroutine that
// is blocked reading the same connection.
func peerClosed(c net.Conn) bool {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return false
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return false
	}
	closed := false
	_ = raw.Control(func(fd uintptr) {
		var b [1]byte
		n, _, err := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		switch {
		case err == nil && n == 0:
			closed = true
		case err != nil && err != syscall.EAGAIN && err != syscall.EINTR:
			closed = true
		}
	})
	return closed
}
