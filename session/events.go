package session

import (
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"time"
	"unicode"

	"github.com/ftp2s3/ftp2s3/storage"
)

// What a session tells the world outside the gateway: events for a pipeline
// (Config.Events, posted by gateway/notify), who sent a file on the object
// itself (Config.ObjectMetadata) and the check that may still refuse an upload
// before the client hears 226 (Config.UploadCheck). docs/events.md describes
// them for operators.

// Event types. Each is one thing a client did, reported once it is over.
const (
	EventUploadCompleted   = "upload.completed"
	EventUploadFailed      = "upload.failed"
	EventUploadRejected    = "upload.rejected"
	EventDownloadCompleted = "download.completed"
	EventDelete            = "delete"
	EventRename            = "rename"
	EventMkdir             = "mkdir"
	EventRmdir             = "rmdir"
	EventLoginFailed       = "login.failed"
)

// Event is one thing a client did. Fields that do not apply to its Type are
// zero.
type Event struct {
	Type    string
	Time    time.Time
	Session string
	User    string // the user logged in, or the name a failed login tried
	Client  string // the client's IP address
	Bucket  string
	Key     string
	Path    string // as the client named it
	// ToBucket, ToKey and ToPath are a rename's destination; Dir says a
	// directory was renamed.
	ToBucket, ToKey, ToPath string
	Dir                     bool
	// A transfer's object and figures.
	Size     int64
	SHA256   string
	ETag     string
	Duration time.Duration
	Resumed  bool // APPE or REST + STOR
	// Check is the upload check's outcome: "passed", "unverified" (the checker
	// failed and FTP2S3_UPLOAD_CHECK_FAILURE=accept), "rejected",
	// "unavailable"; "" when no check is configured.
	Check string
	// A failure: the reply's code and text, the bytes received.
	Code   int
	Reason string
	Bytes  int64
	// What a failed or rejected upload left in storage, as S3 answered:
	// ObjectLeft is nil when a commit's answer was lost; MultipartAborted says
	// a multipart upload had been created and S3 confirmed its abort.
	ObjectLeft       *bool
	MultipartLeft    bool
	MultipartAborted bool
}

// Events hears what clients did. Event must not block: transfers never wait
// for the world outside.
type Events interface {
	Event(Event)
}

// UploadChecker decides whether an upload S3 has just committed may stay
// (FTP2S3_UPLOAD_CHECK_URL). ev is the upload.completed event; getURL a
// presigned GET of the object. It bounds its own wait.
type UploadChecker interface {
	CheckUpload(ctx context.Context, ev Event, getURL string) CheckResult
}

// CheckOutcome is what a checker answered.
type CheckOutcome int

const (
	CheckPassed      CheckOutcome = iota // 2xx
	CheckRejected                        // 4xx: Reason says why
	CheckUnavailable                     // timeout, 5xx, no answer: Err says why
)

// CheckResult is an UploadChecker's answer.
type CheckResult struct {
	Outcome CheckOutcome
	Reason  string // the checker's one-line reason, already sanitised
	Err     error
}

// UploadCheck is the upload-check policy sessions follow.
type UploadCheck struct {
	Checker UploadChecker // nil: no check
	// Timeout is how long the checker may take, and so how long the
	// presigned URL it gets stays valid.
	Timeout time.Duration
	// AcceptOnFailure keeps an upload the checker could not judge.
	AcceptOnFailure bool
}

// ObjectMetadata says which who-sent-it metadata every written object
// carries (FTP2S3_OBJECT_METADATA).
type ObjectMetadata struct {
	User, Client bool
}

// User-metadata keys (x-amz-meta-ftp-user, x-amz-meta-ftp-client).
const (
	MetaUser   = "ftp-user"
	MetaClient = "ftp-client"
)

// CheckRejection is the error of an upload its checker refused; errReply
// gives the client its reason.
type CheckRejection struct{ Reason string }

func (e *CheckRejection) Error() string { return "upload check refused the file: " + e.Reason }

// errCheckUnavailable: the checker gave no verdict and the policy rejects.
var errCheckUnavailable = errors.New("upload check unavailable")

// emit fills in who and when and hands ev to Config.Events.
func (s *Session) emit(ev Event) {
	if s.cfg.Events == nil {
		return
	}
	ev.Time = time.Now().UTC()
	ev.Session = s.id
	if ev.User == "" && s.user != nil {
		ev.User = s.user.Name
	}
	if ev.Client == "" {
		ev.Client = s.clientIP()
	}
	s.cfg.Events.Event(ev)
}

func (s *Session) clientIP() string {
	if a := s.remoteAddr(); a.IsValid() {
		return a.String()
	}
	return ""
}

// objectMetadata is the user metadata a new object carries.
func (s *Session) objectMetadata() map[string]string {
	m := s.cfg.ObjectMetadata
	if !m.User && !m.Client {
		return nil
	}
	meta := map[string]string{}
	if m.User && s.user != nil {
		meta[MetaUser] = headerValue(s.user.Name)
	}
	if ip := s.clientIP(); m.Client && ip != "" {
		meta[MetaClient] = ip
	}
	return meta
}

// headerValue makes s fit an HTTP header as S3 user metadata: printable ASCII
// as it is, anything else MIME-encoded (RFC 2047), which is how S3 itself
// returns non-ASCII metadata.
func headerValue(s string) string {
	for _, r := range s {
		if r > unicode.MaxASCII || !unicode.IsPrint(r) {
			return mime.BEncoding.Encode("UTF-8", s)
		}
	}
	return s
}

// uploadRun is one upload's part in events and the upload check: what Put
// reported and committed, and when it started.
type uploadRun struct {
	s       *Session
	loc     location
	vpath   string
	resumed bool
	user    string
	start   time.Time
	report  storage.PutReport
	entry   storage.Entry
	check   string
}

func (s *Session) newUploadRun(loc location, vpath string, opts storage.PutOptions) *uploadRun {
	u := &uploadRun{s: s, loc: loc, vpath: vpath, resumed: opts.Offset > 0 || opts.Append, start: time.Now()}
	if s.user != nil {
		u.user = s.user.Name
	}
	return u
}

// put is fs.Put with the metadata, the check's tag and hook, and the report.
func (u *uploadRun) put(ctx context.Context, fs FS, r io.Reader, o storage.PutOptions) error {
	s := u.s
	u.start = time.Now()
	o.Metadata = s.objectMetadata()
	o.Report = &u.report
	if c := s.cfg.UploadCheck; c.Checker != nil {
		o.Tagging = storage.CheckTag + "=" + storage.CheckPending
		o.Check = u.runCheck
		o.CheckURLTTL = c.Timeout
	}
	e, err := fs.Put(ctx, u.loc.bucket, u.loc.key, r, o)
	if err == nil {
		u.entry = e
	}
	return err
}

// completed is the upload.completed event of the object e.
func (u *uploadRun) completed(e storage.Entry, d time.Duration) Event {
	return Event{Type: EventUploadCompleted, User: u.user, Bucket: u.loc.bucket, Key: u.loc.key, Path: u.vpath,
		Size: e.Size, SHA256: e.SHA256, ETag: e.ETag, Duration: d, Resumed: u.resumed, Check: u.check}
}

// runCheck is PutOptions.Check: it asks the checker and turns its answer into
// what storage does with the object.
func (u *uploadRun) runCheck(ctx context.Context, e storage.Entry, getURL string) (storage.CheckVerdict, error) {
	s, c := u.s, u.s.cfg.UploadCheck
	ev := u.completed(e, time.Since(u.start))
	ev.Time, ev.Session, ev.Client = time.Now().UTC(), s.id, s.clientIP()
	res := c.Checker.CheckUpload(ctx, ev, getURL)
	switch res.Outcome {
	case CheckPassed:
		u.check = "passed"
		return storage.CheckKeep, nil
	case CheckRejected:
		u.check = "rejected"
		s.log.Warn("upload refused by the upload check", "path", u.loc.bucket+"/"+u.loc.key, "reason", res.Reason)
		return storage.CheckRemove, &CheckRejection{Reason: res.Reason}
	}
	s.log.Warn("upload check unavailable", "path", u.loc.bucket+"/"+u.loc.key, "err", res.Err, "accept", c.AcceptOnFailure)
	if c.AcceptOnFailure {
		u.check = "unverified"
		return storage.CheckKeepUnverified, nil
	}
	u.check = "unavailable"
	// %v: the checker's own timeout is not the data connection's (errReply).
	return storage.CheckRemove, fmt.Errorf("%w: %v", errCheckUnavailable, res.Err)
}

// finished reports the upload once its final reply is known.
func (u *uploadRun) finished(r Reply, bytes int64, d time.Duration) {
	if r.Code == codeClosingData {
		u.s.emit(u.completed(u.entry, d))
		return
	}
	ev := Event{Type: EventUploadFailed, User: u.user, Bucket: u.loc.bucket, Key: u.loc.key, Path: u.vpath,
		Resumed: u.resumed, Code: r.Code, Reason: r.Text(), Bytes: bytes, Duration: d, Check: u.check,
		MultipartLeft: u.report.Multipart && !u.report.MultipartAborted, MultipartAborted: u.report.MultipartAborted}
	if u.check == "rejected" {
		ev.Type = EventUploadRejected
		ev.ETag = u.report.ETag
	}
	if left, known := u.report.ObjectLeft(); known {
		ev.ObjectLeft = &left
	}
	u.s.emit(ev)
}
