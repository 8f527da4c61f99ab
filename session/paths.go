package session

import (
	"errors"
	"fmt"
	"path"
	"strings"
	"unicode/utf8"

	"github.com/ftp2s3/ftp2s3/storage"
)

// Home is the part of object storage a user sees as "/". An empty Bucket means
// every bucket: "/" lists the buckets and "/b/x" is key "x" in bucket "b".
type Home struct {
	Bucket string
	Prefix string // without leading or trailing slashes
	// Allowed, when set, limits a home of every bucket to some buckets
	// (FTP2S3_BUCKETS): resolve answers ErrNotFound for any other, which does
	// not even confirm that it exists, and the bucket listing leaves it out.
	Allowed *BucketSet
}

// BucketSet is a fixed set of bucket names. A pointer to it keeps Home
// comparable.
type BucketSet struct{ names map[string]bool }

// NewBucketSet returns the set of names.
func NewBucketSet(names ...string) *BucketSet {
	s := &BucketSet{names: make(map[string]bool, len(names))}
	for _, n := range names {
		s.names[n] = true
	}
	return s
}

// allows reports whether the home reaches bucket.
func (h Home) allows(bucket string) bool {
	return h.Allowed == nil || h.Allowed.names[bucket]
}

// shownBuckets leaves out of a bucket listing the buckets the home does not
// reach.
func (h Home) shownBuckets(all []storage.Entry) []storage.Entry {
	if h.Allowed == nil {
		return all
	}
	shown := all[:0:0]
	for _, e := range all {
		if h.allows(e.Name) {
			shown = append(shown, e)
		}
	}
	return shown
}

// String renders the home as "bucket/prefix", or "/" for every bucket.
func (h Home) String() string {
	switch {
	case h.Bucket == "":
		return "/"
	case h.Prefix == "":
		return h.Bucket
	default:
		return h.Bucket + "/" + h.Prefix
	}
}

// ParseHome reads "bucket", "bucket/prefix" or "/" (every bucket).
func ParseHome(s string) (Home, error) {
	s = strings.Trim(strings.TrimSpace(s), "/")
	if s == "" {
		return Home{}, nil
	}
	bucket, prefix, _ := strings.Cut(s, "/")
	if !validBucketName(bucket) {
		return Home{}, fmt.Errorf("%q is not a valid bucket name", bucket)
	}
	prefix = strings.Trim(path.Clean("/"+prefix), "/")
	return Home{Bucket: bucket, Prefix: prefix}, nil
}

func validBucketName(b string) bool {
	if len(b) < 3 || len(b) > 63 {
		return false
	}
	for _, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '.') {
			return false
		}
	}
	return true
}

// cleanPath resolves an FTP path argument against the working directory into an
// absolute, canonical virtual path. Backslashes count as separators, and ".",
// "..", repeated and trailing slashes are folded, so no argument can climb above
// "/" or name one object two ways.
func cleanPath(cwd, arg string) string {
	arg = strings.ReplaceAll(arg, `\`, "/")
	if !strings.HasPrefix(arg, "/") {
		arg = cwd + "/" + arg
	}
	return path.Clean("/" + arg)
}

// location is where a virtual path lives in object storage. bucket == "" is the
// list of buckets (multi-bucket root).
type location struct {
	bucket string
	key    string
	// rel is the virtual path below the home's root, without the leading slash:
	// "" for the home's root itself. Under a bucket/prefix home the root's key is
	// the prefix, which may also name an object of someone else's; rel, not key,
	// says whether a location is the root.
	rel string
}

// isRoot reports whether the location is the list of buckets.
func (l location) isRoot() bool { return l.bucket == "" }

// isRootDir reports whether the location is a root directory: the home's root
// (the bucket list, a bucket, or a bucket/prefix) or, in a multi-bucket home, a
// bucket. A root directory is a directory and nothing else: no command reads,
// writes, replaces, renames or deletes an object at its key, and RMD never
// removes it.
func (l location) isRootDir() bool { return l.rel == "" || l.key == "" }

// isHomeRoot reports whether the location is the home's own root, which exists
// whether or not any key lies under it yet.
func (l location) isHomeRoot() bool { return l.rel == "" }

// errBadPath is resolve's answer for a path no object can have.
var errBadPath = errors.New("invalid path")

// listPrefix is the prefix that lists the directory at l in its bucket: "" for
// the bucket's root, "key/" below it. (storage has a dirPrefix of its own, which
// also accepts keys ending in a slash.)
func (l location) listPrefix() string {
	if l.key == "" {
		return ""
	}
	return l.key + "/"
}

// resolve maps a cleaned virtual path to its bucket and key under home. It fails
// with errBadPath for names FTP cannot carry, and with storage's
// ErrInvalidName (and its reason) for names S3 documents it cannot hold: the
// client hears why, before any request.
func (h Home) resolve(vpath string) (location, error) {
	if !utf8.ValidString(vpath) || strings.ContainsAny(vpath, "\x00\r\n") {
		return location{}, errBadPath
	}
	rel := strings.Trim(vpath, "/")
	loc := location{rel: rel}
	switch {
	case h.Bucket == "":
		loc.bucket, loc.key, _ = strings.Cut(rel, "/")
	case h.Prefix == "":
		loc.bucket, loc.key = h.Bucket, rel
	case rel == "":
		loc.bucket, loc.key = h.Bucket, h.Prefix
	default:
		loc.bucket, loc.key = h.Bucket, h.Prefix+"/"+rel
	}
	if err := storage.CheckName(loc.bucket, loc.key); err != nil {
		return location{}, err
	}
	if h.Bucket == "" && loc.bucket != "" && !h.allows(loc.bucket) {
		return location{}, fmt.Errorf("bucket %q is not in FTP2S3_BUCKETS: %w", loc.bucket, storage.ErrNotFound)
	}
	return loc, nil
}
