package session

import (
	"runtime/debug"
	"strings"

	"github.com/ftp2s3/ftp2s3/storage"
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
	// feat is the command's RFC 2389 FEAT line, if it is an extension.
	feat string
}

// commands is the command table: every verb the gateway understands, its handler
// and its preconditions. Each handle_*.go file contributes the rows of the verbs it
// implements through commandSet; init merges them once and nothing changes it after.
var commands map[string]command

// commandSets collects the rows contributed by each file before init merges them.
var commandSets []map[string]command

// commandSet registers rows of the command table. It is called from package-level
// variable declarations, which all run before init.
func commandSet(rows map[string]command) struct{} {
	commandSets = append(commandSets, rows)
	return struct{}{}
}

// The table is filled in init because HELP and FEAT, two of its handlers, read it.
func init() { commands = buildCommands(commandSets) }

func buildCommands(sets []map[string]command) map[string]command {
	t := map[string]command{}
	for _, set := range sets {
		for verb, c := range set {
			if _, dup := t[verb]; dup {
				panic("session: command " + verb + " registered twice")
			}
			t[verb] = c
		}
	}
	// RFC 1123 §4.1.3.1 aliases still sent by older clients.
	for alias, verb := range map[string]string{"XPWD": "PWD", "XCWD": "CWD", "XCUP": "CDUP", "XMKD": "MKD", "XRMD": "RMD"} {
		if c, ok := t[verb]; ok {
			c.feat = ""
			t[alias] = c
		}
	}
	return t
}

// parseLine splits a command line into its upper-cased verb and argument. The
// argument keeps inner and trailing spaces: file names may contain them. Only
// ASCII letters are upper-cased: verbs are ASCII, and strings.ToUpper would turn
// stray bytes into U+FFFD.
func parseLine(l string) (verb, arg string) {
	verb, arg, _ = strings.Cut(l, " ")
	return asciiUpper(verb), arg
}

func asciiUpper(s string) string {
	for i := 0; i < len(s); i++ {
		if 'a' <= s[i] && s[i] <= 'z' {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				if 'a' <= b[j] && b[j] <= 'z' {
					b[j] -= 'a' - 'A'
				}
			}
			return string(b)
		}
	}
	return s
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
	case s.user != nil && s.user.ReadOnly && writeVerbs[verb]:
		return reply(codeActionNotTaken, "%s: permission denied (read-only account)", verb)
	case cmd.needsArg && strings.TrimSpace(arg) == "":
		return reply(codeSyntaxErrorParams, "%s needs an argument: %s", verb, cmd.help)
	}
	if verb != "RNTO" {
		// RNFR holds only until the next command (RFC 959 §4.1.3).
		s.renameFrom = ""
	}
	return cmd.handler(s, arg)
}

// execute handles one line from the control connection: it logs it, dispatches it
// and sends the reply, or starts the transfer the command asked for (Serve then
// sends its final reply).
func (s *Session) execute(l line) {
	defer s.recoverCommand(l)
	if l.tooLong {
		s.log.Warn("command line too long", "limit", maxLineLength)
		s.send(reply(codeSyntaxError, "Command line too long (limit %d bytes)", maxLineLength))
		return
	}
	verb, arg := parseLine(l.text)
	if verb == "AUTH" {
		// Runs after the reply is sent (and after recovery from a panic).
		defer s.afterAUTH()
	}
	if verb == "PASS" {
		s.log.Debug("command", "cmd", "PASS ****")
	} else {
		s.log.Debug("command", "cmd", logString(l.text))
	}
	r := s.dispatch(verb, arg)
	if r.err != nil {
		s.logStorageError(verb, r.err)
	}
	if r.transfer != nil {
		r.transfer.cmd = verb
		if s.startTransfer(r) {
			return // counted when it ends
		}
		r.Code = codeCantOpenData
	} else {
		s.send(r)
	}
	s.observeCommand(verb, r.Code)
}

// observeCommand reports a command to the Observer, with logins singled out.
func (s *Session) observeCommand(verb string, code int) {
	obs := s.cfg.observer()
	if _, known := commands[verb]; !known {
		verb = "UNKNOWN"
	}
	obs.Command(verb, code)
	if verb == "PASS" && (code == codeLoggedIn || code == codeNotLoggedIn) {
		obs.Login(code == codeLoggedIn)
	}
}

// recoverCommand turns a panic in a handler into a 451 reply and a log line with
// the stack: one bad command must never take the gateway down.
func (s *Session) recoverCommand(l line) {
	if v := recover(); v != nil {
		verb, _ := parseLine(l.text)
		s.log.Error("command panicked", "cmd", logString(verb), "panic", v, "stack", string(debug.Stack()))
		s.data.close()
		s.send(reply(codeLocalError, "Internal error while processing %s; the command was not completed", verb))
	}
}

// logStorageError records an unexpected storage failure with S3's request id, the
// one detail an operator needs to find the request on the S3 side.
func (s *Session) logStorageError(verb string, err error) {
	args := []any{"cmd", verb, "err", err}
	if id := storage.RequestID(err); id != "" {
		args = append(args, "s3_request_id", id)
	}
	s.log.Error("storage error", args...)
}
