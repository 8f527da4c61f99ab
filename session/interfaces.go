package session

import (
	"context"
	"errors"
	"io"
	"net"
	"net/netip"
	"time"

	"github.com/ftp2s3/ftp2s3/storage"
)

// FS is what a session needs from object storage. storage.Backend implements it
// over S3; the session's tests use an in-memory one.
type FS interface {
	ListBuckets(ctx context.Context) ([]storage.Entry, error)
	// Stat describes a file, or a directory when no file has that name.
	Stat(ctx context.Context, bucket, key string) (storage.Entry, error)
	// StatDir describes the directory bucket/key (the bucket itself for key "").
	StatDir(ctx context.Context, bucket, key string) (storage.Entry, error)
	// List streams the directory whose keys start with prefix ("" or "dir/").
	List(ctx context.Context, bucket, prefix string, fn func(storage.Entry) error) error
	// Open finds a file with the request that starts reading it from offset
	// (RETR: one GET per small file); ErrNotFound when there is no such file.
	Open(ctx context.Context, bucket, key string, offset int64) (storage.ObjectReader, error)
	// Put stores everything r yields as bucket/key, or nothing at all. With
	// opts.NewFile it also checks, while the data arrives, that the target's
	// directory exists and no directory has its name (STOR).
	Put(ctx context.Context, bucket, key string, r io.Reader, opts storage.PutOptions) (storage.Entry, error)
	Delete(ctx context.Context, bucket, key string) error
	Mkdir(ctx context.Context, bucket, key string) error
	Rmdir(ctx context.Context, bucket, key string) error
	// Rename moves a file, replacing any file at the destination; the buckets
	// may differ.
	Rename(ctx context.Context, srcBucket, srcKey, dstBucket, dstKey string) error
	// RenameDir moves every key under a directory to a new directory, which must
	// not exist yet.
	RenameDir(ctx context.Context, srcBucket, srcKey, dstBucket, dstKey string) error
}

// StoreTargetKnower is the optional part of FS that can tell without a
// request, from what it already knows (storage's metadata cache), whether a
// new file may be stored as bucket/key: known is false when it cannot tell;
// else err is nil, ErrNotFound (no such directory) or ErrIsDirectory.
// parentExists is PutOptions.ParentExists. It lets STOR refuse before its 150;
// Put checks again in full either way.
type StoreTargetKnower interface {
	StoreTargetCached(bucket, key string, parentExists bool) (known bool, err error)
}

// getFile writes the file bucket/key from offset to w: Open, then Send.
func getFile(ctx context.Context, fs FS, bucket, key string, offset int64, w io.Writer) (int64, error) {
	f, err := fs.Open(ctx, bucket, key, offset)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	return f.Send(ctx, w)
}

// User is an authenticated identity.
type User struct {
	Name     string
	Home     Home
	ReadOnly bool
	// FS, when set, replaces the gateway's storage for this user's session (for
	// example a client holding the user's own S3 credentials).
	FS FS
	// Revoked, when set, is closed once the record the login was granted on no
	// longer holds (a users-file reload removed or changed it): the session
	// then ends with 421, at once when idle, else after its running transfer.
	Revoked <-chan struct{}
}

// Authenticator checks a user name and password. It returns ErrAuthFailed (or
// wraps it) when they do not match.
type Authenticator interface {
	Authenticate(ctx context.Context, name, password string) (*User, error)
}

// ErrAuthFailed is the answer to a wrong user name or password.
var ErrAuthFailed = errors.New("authentication failed")

// ErrAuthUnavailable (or an error wrapping it) means the login could not be
// checked at all (the identity service failed): the client gets 421 and the
// attempt does not count as a failed login.
var ErrAuthUnavailable = errors.New("authentication service unavailable")

// LoginInfo is what an Authenticator may know of the connection a login comes
// from; the session puts it in the context it passes to Authenticate.
type LoginInfo struct {
	Addr    netip.Addr // the client's address (after any PROXY header)
	TLS     bool       // the control connection is secured
	Session string     // the session id of the logs
}

type loginInfoKey struct{}

// WithLoginInfo returns ctx carrying info.
func WithLoginInfo(ctx context.Context, info LoginInfo) context.Context {
	return context.WithValue(ctx, loginInfoKey{}, info)
}

// LoginInfoFrom returns the LoginInfo in ctx, if any.
func LoginInfoFrom(ctx context.Context) (LoginInfo, bool) {
	info, ok := ctx.Value(loginInfoKey{}).(LoginInfo)
	return info, ok
}

// ConnInfo describes a control connection to the data-channel layer.
type ConnInfo struct {
	Local  *net.TCPAddr
	Remote *net.TCPAddr
}

// DataChannels opens data connections. The gateway implements it with a passive
// port pool and an active dialer, and enforces who may connect where.
type DataChannels interface {
	// ListenPassive reserves a passive port for the session. The listener accepts
	// only the control connection's peer.
	ListenPassive(ctx context.Context, ctrl ConnInfo) (PassiveListener, error)
	// CheckActive validates a PORT/EPRT target before it is accepted.
	CheckActive(ctrl ConnInfo, target *net.TCPAddr) error
	// DialActive connects to a PORT/EPRT target that CheckActive accepted.
	DialActive(ctx context.Context, ctrl ConnInfo, target *net.TCPAddr) (net.Conn, error)
}

// PassiveListener is one reserved passive port.
type PassiveListener interface {
	// Advertised is the address to announce in the PASV/EPSV reply.
	Advertised() *net.TCPAddr
	// Accept waits for the client's data connection until ctx ends.
	Accept(ctx context.Context) (net.Conn, error)
	// Close releases the port.
	Close() error
}

// Errors a DataChannels implementation returns; the session maps them to replies.
var (
	// ErrNoPassivePorts: every port of the passive range is in use.
	ErrNoPassivePorts = errors.New("no passive port available")
	// ErrActiveRefused: a PORT/EPRT target that is not the client, or a
	// privileged port (RFC 2577 bounce protection), or active mode is off.
	ErrActiveRefused = errors.New("active data connection refused")
	// ErrPassiveExpired: the reserved passive port went back to the pool because
	// no transfer command used it in time.
	ErrPassiveExpired = errors.New("passive port expired")
)

// Observer is told what sessions do, for metrics. Its methods are called from
// session goroutines and must be safe for concurrent use and quick.
type Observer interface {
	// SessionOpened and SessionClosed bracket every control connection.
	SessionOpened()
	SessionClosed()
	// Command reports one command line and the code of its final reply. verb is
	// "UNKNOWN" for verbs outside the command table, so a client cannot grow
	// the set of names without bound.
	Command(verb string, code int)
	// Login reports the outcome of a PASS.
	Login(ok bool)
	// Transfer reports one finished data transfer: direction is "upload",
	// "download" or "list"; ok is a 226 reply.
	Transfer(direction string, bytes int64, d time.Duration, ok bool)
}

// NopObserver is an Observer that ignores everything.
type NopObserver struct{}

func (NopObserver) SessionOpened()                              {}
func (NopObserver) SessionClosed()                              {}
func (NopObserver) Command(string, int)                         {}
func (NopObserver) Login(bool)                                  {}
func (NopObserver) Transfer(string, int64, time.Duration, bool) {}
