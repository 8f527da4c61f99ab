package auth

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/ftp2s3/ftp2s3/session"
	"github.com/ftp2s3/ftp2s3/storage"
)

// ParseBucketList reads FTP2S3_BUCKETS: bucket names separated by commas. An
// empty list means no restriction (nil).
func ParseBucketList(s string) (map[string]bool, error) {
	var allow map[string]bool
	for _, name := range strings.Split(s, ",") {
		name = strings.TrimSpace(name)
		if name == "" {
			continue
		}
		if h, err := session.ParseHome(name); err != nil || h.Bucket != name || h.Prefix != "" {
			return nil, fmt.Errorf("%q is not a bucket name", name)
		}
		if allow == nil {
			allow = map[string]bool{}
		}
		allow[name] = true
	}
	return allow, nil
}

// AllowBuckets wraps next so that every user whose home is "/" (every bucket)
// sees only the buckets of allow (ParseBucketList); fs is the gateway's
// storage, for users that bring none.
func AllowBuckets(next session.Authenticator, fs session.FS, allow map[string]bool) session.Authenticator {
	return bucketAllowAuth{next: next, fs: fs, allow: allow}
}

// bucketAllowAuth gives every user whose home is "/" (every bucket) a view of
// storage restricted to the FTP2S3_BUCKETS allow-list. Users whose home names
// a bucket are left alone: the operator chose that bucket for them.
type bucketAllowAuth struct {
	next  session.Authenticator
	fs    session.FS // the gateway's storage, for users that bring none
	allow map[string]bool
}

// Authenticate implements session.Authenticator.
func (a bucketAllowAuth) Authenticate(ctx context.Context, name, password string) (*session.User, error) {
	u, err := a.next.Authenticate(ctx, name, password)
	if err != nil || u.Home.Bucket != "" {
		return u, err
	}
	restricted := *u
	base := u.FS
	if base == nil {
		base = a.fs
	}
	restricted.FS = allowedBuckets{fs: base, allow: a.allow}
	return &restricted, nil
}

// allowedBuckets is a session.FS that shows and reaches only the buckets of an
// allow-list: ListBuckets leaves the others out, and every other call naming
// one of them answers storage.ErrNotFound (550 "no such file or directory",
// which does not even confirm that the bucket exists). Every method is written
// out rather than embedded, so a method added to session.FS cannot slip past
// the check unnoticed: it fails to compile here first.
type allowedBuckets struct {
	fs    session.FS
	allow map[string]bool
}

var (
	_ session.FS            = allowedBuckets{}
	_ session.ModTimeSetter = allowedBuckets{}
)

func (a allowedBuckets) check(buckets ...string) error {
	for _, b := range buckets {
		if !a.allow[b] {
			return fmt.Errorf("bucket %q is not in FTP2S3_BUCKETS: %w", b, storage.ErrNotFound)
		}
	}
	return nil
}

func (a allowedBuckets) ListBuckets(ctx context.Context) ([]storage.Entry, error) {
	all, err := a.fs.ListBuckets(ctx)
	if err != nil {
		return nil, err
	}
	shown := all[:0:0]
	for _, e := range all {
		if a.allow[e.Name] {
			shown = append(shown, e)
		}
	}
	return shown, nil
}

func (a allowedBuckets) Stat(ctx context.Context, bucket, key string) (storage.Entry, error) {
	if err := a.check(bucket); err != nil {
		return storage.Entry{}, err
	}
	return a.fs.Stat(ctx, bucket, key)
}

func (a allowedBuckets) StatDir(ctx context.Context, bucket, key string) (storage.Entry, error) {
	if err := a.check(bucket); err != nil {
		return storage.Entry{}, err
	}
	return a.fs.StatDir(ctx, bucket, key)
}

func (a allowedBuckets) List(ctx context.Context, bucket, prefix string, fn func(storage.Entry) error) error {
	if err := a.check(bucket); err != nil {
		return err
	}
	return a.fs.List(ctx, bucket, prefix, fn)
}

func (a allowedBuckets) Get(ctx context.Context, bucket, key string, offset int64, w io.Writer) (int64, error) {
	if err := a.check(bucket); err != nil {
		return 0, err
	}
	return a.fs.Get(ctx, bucket, key, offset, w)
}

func (a allowedBuckets) Put(ctx context.Context, bucket, key string, r io.Reader, opts storage.PutOptions) (storage.Entry, error) {
	if err := a.check(bucket); err != nil {
		return storage.Entry{}, err
	}
	return a.fs.Put(ctx, bucket, key, r, opts)
}

func (a allowedBuckets) Delete(ctx context.Context, bucket, key string) error {
	if err := a.check(bucket); err != nil {
		return err
	}
	return a.fs.Delete(ctx, bucket, key)
}

func (a allowedBuckets) Mkdir(ctx context.Context, bucket, key string) error {
	if err := a.check(bucket); err != nil {
		return err
	}
	return a.fs.Mkdir(ctx, bucket, key)
}

func (a allowedBuckets) Rmdir(ctx context.Context, bucket, key string) error {
	if err := a.check(bucket); err != nil {
		return err
	}
	return a.fs.Rmdir(ctx, bucket, key)
}

func (a allowedBuckets) Rename(ctx context.Context, srcBucket, srcKey, dstBucket, dstKey string) error {
	if err := a.check(srcBucket, dstBucket); err != nil {
		return err
	}
	return a.fs.Rename(ctx, srcBucket, srcKey, dstBucket, dstKey)
}

func (a allowedBuckets) RenameDir(ctx context.Context, srcBucket, srcKey, dstBucket, dstKey string) error {
	if err := a.check(srcBucket, dstBucket); err != nil {
		return err
	}
	return a.fs.RenameDir(ctx, srcBucket, srcKey, dstBucket, dstKey)
}

func (a allowedBuckets) Open(ctx context.Context, bucket, key string, offset int64) (storage.ObjectReader, error) {
	if err := a.check(bucket); err != nil {
		return nil, err
	}
	return a.fs.Open(ctx, bucket, key, offset)
}

// StoreTargetCached answers for a bucket outside the list: it does not exist.
func (a allowedBuckets) StoreTargetCached(bucket, key string, parentExists bool) (bool, error) {
	if err := a.check(bucket); err != nil {
		return true, err
	}
	return a.fs.StoreTargetCached(bucket, key, parentExists)
}

func (a allowedBuckets) CheckStoreTarget(ctx context.Context, bucket, key string, parentExists bool) error {
	if err := a.check(bucket); err != nil {
		return err
	}
	return a.fs.CheckStoreTarget(ctx, bucket, key, parentExists)
}

// SetModTime implements session.ModTimeSetter when the storage underneath does.
func (a allowedBuckets) SetModTime(ctx context.Context, bucket, key string, t time.Time) (storage.Entry, error) {
	if err := a.check(bucket); err != nil {
		return storage.Entry{}, err
	}
	setter, ok := a.fs.(session.ModTimeSetter)
	if !ok {
		return storage.Entry{}, errors.New("the storage cannot record modification times")
	}
	return setter.SetModTime(ctx, bucket, key, t)
}
