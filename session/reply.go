package session

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/ftp2s3/ftp2s3/storage"
)

// Reply codes used by the gateway, named once with the RFC that defines them.
const (
	codeFileStatusOK        = 150 // RFC 959: about to open data connection
	codeOK                  = 200 // RFC 959
	codeNotImplementedOK    = 202 // RFC 959: superfluous at this site
	codeSystemStatus        = 211 // RFC 959 (also FEAT, RFC 2389)
	codeFileStatus          = 213 // RFC 959 / RFC 3659 (SIZE, MDTM, STAT path)
	codeHelp                = 214 // RFC 959
	codeSystemType          = 215 // RFC 959
	codeReady               = 220 // RFC 959
	codeGoodbye             = 221 // RFC 959
	codeClosingData         = 226 // RFC 959: transfer complete, data connection closed
	codeEnteringPassive     = 227 // RFC 959
	codeEnteringExtPassive  = 229 // RFC 2428
	codeLoggedIn            = 230 // RFC 959
	codeAuthOK              = 234 // RFC 2228
	codeFileActionOK        = 250 // RFC 959
	codePathCreated         = 257 // RFC 959
	codeNeedPassword        = 331 // RFC 959
	codePendingFurtherInfo  = 350 // RFC 959 (REST, RNFR)
	codeNotAvailable        = 421 // RFC 959: service not available, closing
	codeCantOpenData        = 425 // RFC 959
	codeTransferAborted     = 426 // RFC 959
	codeLocalError          = 451 // RFC 959: local error in processing
	codeSyntaxError         = 500 // RFC 959
	codeSyntaxErrorParams   = 501 // RFC 959
	codeNotImplemented      = 502 // RFC 959
	codeBadSequence         = 503 // RFC 959
	codeNotImplementedParam = 504 // RFC 959
	codeProtNotAllowed      = 521 // RFC 4217 §9: data connection cannot be opened with this PROT setting
	codeExtNetworkProtocol  = 522 // RFC 2428: network protocol not supported
	codeDataTLSFailed       = 522 // as vsftpd: TLS on the data connection refused
	codeNotLoggedIn         = 530 // RFC 959
	codeCommandProtDenied   = 533 // RFC 2228: command protection level denied for policy reasons
	codeProtectionDenied    = 534 // RFC 2228
	codeProtNotSupported    = 536 // RFC 2228: requested PROT level not supported by mechanism
	codeActionNotTaken      = 550 // RFC 959: file unavailable
	codeExceededStorage     = 552 // RFC 959
	codeBadFileName         = 553 // RFC 959
	codeInvalidRestart      = 554 // RFC 3659 §5.4: invalid REST parameter
)

// Reply is what a command handler answers: a code and one or more lines of text.
// A multi-line reply is sent per RFC 959 §4.2: "ccc-first", then every middle line
// with a leading space, then "ccc last".
type Reply struct {
	Code  int
	Lines []string

	// transfer, when set, is the data transfer the command starts; Code and Lines
	// are then the preliminary reply sent once the data connection is open.
	transfer *transfer
	// err is the unexpected error behind a 451 "storage error" reply, which the
	// client is not told about but the log must be.
	err error
}

func reply(code int, format string, args ...any) Reply {
	return Reply{Code: code, Lines: []string{fmt.Sprintf(format, args...)}}
}

// Text returns the reply's lines joined by newlines (for tests and logs).
func (r Reply) Text() string { return strings.Join(r.Lines, "\n") }

// String formats the reply for the wire, CRLF-terminated.
func (r Reply) String() string {
	var b strings.Builder
	code := strconv.Itoa(r.Code)
	lines := r.Lines
	if len(lines) == 0 {
		lines = []string{""}
	}
	for i, l := range lines {
		l = strings.NewReplacer("\r", " ", "\n", " ").Replace(l)
		switch {
		case len(lines) == 1:
			b.WriteString(code + " " + l)
		case i == 0:
			b.WriteString(code + "-" + l)
		case i == len(lines)-1:
			b.WriteString(code + " " + l)
		default:
			b.WriteString(" " + l)
		}
		b.WriteString("\r\n")
	}
	return b.String()
}

// errReply maps an error from storage or from the transfer machinery to the one
// reply that fits it, through errorReplies: the table of which error becomes
// which code. A refusal's reason (storage.Reason) follows the text. Only RNTO words two storage errors its own way before falling back
// to it (renameErrReply), since for a rename they mean something narrower.
func errReply(err error, what string) Reply {
	if storage.IsTimeout(err) {
		err = fmt.Errorf("%w: %w", errS3Timeout, err)
	}
	var rej *CheckRejection
	if errors.As(err, &rej) {
		// The checker's own words (sanitised by it): the one reason a client
		// needs to fix its file.
		return reply(codeActionNotTaken, "%s: refused: %s", what, rej.Reason)
	}
	for _, e := range errorReplies {
		if errors.Is(err, e.err) {
			r := reply(e.code, "%s: %s", what, e.text)
			if reason := storage.Reason(err); reason != "" {
				r = reply(e.code, "%s: %s: %s", what, e.text, reason)
			}
			if e.logged {
				r.err = err
			}
			return r
		}
	}
	r := reply(codeLocalError, "%s: storage error; the action was not completed", what)
	r.err = err // unexpected: execute logs it with S3's request id
	return r
}

// errorReplies are the replies to errors, the first that matches winning; the
// text follows the path the command named.
var errorReplies = []struct {
	err  error
	code int
	text string
	// logged: the log must see the error behind the reply (Reply.err).
	logged bool
}{
	{err: storage.ErrNotFound, code: codeActionNotTaken, text: "no such file or directory"},
	{err: storage.ErrIsDirectory, code: codeActionNotTaken, text: "is a directory"},
	{err: storage.ErrNotEmpty, code: codeActionNotTaken, text: "directory not empty"},
	{err: storage.ErrExists, code: codeActionNotTaken, text: "already exists"},
	{err: storage.ErrInvalidName, code: codeBadFileName, text: "file name not allowed"},
	{err: storage.ErrInvalidOffset, code: codeInvalidRestart, text: "restart offset beyond the end of the file"},
	{err: storage.ErrTooLarge, code: codeExceededStorage, text: "exceeds the storage limit"},
	// S3 refused the request itself (storage/refusal.go): permanent, so a
	// 5xx that tells the client not to retry, with S3's reason.
	{err: storage.ErrRefused, code: codeActionNotTaken, text: "refused by the object store"},
	// S3's own policy said no: worth a log line with the request id, since it
	// may as well be the gateway's credentials that are wrong.
	{err: storage.ErrAccessDenied, code: codeActionNotTaken, text: "permission denied", logged: true},
	{err: errBadPath, code: codeBadFileName, text: "invalid path"},
	{err: errSetStatUnsupported, code: codeActionNotTaken, text: "cannot record modification times here"},
	{err: storage.ErrChanged, code: codeLocalError, text: "the object changed during the transfer; try again"},
	{err: storage.ErrTooSlow, code: codeTransferAborted, text: "transfer aborted: upload too slow while other transfers wait for memory; nothing was stored"},
	{err: errS3Timeout, code: codeLocalError, text: "S3 did not answer in time; try again", logged: true},
	{err: errAborted, code: codeTransferAborted, text: "transfer aborted"},
	{err: context.Canceled, code: codeTransferAborted, text: "transfer aborted"},
	{err: errDataTimeout, code: codeTransferAborted, text: "data connection timed out"},
	{err: context.DeadlineExceeded, code: codeTransferAborted, text: "data connection timed out"},
	{err: errCheckUnavailable, code: codeLocalError, text: "the upload check did not answer; nothing was stored", logged: true},
	{err: errNoCloseNotify, code: codeLocalError, text: "the TLS data connection ended without close_notify; nothing was stored"},
	{err: errDataConn, code: codeTransferAborted, text: "data connection closed; transfer aborted"},
	// handlePASS logs the cause itself, with the user name.
	{err: ErrAuthUnavailable, code: codeNotAvailable, text: "authentication service unavailable; try again later"},
}
