package session

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path"
	"strconv"
	"strings"
	"sync"

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

// handleRETR opens the file with the GET that starts the download, so a small
// file costs one request and a missing one is still a 550 before any 150; the
// transfer sends that GET's body, and reads the rest pinned to its ETag.
func (s *Session) handleRETR(arg string) Reply {
	offset := s.restOffset
	s.restOffset = 0
	vpath, loc, err := s.locate(arg)
	if err != nil {
		return errReply(err, arg)
	}
	if loc.isRootDir() {
		return reply(codeActionNotTaken, "%s: not a regular file", arg)
	}
	binary := s.binary
	start := offset
	if !binary {
		start = 0 // ASCII offsets count converted bytes: skipWriter drops them
	}
	f, err := s.fs.Open(s.ctx, loc.bucket, loc.key, start)
	if err != nil {
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
		Code:     codeFileStatusOK,
		Lines:    []string{fmt.Sprintf("Opening %s mode data connection for %s (%d bytes)", modeName(binary), vpath, f.Entry().Size)},
		transfer: &transfer{verb: "RETR", path: vpath, run: run, release: func() { _ = f.Close() }},
	}
}

func (s *Session) handleSTOR(arg string) Reply {
	offset := s.restOffset
	s.restOffset = 0
	return s.startUpload("STOR", arg, storage.PutOptions{Offset: offset})
}

// startStore is STOR of a whole new file. The target is checked from the
// metadata cache when it knows (a refusal is then a 550 before any 150);
// otherwise the 150 goes out at once and the check runs while the data arrives,
// and the upload commits only if it passes. Either way a small file into a
// directory the gateway knows costs one S3 request, its PutObject.
func (s *Session) startStore(verb, vpath, arg string, loc location, opts storage.PutOptions) Reply {
	// The home's root exists before any key lies under it (statDir), so a
	// file stored there needs no check of its directory.
	parentIsHome := path.Dir("/"+loc.rel) == "/" && loc.rel != ""
	known, err := s.fs.StoreTargetCached(loc.bucket, loc.key, parentIsHome)
	if known && err != nil {
		return errReply(err, arg)
	}
	fs, binary := s.fs, s.binary
	run := func(ctx context.Context, conn io.ReadWriter) error {
		r := uploadReader(conn, binary)
		if known {
			o := opts
			o.BeforeCommit = func() error { return s.commitAllowed(ctx) }
			_, err := fs.Put(ctx, loc.bucket, loc.key, r, o)
			return err
		}
		// A failed check cancels the upload at once (a large file stops
		// streaming parts) and its error is the reply.
		pctx, cancel := context.WithCancelCause(ctx)
		result := make(chan error, 1)
		go func() {
			err := fs.CheckStoreTarget(pctx, loc.bucket, loc.key, parentIsHome)
			if err != nil {
				cancel(err)
			}
			result <- err
		}()
		var once sync.Once
		var checkErr error
		checked := func() error {
			once.Do(func() { checkErr = <-result })
			return checkErr
		}
		defer func() { cancel(nil); _ = checked() }() // no check outlives the transfer
		o := opts
		o.BeforeCommit = func() error {
			if err := checked(); err != nil {
				return err
			}
			return s.commitAllowed(ctx)
		}
		_, err := fs.Put(pctx, loc.bucket, loc.key, r, o)
		if err != nil {
			if cerr := checked(); cerr != nil {
				return cerr
			}
		}
		return err
	}
	return Reply{
		Code:     codeFileStatusOK,
		Lines:    []string{fmt.Sprintf("Opening %s mode data connection for %s", modeName(binary), vpath)},
		transfer: &transfer{verb: verb, path: vpath, upload: true, run: run},
	}
}

func modeName(binary bool) string {
	if binary {
		return "BINARY"
	}
	return "ASCII"
}
