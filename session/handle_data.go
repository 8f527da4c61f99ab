package session

import (
	"errors"
	"net"
	"strconv"
	"strings"

	"github.com/ftp2s3/ftp2s3/storage"
)

// Data connections (RFC 959, RFC 2428; bounce protection per RFC 2577) and the
// parameters of the next transfer: TYPE, MODE, STRU, REST, ALLO, and ABOR. Their
// rows are in commands.go.

// protoOf returns the RFC 2428 protocol number of the control connection: 1 for
// IPv4 (including IPv4-mapped addresses on a dual-stack listener), 2 for IPv6.
func (s *Session) protoOf() int {
	if s.ctrl.Local != nil && s.ctrl.Local.IP.To4() == nil {
		return 2
	}
	return 1
}

// listenPassive reserves a passive port. It first drops whatever data setup the
// session had, so one session holds at most one port however often it asks.
func (s *Session) listenPassive() (PassiveListener, *Reply) {
	s.data.close()
	l, err := s.cfg.Data.ListenPassive(s.ctx, s.ctrl)
	if err != nil {
		if errors.Is(err, ErrNoPassivePorts) {
			s.log.Warn("passive port range exhausted", "cmd", s.cmd.verb, "err", err)
			r := reply(codeCantOpenData, "No passive port free; try again later")
			return nil, &r
		}
		s.log.Error("passive listen failed", "cmd", s.cmd.verb, "err", err)
		r := reply(codeCantOpenData, "Cannot open a passive port")
		return nil, &r
	}
	return l, nil
}

func (s *Session) handlePASV(string) Reply {
	if s.epsvAll {
		return reply(codeBadSequence, "PASV not allowed after EPSV ALL; use EPSV")
	}
	// PASV can only name an IPv4 address. On an IPv6 control connection the
	// data connection has to come from the same (IPv6) peer, so no IPv4 address
	// could work: point the client at EPSV (RFC 2428).
	if s.protoOf() == 2 {
		return reply(codeExtNetworkProtocol, "PASV cannot carry an IPv6 address; use EPSV (RFC 2428)")
	}
	l, r := s.listenPassive()
	if r != nil {
		return *r
	}
	a := l.Advertised()
	ip4 := a.IP.To4()
	if ip4 == nil {
		_ = l.Close()
		s.log.Warn("PASV: the announced host is IPv6 only", "host", a.IP.String())
		return reply(codeExtNetworkProtocol, "PASV cannot carry the IPv6 address of this server; use EPSV (RFC 2428)")
	}
	s.data.passive = l
	return reply(codeEnteringPassive, "Entering Passive Mode (%d,%d,%d,%d,%d,%d)",
		ip4[0], ip4[1], ip4[2], ip4[3], a.Port>>8, a.Port&0xff)
}

func (s *Session) handleEPSV(arg string) Reply {
	all, proto, err := parseEPSV(arg)
	if err != nil {
		return reply(codeExtNetworkProtocol, "Network protocol not supported, use (%d)", s.protoOf())
	}
	if all {
		// RFC 2428 §4: from now on the client uses EPSV only, which lets NAT
		// devices stop looking for addresses in the control connection.
		s.data.close()
		s.epsvAll = true
		return reply(codeOK, "EPSV ALL ok; PORT, EPRT and PASV are now refused")
	}
	if proto != 0 && proto != s.protoOf() {
		return reply(codeExtNetworkProtocol, "Network protocol not supported, use (%d)", s.protoOf())
	}
	l, r := s.listenPassive()
	if r != nil {
		return *r
	}
	s.data.passive = l
	return reply(codeEnteringExtPassive, "Entering Extended Passive Mode (|||%d|)", l.Advertised().Port)
}

func (s *Session) handlePORT(arg string) Reply {
	if r, ok := s.activeAllowed(); !ok {
		return r
	}
	target, err := parsePORT(arg)
	if err != nil {
		return reply(codeSyntaxErrorParams, "Malformed PORT argument; expected h1,h2,h3,h4,p1,p2")
	}
	if s.protoOf() == 2 {
		return reply(codeExtNetworkProtocol, "PORT cannot reach an IPv6 client; use EPRT (RFC 2428)")
	}
	return s.setActive(target)
}

func (s *Session) handleEPRT(arg string) Reply {
	if r, ok := s.activeAllowed(); !ok {
		return r
	}
	proto, target, err := parseEPRT(arg)
	if errors.Is(err, errUnsupportedProto) {
		return reply(codeExtNetworkProtocol, "Network protocol not supported, use (%d)", s.protoOf())
	}
	if err != nil {
		return reply(codeSyntaxErrorParams, "Malformed EPRT argument; expected |1|a.b.c.d|port| or |2|ipv6|port|")
	}
	if proto != s.protoOf() {
		return reply(codeExtNetworkProtocol, "Network protocol not supported, use (%d)", s.protoOf())
	}
	return s.setActive(target)
}

func (s *Session) activeAllowed() (Reply, bool) {
	verb := s.cmd.verb
	if !s.cfg.ActiveMode {
		return reply(codeNotImplemented, "%s disabled: active mode is off on this server; use PASV or EPSV", verb), false
	}
	if s.epsvAll {
		return reply(codeBadSequence, "%s not allowed after EPSV ALL; use EPSV", verb), false
	}
	return Reply{}, true
}

// setActive records an active target after the data-channel layer's bounce check
// (RFC 2577): a refused target is answered 500 with the reason, the way common
// servers answer an "illegal PORT command", and the previous setup is kept.
func (s *Session) setActive(target *net.TCPAddr) Reply {
	verb := s.cmd.verb
	if err := s.cfg.Data.CheckActive(s.ctrl, target); err != nil {
		s.log.Warn("active target refused", "cmd", verb, "target", target.String(), "err", err)
		return reply(codeSyntaxError, "Illegal %s command: %v", verb, err)
	}
	s.data.close()
	s.data.active = target
	return reply(codeOK, "%s command successful", verb)
}

func (s *Session) handleTYPE(arg string) Reply {
	f := strings.Fields(strings.ToUpper(arg))
	switch {
	case len(f) >= 1 && f[0] == "I", len(f) == 2 && f[0] == "L" && f[1] == "8":
		s.binary = true
		return reply(codeOK, "Type set to I (binary)")
	case len(f) == 1 && f[0] == "A", len(f) == 2 && f[0] == "A" && f[1] == "N":
		s.binary = false
		return reply(codeOK, "Type set to A (ASCII)")
	}
	return reply(codeNotImplementedParam, "Type %s not supported; use A or I", arg)
}

func (s *Session) handleMODE(arg string) Reply {
	if strings.EqualFold(strings.TrimSpace(arg), "S") {
		return reply(codeOK, "Mode set to S (stream)")
	}
	return reply(codeNotImplementedParam, "Only stream mode (MODE S) is supported")
}

func (s *Session) handleSTRU(arg string) Reply {
	if strings.EqualFold(strings.TrimSpace(arg), "F") {
		return reply(codeOK, "Structure set to F (file)")
	}
	return reply(codeNotImplementedParam, "Only file structure (STRU F) is supported")
}

func (s *Session) handleREST(arg string) Reply {
	n, err := strconv.ParseInt(strings.TrimSpace(arg), 10, 64)
	if err != nil || n < 0 {
		return reply(codeSyntaxErrorParams, "REST needs a non-negative byte offset")
	}
	s.restOffset = n
	return reply(codePendingFurtherInfo, "Restarting at %d; send RETR or STOR to continue", n)
}

// handleALLO accepts RFC 959 "ALLO n [R m]". Storage needs no reservation, but
// the size lets the next upload choose a part size that fits S3's part limit.
func (s *Session) handleALLO(arg string) Reply {
	f := strings.Fields(arg)
	n, err := strconv.ParseInt(f[0], 10, 64)
	if err != nil || n < 0 || (len(f) != 1 && (len(f) != 3 || !strings.EqualFold(f[1], "R"))) {
		return reply(codeSyntaxErrorParams, "ALLO needs a byte count: ALLO <size> [R <record>]")
	}
	if n > storage.MaxObjectSize {
		return reply(codeExceededStorage, "ALLO %d: larger than S3's largest object (5 TiB)", n)
	}
	s.allocHint = n
	return reply(codeNotImplementedOK, "ALLO noted (%d bytes); no storage needs to be reserved", n)
}

// handleABOR answers an ABOR that arrives when no transfer runs.
func (s *Session) handleABOR(string) Reply {
	s.data.close()
	return reply(codeClosingData, "No transfer to abort")
}

// abortTransfer is ABOR during a transfer: the transfer is cancelled and
// answered 426, then the ABOR 226 (RFC 959 §4.1.3). It replies 226 twice when
// the transfer completed before the abort reached it.
func (s *Session) abortTransfer() Reply {
	r, _ := s.stopTransfer(errAborted)
	if r.Code == codeClosingData {
		s.send(r)
		return reply(codeClosingData, "ABOR successful; the transfer had already completed")
	}
	s.send(reply(codeTransferAborted, "Transfer aborted; data connection closed"))
	return reply(codeClosingData, "ABOR successful")
}
