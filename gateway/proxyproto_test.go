package gateway

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/pires/go-proxyproto"

	"github.com/ftp2s3/ftp2s3/internal/testkit"
)

// proxyV2 builds a v2 header: cmd 1 = PROXY, 0 = LOCAL; fam 0x11 or 0x21.
func proxyV2(cmd, fam byte, src, dst netip.Addr, sport, dport uint16, tlv []byte) []byte {
	var body []byte
	body = append(body, src.AsSlice()...)
	body = append(body, dst.AsSlice()...)
	body = binary.BigEndian.AppendUint16(body, sport)
	body = binary.BigEndian.AppendUint16(body, dport)
	body = append(body, tlv...)
	h := append([]byte(nil), proxyproto.SIGV2...)
	h = append(h, 0x20|cmd, fam)
	h = binary.BigEndian.AppendUint16(h, uint16(len(body)))
	return append(h, body...)
}

// TestProxyHeaders drives the parser through accept on a real socket: what a
// trusted source in required mode may send, what is refused, and what plain FTP
// from a trusted source in optional mode looks like (left untouched for the
// session).
func TestProxyHeaders(t *testing.T) {
	v4src, v4dst := netip.MustParseAddr("192.0.2.7"), netip.MustParseAddr("10.0.0.1")
	v6src, v6dst := netip.MustParseAddr("2001:db8::7"), netip.MustParseAddr("2001:db8::1")
	loop := []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
	const after = "USER a\r\n"
	cases := []struct {
		name, in string
		want     string // declared source, "" for the peer's own address
		err      bool
		notProxy bool
	}{
		{name: "v1 tcp4", in: "PROXY TCP4 192.0.2.7 10.0.0.1 40001 2121\r\n", want: "192.0.2.7:40001"},
		{name: "v1 tcp6", in: "PROXY TCP6 2001:db8::7 2001:db8::1 40001 2121\r\n", want: "[2001:db8::7]:40001"},
		{name: "v1 unknown", in: "PROXY UNKNOWN\r\n", want: ""},
		{name: "v1 unknown with addresses", in: "PROXY UNKNOWN ffff::1 ffff::2 1 2\r\n", want: ""},
		{name: "v1 family mismatch", in: "PROXY TCP4 2001:db8::7 10.0.0.1 1 2\r\n", err: true},
		{name: "v1 bad port", in: "PROXY TCP4 192.0.2.7 10.0.0.1 70000 2121\r\n", err: true},
		{name: "v1 leading zero port", in: "PROXY TCP4 192.0.2.7 10.0.0.1 0080 2121\r\n", err: true},
		{name: "v1 missing field", in: "PROXY TCP4 192.0.2.7 10.0.0.1 40001\r\n", err: true},
		{name: "v1 bare LF", in: "PROXY TCP4 192.0.2.7 10.0.0.1 40001 2121\n", err: true},
		{name: "v1 too long", in: "PROXY TCP4 " + strings.Repeat("1", 120) + "\r\n", err: true},
		{name: "v1 truncated", in: "PROXY TCP4 192.0", err: true},
		{name: "v2 tcp4", in: string(proxyV2(1, 0x11, v4src, v4dst, 40002, 2121, nil)), want: "192.0.2.7:40002"},
		{name: "v2 tcp6", in: string(proxyV2(1, 0x21, v6src, v6dst, 40002, 2121, nil)), want: "[2001:db8::7]:40002"},
		{name: "v2 with TLVs", in: string(proxyV2(1, 0x11, v4src, v4dst, 1, 2, []byte{0x04, 0x00, 0x03, 'a', 'b', 'c'})), want: "192.0.2.7:1"},
		{name: "v2 local", in: string(proxyV2(0, 0x11, v4src, v4dst, 1, 2, nil)), want: ""},
		{name: "v2 udp refused", in: string(proxyV2(1, 0x12, v4src, v4dst, 1, 2, nil)), err: true},
		{name: "v2 short block", in: string(proxyV2(1, 0x21, v4src, v4dst, 1, 2, nil)), err: true},
		{name: "v2 truncated", in: string(proxyV2(1, 0x11, v4src, v4dst, 1, 2, nil)[:20]), err: true},
		{name: "v2 bad version", in: string(append(append([]byte(nil), proxyproto.SIGV2...), 0x31, 0x11, 0, 0)), err: true},
		{name: "plain FTP", in: "USER alice\r\n", notProxy: true},
		{name: "plain FTP starting with P", in: "PASV\r\n", notProxy: true},
		{name: "plain FTP empty line", in: "\r\nUSER a\r\n", notProxy: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, s := testkit.TCPPair(t)
			policy := &ProxyPolicy{Mode: "required", Trusted: loop, HeaderTimeout: 300 * time.Millisecond}
			in := tc.in
			if tc.notProxy {
				policy = &ProxyPolicy{Mode: "optional", Trusted: loop, OptionalWait: 300 * time.Millisecond}
			} else if !tc.err {
				in += after // what follows the header is left for the session
			}
			if _, err := io.WriteString(c, in); err != nil {
				t.Fatal(err)
			}
			pc, err := policy.accept(context.Background(), s)
			switch {
			case tc.err:
				if err == nil {
					t.Fatalf("accepted, RemoteAddr %s; want a refusal", pc.RemoteAddr())
				}
				return
			case err != nil:
				t.Fatalf("error %v", err)
			case tc.want == "" && pc.RemoteAddr().String() != s.RemoteAddr().String():
				t.Fatalf("declared %v, want the peer %v", pc.RemoteAddr(), s.RemoteAddr())
			case tc.want != "" && pc.RemoteAddr().String() != tc.want:
				t.Fatalf("declared %v, want %s", pc.RemoteAddr(), tc.want)
			}
			rest := after
			if tc.notProxy {
				rest = tc.in
			}
			_ = pc.SetReadDeadline(time.Now().Add(5 * time.Second))
			got := make([]byte, len(rest))
			if _, err := io.ReadFull(pc, got); err != nil || string(got) != rest {
				t.Fatalf("the session reads %q, %v; want %q", got, err, rest)
			}
		})
	}
}

func TestParseTrusted(t *testing.T) {
	got, err := ParseTrusted(" 10.0.0.0/8, 192.0.2.7 ,::1,2001:db8::/32,")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"10.0.0.0/8", "192.0.2.7/32", "::1/128", "2001:db8::/32"}
	if len(got) != len(want) {
		t.Fatalf("got %v", got)
	}
	for i := range want {
		if got[i].String() != want[i] {
			t.Errorf("%d: %s, want %s", i, got[i], want[i])
		}
	}
	for _, bad := range []string{"10.0.0.0/33", "example.com", "10.0.0.1/8/1"} {
		if _, err := ParseTrusted(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

// mustAccept applies p to the server side of a new connection, failing the
// test if the connection is refused.
func mustAccept(t *testing.T, p *ProxyPolicy, s net.Conn) net.Conn {
	t.Helper()
	pc, err := p.accept(context.Background(), s)
	if err != nil {
		t.Fatal(err)
	}
	return pc
}

func TestProxyPolicyAccept(t *testing.T) {
	loop := []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
	other := []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24")}
	ctx := context.Background()

	t.Run("required, trusted, header", func(t *testing.T) {
		c, s := testkit.TCPPair(t)
		_, _ = c.Write([]byte("PROXY TCP4 198.51.100.9 127.0.0.1 5555 21\r\nNOOP\r\n"))
		pc := mustAccept(t, &ProxyPolicy{Mode: "required", Trusted: loop}, s)
		if got := pc.RemoteAddr().String(); got != "198.51.100.9:5555" {
			t.Fatalf("RemoteAddr %s", got)
		}
		line, _ := bufio.NewReader(pc).ReadString('\n')
		if line != "NOOP\r\n" {
			t.Fatalf("first command %q", line)
		}
	})
	t.Run("required, trusted, no header", func(t *testing.T) {
		c, s := testkit.TCPPair(t)
		_, _ = c.Write([]byte("USER alice\r\n"))
		if _, err := (&ProxyPolicy{Mode: "required", Trusted: loop}).accept(ctx, s); err == nil {
			t.Fatal("a connection without a header was accepted")
		}
	})
	t.Run("required, trusted, silence", func(t *testing.T) {
		_, s := testkit.TCPPair(t)
		start := time.Now()
		if _, err := (&ProxyPolicy{Mode: "required", Trusted: loop, HeaderTimeout: 200 * time.Millisecond}).accept(ctx, s); err == nil {
			t.Fatal("a silent connection was accepted")
		}
		if time.Since(start) > 2*time.Second {
			t.Fatal("the header timeout was not applied")
		}
	})
	t.Run("required, untrusted", func(t *testing.T) {
		c, s := testkit.TCPPair(t)
		_, _ = c.Write([]byte("PROXY TCP4 198.51.100.9 127.0.0.1 5555 21\r\n"))
		if _, err := (&ProxyPolicy{Mode: "required", Trusted: other}).accept(ctx, s); !errors.Is(err, errUntrustedProxy) {
			t.Fatalf("got %v, want errUntrustedProxy", err)
		}
	})
	t.Run("optional, trusted, plain client waiting for 220", func(t *testing.T) {
		_, s := testkit.TCPPair(t)
		pc := mustAccept(t, &ProxyPolicy{Mode: "optional", Trusted: loop, OptionalWait: 100 * time.Millisecond}, s)
		if pc.RemoteAddr().String() != s.RemoteAddr().String() {
			t.Fatalf("RemoteAddr %s, want the peer", pc.RemoteAddr())
		}
	})
	t.Run("optional, trusted, v2 header", func(t *testing.T) {
		c, s := testkit.TCPPair(t)
		_, _ = c.Write(proxyV2(1, 0x11, netip.MustParseAddr("198.51.100.9"), netip.MustParseAddr("127.0.0.1"), 6000, 21, nil))
		pc, err := (&ProxyPolicy{Mode: "optional", Trusted: loop}).accept(ctx, s)
		if err != nil || pc.RemoteAddr().String() != "198.51.100.9:6000" {
			t.Fatalf("got %v, %v", pc, err)
		}
	})
	t.Run("optional, untrusted, header refused on first read", func(t *testing.T) {
		c, s := testkit.TCPPair(t)
		pc := mustAccept(t, &ProxyPolicy{Mode: "optional", Trusted: other}, s)
		_, _ = c.Write([]byte("PROXY TCP4 198.51.100.9 127.0.0.1 5555 21\r\n"))
		if _, err := pc.Read(make([]byte, 64)); !errors.Is(err, errUntrustedProxy) {
			t.Fatalf("read: %v, want errUntrustedProxy", err)
		}
	})
	t.Run("local address stays the socket's", func(t *testing.T) {
		// PASV announces the control connection's local address: the
		// replica's own, not the balancer's that the header names.
		c, s := testkit.TCPPair(t)
		_, _ = c.Write([]byte("PROXY TCP4 198.51.100.9 203.0.113.1 5555 21\r\n"))
		pc := mustAccept(t, &ProxyPolicy{Mode: "required", Trusted: loop}, s)
		if pc.LocalAddr().String() != s.LocalAddr().String() {
			t.Fatalf("LocalAddr %s, want %s", pc.LocalAddr(), s.LocalAddr())
		}
	})
	t.Run("server close ends the wait for a header", func(t *testing.T) {
		_, s := testkit.TCPPair(t)
		ctx, cancel := context.WithCancel(ctx)
		errc := make(chan error, 1)
		go func() {
			_, err := (&ProxyPolicy{Mode: "required", Trusted: loop, HeaderTimeout: time.Hour}).accept(ctx, s)
			errc <- err
		}()
		cancel()
		select {
		case err := <-errc:
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("got %v, want context.Canceled", err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("accept still waits for a header after the server closed")
		}
	})
	// An untrusted source in optional mode is plain FTP, served as sent. A
	// first line of four bytes that could still be the start of "PROXY " is
	// served once the wait is over, not held until the client sends more.
	for _, line := range []string{"PWD\r\n", "PWD\n"} {
		t.Run(fmt.Sprintf("optional, untrusted, plain client %q", line), func(t *testing.T) {
			c, s := testkit.TCPPair(t)
			pc := mustAccept(t, &ProxyPolicy{Mode: "optional", Trusted: other, OptionalWait: 100 * time.Millisecond}, s)
			_, _ = c.Write([]byte(line))
			_ = pc.SetReadDeadline(time.Now().Add(5 * time.Second))
			got, err := bufio.NewReader(pc).ReadString('\n')
			if err != nil || got != line {
				t.Fatalf("read %q, %v", got, err)
			}
		})
	}
}
