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
	codeRestartMarker       = 110 // RFC 959: restart marker reply
	codeFileStatusOK        = 150 // RFC 959: about to open data connection
	codeDataConnOpen        = 125 // RFC 959: data connection already open; transfer starting
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
	codeFileUnavailable     = 450 // RFC 959: file busy
	codeLocalError          = 451 // RFC 959: local error in processing
	codeInsufficientStorage = 452 // RFC 959
	codeSyntaxError         = 500 // RFC 959
	codeSyntaxErrorParams   = 501 // RFC 959
	codeNotImplemented      = 502 // RFC 959
	codeBadSequence         = 503 // RFC 959
	codeNotImplementedParam = 504 // RFC 959
	codeExtNetworkProtocol  = 522 // RFC 2428: network protocol not supported
	codeNotLoggedIn         = 530 // RFC 959
	codeProtectionDenied    = 534 // RFC 2228
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
// reply that fits it. It is the only place where errors become codes.
func errReply(err error, what string) Reply {
	switch {
	case errors.Is(err, storage.ErrNotFound):
		return reply(codeActionNotTaken, "%s: no such file or directory", what)
	case errors.Is(err, storage.ErrIsDirectory):
		return reply(codeActionNotTaken, "%s: is a directory", what)
	case errors.Is(err, storage.ErrNotEmpty):
		return reply(codeActionNotTaken, "%s: directory not empty", what)
	case errors.Is(err, storage.ErrExists):
		return reply(codeActionNotTaken, "%s: already exists", what)
	case errors.Is(err, storage.ErrInvalidName):
		return reply(codeBadFileName, "%s: file name not allowed", what)
	case errors.Is(err, storage.ErrInvalidOffset):
		return reply(codeInvalidRestart, "%s: restart offset beyond the end of the file", what)
	case errors.Is(err, storage.ErrTooLarge):
		return reply(codeExceededStorage, "%s: exceeds the storage limit", what)
	case errors.Is(err, errPermission):
		return reply(codeActionNotTaken, "%s: permission denied", what)
	case errors.Is(err, storage.ErrAccessDenied):
		// S3's own policy said no: worth a log line with the request id, since
		// it may as well be the gateway's credentials that are wrong.
		r := reply(codeActionNotTaken, "%s: permission denied", what)
		r.err = err
		return r
	case errors.Is(err, errBadPath):
		return reply(codeBadFileName, "%s: invalid path", what)
	case errors.Is(err, storage.ErrChanged):
		return reply(codeLocalError, "%s: the object changed during the transfer; try again", what)
	case errors.Is(err, errQueueFull):
		return reply(codeTransferAborted, "%s: transfer aborted: too many commands sent during it", what)
	case errors.Is(err, errAborted), errors.Is(err, context.Canceled):
		return reply(codeTransferAborted, "%s: transfer aborted", what)
	case errors.Is(err, errDataTimeout), errors.Is(err, context.DeadlineExceeded):
		return reply(codeTransferAborted, "%s: data connection timed out", what)
	case errors.Is(err, errNoCloseNotify):
		return reply(codeLocalError, "%s: the TLS data connection ended without close_notify; nothing was stored", what)
	case errors.Is(err, errDataConn):
		return reply(codeTransferAborted, "%s: data connection closed; transfer aborted", what)
	default:
		r := reply(codeLocalError, "%s: storage error; the action was not completed", what)
		r.err = err
		return r
	}
}

var (
	errPermission  = errors.New("permission denied")
	errBadPath     = errors.New("invalid path")
	errAborted     = errors.New("transfer aborted by the client")
	errDataTimeout = errors.New("data connection stalled")
	errDataConn    = errors.New("data connection failed")
	errCtrlClosed  = errors.New("control connection closed before the transfer completed")
	errQueueFull   = errors.New("too many commands queued during the transfer")
)
