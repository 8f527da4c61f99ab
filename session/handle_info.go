package session

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/ftp2s3/ftp2s3/storage"
)

// Status, site-specific and informational commands (RFC 959, RFC 1123, RFC 3659,
// RFC 7151, draft-somers-ftp-mfxx, draft-bryan-ftpext-hash).
var _ = commandSet(map[string]command{
	"STAT":  {handler: (*Session).handleSTAT, help: "STAT [<path>]"},
	"SITE":  {handler: (*Session).handleSITE, needsLogin: true, needsArg: true, help: "SITE HELP"},
	"ALLO":  {handler: (*Session).handleALLO, needsLogin: true, needsArg: true, help: "ALLO <size> [R <record>]"},
	"ACCT":  {handler: (*Session).handleACCT, needsArg: true, help: "ACCT <account>"},
	"REIN":  {handler: (*Session).handleREIN, help: "REIN"},
	"SMNT":  {handler: (*Session).handleSMNT, needsLogin: true, needsArg: true, help: "SMNT <path>"},
	"STOU":  {handler: (*Session).handleSTOU, needsLogin: true, help: "STOU"},
	"HOST":  {handler: (*Session).handleHOST, needsArg: true, help: "HOST <domain>", feat: "HOST"},
	"CLNT":  {handler: (*Session).handleCLNT, needsArg: true, help: "CLNT <client name>", feat: "CLNT"},
	"MFMT":  {handler: (*Session).handleMFMT, needsLogin: true, needsArg: true, help: "MFMT <YYYYMMDDHHMMSS> <path>"},
	"HASH":  {handler: (*Session).handleHASH, needsLogin: true, needsArg: true, help: "HASH <path>", feat: "HASH SHA-256*;SHA-1;MD5;CRC32"},
	"XCRC":  {handler: (*Session).handleXCRC, needsLogin: true, needsArg: true, help: "XCRC <path>", feat: "XCRC"},
	"XMD5":  {handler: (*Session).handleXMD5, needsLogin: true, needsArg: true, help: "XMD5 <path>", feat: "XMD5"},
	"XSHA1": {handler: (*Session).handleXSHA1, needsLogin: true, needsArg: true, help: "XSHA1 <path>", feat: "XSHA1"},
	"XSHA256": {handler: (*Session).handleXSHA256, needsLogin: true, needsArg: true,
		help: "XSHA256 <path>", feat: "XSHA256"},
})

// infoState is the session state the commands of this file keep. REIN resets it.
type infoState struct {
	// host is the virtual host named by HOST (RFC 7151), for logs.
	host string
	// client is what CLNT said the client is, for logs.
	client string
	// mlstFacts are the facts OPTS MLST turned off (nil: all on).
	mlstOff map[string]bool
	// hashAlgo is the algorithm HASH uses, chosen with OPTS HASH.
	hashAlgo string
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
			for _, e := range buckets {
				if err = add(e); err != nil {
					break
				}
			}
		}
	case derr == nil:
		err = s.fs.List(s.ctx, loc.bucket, dirPrefix(loc.key), add)
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

// siteCommands are the SITE subcommands, for SITE HELP.
var siteCommands = []string{"HELP", "CHMOD"}

func (s *Session) handleSITE(arg string) Reply {
	sub, _, _ := strings.Cut(strings.TrimSpace(arg), " ")
	switch strings.ToUpper(sub) {
	case "HELP":
		return Reply{Code: codeHelp, Lines: []string{
			"The following SITE commands are recognized:",
			strings.Join(siteCommands, " "),
			"SITE CHMOD is accepted and ignored: S3 objects have no Unix permissions",
			"Help OK",
		}}
	case "CHMOD":
		// Mirroring clients (lftp, WinSCP) set modes after every upload; refusing
		// would fill their output with errors for something S3 cannot store.
		return reply(codeNotImplementedOK, "SITE CHMOD ignored: S3 objects have no Unix permissions")
	}
	return reply(codeNotImplementedParam, "SITE %s not supported; see SITE HELP", sub)
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

func (s *Session) handleACCT(string) Reply {
	return reply(codeNotImplementedOK, "ACCT not needed: no account is required on this server")
}

// handleREIN is RFC 959 REINITIALIZE: log out and reset every parameter, keeping
// the control connection open.
func (s *Session) handleREIN(string) Reply {
	s.data.close()
	if s.user != nil {
		s.log.Info("logout (REIN)")
		// The session is back to the state of a new connection, so the login
		// timeout runs again. Only after a login: REIN must not let a client
		// that never logged in stretch its time.
		if s.login != nil {
			s.login.Reset(s.cfg.LoginTimeout)
		}
	}
	s.user = nil
	s.pendingUser = ""
	s.fs = s.cfg.FS
	s.cwd = "/"
	s.binary = true
	s.restOffset = 0
	s.renameFrom = ""
	s.allocHint = 0
	s.epsvAll = false
	s.info = infoState{}
	s.log = s.cfg.Logger.With("session", s.id, "remote", s.conn.RemoteAddr().String())
	return reply(codeReady, "Session reinitialized; log in again with USER and PASS")
}

func (s *Session) handleSMNT(string) Reply {
	return reply(codeNotImplemented, "SMNT not implemented: there is one file system per user")
}

// handleSTOU stores the upload under a name the server chooses in the current
// directory and names it in the preliminary reply, as RFC 1123 §4.1.2.9 asks:
// "150 FILE: name".
func (s *Session) handleSTOU(arg string) Reply {
	stem := "ftp2s3"
	if a := strings.TrimSpace(arg); a != "" {
		// Some clients pass a wanted name; keep it as a readable stem.
		stem = strings.NewReplacer("/", "_", `\`, "_").Replace(a)
	}
	for range 5 {
		var b [6]byte
		_, _ = rand.Read(b[:])
		name := fmt.Sprintf("%s.%s.%s", stem, time.Now().UTC().Format("20060102T150405"), hex.EncodeToString(b[:]))
		_, loc, err := s.locate(name)
		if err != nil {
			return errReply(err, name)
		}
		if _, err := s.stat(s.ctx, loc); err == nil {
			continue
		} else if !errors.Is(err, storage.ErrNotFound) {
			return errReply(err, name)
		}
		r := s.handleSTOR(name)
		if r.transfer != nil {
			r.Lines = []string{"FILE: " + name}
			r.transfer.verb = "STOU"
		}
		return r
	}
	return reply(codeActionNotTaken, "Could not find a unique file name; try again")
}

// maxHostLength is the longest name HOST accepts: a DNS name has at most 253
// characters, a bracketed IPv6 address with a zone fewer.
const maxHostLength = 255

// handleHOST is RFC 7151: the virtual host the client wants, before login. All
// hosts share one configuration here, so any name is accepted, once: the name
// becomes an attribute of every later log line of the session, so a client must
// not be able to stack them (RFC 7151 §3.2 allows refusing a repeated HOST).
func (s *Session) handleHOST(arg string) Reply {
	if s.user != nil || s.pendingUser != "" {
		return reply(codeBadSequence, "HOST must come before USER")
	}
	if s.info.host != "" {
		return reply(codeBadSequence, "HOST already accepted (%s); send REIN to change it", s.info.host)
	}
	host := strings.TrimSpace(arg)
	if len(host) > maxHostLength || strings.ContainsAny(host, " \t") || !strings.HasPrefix(host, "[") && strings.Contains(host, ":") {
		return reply(codeSyntaxErrorParams, "HOST takes a domain name or a bracketed IP address")
	}
	s.info.host = host
	s.log = s.log.With("host", logString(host))
	return reply(codeReady, "Host %s accepted", host)
}

func (s *Session) handleCLNT(arg string) Reply {
	s.info.client = strings.TrimSpace(arg)
	s.log.Info("client", "clnt", logString(s.info.client))
	return reply(codeOK, "Noted")
}

// handleMFMT answers the modify-time command of draft-somers-ftp-mfxx. S3 sets
// LastModified itself when an object is written and offers no way to change it,
// so the request is refused rather than pretended.
func (s *Session) handleMFMT(arg string) Reply {
	stamp, name, ok := strings.Cut(strings.TrimSpace(arg), " ")
	if !ok || strings.TrimSpace(name) == "" {
		return reply(codeSyntaxErrorParams, "MFMT needs a time and a path: MFMT YYYYMMDDHHMMSS <path>")
	}
	if _, err := time.Parse("20060102150405", strings.SplitN(stamp, ".", 2)[0]); err != nil {
		return reply(codeSyntaxErrorParams, "MFMT time must be YYYYMMDDHHMMSS")
	}
	if _, _, _, r := s.statFile(name); r != nil {
		return *r
	}
	return reply(codeActionNotTaken, "%s: cannot set the modification time: S3 sets it when the object is written", name)
}

// sessionFeat adjusts a FEAT line to this session's options: the starred MLST
// facts and HASH algorithm are the ones in force (RFC 3659 §7.8).
func (s *Session) sessionFeat(line string) string {
	switch {
	case strings.HasPrefix(line, "MLST "):
		var b strings.Builder
		b.WriteString("MLST ")
		for _, f := range mlsxFacts {
			b.WriteString(f)
			if !s.info.mlstOff[f] {
				b.WriteString("*")
			}
			b.WriteString(";")
		}
		return b.String()
	case strings.HasPrefix(line, "HASH "):
		return s.hashFeat()
	}
	return line
}

// optsMLST is "OPTS MLST fact;fact;" (RFC 3659 §7.9): the facts named are
// reported from now on, the others not; unknown facts are ignored. The reply
// names the facts now in force.
func (s *Session) optsMLST(val string) Reply {
	want := map[string]bool{}
	for _, f := range strings.Split(strings.TrimSpace(val), ";") {
		want[strings.ToLower(strings.TrimSpace(f))] = true
	}
	off := map[string]bool{}
	var on strings.Builder
	for _, f := range mlsxFacts {
		if want[f] {
			on.WriteString(f + ";")
		} else {
			off[f] = true
		}
	}
	s.info.mlstOff = off
	if on.Len() == 0 {
		return reply(codeOK, "MLST OPTS")
	}
	return reply(codeOK, "MLST OPTS %s", on.String())
}
