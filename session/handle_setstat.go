package session

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/ftp2s3/ftp2s3/storage"
)

// Setting a file's modification time: MFMT (draft-somers-ftp-mfxx), MDTM with
// a time before the path (the form lftp, FileZilla and Pure-FTPd use) and SITE
// UTIME (ProFTPD's two forms). Mirroring clients send them after each upload;
// the time is kept as object metadata (storage/modtime.go) and shown by MDTM,
// MLST and listings the gateway's cache answers, or, with
// FTP2S3_SETSTAT=ignore, accepted without being stored.

// ModTimeSetter is the optional part of FS that records a client's time.
type ModTimeSetter interface {
	SetModTime(ctx context.Context, bucket, key string, t time.Time) (storage.Entry, error)
}

// errSetStatUnsupported: the file system cannot record times.
var errSetStatUnsupported = errors.New("this storage cannot record modification times")

// parseStamp reads YYYYMMDDHHMMSS with optional fractional seconds, in UTC
// (RFC 3659 §2.3).
func parseStamp(s string) (time.Time, bool) {
	whole, frac, hasFrac := strings.Cut(s, ".")
	if len(whole) != 14 || !allDigits(whole) || hasFrac && (frac == "" || len(frac) > 9 || !allDigits(frac)) {
		return time.Time{}, false
	}
	layout := "20060102150405"
	if hasFrac {
		layout += "." + strings.Repeat("0", len(frac))
	}
	t, err := time.Parse(layout, s)
	return t.UTC(), err == nil
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// setModTime sets arg's time to t and answers with the time now in force, as
// MFMT's 213 "Modify=…; path" does.
func (s *Session) setModTime(t time.Time, arg string) (Reply, bool) {
	if s.user.ReadOnly {
		return reply(codeActionNotTaken, "%s: %s", arg, readOnlyRefusal), false
	}
	vpath, loc, _, r := s.statFile(arg)
	if r != nil {
		return *r, false
	}
	if !s.cfg.IgnoreSetStat {
		setter, ok := s.fs.(ModTimeSetter)
		if !ok {
			return errReply(errSetStatUnsupported, arg), false
		}
		if _, err := setter.SetModTime(s.ctx, loc.bucket, loc.key, t); err != nil {
			return errReply(err, arg), false
		}
	}
	return reply(codeFileStatus, "Modify=%s; %s", t.Format("20060102150405"), vpath), true
}

// handleMFMT answers MFMT <time> <path>.
func (s *Session) handleMFMT(arg string) Reply {
	stamp, name, ok := strings.Cut(strings.TrimSpace(arg), " ")
	if !ok || strings.TrimSpace(name) == "" {
		return reply(codeSyntaxErrorParams, "MFMT needs a time and a path: MFMT YYYYMMDDHHMMSS <path>")
	}
	t, ok := parseStamp(stamp)
	if !ok {
		return reply(codeSyntaxErrorParams, "MFMT time must be YYYYMMDDHHMMSS")
	}
	r, _ := s.setModTime(t, name)
	return r
}

// mdtmSet recognises MDTM's setting form, "MDTM YYYYMMDDHHMMSS <path>". A file
// whose whole name looks like that is read, not set: the name wins.
func (s *Session) mdtmSet(arg string) (time.Time, string, bool) {
	stamp, name, ok := strings.Cut(arg, " ")
	if !ok || strings.TrimSpace(name) == "" {
		return time.Time{}, "", false
	}
	t, ok := parseStamp(stamp)
	if !ok {
		return time.Time{}, "", false
	}
	if _, loc, err := s.locate(arg); err == nil && !loc.isRoot() {
		if e, err := s.fs.Stat(s.ctx, loc.bucket, loc.key); err == nil && !e.IsDir {
			return time.Time{}, "", false
		}
	}
	return t, name, true
}

// siteUTIME answers "SITE UTIME <time> <path>" and ProFTPD's
// "SITE UTIME <path> <atime> <mtime> <ctime> UTC" (only mtime is kept).
func (s *Session) siteUTIME(rest string) Reply {
	fields := strings.Fields(rest)
	var (
		t    time.Time
		name string
		ok   bool
	)
	switch {
	case len(fields) >= 5 && strings.EqualFold(fields[len(fields)-1], "UTC"):
		n := len(fields)
		t, ok = parseStamp(fields[n-3])
		name = strings.TrimSpace(strings.Join(fields[:n-4], " "))
		if n-4 < 1 {
			ok = false
		}
	case len(fields) >= 2:
		stamp, path, _ := strings.Cut(strings.TrimSpace(rest), " ")
		t, ok = parseStamp(stamp)
		name = strings.TrimSpace(path)
	}
	if !ok || name == "" {
		return reply(codeSyntaxErrorParams, "SITE UTIME needs a time and a path: SITE UTIME YYYYMMDDHHMMSS <path>")
	}
	r, done := s.setModTime(t, name)
	if done {
		return reply(codeOK, "SITE UTIME: modification time of %s set", name)
	}
	return r
}
