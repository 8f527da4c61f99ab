package session

import (
	"errors"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/ftp2s3/ftp2s3/storage"
)

// Information about the server and the session, and options (RFC 959, RFC 2389,
// RFC 3659 §7.8–§7.9): SYST, STAT, HELP, FEAT, OPTS, NOOP, CLNT, SITE. Their rows
// are in commands.go.

// infoState is what HOST, CLNT and OPTS set for the rest of the login. REIN
// resets it.
type infoState struct {
	// host is the virtual host named by HOST (RFC 7151, handle_login.go), for logs.
	host string
	// client is what CLNT said the client is, for logs.
	client string
	// mlstOff are the facts OPTS MLST turned off (nil: all on; handle_dirs.go).
	mlstOff map[string]bool
	// hashAlgo is the algorithm HASH uses, chosen with OPTS HASH (handle_hash.go).
	hashAlgo string
}

func (s *Session) handleSYST(string) Reply {
	// Clients use this to pick a listing parser; "UNIX Type: L8" selects ls -l.
	return reply(codeSystemType, "UNIX Type: L8")
}

// maxStatEntries bounds a STAT <dir> listing: it travels as one reply over the
// control connection, so a directory of a million keys must not be held whole.
const maxStatEntries = 10000

func (s *Session) handleSTAT(arg string) Reply {
	if strings.TrimSpace(arg) == "" {
		return s.serverStatus()
	}
	if s.user == nil {
		return reply(codeNotLoggedIn, "Please log in with USER and PASS first")
	}
	return s.statPath(listArgs(arg))
}

// serverStatus is STAT without an argument (RFC 959 §4.1.3): 211 and the
// session's parameters.
func (s *Session) serverStatus() Reply {
	lines := []string{"ftp2s3 status:"}
	if s.ctrl.Remote != nil {
		lines = append(lines, "Connected from "+s.ctrl.Remote.String())
	}
	if s.user != nil {
		lines = append(lines, "Logged in as "+s.user.Name)
	} else {
		lines = append(lines, "Not logged in")
	}
	typ := "BINARY"
	if !s.binary {
		typ = "ASCII"
	}
	lines = append(lines, "TYPE: "+typ+"; STRUcture: File; transfer MODE: Stream")
	switch {
	case s.data.passive != nil:
		lines = append(lines, "Data connection: passive, waiting on port "+strconv.Itoa(s.data.passive.Advertised().Port))
	case s.data.active != nil:
		lines = append(lines, "Data connection: active, to "+s.data.active.String())
	default:
		lines = append(lines, "No data connection")
	}
	return Reply{Code: codeSystemStatus, Lines: append(lines, "End of status")}
}

// transferStatus is STAT while a transfer runs: its progress so far.
func (s *Session) transferStatus() Reply {
	x := s.xfer
	return Reply{Code: codeSystemStatus, Lines: []string{
		"Transfer in progress:",
		fmt.Sprintf("%s %s: %d bytes in %s", x.t.verb, x.t.path, x.state.bytes.Load(), time.Since(x.state.start).Round(time.Millisecond)),
		"End of status",
	}}
}

// statPath lists a file or a directory over the control connection, in the LIST
// format (RFC 959 §4.1.3: "213" with the listing as a multi-line reply).
func (s *Session) statPath(arg string) Reply {
	vpath, loc, err := s.locate(arg)
	if err != nil {
		return errReply(err, arg)
	}
	lines := []string{"Status of " + vpath + ":"}
	var b strings.Builder
	add := func(e storage.Entry) error {
		if len(lines) > maxStatEntries {
			return errTruncated
		}
		if !listable(e.Name) {
			return nil
		}
		b.Reset()
		if err := formatLIST(&b, e, s.user.ReadOnly); err != nil {
			return err
		}
		lines = append(lines, strings.TrimRight(b.String(), "\r\n"))
		return nil
	}
	switch _, derr := s.statDir(s.ctx, loc); {
	case derr == nil && loc.isRoot():
		var buckets []storage.Entry
		if buckets, err = s.fs.ListBuckets(s.ctx); err == nil {
			for _, e := range s.user.Home.shownBuckets(buckets) {
				if err = add(e); err != nil {
					break
				}
			}
		}
	case derr == nil:
		err = s.fs.List(s.ctx, loc.bucket, loc.listPrefix(), add)
	default:
		var e storage.Entry
		if e, err = s.stat(s.ctx, loc); err == nil {
			err = add(e)
		}
	}
	switch {
	case errors.Is(err, errTruncated):
		lines = append(lines, fmt.Sprintf("(only the first %d entries; use LIST or MLSD for the rest)", maxStatEntries))
	case err != nil:
		return errReply(err, arg)
	}
	return Reply{Code: codeFileStatus, Lines: append(lines, "End of status")}
}

var errTruncated = errors.New("listing truncated")

func (s *Session) handleHELP(arg string) Reply {
	if arg = strings.ToUpper(strings.TrimSpace(arg)); arg != "" {
		if c := commands[arg]; c != nil {
			return reply(codeHelp, "Syntax: %s", c.help)
		}
		return reply(codeSyntaxErrorParams, "Unknown command %s", arg)
	}
	// Every name the table answers to, aliases included.
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

// staticFeatures are FEAT lines that belong to no single command.
var staticFeatures = []string{"TVFS"}

// featureLines are the RFC 2389 FEAT lines, one extension each, sorted: the
// static ones and the feat of every row of the command table, those of FTPS only
// when TLS is configured.
func featureLines(withTLS bool) []string {
	out := slices.Clone(staticFeatures)
	for _, c := range commandTable {
		if c.feat != "" && (withTLS || c.flags&featNeedsTLS == 0) {
			out = append(out, c.feat)
		}
	}
	sort.Strings(out)
	return out
}

func (s *Session) handleFEAT(string) Reply {
	lines := []string{"Extensions supported:"}
	for _, f := range featureLines(s.cfg.TLS != nil) {
		lines = append(lines, s.sessionFeat(f))
	}
	return Reply{Code: codeSystemStatus, Lines: append(lines, "End")}
}

// sessionFeat adjusts a FEAT line to this session's options: a row with
// featNow (MLST, HASH) writes its line as it stands now (RFC 3659 §7.8).
func (s *Session) sessionFeat(line string) string {
	verb, _, _ := strings.Cut(line, " ")
	if c := commands[verb]; c != nil && c.feat == line && c.featNow != nil {
		return c.featNow(s, c.verb)
	}
	return line
}

func (s *Session) handleOPTS(arg string) Reply {
	opt, val, _ := strings.Cut(strings.TrimSpace(arg), " ")
	switch strings.ToUpper(opt) {
	case "UTF8", "UTF-8":
		// Keys are always UTF-8 (RFC 2640). OFF matters only with a legacy code
		// page (pathenc.go): replies and listings then go back in it.
		switch strings.ToUpper(strings.TrimSpace(val)) {
		case "ON", "":
			s.utf8.Store(true)
			return reply(codeOK, "UTF8 mode enabled")
		case "OFF":
			s.utf8.Store(false)
			if s.cfg.PathEncoding != nil {
				return reply(codeOK, "UTF8 mode disabled: names in the server's code page")
			}
			return reply(codeOK, "UTF8 mode stays on: paths are UTF-8")
		}
		return reply(codeSyntaxErrorParams, "OPTS UTF8 takes ON or OFF")
	}
	if c := commands[asciiUpper(opt)]; c != nil && c.opts != nil {
		return c.opts(s, c.verb, val)
	}
	return reply(codeNotImplementedParam, "Option %s not supported", opt)
}

func (s *Session) handleNOOP(string) Reply { return reply(codeOK, "NOOP ok") }

func (s *Session) handleCLNT(arg string) Reply {
	s.info.client = strings.TrimSpace(arg)
	s.log.Info("client", "clnt", logString(s.info.client))
	return reply(codeOK, "Noted")
}

// siteHELP names the subcommands of the SITE table (commands.go).
func (s *Session) siteHELP(string) Reply {
	names := make([]string, len(siteTable))
	for i, c := range siteTable {
		names[i] = c.name
	}
	return Reply{Code: codeHelp, Lines: []string{
		"The following SITE commands are recognized:",
		strings.Join(names, " "),
		"SITE CHMOD is accepted and ignored: S3 objects have no Unix permissions",
		"Help OK",
	}}
}

func (s *Session) siteCHMOD(string) Reply {
	return reply(codeNotImplementedOK, "SITE CHMOD ignored: S3 objects have no Unix permissions")
}
