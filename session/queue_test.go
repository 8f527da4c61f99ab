package session

import (
	"io"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ftp2s3/ftp2s3/internal/testkit"
)

// TestPipelinedTransfersDoNotNest pipelines uploads the way a busy client does:
// the next EPSV and STOR go out before the running upload's data connection is
// closed. Each transfer must run from the one command loop (the old code ran the
// queued commands from inside the previous transfer, one stack level each).
func TestPipelinedTransfersDoNotNest(t *testing.T) {
	fs := newMemFS("b")
	c := loginSession(t, fs, "alice")
	const n = 2000
	d := c.pasv()
	if code, text := c.cmd("STOR f0"); code != 150 {
		t.Fatalf("STOR: %d %q", code, text)
	}
	for i := 1; i <= n; i++ {
		// The next transfer's commands arrive while this one still runs.
		c.send("EPSV")
		if i < n {
			c.send("STOR f" + strconv.Itoa(i))
		}
		if i%250 == 0 {
			if depth := testkit.ExecuteDepth(); depth > 1 {
				t.Fatalf("after %d pipelined transfers a session runs %d nested commands", i, depth)
			}
		}
		_, _ = io.WriteString(d, "data")
		d.Close()
		if code, text := c.read(); code != 226 {
			t.Fatalf("transfer %d: %d %q", i-1, code, text)
		}
		code, text := c.read()
		if code != 229 {
			t.Fatalf("EPSV %d: %d %q", i, code, text)
		}
		if i == n {
			break
		}
		d = dialEPSV(t, text)
		if code, text := c.read(); code != 150 {
			t.Fatalf("STOR %d: %d %q", i, code, text)
		}
	}
	c.expect("NOOP", 200)
	if got, ok := fs.object("b", "f"+strconv.Itoa(n-1)); !ok || got != "data" {
		t.Fatalf("last upload: %q %v", got, ok)
	}
}

// TestCommandFloodDuringTransfer: a client that keeps sending distinct commands
// during an upload is not cut off: once the queue is full the session stops
// reading, so the client's writes stall (the kernel's buffers fill up); the
// upload still ends in 226, and every line the client got out is then answered,
// in order.
func TestCommandFloodDuringTransfer(t *testing.T) {
	fs, c, d := startUpload(t, "flood")
	_, _ = io.WriteString(d, "partial")
	pad := strings.Repeat("x", 1000)
	blocked, done := make(chan struct{}), make(chan int)
	go func() {
		sent := 0
		defer func() { done <- sent }()
		for ; sent < 100000; sent++ {
			l := []byte("NOOP " + strconv.Itoa(sent) + pad + "\r\n")
			_ = c.conn.SetWriteDeadline(time.Now().Add(time.Second))
			n, err := c.conn.Write(l)
			if err == nil {
				continue
			}
			// The gateway stopped reading: finish the line once it reads again.
			close(blocked)
			_ = c.conn.SetWriteDeadline(time.Time{})
			if _, err := c.conn.Write(l[n:]); err == nil {
				sent++
			}
			return
		}
	}()
	select {
	case <-blocked:
	case sent := <-done:
		t.Fatalf("the session read all %d lines during the transfer: no backpressure", sent)
	}
	_, _ = io.WriteString(d, " and the rest")
	d.Close()
	c.expectReply(226)
	sent := <-done
	if sent <= maxQueuedLines {
		t.Fatalf("only %d lines were sent before the writes stalled", sent)
	}
	for i := range sent {
		if code, text := c.read(); code != 200 {
			t.Fatalf("reply %d of %d after the transfer: %d %q, want 200", i+1, sent, code, text)
		}
	}
	c.expect("PWD", 257)
	if got, ok := fs.object("b", "flood"); !ok || got != "partial and the rest" {
		t.Fatalf("the upload: %q %v", got, ok)
	}
}

// TestKeepalivesDoNotFillTheQueue: a NOOP every few seconds during a long
// transfer costs a counter, not a queue slot, so the session keeps reading and
// STAT (and ABOR) are still heard at once after hundreds of them.
func TestKeepalivesDoNotFillTheQueue(t *testing.T) {
	_, c, d := startUpload(t, "keepalive")
	const n = 500
	for range n {
		c.send("NOOP")
	}
	if code, text := c.cmd("STAT"); code != 211 || !strings.Contains(text, "Transfer in progress") {
		t.Fatalf("STAT after %d keepalives: %d %q", n, code, text)
	}
	_, _ = io.WriteString(d, "kept alive")
	d.Close()
	c.expectReply(226)
	for range n {
		c.expectReply(200)
	}
	c.expect("PWD", 257)
}

// TestLineQueueBounds: distinct lines fill the queue at maxQueuedLines, a line
// repeated is counted up to maxQueuedCommands without growing what is held,
// and lines come out in the order they went in.
func TestLineQueueBounds(t *testing.T) {
	var q lineQueue
	for i := 0; !q.full(); i++ {
		q.push(line{text: "CWD " + strconv.Itoa(i)})
	}
	if q.len() != maxQueuedLines {
		t.Fatalf("distinct lines: full at %d, want %d", q.len(), maxQueuedLines)
	}
	q.clear()
	q.push(line{text: "PASV"})
	for !q.full() {
		q.push(line{text: "NOOP"})
	}
	if q.len() != maxQueuedCommands || len(q.entries) != 2 || q.bytes != len("PASV")+len("NOOP") {
		t.Fatalf("repeats: %d commands in %d entries, %d bytes", q.len(), len(q.entries), q.bytes)
	}
	q.push(line{text: "QUIT"})
	want := append(append([]string{"PASV"}, slices.Repeat([]string{"NOOP"}, maxQueuedCommands-1)...), "QUIT")
	for i, w := range want {
		l, ok := q.pop()
		if !ok || l.text != w {
			t.Fatalf("pop %d: %q %v, want %q", i, l.text, ok, w)
		}
	}
	if _, ok := q.pop(); ok || q.len() != 0 || q.bytes != 0 {
		t.Fatalf("queue not empty after popping everything: %+v", q)
	}
	big := line{text: strings.Repeat("x", maxLineLength-1)}
	q.clear()
	for i := 0; !q.full(); i++ {
		q.push(line{text: big.text[:maxLineLength-1-i]}) // distinct, nearly 8 KiB each
	}
	if q.bytes > maxQueuedBytes+maxLineLength {
		t.Fatalf("queue holds %d bytes, bound %d", q.bytes, maxQueuedBytes+maxLineLength)
	}
}

// TestQueueWithinBound: the few commands a real client sends during a transfer
// run after it, in order, each with its reply.
func TestQueueWithinBound(t *testing.T) {
	_, c, d := startUpload(t, "q")
	for range maxQueuedLines {
		c.send("NOOP")
	}
	// STAT is answered at once, before the queued NOOPs.
	if code, text := c.cmd("STAT"); code != 211 || !strings.Contains(text, "Transfer in progress") {
		t.Fatalf("STAT during the transfer: %d %q", code, text)
	}
	_, _ = io.WriteString(d, "queued")
	d.Close()
	c.expectReply(226)
	for range maxQueuedLines {
		c.expectReply(200)
	}
	c.expect("PWD", 257)
}

// expectReply reads one reply and fails unless its code is want.
func (c *ftpClient) expectReply(want int) string {
	c.t.Helper()
	code, text := c.read()
	if code != want {
		c.t.Fatalf("got %d %q, want %d", code, text, want)
	}
	return text
}
