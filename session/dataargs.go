package session

import (
	"errors"
	"net"
	"strconv"
	"strings"
)

var errBadAddress = errors.New("malformed address")

// parsePORT reads the RFC 959 PORT argument "h1,h2,h3,h4,p1,p2".
func parsePORT(arg string) (*net.TCPAddr, error) {
	f := strings.Split(strings.TrimSpace(arg), ",")
	if len(f) != 6 {
		return nil, errBadAddress
	}
	var b [6]byte
	for i, s := range f {
		n, err := strconv.ParseUint(strings.TrimSpace(s), 10, 8)
		if err != nil {
			return nil, errBadAddress
		}
		b[i] = byte(n)
	}
	return &net.TCPAddr{IP: net.IPv4(b[0], b[1], b[2], b[3]), Port: int(b[4])<<8 | int(b[5])}, nil
}

// parseEPRT reads the RFC 2428 EPRT argument "<d>proto<d>addr<d>port<d>", where
// <d> is any printable delimiter the client chose (usually "|"). proto is 1 for
// IPv4 and 2 for IPv6.
func parseEPRT(arg string) (proto int, addr *net.TCPAddr, err error) {
	arg = strings.TrimSpace(arg)
	if len(arg) < 7 {
		return 0, nil, errBadAddress
	}
	d := arg[:1]
	if d[0] < 33 || d[0] > 126 {
		return 0, nil, errBadAddress
	}
	f := strings.Split(arg, d)
	if len(f) != 5 || f[0] != "" || f[4] != "" {
		return 0, nil, errBadAddress
	}
	switch f[1] {
	case "1":
		proto = 1
	case "2":
		proto = 2
	default:
		return 0, nil, errUnsupportedProto
	}
	ip := net.ParseIP(f[2])
	if ip == nil || (proto == 1) != (ip.To4() != nil && !strings.Contains(f[2], ":")) {
		return 0, nil, errBadAddress
	}
	port, perr := strconv.ParseUint(f[3], 10, 16)
	if perr != nil || port == 0 {
		return 0, nil, errBadAddress
	}
	return proto, &net.TCPAddr{IP: ip, Port: int(port)}, nil
}

var errUnsupportedProto = errors.New("network protocol not supported")

// parseEPSV reads the EPSV argument: empty, "ALL", or a protocol number.
func parseEPSV(arg string) (all bool, proto int, err error) {
	arg = strings.TrimSpace(arg)
	switch strings.ToUpper(arg) {
	case "":
		return false, 0, nil
	case "ALL":
		return true, 0, nil
	case "1":
		return false, 1, nil
	case "2":
		return false, 2, nil
	}
	return false, 0, errUnsupportedProto
}
