package integration

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ftp2s3/ftp2s3/gateway"
)

// The declared client of these tests is 127.0.0.2: a loopback address the test
// can bind its data connections to, and that differs from the balancer's
// (127.0.0.1), so the passive IP check shows which one the gateway believes.
const declaredClient = "127.0.0.2"

func proxyV1Header(src string, srcPort, dstPort int) []byte {
	return fmt.Appendf(nil, "PROXY TCP4 %s 127.0.0.1 %d %d\r\n", src, srcPort, dstPort)
}

func proxyV2Header(src string, srcPort, dstPort int) []byte {
	h := []byte("\r\n\r\n\x00\r\nQUIT\n")
	h = append(h, 0x21, 0x11, 0, 12)
	h = append(h, net.ParseIP(src).To4()...)
	h = append(h, net.ParseIP("127.0.0.1").To4()...)
	h = binary.BigEndian.AppendUint16(h, uint16(srcPort))
	return binary.BigEndian.AppendUint16(h, uint16(dstPort))
}

// proxied connects to g as a balancer would: header first, then the client's
// conversation.
func proxied(t *testing.T, g *testGateway, header []byte) *ftpRaw {
	t.Helper()
	r := rawDial(t, g.Addr)
	if _, err := r.c.Write(header); err != nil {
		t.Fatal(err)
	}
	return r
}

// listFrom runs NLST over a passive connection from the address from, after a
// stranger (when set) has connected to the same port first, and returns the
// listing.
func listFrom(t *testing.T, r *ftpRaw, stranger, from string) string {
	t.Helper()
	port := r.epsv()
	var strange net.Conn
	if stranger != "" {
		c, err := dialDataFrom(t, stranger, "127.0.0.1", port)
		switch {
		case errors.Is(err, syscall.ECONNRESET):
			// The gateway reset the stranger before its dial even returned.
		case err != nil:
			t.Fatal(err)
		default:
			defer c.Close()
			strange = c
		}
	}
	data, err := dialDataFrom(t, from, "127.0.0.1", port)
	if err != nil {
		t.Fatal(err)
	}
	defer data.Close()
	r.cmd(150, "NLST")
	_ = data.SetReadDeadline(time.Now().Add(10 * time.Second))
	b, err := io.ReadAll(data)
	if err != nil {
		t.Fatal(err)
	}
	r.expect(226)
	if strange != nil {
		// The gateway closed the stranger's connection without a byte.
		_ = strange.SetReadDeadline(time.Now().Add(5 * time.Second))
		if n, err := strange.Read(make([]byte, 1)); n != 0 || err == nil {
			t.Errorf("the data connection from %s got %d bytes, %v; want it closed", stranger, n, err)
		}
	}
	return string(b)
}

func TestProxyProtocolDeclaresTheClient(t *testing.T) {
	t.Parallel()
	g := startGateway(t, func(c *gateway.Config) {
		c.ProxyProtocol = "required"
		c.ProxyTrusted = mustParse[gateway.Prefixes]("127.0.0.1/32")
	})
	g.putObject("hello.txt", "hi")
	for name, header := range map[string][]byte{
		"v1": proxyV1Header(declaredClient, 40101, g.Port),
		"v2": proxyV2Header(declaredClient, 40102, g.Port),
	} {
		t.Run(name, func(t *testing.T) {
			r := proxied(t, g, header)
			r.expect(220)
			r.login(userRW)
			// The data connection must come from the declared client; the
			// balancer's own address is a stranger to this session.
			if got := listFrom(t, r, "127.0.0.1", declaredClient); !strings.Contains(got, "hello.txt") {
				t.Errorf("listing %q lacks hello.txt", got)
			}
			r.cmd(221, "QUIT")
		})
	}
	logs := g.Logs.String()
	for _, want := range []string{
		`msg="session opened"`, "remote=" + declaredClient + ":40101", "remote=" + declaredClient + ":40102",
		"msg=login session=", "user=" + userRW,
		`msg="passive data connection from a stranger refused"`, "expected=" + declaredClient,
	} {
		if !strings.Contains(logs, want) {
			t.Errorf("logs lack %q", want)
		}
	}
}

// The connection limit per address counts the declared clients, not the
// balancer every connection comes from.
func TestProxyProtocolLimitsCountRealClients(t *testing.T) {
	t.Parallel()
	g := startGateway(t, func(c *gateway.Config) {
		c.ProxyProtocol = "required"
		c.ProxyTrusted = mustParse[gateway.Prefixes]("127.0.0.1")
		c.MaxConnectionsPerIP = 1
	})
	a := proxied(t, g, proxyV1Header("127.0.0.2", 40201, g.Port))
	a.expect(220)
	b := proxied(t, g, proxyV1Header("127.0.0.3", 40202, g.Port))
	b.expect(220) // another client behind the same balancer
	c := proxied(t, g, proxyV1Header("127.0.0.2", 40203, g.Port))
	if code, msg, err := c.reply(5 * time.Second); code != 421 {
		t.Errorf("second connection of 127.0.0.2: %d %q (%v), want 421", code, msg, err)
	}
}

func TestProxyProtocolRefusals(t *testing.T) {
	t.Parallel()
	expectClosed := func(t *testing.T, r *ftpRaw, what string) {
		t.Helper()
		_ = r.c.SetReadDeadline(time.Now().Add(10 * time.Second))
		line, err := bufio.NewReader(r.c).ReadString('\n')
		if err == nil || strings.HasPrefix(line, "220") && !strings.Contains(what, "after 220") {
			t.Errorf("%s: got %q, %v; want the connection closed", what, line, err)
		}
	}
	t.Run("required mode refuses a connection without a header", func(t *testing.T) {
		g := startGateway(t, func(c *gateway.Config) {
			c.ProxyProtocol = "required"
			c.ProxyTrusted = mustParse[gateway.Prefixes]("127.0.0.1/32")
		})
		r := rawDial(t, g.Addr)
		if _, err := io.WriteString(r.c, "USER alice\r\n"); err != nil {
			t.Fatal(err)
		}
		expectClosed(t, r, "no header")
		if !strings.Contains(g.Logs.String(), "no PROXY protocol header") {
			t.Error("the refusal was not logged")
		}
	})
	t.Run("required mode refuses an untrusted source", func(t *testing.T) {
		g := startGateway(t, func(c *gateway.Config) {
			c.ProxyProtocol = "required"
			c.ProxyTrusted = mustParse[gateway.Prefixes]("127.0.0.9/32")
		})
		r := proxied(t, g, proxyV1Header(declaredClient, 40301, g.Port))
		expectClosed(t, r, "untrusted header")
		if !strings.Contains(g.Logs.String(), "untrusted source") {
			t.Error("the refusal was not logged")
		}
		if strings.Contains(g.Logs.String(), "remote="+declaredClient) {
			t.Error("an untrusted header's address was believed")
		}
	})
	t.Run("optional mode refuses an untrusted source's header", func(t *testing.T) {
		g := startGateway(t, func(c *gateway.Config) {
			c.ProxyProtocol = "optional"
			c.ProxyTrusted = mustParse[gateway.Prefixes]("127.0.0.9/32")
		})
		r := proxied(t, g, proxyV2Header(declaredClient, 40302, g.Port))
		r.expect(220) // plain FTP is served to untrusted sources…
		if code, msg, err := r.reply(5 * time.Second); err == nil {
			t.Errorf("after an untrusted header the gateway answered %d %q; want the connection closed", code, msg)
		}
		if strings.Contains(g.Logs.String(), "remote="+declaredClient) {
			t.Error("an untrusted header's address was believed")
		}
		// …and a plain client from the same source is served normally.
		c := g.dial(userRW)
		if _, err := c.CurrentDir(); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("optional mode serves a trusted plain client", func(t *testing.T) {
		g := startGateway(t, func(c *gateway.Config) {
			c.ProxyProtocol = "optional"
			c.ProxyTrusted = mustParse[gateway.Prefixes]("127.0.0.1/32")
		})
		c := g.dial(userRW)
		if _, err := c.CurrentDir(); err != nil {
			t.Fatal(err)
		}
		r := proxied(t, g, proxyV1Header(declaredClient, 40303, g.Port))
		r.expect(220)
		r.login(userRW)
		if !strings.Contains(g.Logs.String(), "remote="+declaredClient+":40303") {
			t.Error("a trusted header in optional mode was not applied")
		}
	})
}
