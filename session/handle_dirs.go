package session

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"

	"github.com/ftp2s3/ftp2s3/storage"
)

// Directories and listings (RFC 959, RFC 3659 §7): PWD, CWD, CDUP, MKD, RMD,
// LIST, NLST, MLSD, MLST, and OPTS MLST. Their rows are in commands.go.

// locate cleans an FTP path argument and maps it into the user's home.
func (s *Session) locate(arg string) (string, location, error) {
	vpath := cleanPath(s.cwd, arg)
	loc, err := s.user.Home.resolve(vpath)
	return vpath, loc, err
}

// locateBelowRoot is locate for a command that acts on one file or directory
// below a root: a root directory (see location.isRootDir) is refused with 550
// and the reason given.
func (s *Session) locateBelowRoot(arg, refusal string) (string, location, *Reply) {
	vpath, loc, err := s.locate(arg)
	if err != nil {
		r := errReply(err, arg)
		return "", loc, &r
	}
	if loc.isRootDir() {
		r := reply(codeActionNotTaken, "%s: %s", arg, refusal)
		return "", loc, &r
	}
	return vpath, loc, nil
}

// removeEntry is DELE and RMD: it removes the file or directory at arg with
// remove, refusing a root directory with the reason given.
func (s *Session) removeEntry(arg, refusal, op string, remove func(ctx context.Context, bucket, key string) error) (string, location, *Reply) {
	vpath, loc, r := s.locateBelowRoot(arg, refusal)
	if r != nil {
		return "", loc, r
	}
	if err := remove(s.ctx, loc.bucket, loc.key); err != nil {
		s.logErr(op, vpath, err)
		r := errReply(err, arg)
		return "", loc, &r
	}
	return vpath, loc, nil
}

// statDir describes the directory at loc (the bucket list counts as one). The
// home's root always exists, even under a bucket/prefix with no key yet.
func (s *Session) statDir(ctx context.Context, loc location) (storage.Entry, error) {
	if loc.isRoot() {
		return storage.Entry{Name: "/", IsDir: true}, nil
	}
	e, err := s.fs.StatDir(ctx, loc.bucket, loc.key)
	if err != nil && loc.isHomeRoot() && loc.key != "" && errors.Is(err, storage.ErrNotFound) {
		return storage.Entry{Name: path.Base(loc.key), IsDir: true}, nil
	}
	return e, err
}

// stat describes the file or directory at loc. A root directory is described as
// the directory it is, never by an object that happens to have its key (under a
// bucket/prefix home, the object named like the prefix belongs to someone else).
func (s *Session) stat(ctx context.Context, loc location) (storage.Entry, error) {
	if loc.isRootDir() {
		return s.statDir(ctx, loc)
	}
	return s.fs.Stat(ctx, loc.bucket, loc.key)
}

// quotePath quotes a path for a 257 reply (RFC 959 appendix II: embedded quotes
// are doubled).
func quotePath(p string) string { return `"` + strings.ReplaceAll(p, `"`, `""`) + `"` }

func (s *Session) handlePWD(string) Reply {
	return reply(codePathCreated, "%s is the current directory", quotePath(s.cwd))
}

func (s *Session) handleCWD(arg string) Reply {
	vpath, loc, err := s.locate(arg)
	if err != nil {
		return errReply(err, arg)
	}
	if _, err := s.statDir(s.ctx, loc); err != nil {
		return errReply(err, arg)
	}
	s.cwd = vpath
	return reply(codeFileActionOK, "Directory changed to %s", vpath)
}

func (s *Session) handleCDUP(string) Reply { return s.handleCWD("..") }

func (s *Session) handleMKD(arg string) Reply {
	vpath, loc, r := s.locateBelowRoot(arg, "creating buckets is not allowed")
	if r != nil {
		return *r
	}
	if err := s.checkParent(loc); err != nil {
		return errReply(err, arg)
	}
	if err := s.fs.Mkdir(s.ctx, loc.bucket, loc.key); err != nil {
		s.logErr("mkdir", vpath, err)
		return errReply(err, arg)
	}
	s.emit(Event{Type: EventMkdir, Bucket: loc.bucket, Key: loc.key, Path: vpath})
	return reply(codePathCreated, "%s created", quotePath(vpath))
}

func (s *Session) handleRMD(arg string) Reply {
	vpath, loc, r := s.removeEntry(arg, "removing buckets or the home directory is not allowed", "rmdir", s.fs.Rmdir)
	if r != nil {
		return *r
	}
	s.emit(Event{Type: EventRmdir, Bucket: loc.bucket, Key: loc.key, Path: vpath})
	if s.cwd == vpath || strings.HasPrefix(s.cwd, vpath+"/") {
		s.cwd = path.Dir(vpath)
	}
	return reply(codeFileActionOK, "Directory %s removed", vpath)
}

// checkParent makes sure the directory that would hold loc exists, as on a POSIX
// server: a typo in a path fails instead of inventing a directory.
func (s *Session) checkParent(loc location) error {
	parent, err := s.user.Home.resolve(cleanPath("/", path.Dir(loc.rel)))
	if err != nil {
		return err
	}
	_, err = s.statDir(s.ctx, parent)
	return err
}

// listArgs strips the ls-style options clients put before the path ("LIST -la",
// "LIST -a dir"); a name that merely starts with "-" after a path is kept.
func listArgs(arg string) string {
	arg = strings.TrimSpace(arg)
	for strings.HasPrefix(arg, "-") {
		opt, rest, _ := strings.Cut(arg, " ")
		if strings.ContainsAny(opt[1:], "/.") {
			break
		}
		arg = strings.TrimSpace(rest)
	}
	return arg
}

// listFormat writes one entry in one of the listing formats.
type listFormat func(w io.Writer, e storage.Entry, readOnly bool) error

// handleListing is LIST, NLST and MLSD: it checks the target and returns the
// transfer that streams it, in the form the row's listing names.
func (s *Session) handleListing(arg string) Reply {
	kind := s.cmd.listing
	var format listFormat // nil: names only
	switch kind {
	case listLong:
		format = formatLIST
	case listFacts:
		off := s.info.mlstOff
		format = func(w io.Writer, e storage.Entry, readOnly bool) error {
			return formatFacts(w, e, readOnly, off)
		}
	}
	if kind != listFacts {
		arg = listArgs(arg)
	}
	vpath, loc, err := s.locate(arg)
	if errors.Is(err, storage.ErrNotFound) {
		// A bucket outside the home's list (Home.Allowed) answers as a
		// missing one does below.
		return reply(codeActionNotTaken, "%s: no such directory", arg)
	} else if err != nil {
		return errReply(err, arg)
	}
	readOnly, home := s.user.ReadOnly, s.user.Home
	fs := s.fs
	namePrefix := ""
	if kind == listNames && arg != "" && vpath != s.cwd {
		// ls-style: "NLST dir" names "dir/file" so the client can fetch it.
		namePrefix = strings.TrimSuffix(arg, "/") + "/"
	}
	pattern := ""
	if p, parent, prefix, ok := s.listGlob(kind, arg, vpath, loc); ok {
		pattern, loc, namePrefix = p, parent, prefix
	}
	var single *storage.Entry
	if _, derr := s.statDir(s.ctx, loc); derr != nil {
		e, ferr := s.stat(s.ctx, loc)
		if ferr != nil || kind == listFacts {
			if ferr == nil || errors.Is(ferr, storage.ErrNotFound) {
				return reply(codeActionNotTaken, "%s: no such directory", arg)
			}
			return errReply(ferr, arg)
		}
		single, namePrefix = &e, ""
		if kind == listNames {
			e.Name = arg
		}
	}
	emit := func(w io.Writer, e storage.Entry) error {
		if !listable(e.Name) || pattern != "" && !globMatch(pattern, e.Name) {
			return nil
		}
		if format == nil {
			_, err := io.WriteString(w, namePrefix+e.Name+"\r\n")
			return err
		}
		return format(w, e, readOnly)
	}
	run := func(ctx context.Context, conn io.ReadWriter) error {
		out, closeOut := s.listingOutput(conn)
		bw := newListWriter(out)
		var err error
		switch {
		case single != nil:
			err = emit(bw, *single)
		case loc.isRoot():
			var buckets []storage.Entry
			if buckets, err = fs.ListBuckets(ctx); err == nil {
				for _, b := range home.shownBuckets(buckets) {
					if err = emit(bw, b); err != nil {
						break
					}
				}
			}
		default:
			err = fs.List(ctx, loc.bucket, loc.listPrefix(), func(e storage.Entry) error { return emit(bw, e) })
		}
		if err != nil {
			return err
		}
		if err := bw.Flush(); err != nil {
			return err
		}
		return closeOut()
	}
	return Reply{
		Code:     codeFileStatusOK,
		Lines:    []string{fmt.Sprintf("Opening data connection for %s of %s", s.cmd.verb, vpath)},
		transfer: &transfer{path: vpath, run: run},
	}
}

func (s *Session) handleMLST(arg string) Reply {
	vpath, loc, err := s.locate(arg)
	if err != nil {
		return errReply(err, arg)
	}
	var e storage.Entry
	if e, err = s.stat(s.ctx, loc); err != nil {
		return errReply(err, arg)
	}
	var b strings.Builder
	e.Name = vpath
	_ = formatFacts(&b, e, s.user.ReadOnly, s.info.mlstOff)
	return Reply{Code: codeFileActionOK, Lines: []string{"Listing " + vpath, strings.TrimRight(b.String(), "\r\n"), "End"}}
}

func (s *Session) logErr(op, vpath string, err error) {
	if errors.Is(err, storage.ErrNotFound) || errors.Is(err, storage.ErrNotEmpty) || errors.Is(err, storage.ErrExists) {
		s.log.Info(op+" refused", "path", logString(vpath), "err", err)
		return
	}
	s.log.Error(op+" failed", "path", logString(vpath), "err", err)
}

// listable reports whether a name can appear in a listing. S3 keys may hold CR
// and LF, which would split a listing line in two (a forged entry) and which
// no FTP command can address anyway, so such entries are left out.
func listable(name string) bool { return !strings.ContainsAny(name, "\r\n") }

// optsMLST is "OPTS MLST fact;fact;" (RFC 3659 §7.9): the facts named are
// reported from now on, the others not; unknown facts are ignored. The reply
// names the facts now in force.
func (s *Session) optsMLST(verb, val string) Reply {
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
		return reply(codeOK, "%s OPTS", verb)
	}
	return reply(codeOK, "%s OPTS %s", verb, on.String())
}

// mlstFeat is the session's FEAT line for MLST: the facts in force are starred.
func (s *Session) mlstFeat(verb string) string {
	var b strings.Builder
	b.WriteString(verb + " ")
	for _, f := range mlsxFacts {
		b.WriteString(f)
		if !s.info.mlstOff[f] {
			b.WriteString("*")
		}
		b.WriteString(";")
	}
	return b.String()
}
