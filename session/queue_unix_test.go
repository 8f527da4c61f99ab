//go:build unix

package session

import (
	"net"
	"syscall"
	"testing"
)

// TestABORWithSynchAfterQueuedCommands: ABOR sent the RFC 959 way (Telnet IP,
// then Synch: IAC DM as TCP urgent data) is heard at once even when commands are
// already queued; the queued ones run after it.
func TestABORWithSynchAfterQueuedCommands(t *testing.T) {
	fs, c, _ := startUpload(t, "aborted")
	c.send("NOOP")
	c.send("PWD")
	// IAC IP in band, then IAC DM with the DM byte urgent, then the command.
	if _, err := c.conn.Write([]byte{0xff, 0xf4, 0xff}); err != nil {
		t.Fatal(err)
	}
	sendUrgent(t, c.conn, 0xf2)
	c.send("ABOR")
	c.expectReply(426)
	c.expectReply(226)
	c.expectReply(200)
	c.expectReply(257)
	if _, ok := fs.object("b", "aborted"); ok {
		t.Fatal("the aborted upload was stored")
	}
}

// sendUrgent sends b as TCP urgent data (MSG_OOB).
func sendUrgent(t *testing.T, c net.Conn, b byte) {
	t.Helper()
	raw, err := c.(*net.TCPConn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var serr error
	if err := raw.Write(func(fd uintptr) bool {
		serr = syscall.Sendto(int(fd), []byte{b}, syscall.MSG_OOB, nil)
		return serr != syscall.EAGAIN
	}); err != nil || serr != nil {
		t.Fatalf("urgent send: %v %v", err, serr)
	}
}
