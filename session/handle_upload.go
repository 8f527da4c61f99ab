package session

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"
	"time"

	"github.com/ftp2s3/ftp2s3/storage"
)

// Uploads (RFC 959 STOR, STOU, APPE; RFC 3659 §5 REST STREAM + STOR). S3 has no
// append: storage composes the new object server-side. Their rows are in
// commands.go.

func (s *Session) handleSTOR(arg string) Reply {
	return s.startUpload(arg, storage.PutOptions{Offset: s.restOffset}) // its row ends REST
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
		}
		return r
	}
	return reply(codeActionNotTaken, "Could not find a unique file name; try again")
}

func (s *Session) handleAPPE(arg string) Reply {
	return s.startUpload(arg, storage.PutOptions{Append: true}) // its row ends REST
}

// startUpload checks an upload target and returns the transfer that streams the
// data connection into it. opts carries REST's offset or APPE's append; ALLO's
// size hint is taken here (the rows end both).
func (s *Session) startUpload(arg string, opts storage.PutOptions) Reply {
	opts.SizeHint = s.allocHint
	vpath, loc, err := s.locate(arg)
	if err != nil {
		return errReply(err, arg)
	}
	if loc.isRootDir() || strings.HasSuffix(arg, "/") {
		return reply(codeActionNotTaken, "%s: not a valid file name", arg)
	}
	if opts.Offset == 0 && !opts.Append {
		if r := s.storeTarget(arg, loc, &opts); r != nil {
			return *r
		}
	} else if r := s.resumeTarget(arg, loc, opts); r != nil {
		return *r
	}
	fs, binary := s.fs, s.binary
	up := s.newUploadRun(loc, vpath, opts)
	run := func(ctx context.Context, conn io.ReadWriter) error {
		r := uploadReader(conn, binary)
		o := opts
		o.BeforeCommit = func() error { return s.commitAllowed(ctx) }
		return up.put(ctx, fs, r, o)
	}
	return Reply{
		Code:     codeFileStatusOK,
		Lines:    []string{fmt.Sprintf("Opening %s mode data connection for %s", modeName(binary), vpath)},
		transfer: &transfer{path: vpath, upload: true, run: run, finished: up.finished},
	}
}

// storeTarget prepares STOR of a whole new file. Storage checks the target
// while the data arrives (PutOptions.NewFile), so the 150 goes out at once and
// the upload commits only if the check passes; when storage can tell without a
// request (StoreTargetKnower), a refusal is a 550 before any 150.
func (s *Session) storeTarget(arg string, loc location, opts *storage.PutOptions) *Reply {
	// The home's root exists before any key lies under it (statDir), so a
	// file stored there needs no check of its directory.
	opts.NewFile, opts.ParentExists = true, path.Dir("/"+loc.rel) == "/" && loc.rel != ""
	if k, ok := s.fs.(StoreTargetKnower); ok {
		if known, err := k.StoreTargetCached(loc.bucket, loc.key, opts.ParentExists); known && err != nil {
			r := errReply(err, arg)
			return &r
		}
	}
	return nil
}

// resumeTarget checks the target of REST+STOR and APPE, which keep what the
// file holds: it must not be a directory, REST's offset must lie within it, and
// its directory must exist.
func (s *Session) resumeTarget(arg string, loc location, opts storage.PutOptions) *Reply {
	e, serr := s.stat(s.ctx, loc)
	if serr == nil && e.IsDir {
		r := reply(codeActionNotTaken, "%s: is a directory", arg)
		return &r
	}
	if opts.Offset > 0 {
		// Refuse a bad offset now rather than after the client has sent its data.
		if serr != nil {
			r := errReply(serr, arg)
			return &r
		}
		if opts.Offset > e.Size {
			r := errReply(storage.ErrInvalidOffset, arg)
			return &r
		}
	}
	if err := s.checkParent(loc); err != nil {
		r := errReply(err, arg)
		return &r
	}
	return nil
}

// commitAllowed is checked right before an upload becomes visible: the transfer
// must not have been cancelled (ABOR, shutdown) and the client's control
// connection must still be open, since a client that died mid-upload closes its
// data connection too, which in stream mode looks exactly like end of file.
func (s *Session) commitAllowed(ctx context.Context) error {
	if cause := context.Cause(ctx); cause != nil {
		return cause
	}
	if s.controlGone() {
		return errCtrlClosed
	}
	return nil
}
