package session

import (
	"sort"
	"strings"
)

// Transfer parameters, information and miscellany (RFC 959, RFC 2389).
var _ = commandSet(map[string]command{
	"TYPE": {handler: (*Session).handleTYPE, needsLogin: true, needsArg: true, help: "TYPE {A|I}"},
	"MODE": {handler: (*Session).handleMODE, needsLogin: true, needsArg: true, help: "MODE S"},
	"STRU": {handler: (*Session).handleSTRU, needsLogin: true, needsArg: true, help: "STRU F"},
	"SYST": {handler: (*Session).handleSYST, help: "SYST"},
	"FEAT": {handler: (*Session).handleFEAT, help: "FEAT"},
	"OPTS": {handler: (*Session).handleOPTS, needsArg: true, help: "OPTS UTF8 ON", feat: "UTF8"},
	"NOOP": {handler: (*Session).handleNOOP, help: "NOOP"},
	"HELP": {handler: (*Session).handleHELP, help: "HELP [<command>]"},
	"ABOR": {handler: (*Session).handleABOR, needsLogin: true, help: "ABOR"},
})

func (s *Session) handleSYST(string) Reply {
	// Clients use this to pick a listing parser; "UNIX Type: L8" selects ls -l.
	return reply(codeSystemType, "UNIX Type: L8")
}

// staticFeatures are FEAT lines that belong to no single command.
var staticFeatures = []string{"TVFS"}

// featureLines are the RFC 2389 FEAT lines, one extension each, sorted: the
// static ones and the feat field of every command in the table.
func featureLines() []string {
	out := append([]string(nil), staticFeatures...)
	for _, c := range commands {
		if c.feat != "" {
			out = append(out, c.feat)
		}
	}
	sort.Strings(out)
	return out
}

func (s *Session) handleFEAT(string) Reply {
	lines := []string{"Extensions supported:"}
	for _, f := range featureLines() {
		if s.featureOn(f) {
			lines = append(lines, s.sessionFeat(f))
		}
	}
	return Reply{Code: codeSystemStatus, Lines: append(lines, "End")}
}

func (s *Session) handleOPTS(arg string) Reply {
	opt, val, _ := strings.Cut(strings.TrimSpace(arg), " ")
	switch strings.ToUpper(opt) {
	case "UTF8", "UTF-8":
		// Paths are always UTF-8 (RFC 2640); accept both ON and OFF as no-ops.
		switch strings.ToUpper(strings.TrimSpace(val)) {
		case "ON", "":
			return reply(codeOK, "UTF8 mode enabled")
		case "OFF":
			return reply(codeOK, "UTF8 mode stays on: paths are UTF-8")
		}
		return reply(codeSyntaxErrorParams, "OPTS UTF8 takes ON or OFF")
	case "MLST":
		return s.optsMLST(val)
	case "HASH":
		return s.optsHASH(val)
	}
	return reply(codeNotImplementedParam, "Option %s not supported", opt)
}

func (s *Session) handleNOOP(string) Reply { return reply(codeOK, "NOOP ok") }

func (s *Session) handleHELP(arg string) Reply {
	if arg = strings.ToUpper(strings.TrimSpace(arg)); arg != "" {
		if c, ok := commands[arg]; ok {
			return reply(codeHelp, "Syntax: %s", c.help)
		}
		return reply(codeSyntaxErrorParams, "Unknown command %s", arg)
	}
	verbs := make([]string, 0, len(commands))
	for v := range commands {
		verbs = append(verbs, v)
	}
	sort.Strings(verbs)
	lines := []string{"The following commands are recognized:"}
	for i := 0; i < len(verbs); i += 8 {
		lines = append(lines, strings.Join(verbs[i:min(i+8, len(verbs))], " "))
	}
	return Reply{Code: codeHelp, Lines: append(lines, "Help OK")}
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

// handleABOR answers an ABOR that arrives when no transfer runs (one that
// arrives during a transfer is handled by duringTransfer).
func (s *Session) handleABOR(string) Reply {
	s.data.close()
	return reply(codeClosingData, "No transfer to abort")
}
