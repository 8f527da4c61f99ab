//go:build !linux

package session

import "net"

// peerClosed cannot peek portably; the reader goroutine's EOF is the only signal.
func peerClosed(net.Conn) bool { return false }
