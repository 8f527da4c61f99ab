package session

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/ftp2s3/ftp2s3/storage"
)

// Files (RFC 959, RFC 3659 §3, draft-somers-ftp-mfxx): RETR, SIZE, MDTM, MFMT,
// DELE, and renaming with RNFR/RNTO. S3 has no rename: storage copies
// server-side and deletes the original; a directory moves key by key. Uploads
// are in handle_upload.go; the rows of both are in commands.go.

// statFile describes the regular file at arg, refusing directories.
func (s *Session) statFile(arg string) (string, location, storage.Entry, *Reply) {
	vpath, loc, r := s.locateBelowRoot(arg, "not a regular file")
	if r != nil {
		return "", loc, storage.Entry{}, r
	}
	e, err := s.fs.Stat(s.ctx, loc.bucket, loc.key)
	if err != nil {
		r := errReply(err, arg)
		return "", loc, storage.Entry{}, &r
	}
	if e.IsDir {
		r := reply(codeActionNotTaken, "%s: not a regular file", arg)
		return "", loc, storage.Entry{}, &r
	}
	return vpath, loc, e, nil
}

func (s *Session) handleSIZE(arg string) Reply {
	_, loc, e, r := s.statFile(arg)
	if r != nil {
		return *r
	}
	if !s.binary {
		return s.asciiSize(arg, loc, e.Size)
	}
	return reply(codeFileStatus, "%d", e.Size)
}

func (s *Session) handleMDTM(arg string) Reply {
	if t, name, ok := s.mdtmSet(arg); ok {
		r, _ := s.setModTime(t, name)
		return r
	}
	_, _, e, r := s.statFile(arg)
	if r != nil {
		return *r
	}
	return reply(codeFileStatus, "%s", e.ModTime.UTC().Format("20060102150405"))
}

func (s *Session) handleDELE(arg string) Reply {
	vpath, loc, r := s.removeEntry(arg, "not a regular file", "delete", s.fs.Delete)
	if r != nil {
		return *r
	}
	s.emit(Event{Type: EventDelete, Bucket: loc.bucket, Key: loc.key, Path: vpath})
	return reply(codeFileActionOK, "%s deleted", vpath)
}

// handleRETR opens the file with the GET that starts the download, so a small
// file costs one request and a missing one is still a 550 before any 150; the
// transfer sends that GET's body, and reads the rest pinned to its ETag.
func (s *Session) handleRETR(arg string) Reply {
	offset := s.restOffset // its row ends it
	vpath, loc, r := s.locateBelowRoot(arg, "not a regular file")
	if r != nil {
		return *r
	}
	binary := s.binary
	start := offset
	if !binary {
		start = 0 // ASCII offsets count converted bytes: skipWriter drops them
	}
	// The GET's body is sent by the transfer, after this command has ended.
	octx, settle, release := s.outliving()
	f, err := s.fs.Open(octx, loc.bucket, loc.key, start)
	if !settle() && err == nil {
		_ = f.Close()
		err = context.Cause(octx)
	}
	if err != nil {
		release()
		if errors.Is(err, storage.ErrNotFound) {
			if _, derr := s.fs.StatDir(s.ctx, loc.bucket, loc.key); derr == nil {
				return reply(codeActionNotTaken, "%s: not a regular file", arg)
			}
		}
		return errReply(err, arg)
	}
	run := func(ctx context.Context, conn io.ReadWriter) error {
		if binary {
			_, err := f.Send(ctx, conn)
			return err
		}
		aw := newASCIIWriter(&skipWriter{w: conn, skip: offset})
		if _, err := f.Send(ctx, aw); err != nil {
			return err
		}
		return aw.Flush()
	}
	return Reply{
		Code:  codeFileStatusOK,
		Lines: []string{fmt.Sprintf("Opening %s mode data connection for %s (%d bytes)", modeName(binary), vpath, f.Entry().Size)},
		transfer: &transfer{path: vpath, run: run, release: func() { _ = f.Close(); release() },
			finished: s.downloadFinished(loc, vpath, f.Entry(), offset > 0)},
	}
}

func modeName(binary bool) string {
	if binary {
		return "BINARY"
	}
	return "ASCII"
}

func (s *Session) handleRNFR(arg string) Reply {
	vpath, loc, r := s.locateBelowRoot(arg, "buckets and the home directory cannot be renamed")
	if r != nil {
		return *r
	}
	if _, err := s.stat(s.ctx, loc); err != nil {
		return errReply(err, arg)
	}
	s.renameFrom = vpath
	return reply(codePendingFurtherInfo, "%s exists; send RNTO with the new name", vpath)
}

func (s *Session) handleRNTO(arg string) Reply {
	from := s.renameFrom // its row ends it
	if from == "" {
		return reply(codeBadSequence, "Send RNFR first")
	}
	_, src, err := s.locate(from)
	if err != nil {
		return errReply(err, from)
	}
	vpath, dst, r := s.locateBelowRoot(arg, "not a valid name")
	if r != nil {
		return *r
	}
	e, err := s.stat(s.ctx, src)
	if err != nil {
		return errReply(err, from)
	}
	if err := s.checkParent(dst); err != nil {
		return errReply(err, arg)
	}
	if e.IsDir {
		err = s.fs.RenameDir(s.ctx, src.bucket, src.key, dst.bucket, dst.key)
	} else {
		if d, derr := s.stat(s.ctx, dst); derr == nil && d.IsDir {
			return reply(codeActionNotTaken, "%s: is a directory", arg)
		}
		err = s.fs.Rename(s.ctx, src.bucket, src.key, dst.bucket, dst.key)
	}
	if err != nil {
		s.logErr("rename", from+" -> "+vpath, err)
		return renameErrReply(err, from, arg)
	}
	s.emit(Event{Type: EventRename, Bucket: src.bucket, Key: src.key, Path: from,
		ToBucket: dst.bucket, ToKey: dst.key, ToPath: vpath, Dir: e.IsDir})
	if e.IsDir && (s.cwd == from || strings.HasPrefix(s.cwd, from+"/")) {
		s.cwd = vpath + strings.TrimPrefix(s.cwd, from)
	}
	return reply(codeFileActionOK, "Renamed %s to %s", from, vpath)
}

// renameErrReply is errReply for a failed rename, where two storage errors mean
// something narrower: ErrTooLarge is a directory with more keys than a rename
// may move, ErrInvalidName a directory moved into itself; S3's own refusals,
// which carry a reason, keep the common wording.
func renameErrReply(err error, from, to string) Reply {
	switch {
	case storage.Reason(err) != "":
	case errors.Is(err, storage.ErrTooLarge):
		return reply(codeActionNotTaken, "%s: directory too large to rename (more keys than FTP2S3_MAX_RENAME_KEYS allows)", from)
	case errors.Is(err, storage.ErrInvalidName):
		return reply(codeActionNotTaken, "%s: cannot move a directory into itself", to)
	}
	return errReply(err, to)
}

// downloadFinished reports a download that ended with 226.
func (s *Session) downloadFinished(loc location, vpath string, e storage.Entry, resumed bool) func(Reply, int64, time.Duration) {
	user := s.user.Name
	return func(r Reply, bytes int64, d time.Duration) {
		if r.Code != codeClosingData {
			return
		}
		s.emit(Event{Type: EventDownloadCompleted, User: user, Bucket: loc.bucket, Key: loc.key, Path: vpath,
			Size: e.Size, SHA256: e.SHA256, ETag: e.ETag, Bytes: bytes, Duration: d, Resumed: resumed})
	}
}
