package session

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/ftp2s3/ftp2s3/storage"
)

// Appending and resuming uploads (RFC 959 APPE, RFC 3659 §5 REST STREAM + STOR).
// S3 has no append; storage composes the new object server-side.
var _ = commandSet(map[string]command{
	"APPE": {handler: (*Session).handleAPPE, needsLogin: true, needsArg: true, help: "APPE <path>"},
})

func (s *Session) handleAPPE(arg string) Reply {
	s.restOffset = 0
	return s.startUpload("APPE", arg, storage.PutOptions{Append: true})
}

// startUpload checks an upload target and returns the transfer that streams the
// data connection into it. opts carries REST's offset or APPE's append; ALLO's
// size hint is taken here.
func (s *Session) startUpload(verb, arg string, opts storage.PutOptions) Reply {
	opts.SizeHint, s.allocHint = s.allocHint, 0
	vpath, loc, err := s.locate(arg)
	if err != nil {
		return errReply(err, arg)
	}
	if loc.isRootDir() || strings.HasSuffix(arg, "/") {
		return reply(codeActionNotTaken, "%s: not a valid file name", arg)
	}
	if opts.Offset == 0 && !opts.Append {
		return s.startStore(verb, vpath, arg, loc, opts)
	}
	e, serr := s.stat(s.ctx, loc)
	if serr == nil && e.IsDir {
		return reply(codeActionNotTaken, "%s: is a directory", arg)
	}
	if opts.Offset > 0 {
		// Refuse a bad offset now rather than after the client has sent its data.
		if serr != nil {
			return errReply(serr, arg)
		}
		if opts.Offset > e.Size {
			return errReply(storage.ErrInvalidOffset, arg)
		}
	}
	if err := s.checkParent(loc); err != nil {
		return errReply(err, arg)
	}
	fs, binary := s.fs, s.binary
	run := func(ctx context.Context, conn io.ReadWriter) error {
		r := uploadReader(conn, binary)
		o := opts
		o.BeforeCommit = func() error { return s.commitAllowed(ctx) }
		_, err := fs.Put(ctx, loc.bucket, loc.key, r, o)
		return err
	}
	return Reply{
		Code:     codeFileStatusOK,
		Lines:    []string{fmt.Sprintf("Opening %s mode data connection for %s", modeName(binary), vpath)},
		transfer: &transfer{verb: verb, path: vpath, upload: true, run: run},
	}
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
