package session

import (
	"errors"
	"net"
)

// Data connections (RFC 959, RFC 2428).
var _ = commandSet(map[string]command{
	"PASV": {handler: (*Session).handlePASV, needsLogin: true, help: "PASV"},
	"EPSV": {handler: (*Session).handleEPSV, needsLogin: true, help: "EPSV [ALL|<protocol>]", feat: "EPSV"},
	"PORT": {handler: (*Session).handlePORT, needsLogin: true, needsArg: true, help: "PORT h1,h2,h3,h4,p1,p2"},
	"EPRT": {handler: (*Session).handleEPRT, needsLogin: true, needsArg: true, help: "EPRT |proto|addr|port|", feat: "EPRT"},
})

// protoOf returns the RFC 2428 protocol number of the control connection.
func (s *Session) protoOf() int {
	if s.ctrl.Local != nil && s.ctrl.Local.IP.To4() == nil {
		return 2
	}
	return 1
}

func (s *Session) listenPassive() (PassiveListener, *Reply) {
	s.data.close()
	l, err := s.cfg.Data.ListenPassive(s.ctx, s.ctrl)
	if err != nil {
		if errors.Is(err, ErrNoPassivePorts) {
			s.log.Warn("passive port range exhausted")
			r := reply(codeCantOpenData, "No passive port free; try again later")
			return nil, &r
		}
		s.log.Error("passive listen failed", "err", err)
		r := reply(codeCantOpenData, "Cannot open a passive port")
		return nil, &r
	}
	return l, nil
}

func (s *Session) handlePASV(string) Reply {
	if s.epsvAll {
		return reply(codeBadSequence, "PASV not allowed after EPSV ALL")
	}
	l, r := s.listenPassive()
	if r != nil {
		return *r
	}
	a := l.Advertised()
	ip4 := a.IP.To4()
	if ip4 == nil {
		_ = l.Close()
		return reply(codeExtNetworkProtocol, "PASV cannot carry an IPv6 address; use EPSV (2)")
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
	if r, ok := s.activeAllowed("PORT"); !ok {
		return r
	}
	target, err := parsePORT(arg)
	if err != nil {
		return reply(codeSyntaxErrorParams, "Malformed PORT argument; expected h1,h2,h3,h4,p1,p2")
	}
	return s.setActive("PORT", target)
}

func (s *Session) handleEPRT(arg string) Reply {
	if r, ok := s.activeAllowed("EPRT"); !ok {
		return r
	}
	proto, target, err := parseEPRT(arg)
	if errors.Is(err, errUnsupportedProto) {
		return reply(codeExtNetworkProtocol, "Network protocol not supported, use (1,2)")
	}
	if err != nil {
		return reply(codeSyntaxErrorParams, "Malformed EPRT argument; expected |1|a.b.c.d|port| or |2|ipv6|port|")
	}
	if proto != s.protoOf() {
		return reply(codeExtNetworkProtocol, "Network protocol not supported, use (%d)", s.protoOf())
	}
	return s.setActive("EPRT", target)
}

func (s *Session) activeAllowed(verb string) (Reply, bool) {
	if !s.cfg.ActiveMode {
		return reply(codeNotImplemented, "%s disabled: active mode is off on this server; use PASV or EPSV", verb), false
	}
	if s.epsvAll {
		return reply(codeBadSequence, "%s not allowed after EPSV ALL", verb), false
	}
	return Reply{}, true
}

func (s *Session) setActive(verb string, target *net.TCPAddr) Reply {
	if err := s.cfg.Data.CheckActive(s.ctrl, target); err != nil {
		s.log.Warn("active target refused", "cmd", verb, "target", target.String(), "err", err)
		return reply(codeSyntaxError, "%s refused: %s", verb, err.Error())
	}
	s.data.close()
	s.data.active = target
	return reply(codeOK, "%s command successful", verb)
}
