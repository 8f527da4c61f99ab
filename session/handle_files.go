package session

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/ftp2s3/ftp2s3/storage"
)

// Files (RFC 959, RFC 3659 §3–§5).
var _ = commandSet(map[string]command{
	"RETR": {handler: (*Session).handleRETR, needsLogin: true, needsArg: true, help: "RETR <path>"},
	"STOR": {handler: (*Session).handleSTOR, needsLogin: true, needsArg: true, help: "STOR <path>"},
	"DELE": {handler: (*Session).handleDELE, needsLogin: true, needsArg: true, help: "DELE <path>"},
	"SIZE": {handler: (*Session).handleSIZE, needsLogin: true, needsArg: true, help: "SIZE <path>", feat: "SIZE"},
	"MDTM": {handler: (*Session).handleMDTM, needsLogin: true, needsArg: true, help: "MDTM <path>", feat: "MDTM"},
	"REST": {handler: (*Session).handleREST, needsLogin: true, needsArg: true, help: "REST <offset>", feat: "REST STREAM"},
})

// statFile describes the regular file at arg, refusing directories.
func (s *Session) statFile(arg string) (string, location, storage.Entry, *Reply) {
	vpath, loc, err := s.locate(arg)
	if err != nil {
		r := errReply(err, arg)
		return "", loc, storage.Entry{}, &r
	}
	if loc.isRootDir() {
		r := reply(codeActionNotTaken, "%s: not a regular file", arg)
		return "", loc, storage.Entry{}, &r
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
	_, _, e, r := s.statFile(arg)
	if r != nil {
		return *r
	}
	return reply(codeFileStatus, "%s", e.ModTime.UTC().Format("20060102150405"))
}

func (s *Session) handleREST(arg string) Reply {
	n, err := strconv.ParseInt(strings.TrimSpace(arg), 10, 64)
	if err != nil || n < 0 {
		return reply(codeSyntaxErrorParams, "REST needs a non-negative byte offset")
	}
	s.restOffset = n
	return reply(codePendingFurtherInfo, "Restarting at %d; send RETR or STOR to continue", n)
}

func (s *Session) handleDELE(arg string) Reply {
	vpath, loc, err := s.locate(arg)
	if err != nil {
		return errReply(err, arg)
	}
	if loc.isRootDir() {
		return reply(codeActionNotTaken, "%s: not a regular file", arg)
	}
	if err := s.fs.Delete(s.ctx, loc.bucket, loc.key); err != nil {
		s.logErr("delete", vpath, err)
		return errReply(err, arg)
	}
	return reply(codeFileActionOK, "%s deleted", vpath)
}

func (s *Session) handleRETR(arg string) Reply {
	offset := s.restOffset
	s.restOffset = 0
	vpath, loc, e, r := s.statFile(arg)
	if r != nil {
		return *r
	}
	fs, binary := s.fs, s.binary
	run := func(ctx context.Context, conn io.ReadWriter) error {
		if binary {
			_, err := fs.Get(ctx, loc.bucket, loc.key, offset, conn)
			return err
		}
		aw := newASCIIWriter(&skipWriter{w: conn, skip: offset})
		if _, err := fs.Get(ctx, loc.bucket, loc.key, 0, aw); err != nil {
			return err
		}
		return aw.Flush()
	}
	return Reply{
		Code:     codeFileStatusOK,
		Lines:    []string{fmt.Sprintf("Opening %s mode data connection for %s (%d bytes)", modeName(binary), vpath, e.Size)},
		transfer: &transfer{verb: "RETR", path: vpath, run: run},
	}
}

func (s *Session) handleSTOR(arg string) Reply {
	offset := s.restOffset
	s.restOffset = 0
	return s.startUpload("STOR", arg, storage.PutOptions{Offset: offset})
}

func modeName(binary bool) string {
	if binary {
		return "BINARY"
	}
	return "ASCII"
}
