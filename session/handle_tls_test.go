package session

import (
	"bufio"
	"context"
	"crypto/tls"
	"net"
	"net/textproto"
	"strings"
	"testing"
	"time"

	"github.com/ftp2s3/ftp2s3/internal/testkit"
)

func testTLSConfig(t *testing.T) *tls.Config { return testkit.NewCert(t, 1).ServerConfig() }

// servePipe serves a session with cfg over an in-memory connection and returns
// the client's end; the session ends with the test.
func servePipe(t *testing.T, cfg *Config) net.Conn {
	t.Helper()
	server, client := net.Pipe()
	s := New(cfg, server)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { s.Serve(ctx); close(done) }()
	t.Cleanup(func() { cancel(); client.Close(); <-done })
	_ = client.SetDeadline(time.Now().Add(10 * time.Second))
	return client
}

// TestAUTHStopsTheReader: the line reader must not consume the ClientHello that
// follows AUTH TLS as a command line; after the handshake, commands flow over TLS.
func TestAUTHStopsTheReader(t *testing.T) {
	client := servePipe(t, &Config{TLS: testTLSConfig(t), TLSRequired: true})

	tp := textproto.NewConn(client)
	expect := func(tp *textproto.Conn, cmd string, want int) string {
		t.Helper()
		if cmd != "" {
			if err := tp.PrintfLine("%s", cmd); err != nil {
				t.Fatal(err)
			}
		}
		code, msg, err := tp.ReadResponse(want)
		if err != nil {
			t.Fatalf("%q: %d %q %v, want %d", cmd, code, msg, err, want)
		}
		return msg
	}
	expect(tp, "", 220)
	if msg := expect(tp, "USER u", 530); !strings.Contains(msg, "AUTH TLS") {
		t.Fatalf("USER in clear: %q", msg)
	}
	expect(tp, "PROT P", 503)
	expect(tp, "AUTH TLS", 234)
	tc := tls.Client(client, &tls.Config{InsecureSkipVerify: true})
	if err := tc.Handshake(); err != nil {
		t.Fatalf("handshake after AUTH: %v", err)
	}
	tp = textproto.NewConn(tc)
	expect(tp, "NOOP", 200)
	expect(tp, "AUTH TLS", 503)
	expect(tp, "PBSZ 0", 200)
	expect(tp, "PROT C", 534)
	expect(tp, "PROT P", 200)
	expect(tp, "CCC", 533)
	expect(tp, "USER u", 331)
	expect(tp, "QUIT", 221)
}

// TestAUTHRefusedKeepsReading: a refused AUTH leaves the reader running in clear.
func TestAUTHRefusedKeepsReading(t *testing.T) {
	client := servePipe(t, &Config{}) // no TLS configured
	br := bufio.NewReader(client)
	read := func() string {
		l, err := br.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	read()
	for _, c := range []struct{ cmd, want string }{{"AUTH TLS", "502"}, {"AUTH XYZ", "502"}, {"NOOP", "200"}} {
		if _, err := client.Write([]byte(c.cmd + "\r\n")); err != nil {
			t.Fatal(err)
		}
		if l := read(); !strings.HasPrefix(l, c.want) {
			t.Fatalf("%s: %q, want %s", c.cmd, l, c.want)
		}
	}
}

// TestAUTHHandshakeTimeout: a client that asks for TLS and then stays silent is
// dropped after the handshake limit, holding nothing.
func TestAUTHHandshakeTimeout(t *testing.T) {
	server, client := net.Pipe()
	s := New(&Config{TLS: testTLSConfig(t), DataTimeout: 300 * time.Millisecond}, server)
	done := make(chan struct{})
	go func() { s.Serve(context.Background()); close(done) }()
	defer client.Close()
	_ = client.SetDeadline(time.Now().Add(10 * time.Second))
	tp := textproto.NewConn(client)
	if _, _, err := tp.ReadResponse(220); err != nil {
		t.Fatal(err)
	}
	if err := tp.PrintfLine("AUTH TLS"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := tp.ReadResponse(234); err != nil {
		t.Fatal(err)
	}
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("the session outlived a silent TLS handshake")
	}
}
