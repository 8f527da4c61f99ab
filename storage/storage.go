// Package storage implements the gateway's file system on S3-compatible object
// storage: streaming multipart uploads, ranged downloads, delimiter listings and a
// metadata cache that the gateway's own writes keep current.
package storage

import (
	"errors"
	"time"
)

// Errors callers can test for with errors.Is. The session layer maps each of them
// to one FTP reply code.
var (
	// ErrNotFound: no object, directory or bucket by that name.
	ErrNotFound = errors.New("no such file or directory")
	// ErrNotEmpty: a directory that still holds keys cannot be removed.
	ErrNotEmpty = errors.New("directory not empty")
	// ErrIsDirectory: the operation needs a file but the name is a directory.
	ErrIsDirectory = errors.New("is a directory")
	// ErrExists: the name is already taken.
	ErrExists = errors.New("already exists")
	// ErrChanged: the object was replaced while it was being read.
	ErrChanged = errors.New("object changed during transfer")
	// ErrAborted: the caller asked for the upload to be abandoned before commit.
	ErrAborted = errors.New("upload aborted")
	// ErrInvalidName: the bucket or key cannot exist in S3.
	ErrInvalidName = errors.New("invalid object name")
	// ErrTooLarge: the operation exceeds a configured or S3 limit.
	ErrTooLarge = errors.New("too large")
	// ErrInvalidOffset: a restart offset past the end of the existing object.
	ErrInvalidOffset = errors.New("restart offset beyond the end of the file")
	// ErrTooSlow: an upload fed slower than Options.MinUploadRate while other
	// transfers waited for memory was ended; nothing was stored.
	ErrTooSlow = errors.New("upload too slow while other transfers wait for memory")
)

// Entry describes one file or directory as the FTP layer sees it. A directory is a
// bucket, a zero-byte "name/" marker or a common prefix.
type Entry struct {
	Name    string // last path element, without a trailing slash
	Size    int64
	ModTime time.Time
	IsDir   bool
	ETag    string // unquoted; empty for directories
	// SHA256 is the hex SHA-256 of the whole object when the gateway stored it
	// at upload time (object metadata); empty when unknown.
	SHA256 string
}

// Limits of S3 multipart uploads that shape the part-size choice.
const (
	MinPartSize   = 5 << 20
	MaxPartSize   = 5 << 30
	MaxParts      = 10000
	MaxObjectSize = 5 << 40
)

// ErrAccessDenied: the storage's own policy refuses the request (for example
// MinIO IAM under FTP2S3_AUTH=s3). Callers test for it with errors.Is.
var ErrAccessDenied = errors.New("access denied")
