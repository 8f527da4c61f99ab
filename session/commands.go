package session

import (
	"runtime/debug"
	"strings"

	"github.com/ftp2s3/ftp2s3/storage"
)

// command is one row of the command table: everything the gateway knows about a
// verb. The table (commandRows) is the only place these facts are written.
type command struct {
	verb string
	// alias is another name for the same command: the RFC 1123 §4.1.3.1 X-form
	// older clients still send. It shares the row, but not the FEAT line.
	alias string
	flags commandFlags
	// handler answers the verb when no transfer runs.
	handler func(s *Session, arg string) Reply
	// whileTransfer, when set, answers the verb while a transfer runs (it may
	// send replies of its own before the one it returns); the lines of every
	// other verb wait in the queue until the transfer is over (see lineQueue).
	whileTransfer func(s *Session) Reply
	// feat is the verb's RFC 2389 FEAT line, if it is an extension.
	feat string
	// featNow, when set, writes the FEAT line as it stands in this session
	// (the options in force are starred, RFC 3659 §7.8); verb begins it.
	featNow func(s *Session, verb string) string
	// opts answers "OPTS <verb> <value>" (RFC 2389 §4), when the verb has
	// options; verb names it in the reply.
	opts func(s *Session, verb, val string) Reply
	// listing is what the verb sends over the data connection when it is a
	// listing (handle_dirs.go), notListing otherwise.
	listing listKind
	// help is the syntax HELP shows.
	help string
}

// commandFlags are the preconditions dispatch checks before a handler runs, and
// what FEAT needs to know.
type commandFlags uint16

const (
	// needsLogin: refused with 530 before a successful PASS.
	needsLogin commandFlags = 1 << iota
	// needsArg: refused with 501 when the argument is missing.
	needsArg
	// writes: changes storage, so refused with 550 to read-only users before the
	// handler runs (TestReadOnlyRefusalFollowsTable).
	writes
	// featNeedsTLS: the FEAT line is shown only when TLS is configured, so that
	// clients do not try AUTH TLS in vain.
	featNeedsTLS
	// runsLong: the command may legitimately take longer than the command
	// deadline (Config.CommandTimeout), so it runs without one (deadline.go).
	runsLong
	// upgrades: once answered, the connection may turn into TLS, so the line
	// reader stops until the handshake is over (readLines, afterAUTH).
	upgrades
	// secretArg: the argument is a secret, never logged.
	secretArg
	// login: the verb's 230 or 530 is the outcome of a login attempt (metrics).
	login
	// State the verb ends once its handler ran (which may use it). A restart
	// offset and an allocation wait for the transfer that takes them; a rename
	// source holds only until the next command (RFC 959 §4.1.3), so every verb
	// without endsRename drops it before its handler runs.
	endsRest
	endsAllo
	endsRename
)

// upgradesConn reports whether c's row upgrades the connection; nil (no row) does not.
func (c *command) upgradesConn() bool { return c != nil && c.flags&upgrades != 0 }

// listKind is what a listing verb sends; its row holds it.
type listKind uint8

const (
	notListing listKind = iota
	// listLong: ls -l lines; ls options are skipped, a glob is expanded and a
	// file is listed as itself.
	listLong
	// listNames: names only, as listLong otherwise; "dir" names its entries
	// "dir/name" so they can be fetched as they are.
	listNames
	// listFacts: RFC 3659 facts of a directory's entries; the argument is a
	// path as it stands and must name a directory.
	listFacts
)

// commandRows is the command table, one row per verb, grouped by the file that
// holds the handlers. It is a function, called once by init, because HELP and
// FEAT read the table their own rows are part of.
func commandRows() []command {
	return []command{
		// Login, access control and security: handle_login.go, handle_tls.go.
		{verb: "USER", flags: needsArg, handler: (*Session).handleUSER, help: "USER <name>"},
		{verb: "PASS", flags: secretArg | login, handler: (*Session).handlePASS, help: "PASS <password>"},
		{verb: "ACCT", flags: needsArg, handler: (*Session).handleACCT, help: "ACCT <account>"},
		{verb: "SMNT", flags: needsLogin | needsArg, handler: (*Session).handleSMNT, help: "SMNT <path>"},
		{verb: "REIN", flags: endsRest | endsAllo, handler: (*Session).handleREIN, help: "REIN"},
		{verb: "QUIT", handler: (*Session).handleQUIT, help: "QUIT"},
		{verb: "HOST", flags: needsArg, handler: (*Session).handleHOST, feat: "HOST", help: "HOST <domain>"},
		{verb: "AUTH", flags: needsArg | featNeedsTLS | upgrades, handler: (*Session).handleAUTH, feat: "AUTH TLS", help: "AUTH TLS"},
		{verb: "PBSZ", flags: needsArg | featNeedsTLS, handler: (*Session).handlePBSZ, feat: "PBSZ", help: "PBSZ 0"},
		{verb: "PROT", flags: needsArg | featNeedsTLS, handler: (*Session).handlePROT, feat: "PROT", help: "PROT {C|P}"},
		{verb: "CCC", handler: (*Session).handleCCC, help: "CCC"},

		// Directories and listings: handle_dirs.go.
		{verb: "PWD", alias: "XPWD", flags: needsLogin, handler: (*Session).handlePWD, help: "PWD"},
		{verb: "CWD", alias: "XCWD", flags: needsLogin | needsArg, handler: (*Session).handleCWD, help: "CWD <path>"},
		{verb: "CDUP", alias: "XCUP", flags: needsLogin, handler: (*Session).handleCDUP, help: "CDUP"},
		{verb: "MKD", alias: "XMKD", flags: needsLogin | needsArg | writes, handler: (*Session).handleMKD, help: "MKD <path>"},
		{verb: "RMD", alias: "XRMD", flags: needsLogin | needsArg | writes, handler: (*Session).handleRMD, help: "RMD <path>"},
		{verb: "LIST", flags: needsLogin, listing: listLong, handler: (*Session).handleListing, help: "LIST [<path>]"},
		{verb: "NLST", flags: needsLogin, listing: listNames, handler: (*Session).handleListing, help: "NLST [<path>]"},
		{verb: "MLSD", flags: needsLogin, listing: listFacts, handler: (*Session).handleListing, help: "MLSD [<path>]"},
		{verb: "MLST", flags: needsLogin, handler: (*Session).handleMLST, feat: "MLST type*;size*;modify*;perm*;", featNow: (*Session).mlstFeat, opts: (*Session).optsMLST, help: "MLST [<path>]"},

		// Files: handle_files.go; uploads: handle_upload.go.
		{verb: "RETR", flags: needsLogin | needsArg | endsRest, handler: (*Session).handleRETR, help: "RETR <path>"},
		{verb: "SIZE", flags: needsLogin | needsArg, handler: (*Session).handleSIZE, feat: "SIZE", help: "SIZE <path>"},
		{verb: "MDTM", flags: needsLogin | needsArg, handler: (*Session).handleMDTM, feat: "MDTM", help: "MDTM [<YYYYMMDDHHMMSS>] <path>"},
		{verb: "MFMT", flags: needsLogin | needsArg | writes, handler: (*Session).handleMFMT, feat: "MFMT", help: "MFMT <YYYYMMDDHHMMSS> <path>"},
		{verb: "DELE", flags: needsLogin | needsArg | writes, handler: (*Session).handleDELE, help: "DELE <path>"},
		{verb: "RNFR", flags: needsLogin | needsArg | writes, handler: (*Session).handleRNFR, help: "RNFR <path>"},
		{verb: "RNTO", flags: needsLogin | needsArg | writes | runsLong | endsRename, handler: (*Session).handleRNTO, help: "RNTO <path>"},
		{verb: "STOR", flags: needsLogin | needsArg | writes | endsRest | endsAllo, handler: (*Session).handleSTOR, help: "STOR <path>"},
		{verb: "STOU", flags: needsLogin | writes | endsRest | endsAllo, handler: (*Session).handleSTOU, help: "STOU"},
		{verb: "APPE", flags: needsLogin | needsArg | writes | endsRest | endsAllo, handler: (*Session).handleAPPE, help: "APPE <path>"},

		// Data connections and transfer parameters: handle_data.go.
		{verb: "PASV", flags: needsLogin, handler: (*Session).handlePASV, help: "PASV"},
		{verb: "EPSV", flags: needsLogin, handler: (*Session).handleEPSV, feat: "EPSV", help: "EPSV [ALL|<protocol>]"},
		{verb: "PORT", flags: needsLogin | needsArg, handler: (*Session).handlePORT, help: "PORT h1,h2,h3,h4,p1,p2"},
		{verb: "EPRT", flags: needsLogin | needsArg, handler: (*Session).handleEPRT, feat: "EPRT", help: "EPRT |proto|addr|port|"},
		{verb: "TYPE", flags: needsLogin | needsArg, handler: (*Session).handleTYPE, help: "TYPE {A|I}"},
		{verb: "MODE", flags: needsLogin | needsArg, handler: (*Session).handleMODE, help: "MODE S"},
		{verb: "STRU", flags: needsLogin | needsArg, handler: (*Session).handleSTRU, help: "STRU F"},
		{verb: "REST", flags: needsLogin | needsArg, handler: (*Session).handleREST, feat: "REST STREAM", help: "REST <offset>"},
		{verb: "ALLO", flags: needsLogin | needsArg, handler: (*Session).handleALLO, help: "ALLO <size> [R <record>]"},
		{verb: "ABOR", flags: needsLogin, handler: (*Session).handleABOR, whileTransfer: (*Session).abortTransfer, help: "ABOR"},

		// Checksums (draft-bryan-ftpext-hash and the older X-forms): handle_hash.go.
		{verb: "HASH", flags: needsLogin | needsArg, handler: (*Session).handleHASH, feat: "HASH SHA-256*;SHA-1;MD5;CRC32", featNow: (*Session).hashFeat, opts: (*Session).optsHASH, help: "HASH <path>"},
		{verb: "XCRC", flags: needsLogin | needsArg, handler: (*Session).handleXCRC, feat: "XCRC", help: "XCRC <path>"},
		{verb: "XMD5", flags: needsLogin | needsArg, handler: (*Session).handleXMD5, feat: "XMD5", help: "XMD5 <path>"},
		{verb: "XSHA1", flags: needsLogin | needsArg, handler: (*Session).handleXSHA1, feat: "XSHA1", help: "XSHA1 <path>"},
		{verb: "XSHA256", flags: needsLogin | needsArg, handler: (*Session).handleXSHA256, feat: "XSHA256", help: "XSHA256 <path>"},

		// Information and options: handle_info.go.
		{verb: "SYST", handler: (*Session).handleSYST, help: "SYST"},
		{verb: "STAT", handler: (*Session).handleSTAT, whileTransfer: (*Session).transferStatus, help: "STAT [<path>]"},
		{verb: "HELP", handler: (*Session).handleHELP, help: "HELP [<command>]"},
		{verb: "FEAT", handler: (*Session).handleFEAT, help: "FEAT"},
		{verb: "OPTS", flags: needsArg, handler: (*Session).handleOPTS, feat: "UTF8", help: "OPTS UTF8 ON"},
		{verb: "NOOP", handler: (*Session).handleNOOP, help: "NOOP"},
		{verb: "CLNT", flags: needsArg, handler: (*Session).handleCLNT, feat: "CLNT", help: "CLNT <client name>"},
		{verb: "SITE", flags: needsLogin | needsArg, handler: (*Session).dispatchSITE, help: "SITE HELP"},
	}
}

var (
	// commandTable is the command table in the order of commandRows.
	commandTable []command
	// commands finds a row by its verb or its alias.
	commands map[string]*command
)

func init() {
	commandTable = commandRows()
	commands = indexCommands(commandTable)
	siteTable = siteRows()
}

// indexCommands maps every verb and alias to its row. A name used twice is a
// mistake in the table, caught when the package loads.
func indexCommands(rows []command) map[string]*command {
	index := map[string]*command{}
	add := func(name string, c *command) {
		if _, dup := index[name]; dup {
			panic("session: command " + name + " is in the table twice")
		}
		index[name] = c
	}
	for i := range rows {
		c := &rows[i]
		add(c.verb, c)
		if c.alias != "" {
			add(c.alias, c)
		}
	}
	return index
}

// siteCommand is one row of the SITE table: SITE's subcommands, each with its
// own read-only rule, so that a read-only user still gets SITE HELP.
type siteCommand struct {
	name    string
	writes  bool
	handler func(s *Session, arg string) Reply
}

// siteRows is the SITE table (dispatchSITE).
func siteRows() []siteCommand {
	return []siteCommand{
		{name: "HELP", handler: (*Session).siteHELP},
		// Mirroring clients (lftp, WinSCP) set modes after every upload;
		// refusing would fill their output with errors for something S3
		// cannot store, so it is accepted and ignored.
		{name: "CHMOD", writes: true, handler: (*Session).siteCHMOD},
		{name: "UTIME", writes: true, handler: (*Session).siteUTIME},
	}
}

// siteTable is the SITE table in the order of siteRows; init builds it, as
// SITE HELP reads it.
var siteTable []siteCommand

// dispatchSITE runs "SITE <subcommand> <arg>" through the SITE table.
func (s *Session) dispatchSITE(arg string) Reply {
	sub, rest, _ := strings.Cut(strings.TrimSpace(arg), " ")
	name := asciiUpper(sub)
	for _, c := range siteTable {
		if c.name != name {
			continue
		}
		if c.writes && s.user.ReadOnly {
			return readOnlyRefused(s.cmd.verb + " " + name)
		}
		return c.handler(s, rest)
	}
	return reply(codeNotImplementedParam, "%s %s not supported; see %s", s.cmd.verb, sub, s.cmd.help)
}

// readOnlyRefusal is the reason given to a read-only user for a verb that writes.
const readOnlyRefusal = "permission denied (read-only account)"

func readOnlyRefused(name string) Reply {
	return reply(codeActionNotTaken, "%s: %s", name, readOnlyRefusal)
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
	cmd := commands[verb]
	switch {
	case verb == "":
		return reply(codeSyntaxError, "Empty command")
	case cmd == nil:
		return reply(codeNotImplemented, "Command %s not implemented", verb)
	case cmd.flags&needsLogin != 0 && s.user == nil:
		return reply(codeNotLoggedIn, "Please log in with USER and PASS first")
	case cmd.flags&writes != 0 && s.user != nil && s.user.ReadOnly:
		return readOnlyRefused(verb)
	case cmd.flags&needsArg != 0 && strings.TrimSpace(arg) == "":
		return reply(codeSyntaxErrorParams, "%s needs an argument: %s", verb, cmd.help)
	}
	if cmd.flags&endsRename == 0 {
		s.renameFrom = ""
	}
	s.cmd = cmd
	defer func() {
		s.cmd = nil
		if cmd.flags&endsRest != 0 {
			s.restOffset = 0
		}
		if cmd.flags&endsAllo != 0 {
			s.allocHint = 0
		}
		if cmd.flags&endsRename != 0 {
			s.renameFrom = ""
		}
	}()
	return cmd.handler(s, arg)
}

// execute handles one line from the control connection: it logs it, dispatches it
// and sends the reply, or starts the transfer the command asked for (Serve then
// sends its final reply).
func (s *Session) execute(l line) {
	defer s.recoverCommand(l)
	verb, arg := parseLine(l.text)
	cmd := commands[verb]
	ctx, cancel := s.commandContext(cmd)
	s.ctx = ctx
	defer func() { cancel(); s.ctx = s.base }()
	if l.tooLong {
		s.log.Warn("command line too long", "limit", maxLineLength)
		s.send(reply(codeSyntaxError, "Command line too long (limit %d bytes)", maxLineLength))
		return
	}
	if cmd.upgradesConn() {
		// Runs after the reply is sent (and after recovery from a panic).
		defer s.afterAUTH()
	}
	if cmd != nil && cmd.flags&secretArg != 0 {
		s.log.Debug("command", "cmd", verb+" ****")
	} else {
		s.log.Debug("command", "cmd", logString(l.text))
	}
	r := timedOut(ctx, verb, s.dispatch(verb, arg))
	if r.err != nil {
		s.logStorageError(verb, r.err)
	}
	if r.transfer != nil {
		r.transfer.cmd, r.transfer.verb = verb, verb
		r.transfer.listing = cmd.listing != notListing
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
	cmd := commands[verb]
	if cmd == nil {
		verb = "UNKNOWN"
	}
	obs.Command(verb, code)
	if cmd != nil && cmd.flags&login != 0 && (code == codeLoggedIn || code == codeNotLoggedIn) {
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
