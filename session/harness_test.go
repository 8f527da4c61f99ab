package session

import (
	"bufio"
	"context"
	"io"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"
)

// testAuth knows four users with password "pw": alice (read-write, home bucket
// "b"), reader (read-only, home "b"), root (every bucket) and jail (read-write,
// home jailHome, a bucket/prefix).
type testAuth struct{}

// jailHome is the home of the test user jail.
var jailHome = Home{Bucket: "b", Prefix: "home/jail"}

// boxedHome is the home of the test user boxed: every bucket, limited to "b"
// and "gone" (which storage does not hold) as FTP2S3_BUCKETS does.
var boxedHome = Home{Allowed: NewBucketSet("b", "gone")}

func (testAuth) Authenticate(_ context.Context, name, password string) (*User, error) {
	if password != "pw" {
		return nil, ErrAuthFailed
	}
	switch name {
	case "alice":
		return &User{Name: name, Home: Home{Bucket: "b"}}, nil
	case "reader":
		return &User{Name: name, Home: Home{Bucket: "b"}, ReadOnly: true}, nil
	case "root":
		return &User{Name: name}, nil
	case "jail":
		return &User{Name: name, Home: jailHome}, nil
	case "boxed":
		return &User{Name: name, Home: boxedHome}, nil
	}
	return nil, ErrAuthFailed
}

// loopData opens data connections on loopback: a passive port per request and
// active dials to whatever the test names.
type loopData struct{}

func (loopData) ListenPassive(context.Context, ConnInfo) (PassiveListener, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	return &loopListener{l: l}, nil
}

func (loopData) CheckActive(ConnInfo, *net.TCPAddr) error { return nil }

func (loopData) DialActive(ctx context.Context, _ ConnInfo, target *net.TCPAddr) (net.Conn, error) {
	var d net.Dialer
	return d.DialContext(ctx, "tcp", target.String())
}

type loopListener struct{ l net.Listener }

func (p *loopListener) Advertised() *net.TCPAddr { return p.l.Addr().(*net.TCPAddr) }
func (p *loopListener) Close() error             { return p.l.Close() }
func (p *loopListener) Accept(ctx context.Context) (net.Conn, error) {
	stop := context.AfterFunc(ctx, func() { _ = p.l.Close() })
	defer stop()
	return p.l.Accept()
}

// newBareSession is a session whose handlers tests call directly, to look at
// the state they leave.
func newBareSession(t *testing.T, fs FS, user *User) *Session {
	a, b := net.Pipe()
	t.Cleanup(func() { a.Close(); b.Close() })
	s := New(&Config{FS: fs, Auth: testAuth{}, Data: loopData{}, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}, a)
	s.base, s.ctx = t.Context(), t.Context()
	s.user = user
	return s
}

// ftpClient drives one Session over a loopback socket and reads its replies.
type ftpClient struct {
	t    *testing.T
	conn net.Conn
	r    *bufio.Reader
}

// startSession serves one session on fs and returns a client already past the
// 220 greeting. The session ends when the test does.
func startSession(t *testing.T, fs FS, tune ...func(*Config)) *ftpClient {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg := &Config{FS: fs, Auth: testAuth{}, Data: loopData{}, ActiveMode: true,
		DataTimeout: 5 * time.Second, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	for _, f := range tune {
		f(cfg)
	}
	done := make(chan struct{})
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		defer close(done)
		c, err := l.Accept()
		l.Close()
		if err != nil {
			return
		}
		New(cfg, c).Serve(ctx)
	}()
	conn, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		conn.Close()
		cancel()
		<-done
	})
	c := &ftpClient{t: t, conn: conn, r: bufio.NewReader(conn)}
	if code, text := c.read(); code != 220 {
		t.Fatalf("greeting %d %q", code, text)
	}
	return c
}

// login starts a session logged in as user.
func loginSession(t *testing.T, fs FS, user string) *ftpClient {
	t.Helper()
	c := startSession(t, fs)
	c.expect("USER "+user, 331)
	c.expect("PASS pw", 230)
	return c
}

// raw reads one complete reply as it was on the wire, CRLFs included.
func (c *ftpClient) raw() string {
	c.t.Helper()
	_ = c.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	var b strings.Builder
	first := ""
	for {
		l, err := c.r.ReadString('\n')
		b.WriteString(l)
		if err != nil {
			c.t.Fatalf("reading reply: %v (so far %q)", err, b.String())
		}
		if first == "" {
			first = l
			if len(l) < 4 || l[3] != '-' {
				return b.String()
			}
			continue
		}
		if len(l) >= 4 && l[:3] == first[:3] && l[3] == ' ' {
			return b.String()
		}
	}
}

// read returns a reply's code and its text (lines joined by "\n", codes and the
// CRLFs removed from the first and last line).
func (c *ftpClient) read() (int, string) {
	c.t.Helper()
	raw := c.raw()
	code, err := strconv.Atoi(raw[:3])
	if err != nil {
		c.t.Fatalf("reply without a code: %q", raw)
	}
	lines := strings.Split(strings.TrimRight(raw, "\r\n"), "\r\n")
	lines[0] = lines[0][4:]
	if n := len(lines); n > 1 {
		lines[n-1] = lines[n-1][4:]
	}
	return code, strings.Join(lines, "\n")
}

// send writes one command line.
func (c *ftpClient) send(line string) {
	c.t.Helper()
	if _, err := io.WriteString(c.conn, line+"\r\n"); err != nil {
		c.t.Fatal(err)
	}
}

// cmd sends a command and returns its reply.
func (c *ftpClient) cmd(line string) (int, string) {
	c.t.Helper()
	c.send(line)
	return c.read()
}

// expect sends a command and fails the test unless the reply has code want.
func (c *ftpClient) expect(line string, want int) string {
	c.t.Helper()
	code, text := c.cmd(line)
	if code != want {
		c.t.Fatalf("%s: got %d %q, want %d", line, code, text, want)
	}
	return text
}

// pasv sends EPSV and connects to the announced port.
func (c *ftpClient) pasv() net.Conn {
	c.t.Helper()
	return dialEPSV(c.t, c.expect("EPSV", 229))
}

// dialEPSV connects to the port a 229 reply's text announces.
func dialEPSV(t *testing.T, text string) net.Conn {
	t.Helper()
	i := strings.Index(text, "(|||")
	port, err := strconv.Atoi(strings.TrimSuffix(text[i+4:], "|)"))
	if i < 0 || err != nil {
		t.Fatalf("EPSV reply %q", text)
	}
	d, err := net.Dial("tcp", "127.0.0.1:"+strconv.Itoa(port))
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// download runs a command that sends data (LIST, RETR, …) and returns the data
// and the final reply.
func (c *ftpClient) download(line string) (string, int, string) {
	c.t.Helper()
	d := c.pasv()
	defer d.Close()
	if code, text := c.cmd(line); code != 150 && code != 125 {
		return "", code, text
	}
	_ = d.SetReadDeadline(time.Now().Add(10 * time.Second))
	data, err := io.ReadAll(d)
	if err != nil {
		c.t.Fatalf("%s: reading data: %v", line, err)
	}
	code, text := c.read()
	return string(data), code, text
}

// downloadOK is download for a transfer that must succeed: it fails the test
// unless the final reply is 226, and returns the data.
func (c *ftpClient) downloadOK(line string) string {
	c.t.Helper()
	data, code, text := c.download(line)
	if code != 226 {
		c.t.Fatalf("%s: %d %s", line, code, text)
	}
	return data
}

// startUpload logs alice in on an empty bucket "b" and starts STOR name, leaving
// the transfer running: the test writes to (and closes) the data connection.
func startUpload(t *testing.T, name string) (*memFS, *ftpClient, net.Conn) {
	t.Helper()
	fs := newMemFS("b")
	c := loginSession(t, fs, "alice")
	d := c.pasv()
	t.Cleanup(func() { d.Close() })
	if code, text := c.cmd("STOR " + name); code != 150 {
		t.Fatalf("STOR %s: %d %q", name, code, text)
	}
	return fs, c, d
}

// upload runs a command that receives data (STOR, STOU, …) and returns the
// preliminary and the final reply.
func (c *ftpClient) upload(line, data string) (prelim string, code int, text string) {
	c.t.Helper()
	d := c.pasv()
	defer d.Close()
	pc, ptext := c.cmd(line)
	if pc != 150 && pc != 125 {
		return "", pc, ptext
	}
	if _, err := io.WriteString(d, data); err != nil {
		c.t.Fatal(err)
	}
	d.Close()
	code, text = c.read()
	return ptext, code, text
}
