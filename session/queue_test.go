package session

import (
	"io"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ftp2s3/ftp2s3/session/sessiontest"
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
			if depth := sessiontest.ExecuteDepth(); depth > 1 {
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

// TestCommandFloodDuringTransfer: a client that keeps sending commands during an
// upload is cut off once it has queued more than the bound: 426 for the upload,
// 421, the connection closed, and nothing stored.
func TestCommandFloodDuringTransfer(t *testing.T) {
	fs, c, d := startUpload(t, "flood")
	_, _ = io.WriteString(d, "partial")
	line := "NOOP " + strings.Repeat("x", 1000)
	sent := 0
	for ; sent < 1000; sent++ {
		if _, err := io.WriteString(c.conn, line+"\r\n"); err != nil {
			break
		}
	}
	if code, text := c.read(); code != 426 {
		t.Fatalf("upload's reply after the flood: %d %q, want 426", code, text)
	}
	if code, text := c.read(); code != 421 {
		t.Fatalf("reply after the flood: %d %q, want 421", code, text)
	}
	_ = c.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	if n, err := io.Copy(io.Discard, c.r); err != nil && !isReset(err) || n != 0 {
		t.Fatalf("after 421: %d more bytes, %v", n, err)
	}
	if _, ok := fs.object("b", "flood"); ok {
		t.Fatal("the interrupted upload was stored")
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

func isReset(err error) bool { return strings.Contains(err.Error(), "connection reset") }

// expectReply reads one reply and fails unless its code is want.
func (c *ftpClient) expectReply(want int) string {
	c.t.Helper()
	code, text := c.read()
	if code != want {
		c.t.Fatalf("got %d %q, want %d", code, text, want)
	}
	return text
}
