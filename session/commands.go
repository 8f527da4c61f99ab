package session

import (
	"strings"
)

// command is one row of the command table.
type command struct {
	handler func(s *Session, arg string) Reply
	// needsLogin: refused with 530 before a successful PASS.
	needsLogin bool
	// needsArg: refused with 501 when the argument is missing.
	needsArg bool
	// help is the syntax shown by HELP.
	help string
}

// commands is the command table: every verb the gateway understands, its handler
// and its preconditions. It is built once and never changed.
var commands map[string]command

// The table is filled in init because HELP, one of its handlers, reads it.
func init() { commands = buildCommands() }

func buildCommands() map[string]command {
	t := map[string]command{
		// Access control (RFC 959 §4.1.1)
		"USER": {handler: (*Session).handleUSER, needsArg: true, help: "USER <name>"},
		"PASS": {handler: (*Session).handlePASS, help: "PASS <password>"},
		"QUIT": {handler: (*Session).handleQUIT, help: "QUIT"},
		// Directories
		"PWD":  {handler: (*Session).handlePWD, needsLogin: true, help: "PWD"},
		"CWD":  {handler: (*Session).handleCWD, needsLogin: true, needsArg: true, help: "CWD <path>"},
		"CDUP": {handler: (*Session).handleCDUP, needsLogin: true, help: "CDUP"},
		"MKD":  {handler: (*Session).handleMKD, needsLogin: true, needsArg: true, help: "MKD <path>"},
		"RMD":  {handler: (*Session).handleRMD, needsLogin: true, needsArg: true, help: "RMD <path>"},
		"LIST": {handler: (*Session).handleLIST, needsLogin: true, help: "LIST [<path>]"},
		"NLST": {handler: (*Session).handleNLST, needsLogin: true, help: "NLST [<path>]"},
		"MLSD": {handler: (*Session).handleMLSD, needsLogin: true, help: "MLSD [<path>]"},
		"MLST": {handler: (*Session).handleMLST, needsLogin: true, help: "MLST [<path>]"},
		// Files
		"RETR": {handler: (*Session).handleRETR, needsLogin: true, needsArg: true, help: "RETR <path>"},
		"STOR": {handler: (*Session).handleSTOR, needsLogin: true, needsArg: true, help: "STOR <path>"},
		"DELE": {handler: (*Session).handleDELE, needsLogin: true, needsArg: true, help: "DELE <path>"},
		"SIZE": {handler: (*Session).handleSIZE, needsLogin: true, needsArg: true, help: "SIZE <path>"},
		"MDTM": {handler: (*Session).handleMDTM, needsLogin: true, needsArg: true, help: "MDTM <path>"},
		"REST": {handler: (*Session).handleREST, needsLogin: true, needsArg: true, help: "REST <offset>"},
		// Transfer parameters
		"TYPE": {handler: (*Session).handleTYPE, needsLogin: true, needsArg: true, help: "TYPE {A|I}"},
		"MODE": {handler: (*Session).handleMODE, needsLogin: true, needsArg: true, help: "MODE S"},
		"STRU": {handler: (*Session).handleSTRU, needsLogin: true, needsArg: true, help: "STRU F"},
		"PASV": {handler: (*Session).handlePASV, needsLogin: true, help: "PASV"},
		"EPSV": {handler: (*Session).handleEPSV, needsLogin: true, help: "EPSV [ALL|<protocol>]"},
		"PORT": {handler: (*Session).handlePORT, needsLogin: true, needsArg: true, help: "PORT h1,h2,h3,h4,p1,p2"},
		"EPRT": {handler: (*Session).handleEPRT, needsLogin: true, needsArg: true, help: "EPRT |proto|addr|port|"},
		// Information and miscellany
		"SYST": {handler: (*Session).handleSYST, help: "SYST"},
		"FEAT": {handler: (*Session).handleFEAT, help: "FEAT"},
		"OPTS": {handler: (*Session).handleOPTS, needsArg: true, help: "OPTS UTF8 ON"},
		"NOOP": {handler: (*Session).handleNOOP, help: "NOOP"},
		"HELP": {handler: (*Session).handleHELP, help: "HELP [<command>]"},
		"ABOR": {handler: (*Session).handleABOR, needsLogin: true, help: "ABOR"},
	}
	// RFC 1123 §4.1.3.1 aliases still sent by older clients.
	for alias, verb := range map[string]string{"XPWD": "PWD", "XCWD": "CWD", "XCUP": "CDUP", "XMKD": "MKD", "XRMD": "RMD"} {
		t[alias] = t[verb]
	}
	return t
}

// parseLine splits a command line into its upper-cased verb and argument. The
// argument keeps inner and trailing spaces: file names may contain them.
func parseLine(l string) (verb, arg string) {
	verb, arg, _ = strings.Cut(l, " ")
	return strings.ToUpper(verb), arg
}

// dispatch runs one command through the table and returns its reply.
func (s *Session) dispatch(verb, arg string) Reply {
	cmd, ok := commands[verb]
	switch {
	case verb == "":
		return reply(codeSyntaxError, "Empty command")
	case !ok:
		return reply(codeNotImplemented, "Command %s not implemented", verb)
	case cmd.needsLogin && s.user == nil:
		return reply(codeNotLoggedIn, "Please log in with USER and PASS first")
	case cmd.needsArg && strings.TrimSpace(arg) == "":
		return reply(codeSyntaxErrorParams, "%s needs an argument: %s", verb, cmd.help)
	}
	return cmd.handler(s, arg)
}

// execute handles one line from the control connection: it logs it, dispatches it
// and sends the reply, running a transfer if the command started one.
func (s *Session) execute(l line, lines <-chan line) {
	if l.tooLong {
		s.log.Warn("command line too long", "limit", maxLineLength)
		s.send(reply(codeSyntaxError, "Command line too long (limit %d bytes)", maxLineLength))
		return
	}
	verb, arg := parseLine(l.text)
	if verb == "PASS" {
		s.log.Debug("command", "cmd", "PASS ****")
	} else {
		s.log.Debug("command", "cmd", l.text)
	}
	r := s.dispatch(verb, arg)
	if r.transfer != nil {
		s.runTransfer(r, lines)
		return
	}
	s.send(r)
}
