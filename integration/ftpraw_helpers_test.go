package integration

import (
	"bufio"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/textproto"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ftp2s3/ftp2s3/internal/testkit"
)

// ftpRaw is a control connection driven line by line, for what client
// libraries hide or will not do: exact reply codes and orders, commands at a
// chosen moment, vanishing mid-transfer, pipelining, floods. It is the only raw
// FTP client of the integration tests.
type ftpRaw struct {
	t  *testing.T
	c  net.Conn
	tp *textproto.Conn
}

// rawDial connects to addr without reading the greeting.
func rawDial(t *testing.T, addr string) *ftpRaw {
	t.Helper()
	return rawDialFrom(t, addr, "")
}

// rawDialFrom connects to addr from the local address local (empty: any),
// without reading the greeting.
func rawDialFrom(t *testing.T, addr, local string) *ftpRaw {
	t.Helper()
	d := net.Dialer{Timeout: 10 * time.Second}
	if local != "" {
		d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(local)}
	}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return &ftpRaw{t: t, c: c, tp: textproto.NewConn(c)}
}

// rawLogin connects to addr, reads the greeting and logs in as user.
func rawLogin(t *testing.T, addr, user string) *ftpRaw {
	t.Helper()
	r := rawDial(t, addr)
	r.expect(220)
	r.login(user)
	return r
}

func (r *ftpRaw) login(user string) {
	r.t.Helper()
	r.cmd(331, "USER %s", user)
	r.cmd(230, "PASS %s", testPassword)
}

// reply reads one reply within limit, whatever its code.
func (r *ftpRaw) reply(limit time.Duration) (int, string, error) {
	_ = r.c.SetReadDeadline(time.Now().Add(limit))
	return r.tp.ReadResponse(0)
}

// read returns the next reply's code and text; code 0 and the error's text when
// the connection ended or nothing came within a minute.
func (r *ftpRaw) read() (int, string) {
	code, msg, err := r.reply(time.Minute)
	if err != nil && code == 0 {
		return 0, err.Error()
	}
	return code, msg
}

// expect reads one reply and fails the test unless its code is want.
func (r *ftpRaw) expect(want int) string {
	r.t.Helper()
	code, msg := r.read()
	if code != want {
		r.t.Fatalf("got %d %q, want %d", code, msg, want)
	}
	return msg
}

// send writes one command line.
func (r *ftpRaw) send(format string, args ...any) {
	r.t.Helper()
	if err := r.tp.PrintfLine(format, args...); err != nil {
		r.t.Fatalf("send %q: %v", verbOf(format, args...), err)
	}
}

// ask sends a command and returns the reply's code and text (code 0 and the
// error's text when the connection ended).
func (r *ftpRaw) ask(format string, args ...any) (int, string) {
	if err := r.tp.PrintfLine(format, args...); err != nil {
		return 0, err.Error()
	}
	return r.read()
}

// cmd sends a command and fails the test unless the reply's code is want.
func (r *ftpRaw) cmd(want int, format string, args ...any) string {
	r.t.Helper()
	code, msg := r.ask(format, args...)
	if code != want {
		r.t.Fatalf("%s: got %d %q, want %d", verbOf(format, args...), code, msg, want)
	}
	return msg
}

func verbOf(format string, args ...any) string {
	if f := strings.Fields(fmt.Sprintf(format, args...)); len(f) > 0 {
		return f[0]
	}
	return "(empty line)"
}

var (
	pasvRe = regexp.MustCompile(`\((\d+),(\d+),(\d+),(\d+),(\d+),(\d+)\)`)
	epsvRe = regexp.MustCompile(`\(\|\|\|(\d+)\|\)`)
)

// pasv sends PASV and returns the announced address.
func (r *ftpRaw) pasv() string {
	r.t.Helper()
	m := pasvRe.FindStringSubmatch(r.cmd(227, "PASV"))
	if m == nil {
		r.t.Fatal("227 reply without h1,h2,h3,h4,p1,p2")
	}
	n := make([]int, 6)
	for i := range n {
		n[i], _ = strconv.Atoi(m[i+1])
	}
	return net.JoinHostPort(fmt.Sprintf("%d.%d.%d.%d", n[0], n[1], n[2], n[3]), strconv.Itoa(n[4]<<8|n[5]))
}

// epsv sends EPSV and returns the announced port.
func (r *ftpRaw) epsv() int {
	r.t.Helper()
	msg := r.cmd(229, "EPSV")
	m := epsvRe.FindStringSubmatch(msg)
	if m == nil {
		r.t.Fatalf("229 reply without (|||port|): %q", msg)
	}
	port, _ := strconv.Atoi(m[1])
	return port
}

// epsvAddr sends EPSV and returns the address to connect to: the control
// connection's host with the announced port.
func (r *ftpRaw) epsvAddr() string {
	r.t.Helper()
	port := r.epsv()
	host, _, _ := net.SplitHostPort(r.c.RemoteAddr().String())
	return net.JoinHostPort(host, strconv.Itoa(port))
}

// data opens a passive data connection (EPSV) for the next transfer command.
func (r *ftpRaw) data() net.Conn {
	r.t.Helper()
	return dialData(r.t, r.epsvAddr())
}

// startTLS upgrades the connection after a 234.
func (r *ftpRaw) startTLS(conf *tls.Config) {
	r.t.Helper()
	tc := tls.Client(r.c, conf)
	if err := tc.Handshake(); err != nil {
		r.t.Fatalf("TLS handshake: %v", err)
	}
	r.c = tc
	r.tp = textproto.NewConn(tc)
}

// closedWithin reports whether the server closes the connection within d
// (reading and discarding whatever it sends first), and what it sent last.
func (r *ftpRaw) closedWithin(d time.Duration) (bool, string) {
	_ = r.c.SetReadDeadline(time.Now().Add(d))
	br := bufio.NewReader(r.c)
	last := ""
	for {
		l, err := br.ReadString('\n')
		if l != "" {
			last = strings.TrimSpace(l)
		}
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				return false, last
			}
			return true, last
		}
	}
}

// loginTimeoutWitness opens a connection that never logs in and waits until
// the login timeout closes it with 421. Once it returns, the login timeout of
// every connection opened before has passed too: a check that such a session
// survived it is no longer vacuous.
func loginTimeoutWitness(t *testing.T, addr string) {
	t.Helper()
	w := rawDial(t, addr)
	w.expect(220)
	if closed, last := w.closedWithin(20 * time.Second); !closed || !strings.HasPrefix(last, "421") {
		t.Fatalf("witness connection: closed %v, last line %q; want 421 and close", closed, last)
	}
}

// dialData connects to a passive data address; the connection closes with the test.
func dialData(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		t.Fatalf("data connection to %s: %v", addr, err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// dialDataFrom connects to a passive port of host from the local address from
// (empty: any).
func dialDataFrom(t *testing.T, from, host string, port int) (net.Conn, error) {
	t.Helper()
	d := net.Dialer{Timeout: 5 * time.Second}
	if from != "" {
		d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(from)}
	}
	return d.Dial("tcp", net.JoinHostPort(host, strconv.Itoa(port)))
}

// eventually and waitUntil are the kit's poll helper, under the names the
// tests here use.
var (
	eventually = testkit.Eventually
	waitUntil  = testkit.WaitUntil
)

// waitLog waits until a line of the gateway's log holds every one of parts.
func (g *testGateway) waitLog(parts ...string) {
	g.t.Helper()
	waitUntil(g.t, fmt.Sprintf("a log line with %q", parts), 20*time.Second, func() bool {
		for _, l := range strings.Split(g.Logs.String(), "\n") {
			if containsAll(l, parts) {
				return true
			}
		}
		return false
	})
}

func containsAll(s string, parts []string) bool {
	for _, p := range parts {
		if !strings.Contains(s, p) {
			return false
		}
	}
	return true
}
