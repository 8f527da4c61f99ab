package integration

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/ftp2s3/ftp2s3/gateway"
	"github.com/ftp2s3/ftp2s3/internal/testkit"
)

// rssBytes is the resident set size of this process (/proc/self/status VmRSS).
// The test gateway runs inside the test process, so this is the gateway's RSS
// plus the test's own, which the tests below keep small and constant.
func rssBytes(t *testing.T) uint64 {
	t.Helper()
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatalf("reading VmRSS: %v", err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			kb, err := strconv.ParseUint(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			if err != nil {
				t.Fatalf("VmRSS line %q: %v", l, err)
			}
			return kb << 10
		}
	}
	t.Fatal("no VmRSS in /proc/self/status")
	return 0
}

// rssPeak samples RSS every 10 ms until stop is called and returns the peak.
func rssPeak(t *testing.T) (stop func() uint64) {
	var peak atomic.Uint64
	done, finished := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(finished)
		for {
			if r := rssBytes(t); r > peak.Load() {
				peak.Store(r)
			}
			select {
			case <-done:
				return
			case <-time.After(10 * time.Millisecond):
			}
		}
	}()
	return func() uint64 { close(done); <-finished; return peak.Load() }
}

// replyCodes reads replies from r until the connection ends and sends their
// codes on the returned channel, which is closed at the end (timedReplies,
// without the times).
func replyCodes(r *bufio.Reader) <-chan int {
	out := make(chan int, 64)
	go func() {
		defer close(out)
		for tr := range timedReplies(r) {
			out <- tr.code
		}
	}()
	return out
}

// flood writes n command lines of size bytes to c until done or a write fails.
func flood(c net.Conn, n, size int) (sent int) {
	line := []byte("NOOP " + strings.Repeat("x", size-7) + "\r\n")
	_ = c.SetWriteDeadline(time.Now().Add(2 * time.Minute))
	for ; sent < n; sent++ {
		if _, err := c.Write(line); err != nil {
			break
		}
	}
	return sent
}

// TestCommandFloodDuringSlowDownload: 40,000 command lines of 8 KiB sent while a
// download trickles out must not pile up in the gateway: once its queue is full
// (session/queue.go) the session stops reading, so the client's writes stall,
// RSS stays within 64 MiB of where it was, the download still completes, every
// line the client got out is answered after it, and the gateway goes on
// serving new logins.
//
// It measures the resident memory of the whole test process, so it runs
// alone in a process of its own (inOwnProcess), in parallel with the other
// tests.
func TestCommandFloodDuringSlowDownload(t *testing.T) {
	if !inOwnProcess(t) {
		return
	}
	g := startGateway(t, func(c *gateway.Config) { c.DataTimeout = 2 * time.Minute })
	// Below one download chunk (a single streamed GET, no read-ahead buffers),
	// above what loopback socket buffers hold (so the download is still running
	// when the flood comes).
	const size = 15 << 20
	obj := make([]byte, size)
	if _, err := g.S3.PutObject(context.Background(), &s3.PutObjectInput{Bucket: aws.String(g.Bucket),
		Key: aws.String("slow.bin"), Body: bytes.NewReader(obj)}); err != nil {
		t.Fatal(err)
	}
	obj = nil

	r := rawLogin(t, g.Addr, userRW)
	data := r.data()
	if err := r.tp.PrintfLine("RETR slow.bin"); err != nil {
		t.Fatal(err)
	}
	r.expect(150)
	// The client reads about 40 KB/s, so the download outlasts the flood by
	// far; once the flood has stalled it drains what is left at full speed.
	slowDone := make(chan int64)
	var drain atomic.Bool
	go func() {
		var n int64
		buf := make([]byte, 4<<10)
		for {
			m, err := data.Read(buf)
			n += int64(m)
			if err != nil {
				slowDone <- n
				return
			}
			if !drain.Load() {
				time.Sleep(100 * time.Millisecond) // the slow reader is the case under test
			}
		}
	}()
	codes := replyCodes(bufio.NewReader(r.c))

	runtime.GC()
	debug.FreeOSMemory()
	base := rssBytes(t)
	stop := rssPeak(t)
	line := []byte("NOOP " + strings.Repeat("x", 8<<10-7) + "\r\n")
	stalled, done := floodUntilStalled(r.c, 40000, func(int) []byte { return line })
	select {
	case <-stalled:
	case sent := <-done:
		t.Fatalf("the flood ended after %d of 40000 lines without stalling", sent)
	}
	peak := stop()
	t.Logf("RSS before the flood %d MiB, peak until it stalled %d MiB (+%d MiB)",
		base>>20, peak>>20, (int64(peak)-int64(base))>>20)
	if peak > base+64<<20 {
		t.Errorf("RSS grew by %d MiB during the flood (limit 64 MiB)", (peak-base)>>20)
	}

	drain.Store(true)
	select {
	case n := <-slowDone:
		if n != size {
			t.Fatalf("the download ended after %d of %d bytes", n, size)
		}
	case <-time.After(time.Minute):
		t.Fatal("the download did not complete once the client read at full speed")
	}
	if c := <-codes; c != 226 {
		t.Fatalf("the download's reply after the flood: %d, want 226", c)
	}
	sent := <-done
	t.Logf("%d of 40000 lines written before the writes stalled", sent)
	for i := range sent {
		if c := <-codes; c != 200 {
			t.Fatalf("reply %d of %d to the flood: %d, want 200", i+1, sent, c)
		}
	}
	c := g.dial(userRW)
	if _, err := c.List("/"); err != nil {
		t.Fatalf("a new session after the flood: %v", err)
	}
}

// TestCommandFloodDuringUpload: a thousand commands during an upload that
// already has parts in S3 neither abort it nor end the session: the upload
// ends in 226 with every byte, then each command is answered.
func TestCommandFloodDuringUpload(t *testing.T) {
	t.Parallel()
	g := startGateway(t, smallParts)
	r := rawLogin(t, g.Addr, userRW)
	data := r.data()
	if err := r.tp.PrintfLine("STOR flooded.bin"); err != nil {
		t.Fatal(err)
	}
	r.expect(150)
	// More than one part, so the multipart upload exists when the flood comes.
	const size = smallPart + smallPart/2
	sum, _ := sha256Of(newPattern(size, 7))
	if _, err := io.Copy(data, newPattern(size, 7)); err != nil {
		t.Fatal(err)
	}
	codes := replyCodes(bufio.NewReader(r.c))
	sent := flood(r.c, 1000, 8<<10)
	data.Close()
	if c := <-codes; c != 226 {
		t.Fatalf("the upload's reply after the flood: %d, want 226", c)
	}
	for i := range sent {
		if c := <-codes; c != 200 {
			t.Fatalf("reply %d of %d to the flood: %d, want 200", i+1, sent, c)
		}
	}
	g.mustHold("flooded.bin", sum, size)
	g.noPending()
}

// TestPipelinedTransfersStayFlat pipelines 500 uploads the way a busy client
// does, sending the next EPSV and STOR before the running upload's data
// connection is closed. The session must run each from its one command loop:
// the old code ran queued commands from inside the previous transfer, one stack
// level per transfer, until Go's stack limit killed the process. The nesting
// depth is checked every 100 transfers, so the old code fails at the first
// check (2,000 transfers took minutes under -race in the parallel suite).
func TestPipelinedTransfersStayFlat(t *testing.T) {
	t.Parallel()
	g := startGateway(t)
	r := rawLogin(t, g.Addr, userRW)
	const n = 500
	data := r.data()
	if err := r.tp.PrintfLine("STOR p0"); err != nil {
		t.Fatal(err)
	}
	r.expect(150)
	for i := 1; i <= n; i++ {
		if err := r.tp.PrintfLine("EPSV"); err != nil {
			t.Fatal(err)
		}
		if i < n {
			if err := r.tp.PrintfLine("STOR p%d", i); err != nil {
				t.Fatal(err)
			}
		}
		if i%100 == 0 {
			if d := testkit.ExecuteDepth(); d > 1 {
				t.Fatalf("after %d pipelined transfers a session runs %d nested commands", i, d)
			}
		}
		_, _ = io.WriteString(data, "pipelined "+strconv.Itoa(i-1))
		data.Close()
		r.expect(226)
		msg := r.expect(229)
		if i == n {
			break
		}
		m := epsvRe.FindStringSubmatch(msg)
		if m == nil {
			t.Fatalf("EPSV reply %q", msg)
		}
		data = dialData(t, "127.0.0.1:"+m[1])
		r.expect(150)
	}
	r.cmd(200, "NOOP")
	if _, size, err := g.object("p" + strconv.Itoa(n-1)); err != nil || size != int64(len("pipelined "+strconv.Itoa(n-1))) {
		t.Fatalf("last pipelined upload: size %d, %v", size, err)
	}
}

// TestPrefixHomeRootIsADirectory: for a user whose home is bucket/jail, "/" is
// a directory and nothing else. The object whose key is exactly "jail" belongs
// to someone else: no command may read, replace, rename or delete it. (MinIO
// hides keys under jail/ while an object "jail" exists, so the home's own
// contents, its marker and RNTO / are checked in a second home, bucket/marked.)
func TestPrefixHomeRootIsADirectory(t *testing.T) {
	t.Parallel()
	g := startGateway(t, func(c *gateway.Config) {
		for _, u := range []string{"jail", "marked", "fresh"} {
			c.Users += "," + u + ":" + passwordHash(t) + ":" + string(c.Bucket) + "/" + u + ":rw"
		}
	})
	const secret = "the other user's object"
	g.putObject("jail", secret)
	g.putObject("fresh", secret)
	g.putObject("marked/", "")
	g.putObject("marked/inside.txt", "inside")
	wantSum, _ := sha256Of(strings.NewReader(secret))
	roots := []string{"/", "/.", "..", "/..", `\`, "./"}

	r := rawLogin(t, g.Addr, "jail")
	refused := func(r *ftpRaw, format string, args ...any) {
		t.Helper()
		if code, msg := r.ask(format, args...); code != 550 {
			t.Errorf("%q: %d %q, want 550", fmt.Sprintf(format, args...), code, msg)
		}
	}
	for _, p := range roots {
		for _, verb := range []string{"SIZE", "MDTM", "DELE", "RMD", "MKD", "RNFR", "HASH", "XCRC", "XMD5", "XSHA1", "XSHA256"} {
			refused(r, "%s %s", verb, p)
		}
		refused(r, "MFMT 20200101000000 %s", p)
		for _, verb := range []string{"RETR", "STOR", "APPE"} {
			d := r.data()
			refused(r, "%s %s", verb, p)
			d.Close()
		}
		r.cmd(350, "REST 3")
		refused(r, "STOR %s", p)
		if msg := r.cmd(250, "MLST %s", p); !strings.Contains(msg, "type=dir;") || strings.Contains(msg, "size=") {
			t.Errorf("MLST %s: %q, want a directory", p, msg)
		}
		if msg := r.cmd(213, "STAT %s", p); strings.Contains(msg, strconv.Itoa(len(secret))) {
			t.Errorf("STAT %s shows the object named like the prefix: %q", p, msg)
		}
		r.cmd(250, "CWD %s", p)
	}
	// STOU in the root stores a new object under the home, nowhere else.
	d := r.data()
	if err := r.tp.PrintfLine("STOU"); err != nil {
		t.Fatal(err)
	}
	msg := r.expect(150)
	_, _ = io.WriteString(d, "unique")
	d.Close()
	r.expect(226)
	if name := strings.TrimSpace(strings.TrimPrefix(msg, "FILE:")); strings.Contains(name, "/") {
		t.Errorf("STOU named %q", name)
	}
	c := g.dial("jail")
	if rc, err := c.Retr("/"); err == nil {
		b, _ := io.ReadAll(rc)
		rc.Close()
		t.Fatalf("RETR / with jlaffaye/ftp read %q", b)
	}
	if sum, _, err := g.object("jail"); err != nil || sum != wantSum {
		t.Fatalf("the object named like the prefix was changed or removed: %v", err)
	}

	// The home's contents and marker stay put whatever is done to "/".
	m := rawLogin(t, g.Addr, "marked")
	for _, p := range roots {
		refused(m, "RMD %s", p)
		refused(m, "DELE %s", p)
		m.cmd(350, "RNFR inside.txt")
		refused(m, "RNTO %s", p)
		if msg := m.cmd(213, "STAT %s", p); !strings.Contains(msg, "inside.txt") {
			t.Errorf("STAT %s: %q, want the home's listing", p, msg)
		}
	}
	if _, _, err := g.object("marked/"); err != nil {
		t.Fatalf("the home's marker was removed: %v", err)
	}
	if _, _, err := g.object("marked/inside.txt"); err != nil {
		t.Fatalf("the home's file was moved: %v", err)
	}
	if _, _, err := g.object("marked"); err == nil {
		t.Fatal("an object named like the prefix was created")
	}

	// A bucket/prefix home with no key under it yet is an empty directory, not
	// the object beside it.
	f := rawLogin(t, g.Addr, "fresh")
	f.cmd(250, "CWD /")
	f.cmd(550, "SIZE /")
	f.cmd(550, "DELE /")
	f.cmd(257, "MKD made")
	if _, _, err := g.object("fresh/made/"); err != nil {
		t.Fatalf("MKD in an empty prefix home: %v", err)
	}
	if sum, _, err := g.object("fresh"); err != nil || sum != wantSum {
		t.Fatalf("the object named like the empty home's prefix was changed or removed: %v", err)
	}
}

// TestHOSTOnceAndBoundedLogs: HOST is taken once (RFC 7151; a second gets 503),
// and no client-supplied string (HOST, CLNT, user names, paths, command lines)
// makes a log line long: 200 HOST lines of 8 KiB used to add 200 attributes to
// every later log line of the session.
func TestHOSTOnceAndBoundedLogs(t *testing.T) {
	t.Parallel()
	g := startGateway(t)
	r := rawDial(t, g.Addr)
	r.expect(220)
	big := strings.Repeat("h", 8000)
	r.cmd(220, "HOST ftp.example.com")
	for range 200 {
		r.cmd(503, "HOST %s", big)
	}
	r.cmd(200, "CLNT %s", big)
	r.cmd(331, "USER %s", big)
	r.cmd(530, "PASS wrong")
	r.cmd(331, "USER %s", userRW)
	r.cmd(230, "PASS %s", testPassword)
	r.cmd(550, "DELE %s", strings.Repeat("dir/", 225))
	r.cmd(502, "%s", big)
	r.cmd(221, "QUIT")
	waitUntil(t, "the session's end in the log", 10*time.Second, func() bool { return strings.Contains(g.Logs.String(), "session closed") })
	var sessionLines int
	for _, l := range strings.Split(g.Logs.String(), "\n") {
		if len(l) > 2048 {
			t.Fatalf("log line of %d bytes: %.200q…", len(l), l)
		}
		if strings.Contains(l, "host=ftp.example.com") {
			sessionLines++
		}
	}
	if sessionLines == 0 {
		t.Fatal("the accepted HOST never appeared in the session's log lines")
	}
}

// TestREINRestartsLoginTimeout: after REIN the session is logged out, so the
// login timeout applies again, as on a new connection.
func TestREINRestartsLoginTimeout(t *testing.T) {
	t.Parallel()
	g := startGateway(t, func(c *gateway.Config) { c.LoginTimeout = time.Second })
	r := rawLogin(t, g.Addr, userRW)
	// Stay logged in past the first login timeout: it must not end the session.
	loginTimeoutWitness(t, g.Addr)
	r.cmd(200, "NOOP")
	r.cmd(220, "REIN")
	if msg := r.expect(421); !strings.Contains(msg, "Login timeout") {
		t.Fatalf("421 after REIN: %q", msg)
	}
}
