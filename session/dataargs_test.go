package session

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"testing"
)

func TestParsePORT(t *testing.T) {
	good := map[string]string{
		"127,0,0,1,4,1":           "127.0.0.1:1025",
		"192,168,1,20,255,255":    "192.168.1.20:65535",
		" 10, 0, 0, 1, 0, 21 ":    "10.0.0.1:21", // allowed by parsing; policy refuses it later
		"0,0,0,0,0,0":             "0.0.0.0:0",
		"127,000,000,001,004,001": "127.0.0.1:1025",
	}
	for in, want := range good {
		a, err := parsePORT(in)
		if err != nil || a.String() != want {
			t.Errorf("parsePORT(%q) = %v, %v; want %s", in, a, err, want)
		}
	}
	for _, bad := range []string{"", "127,0,0,1,4", "127,0,0,1,4,1,9", "256,0,0,1,4,1", "127,0,0,1,4,256",
		"-1,0,0,1,4,1", "a,b,c,d,e,f", "127.0.0.1,4,1", "127,0,0,1,4,", "127,,0,1,4,1", "+127,0,0,1,4,1"} {
		if a, err := parsePORT(bad); err == nil {
			t.Errorf("parsePORT(%q) accepted as %v", bad, a)
		}
	}
}

func TestParseEPRT(t *testing.T) {
	good := []struct {
		in    string
		proto int
		want  string
	}{
		{"|1|132.235.1.2|6275|", 1, "132.235.1.2:6275"},
		{"|2|1080::8:800:200C:417A|5282|", 2, "[1080::8:800:200c:417a]:5282"},
		{"|2|::1|40000|", 2, "[::1]:40000"},
		{"!1!127.0.0.1!1025!", 1, "127.0.0.1:1025"}, // any delimiter (RFC 2428 §2)
		{" |1|10.0.0.1|65535| ", 1, "10.0.0.1:65535"},
		{"|2|::ffff:127.0.0.1|2000|", 2, "127.0.0.1:2000"},
	}
	for _, g := range good {
		proto, a, err := parseEPRT(g.in)
		if err != nil || proto != g.proto || a.String() != g.want {
			t.Errorf("parseEPRT(%q) = %d, %v, %v; want %d %s", g.in, proto, a, err, g.proto, g.want)
		}
	}
	for _, bad := range []string{"", "|1|127.0.0.1|", "|1|127.0.0.1|0|", "|1|127.0.0.1|65536|", "|1|::1|2000|",
		"|2|127.0.0.1|2000|", "|1|127.0.0.1|2000", "1|127.0.0.1|2000|", "|1|127.0.0.1|2000|x|", "|1|host.example|2000|",
		"|1|127.0.0.1|-5|", "\x01 1\x01127.0.0.1\x012000\x01", "|2|fe80::1%eth0|2000|", "|1|127.0.0.1|+80|"} {
		if proto, a, err := parseEPRT(bad); err == nil {
			t.Errorf("parseEPRT(%q) accepted as %d %v", bad, proto, a)
		}
	}
	for _, unsupported := range []string{"|3|127.0.0.1|2000|", "|0|127.0.0.1|2000|", "|x|127.0.0.1|2000|"} {
		if _, _, err := parseEPRT(unsupported); !errors.Is(err, errUnsupportedProto) {
			t.Errorf("parseEPRT(%q): %v, want errUnsupportedProto (522)", unsupported, err)
		}
	}
}

func TestParseEPSV(t *testing.T) {
	cases := []struct {
		in    string
		all   bool
		proto int
		bad   bool
	}{
		{in: ""}, {in: "ALL", all: true}, {in: "all", all: true}, {in: " 1", proto: 1}, {in: "2", proto: 2},
		{in: "3", bad: true}, {in: "ALL 1", bad: true}, {in: "x", bad: true},
	}
	for _, c := range cases {
		all, proto, err := parseEPSV(c.in)
		if (err != nil) != c.bad || all != c.all || proto != c.proto {
			t.Errorf("parseEPSV(%q) = %v %d %v", c.in, all, proto, err)
		}
	}
}

// FuzzParsePORT: the parser never panics, and whatever it accepts is an IPv4
// address and a 16-bit port that format back to an argument it reads the same.
func FuzzParsePORT(f *testing.F) {
	for _, s := range []string{"127,0,0,1,4,1", "255,255,255,255,255,255", " 1, 2,3,4 ,5,6", "1,2,3,4,5", "300,1,1,1,1,1", ",,,,,"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, arg string) {
		a, err := parsePORT(arg)
		if err != nil {
			return
		}
		ip4 := a.IP.To4()
		if ip4 == nil || a.Port < 0 || a.Port > 65535 {
			t.Fatalf("parsePORT(%q) = %v: not IPv4 or port out of range", arg, a)
		}
		again := fmt.Sprintf("%d,%d,%d,%d,%d,%d", ip4[0], ip4[1], ip4[2], ip4[3], a.Port>>8, a.Port&0xff)
		b, err := parsePORT(again)
		if err != nil || !b.IP.Equal(a.IP) || b.Port != a.Port {
			t.Fatalf("parsePORT(%q) = %v, but its own form %q gives %v, %v", arg, a, again, b, err)
		}
	})
}

// FuzzParseEPRT: the parser never panics; an accepted address has the family
// its protocol number says, a port in 1..65535, and survives a round trip.
func FuzzParseEPRT(f *testing.F) {
	for _, s := range []string{"|1|127.0.0.1|1025|", "|2|::1|40000|", "!2!fe80::1!2000!", "|1|1.2.3.4|", "|||||", "|2|::ffff:1.2.3.4|7|"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, arg string) {
		proto, a, err := parseEPRT(arg)
		if err != nil {
			return
		}
		if a == nil || a.Port < 1 || a.Port > 65535 {
			t.Fatalf("parseEPRT(%q) = %v: bad port", arg, a)
		}
		switch proto {
		case 1:
			if a.IP.To4() == nil {
				t.Fatalf("parseEPRT(%q): protocol 1 with %v", arg, a.IP)
			}
		case 2:
			if len(a.IP) != net.IPv6len {
				t.Fatalf("parseEPRT(%q): protocol 2 with %v", arg, a.IP)
			}
		default:
			t.Fatalf("parseEPRT(%q): protocol %d accepted", arg, proto)
		}
		host := a.IP.String()
		if proto == 2 && a.IP.To4() != nil {
			host = "::ffff:" + host // keep the IPv6 spelling of a mapped address
		}
		again := "|" + strconv.Itoa(proto) + "|" + host + "|" + strconv.Itoa(a.Port) + "|"
		p2, b, err := parseEPRT(again)
		if err != nil || p2 != proto || !b.IP.Equal(a.IP) || b.Port != a.Port {
			t.Fatalf("parseEPRT(%q) = %d %v, but its own form %q gives %d %v %v", arg, proto, a, again, p2, b, err)
		}
	})
}
