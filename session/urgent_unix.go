//go:build unix

package session

import (
	"net"
	"syscall"
)

// keepUrgentInline sets SO_OOBINLINE on the control connection. Clients send
// ABOR as TCP urgent data (RFC 959 §4.1.3: "IAC IP IAC DM ABOR"; Python's
// ftplib sends the whole "ABOR\r\n" with MSG_OOB). Without this option the
// kernel takes the urgent byte, the final "\n", out of the stream, the ABOR line
// never ends and is glued to the next command. Inline, it is an ordinary byte.
func keepUrgentInline(c net.Conn) {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return
	}
	_ = raw.Control(func(fd uintptr) {
		_ = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_OOBINLINE, 1)
	})
}
