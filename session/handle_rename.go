package session

import (
	"errors"
	"strings"

	"github.com/ftp2s3/ftp2s3/storage"
)

// Renaming (RFC 959 RNFR/RNTO). S3 has no rename: storage copies server-side and
// deletes the original; a directory moves key by key.
var _ = commandSet(map[string]command{
	"RNFR": {handler: (*Session).handleRNFR, needsLogin: true, needsArg: true, help: "RNFR <path>"},
	"RNTO": {handler: (*Session).handleRNTO, needsLogin: true, needsArg: true, help: "RNTO <path>"},
})

func (s *Session) handleRNFR(arg string) Reply {
	vpath, loc, err := s.locate(arg)
	if err != nil {
		return errReply(err, arg)
	}
	if loc.isRootDir() {
		return reply(codeActionNotTaken, "%s: buckets and the home directory cannot be renamed", arg)
	}
	if _, err := s.stat(s.ctx, loc); err != nil {
		return errReply(err, arg)
	}
	s.renameFrom = vpath
	return reply(codePendingFurtherInfo, "%s exists; send RNTO with the new name", vpath)
}

func (s *Session) handleRNTO(arg string) Reply {
	from := s.renameFrom
	s.renameFrom = ""
	if from == "" {
		return reply(codeBadSequence, "Send RNFR first")
	}
	_, src, err := s.locate(from)
	if err != nil {
		return errReply(err, from)
	}
	vpath, dst, err := s.locate(arg)
	if err != nil {
		return errReply(err, arg)
	}
	if dst.isRootDir() {
		return reply(codeActionNotTaken, "%s: not a valid name", arg)
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
		if errors.Is(err, storage.ErrTooLarge) {
			return reply(codeActionNotTaken, "%s: directory too large to rename (more keys than FTP2S3_MAX_RENAME_KEYS allows)", from)
		}
		if errors.Is(err, storage.ErrInvalidName) {
			return reply(codeActionNotTaken, "%s: cannot move a directory into itself", arg)
		}
		return errReply(err, arg)
	}
	if e.IsDir && (s.cwd == from || strings.HasPrefix(s.cwd, from+"/")) {
		s.cwd = vpath + strings.TrimPrefix(s.cwd, from)
	}
	return reply(codeFileActionOK, "Renamed %s to %s", from, vpath)
}
