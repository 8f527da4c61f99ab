//go:build !unix

package session

import "net"

// keepUrgentInline is a no-op where SO_OOBINLINE cannot be set through syscall.
func keepUrgentInline(net.Conn) {}
