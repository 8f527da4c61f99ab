package integration

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"net"
	"net/textproto"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ftp2s3/ftp2s3/gateway"
)

// timedReply is a reply and when it arrived.
type timedReply struct {
	code int
	at   time.Time
}

// timedReplies reads replies from r until the connection ends, stamping each
// with its arrival.
func timedReplies(r *bufio.Reader) <-chan timedReply {
	out := make(chan timedReply, 1024)
	go func() {
		defer close(out)
		tp := textproto.NewReader(r)
		for {
			code, _, err := tp.ReadResponse(0)
			if code == 0 && err != nil {
				return
			}
			out <- timedReply{code, time.Now()}
		}
	}()
	return out
}

// TestKeepaliveNOOPDuringLongUpload: a client sending NOOP every 0.2 s during
// an 8 s upload (the keepalive some clients send every few seconds) keeps its
// upload: 226 with every byte, then one 200 per NOOP. No 200 comes before the
// 226 (the order clients match replies in: session/transfer.go duringTransfer).
// The old session cut it off at the 17th NOOP with 426 and 421.
func TestKeepaliveNOOPDuringLongUpload(t *testing.T) {
	t.Parallel()
	g := startGateway(t, smallParts)
	r := rawLogin(t, g.Addr, userRW)
	data := r.data()
	r.send("STOR kept-alive.bin")
	r.expect(150)
	replies := timedReplies(bufio.NewReader(r.c))

	// 12 MiB in 48 writes of 256 KiB, one every 1/6 s: about 8 s, three parts.
	const chunk, chunks = 256 << 10, 48
	h := sha256.New()
	src := newPattern(chunk*chunks, 20)
	stop := make(chan struct{})
	var sentNoops atomic.Int64
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(200 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				if _, err := io.WriteString(r.c, "NOOP\r\n"); err != nil {
					return
				}
				sentNoops.Add(1)
			}
		}
	}()
	start := time.Now()
	buf := make([]byte, chunk)
	for i := range chunks {
		if _, err := io.ReadFull(src, buf); err != nil {
			t.Fatal(err)
		}
		h.Write(buf)
		if _, err := data.Write(buf); err != nil {
			t.Fatalf("data write %d (after %d NOOPs): %v", i, sentNoops.Load(), err)
		}
		time.Sleep(time.Second / 6) // the throttled client is the case under test
	}
	close(stop)
	wg.Wait()
	closed := time.Now()
	noops := int(sentNoops.Load())
	if err := data.Close(); err != nil {
		t.Fatal(err)
	}
	t.Logf("upload of %d MiB took %s with %d NOOPs sent during it", chunk*chunks>>20, closed.Sub(start).Round(time.Millisecond), noops)
	if noops < 30 {
		t.Fatalf("only %d NOOPs were sent during the upload", noops)
	}

	var got []int
	for len(got) < noops+1 {
		select {
		case rep, ok := <-replies:
			if !ok {
				t.Fatalf("control connection ended after replies %v", got)
			}
			if rep.at.Before(closed) {
				t.Fatalf("reply %d came during the upload, before the data connection was closed (replies so far %v)", rep.code, append(got, rep.code))
			}
			got = append(got, rep.code)
		case <-time.After(time.Minute):
			t.Fatalf("after %d NOOPs, replies %v; want 226 then %d × 200", noops, got, noops)
		}
	}
	if got[0] != 226 {
		t.Fatalf("first reply after the upload: %d (all: %v), want 226", got[0], got)
	}
	for i, c := range got[1:] {
		if c != 200 {
			t.Fatalf("reply %d after the 226: %d, want 200 (all: %v)", i+1, c, got)
		}
	}
	g.mustHold("kept-alive.bin", hex.EncodeToString(h.Sum(nil)), chunk*chunks)
	g.noPending()
}

// floodUntilStalled writes lines made by line(i) to c until a write has waited
// a second: the server stopped reading. It then finishes the line it was
// writing (once the server reads again) and reports on done how many whole
// lines were sent. stalled is closed at the stall.
func floodUntilStalled(c net.Conn, max int, line func(i int) []byte) (stalled <-chan struct{}, done <-chan int) {
	st, dn := make(chan struct{}), make(chan int, 1)
	go func() {
		sent := 0
		defer func() { dn <- sent }()
		for ; sent < max; sent++ {
			l := line(sent)
			_ = c.SetWriteDeadline(time.Now().Add(time.Second))
			n, err := c.Write(l)
			if err == nil {
				continue
			}
			var ne net.Error
			if !errors.As(err, &ne) || !ne.Timeout() {
				return // the server closed the connection: no backpressure
			}
			close(st)
			_ = c.SetWriteDeadline(time.Now().Add(2 * time.Minute))
			if _, err := c.Write(l[n:]); err == nil {
				sent++
			}
			return
		}
	}()
	return st, dn
}

// TestKeepaliveFloodDuringUploadBackpressure: a client that sends thousands of
// distinct 8 KiB lines during an upload is neither cut off nor held in memory:
// once the queue is full the gateway stops reading (the client's writes stall
// after what the kernel's socket buffers take), the upload still ends in 226
// with every byte, and every line the client got out is then answered, in
// order. The old session ended with 426 and 421 at the 17th line.
func TestKeepaliveFloodDuringUploadBackpressure(t *testing.T) {
	t.Parallel()
	g := startGateway(t, smallParts)
	r := rawLogin(t, g.Addr, userRW)
	data := r.data()
	r.send("STOR flooded.bin")
	r.expect(150)
	const size = smallPart + smallPart/2 // two parts: the multipart upload exists during the flood
	src := newPattern(size, 21)
	sum, _ := sha256Of(newPattern(size, 21))
	if _, err := io.CopyN(data, src, smallPart); err != nil {
		t.Fatal(err)
	}

	const offered, lineSize = 20000, 8 << 10 // 160 MiB of commands
	pad := strings.Repeat("x", lineSize)
	stalled, done := floodUntilStalled(r.c, offered, func(i int) []byte {
		l := "NOOP " + strconv.Itoa(i) + " "
		return []byte(l + pad[:lineSize-len(l)-2] + "\r\n")
	})
	select {
	case <-stalled:
	case sent := <-done:
		t.Fatalf("the flood ended after %d of %d lines without stalling: the gateway read them all or closed the connection", sent, offered)
	}
	if _, err := io.Copy(data, src); err != nil {
		t.Fatal(err)
	}
	data.Close()
	codes := replyCodes(bufio.NewReader(r.c))
	sent := <-done
	// What the gateway took before it stopped reading is its queue (64 KiB) and
	// what the kernel's buffers on both sides hold: far below what was offered.
	t.Logf("the client got %d lines (%d MiB) out before its writes stalled, of %d offered", sent, sent*lineSize>>20, offered)
	if sent*lineSize > 32<<20 {
		t.Fatalf("the gateway took %d MiB of commands during the transfer before the client stalled", sent*lineSize>>20)
	}
	if c := <-codes; c != 226 {
		t.Fatalf("the upload's reply: %d, want 226", c)
	}
	for i := range sent {
		if c, ok := <-codes; c != 200 || !ok {
			t.Fatalf("reply %d of %d to the flooded lines: %d (open %v), want 200", i+1, sent, c, ok)
		}
	}
	r.send("PWD")
	if c := <-codes; c != 257 {
		t.Fatalf("PWD after the flood: %d, want 257", c)
	}
	g.mustHold("flooded.bin", sum, size)
	g.noPending()
}

// stallingS3 is an S3 endpoint that accepts TCP connections, reads what is
// sent, and never answers: what a hung S3 or a black-holing middlebox looks like.
func stallingS3(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			go func() { _, _ = io.Copy(io.Discard, c) }()
		}
	}()
	t.Cleanup(func() {
		l.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	return "http://" + l.Addr().String()
}

// stalledGateway is a gateway whose S3 never answers, with a command deadline
// of 1 s + 1 s (FTP2S3_S3_RETRY_FOR + FTP2S3_S3_ATTEMPT_TIMEOUT).
func stalledGateway(t *testing.T, mutate ...func(*gateway.Config)) *testGateway {
	endpoint := stallingS3(t)
	return startGateway(t, append([]func(*gateway.Config){func(c *gateway.Config) {
		c.S3.Endpoint = endpoint
		c.S3RetryFor = time.Second
		c.S3AttemptTimeout = time.Second
	}}, mutate...)...)
}

// stalledLimit is how long a test accepts to wait for a reply from a stalled
// gateway: the command deadline (2 s) and generous slack for a loaded machine.
const stalledLimit = 10 * time.Second

// timedAsk sends a command and returns its reply's code and how long it took.
func timedAsk(r *ftpRaw, format string, args ...any) (int, string, time.Duration) {
	start := time.Now()
	r.send(format, args...)
	code, msg, err := r.reply(time.Minute)
	if err != nil && code == 0 {
		msg = err.Error()
	}
	return code, msg, time.Since(start)
}

// TestStalledS3CommandsGet4xx: with an S3 that accepts connections and never
// answers, SIZE, CWD, MDTM, LIST, RETR and STOR each get a 4xx within the
// command deadline;
// the session then still answers ABOR and QUIT. The old session waited for S3
// forever.
func TestStalledS3CommandsGet4xx(t *testing.T) {
	t.Parallel()
	g := stalledGateway(t)
	r := rawLogin(t, g.Addr, userRW)
	for _, cmd := range []string{"SIZE a.bin", "CWD somewhere", "MDTM a.bin", "LIST", "RETR a.bin", "STOR b.bin"} {
		var data net.Conn
		if verb, _, _ := strings.Cut(cmd, " "); verb == "LIST" || verb == "RETR" || verb == "STOR" {
			data = r.data()
			defer data.Close()
		}
		start := time.Now()
		code, msg, _ := timedAsk(r, "%s", cmd)
		if code == 150 { // the command became a transfer: its S3 requests fail in it
			if cmd == "STOR b.bin" {
				_, _ = io.WriteString(data, "hello")
				data.Close()
			}
			code, msg, _ = r.reply(time.Minute)
		}
		waited := time.Since(start)
		t.Logf("%s with S3 never answering: %d %q after %s", cmd, code, msg, waited.Round(time.Millisecond))
		if code < 400 || code >= 500 {
			t.Fatalf("%s: %d %q, want a 4xx", cmd, code, msg)
		}
		if waited > stalledLimit {
			t.Fatalf("%s: the reply took %s (limit %s)", cmd, waited, stalledLimit)
		}
	}
	if code, msg := r.ask("ABOR"); code != 225 && code != 226 {
		t.Fatalf("ABOR after the stalled commands: %d %q, want 225 or 226", code, msg)
	}
	r.cmd(221, "QUIT")
}

// TestStalledS3IdleTimeoutAndShutdown: a session stalled on S3 is answered in
// time, then its idle timer closes it; another one stalled when Shutdown
// starts is answered and closed by the drain, and Shutdown returns well within
// its grace.
func TestStalledS3IdleTimeoutAndShutdown(t *testing.T) {
	t.Parallel()
	g := stalledGateway(t, func(c *gateway.Config) { c.IdleTimeout = 3 * time.Second })

	idle := rawLogin(t, g.Addr, userRW)
	if code, msg, waited := timedAsk(idle, "SIZE idle.bin"); code != 451 || waited > stalledLimit {
		t.Fatalf("SIZE: %d %q after %s, want 451 within %s", code, msg, waited, stalledLimit)
	}
	if closed, last := idle.closedWithin(stalledLimit); !closed || !strings.HasPrefix(last, "421") {
		t.Fatalf("after the 451 the idle timer did not close the session: closed %v, last %q", closed, last)
	}

	r := rawLogin(t, g.Addr, userRW)
	r.send("SIZE drain.bin")
	g.waitLog("command", "SIZE drain.bin") // the command runs: the session is not idle
	shut := make(chan error, 1)
	start := time.Now()
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		shut <- g.GW.Shutdown(ctx)
	}()
	r.expect(451)
	r.expect(421)
	select {
	case err := <-shut:
		t.Logf("Shutdown with a session stalled on S3 returned after %s", time.Since(start).Round(time.Millisecond))
		if err != nil {
			t.Fatalf("Shutdown: %v", err)
		}
	case <-time.After(stalledLimit):
		t.Fatalf("Shutdown had not returned %s after it started", stalledLimit)
	}
}
