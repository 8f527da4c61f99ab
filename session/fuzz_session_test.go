package session

import (
	"bufio"
	"context"
	"io"
	"log/slog"
	"net"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ftp2s3/ftp2s3/internal/testkit"
)

// oneUser authenticates exactly one user (password "pw"), so that a fuzzed
// script that logs in again after REIN stays in the same home.
type oneUser struct{ u User }

func (a oneUser) Authenticate(_ context.Context, name, password string) (*User, error) {
	if name != a.u.Name || password != "pw" {
		return nil, ErrAuthFailed
	}
	u := a.u
	return &u, nil
}

// fuzzUsers are the homes FuzzSession logs into: a bucket/prefix (with the
// object named like the prefix beside it, see rootFS), a bucket, every bucket.
var fuzzUsers = []User{
	{Name: "jail", Home: jailHome},
	{Name: "alice", Home: Home{Bucket: "b"}},
	{Name: "root"},
}

// fuzzSentinel follows every script line: its reply ends the replies to read.
const fuzzSentinel = "HELP ZZSENTINEL"

var (
	replyLineRe = regexp.MustCompile(`^(\d{3}[ -]| )[^\r\n]*\r\n$`)
	epsvPortRe  = regexp.MustCompile(`\(\|\|\|(\d+)\|\)`)
	pasvPortRe  = regexp.MustCompile(`\((?:\d+,){4}(\d+),(\d+)\)`)
)

// FuzzSession drives a whole session over a socket, as a client would: log in,
// then run the script's lines one by one (a line starting with "&" goes out
// together with the next one, so commands also arrive during transfers). After
// every line it checks that nothing panicked, that every reply line is one
// well-formed CRLF-terminated line, that every storage call stayed inside the
// home and never touched the object named like a bucket/prefix home's prefix
// (nor removed the home's marker); after the session, that no goroutine of it
// is left.
func FuzzSession(f *testing.F) {
	for _, seed := range []struct {
		user   uint8
		script string
	}{
		{0, "SIZE /\nRETR /\nEPSV\nRETR /\nDELE /\nRMD /\nMLST /\nRNFR inside.txt\nRNTO /"},
		{0, "EPSV\nSTOR /.\nEPSV\nAPPE /\nEPSV\nSTOU\nHASH /\nXSHA256 ..\nMDTM /..\nSTAT /\nEPSV\nLIST /"},
		{0, "EPSV\n&STOR up\nSTAT\nEPSV\n&RETR inside.txt\n\xff\xf4\xff\xf2ABOR\nNOOP"},
		{0, "EPSV\n&STOR q\nNOOP\nEPSV\nRETR inside.txt\nEPSV\nMLSD\nCWD ..\nCDUP\nPWD"},
		{1, "MKD d\nCWD d\nEPSV\nSTOR f\nRNFR f\nRNTO ../g\nREST 1\nEPSV\nRETR ../g\nTYPE A\nSIZE /g"},
		{2, "CWD /b\nEPSV\nSTOR /b/x\nDELE /b\nRMD /b\nRNFR /b/x\nRNTO /other\nMKD /newbucket\nEPSV\nNLST /"},
		{0, "REIN\nHOST a.example\nHOST b.example\nUSER jail\nPASS pw\nOPTS MLST type;\nMLST\nSITE CHMOD 600 /\nALLO 99999999999999"},
		{1, "EPSV ALL\nPASV\nPORT 127,0,0,1,4,1\nEPRT |1|127.0.0.1|1025|\nAUTH TLS\nPBSZ 0\nPROT P\nFEAT\nHELP\nQUIT"},
	} {
		f.Add(seed.user, seed.script)
	}
	f.Fuzz(func(t *testing.T, which uint8, script string) {
		user := fuzzUsers[int(which)%len(fuzzUsers)]
		lines := strings.Split(script, "\n")
		if len(lines) > 40 {
			lines = lines[:40]
		}
		before := runtime.NumGoroutine()
		fs := rootFS()
		fs.put("b", "top", "x", goldenNow)
		fs.buckets["other"] = map[string]*memObject{}
		logs := &lockedBuffer{}
		fc := startFuzzSession(t, fs, user, logs)
		fc.login()
		checkConfined(t, fs.touched(), user.Home, "login")
		for i := 0; i < len(lines) && !fc.closed; i++ {
			group := []string{lines[i]}
			for strings.HasPrefix(group[len(group)-1], "&") && i+1 < len(lines) {
				group[len(group)-1] = group[len(group)-1][1:]
				i++
				group = append(group, lines[i])
			}
			fc.run(group)
			if strings.Contains(logs.String(), "panicked") {
				t.Fatalf("after %q: a panic was logged:\n%s", group, logs.String())
			}
			checkConfined(t, fs.touched(), user.Home, strconv.Quote(strings.Join(group, " | ")))
			if got, ok := fs.object("b", "home/jail"); !ok || got != "not yours" {
				t.Fatalf("after %q: the object named like the prefix is %q, %v", group, got, ok)
			}
			if _, ok := fs.object("b", "home/jail/"); !ok && user.Name == "jail" {
				t.Fatalf("after %q: the home's marker was removed", group)
			}
		}
		fc.end()
		// Every goroutine of the session (reader, transfer, passive accept) is
		// gone once Serve has returned.
		if !testkit.Eventually(5*time.Second, func() bool { return runtime.NumGoroutine() <= before }) {
			buf := make([]byte, 1<<20)
			t.Fatalf("%d goroutines before the session, %d after:\n%s", before, runtime.NumGoroutine(), buf[:runtime.Stack(buf, true)])
		}
	})
}

// fuzzClient is FuzzSession's side of the connection.
type fuzzClient struct {
	t      *testing.T
	user   User
	conn   net.Conn
	r      *bufio.Reader
	data   net.Conn // connected to the last announced passive port
	served chan struct{}
	closed bool // the server ended the session (221, 421 or EOF)
}

func startFuzzSession(t *testing.T, fs FS, user User, logs *lockedBuffer) *fuzzClient {
	t.Helper()
	client, server := testkit.TCPPair(t)
	cfg := &Config{FS: fs, Auth: oneUser{user}, Data: loopData{}, DataTimeout: time.Second,
		Logger: slog.New(slog.NewTextHandler(logs, nil))}
	fc := &fuzzClient{t: t, user: user, conn: client, r: bufio.NewReader(client), served: make(chan struct{})}
	go func() {
		defer close(fc.served)
		New(cfg, server).Serve(context.Background())
	}()
	fc.replies(nil)
	return fc
}

func (fc *fuzzClient) login() {
	fc.run([]string{"USER " + fc.user.Name, "PASS pw"})
}

// run sends lines and the sentinel, then reads and checks every reply up to
// the sentinel's, serving data connections on the way.
func (fc *fuzzClient) run(lines []string) {
	fc.t.Helper()
	var b strings.Builder
	for _, l := range lines {
		b.WriteString(l + "\r\n")
	}
	b.WriteString(fuzzSentinel + "\r\n")
	_ = fc.conn.SetWriteDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(fc.conn, b.String()); err != nil {
		fc.closed = true // the server hung up (QUIT, 421) while we wrote
		return
	}
	fc.replies(func(text string) bool { return strings.Contains(text, "ZZSENTINEL") })
}

// replies reads replies until done says one was the last (nil: just one).
func (fc *fuzzClient) replies(done func(string) bool) {
	fc.t.Helper()
	for {
		code, text, ok := fc.reply()
		if !ok || code == 221 || code == 421 {
			fc.closed = true
			return
		}
		switch {
		case code == 229 || code == 227:
			fc.connectData(code, text)
		case code >= 100 && code < 200:
			fc.serveData()
		}
		if done == nil || done(text) {
			return
		}
	}
}

// reply reads one reply and checks its lines' form.
func (fc *fuzzClient) reply() (int, string, bool) {
	fc.t.Helper()
	_ = fc.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	var lines []string
	for {
		l, err := fc.r.ReadString('\n')
		if err != nil {
			if l != "" || len(lines) > 0 || !isClosed(err) {
				fc.t.Fatalf("reading a reply: %v (got %q then %q)", err, lines, l)
			}
			return 0, "", false
		}
		if !replyLineRe.MatchString(l) {
			fc.t.Fatalf("malformed reply line %q", l)
		}
		lines = append(lines, l)
		first := lines[0]
		if first[3] == ' ' || len(lines) > 1 && strings.HasPrefix(l, first[:3]+" ") {
			code, _ := strconv.Atoi(first[:3])
			return code, strings.Join(lines, ""), true
		}
	}
}

func isClosed(err error) bool {
	return err == io.EOF || strings.Contains(err.Error(), "connection reset")
}

// connectData connects to the port a 227 or 229 reply announces.
func (fc *fuzzClient) connectData(code int, text string) {
	port := 0
	if m := epsvPortRe.FindStringSubmatch(text); code == 229 && m != nil {
		port, _ = strconv.Atoi(m[1])
	} else if m := pasvPortRe.FindStringSubmatch(text); code == 227 && m != nil {
		hi, _ := strconv.Atoi(m[1])
		lo, _ := strconv.Atoi(m[2])
		port = hi<<8 | lo
	}
	if fc.data != nil {
		fc.data.Close()
		fc.data = nil
	}
	if port == 0 {
		return
	}
	if d, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(port), 5*time.Second); err == nil {
		fc.data = d
	}
}

// serveData plays the client's part of a transfer: a few bytes for an upload,
// then everything the server sends for a download.
func (fc *fuzzClient) serveData() {
	d := fc.data
	fc.data = nil
	if d == nil {
		return
	}
	defer d.Close()
	_ = d.SetDeadline(time.Now().Add(5 * time.Second))
	_, _ = io.WriteString(d, "fuzz\r\ndata\n")
	_ = d.(*net.TCPConn).CloseWrite()
	_, _ = io.Copy(io.Discard, d)
}

// end closes the client's side and waits for Serve to return.
func (fc *fuzzClient) end() {
	if fc.data != nil {
		fc.data.Close()
	}
	fc.conn.Close()
	select {
	case <-fc.served:
	case <-time.After(10 * time.Second):
		fc.t.Fatal("Serve did not return after the client closed the connection")
	}
}
