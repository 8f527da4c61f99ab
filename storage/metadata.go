package storage

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// Stat describes bucket/key. A file wins over a directory of the same name, as
// both can exist in S3 ("a" and "a/"). key "" is the bucket itself.
func (b *Backend) Stat(ctx context.Context, bucket, key string) (Entry, error) {
	e, err := b.stat(ctx, bucket, key)
	if err == nil || key == "" {
		return e, err
	}
	if d, derr := b.StatDir(ctx, bucket, key); derr == nil {
		return d, nil
	}
	return Entry{}, err
}

// stat looks up the object bucket/key only.
func (b *Backend) stat(ctx context.Context, bucket, key string) (Entry, error) {
	if key == "" {
		return b.StatDir(ctx, bucket, "")
	}
	if r, ok := b.cache.stat(bucket, key); ok {
		if !r.found {
			return Entry{}, fmt.Errorf("stat %s/%s: %w", bucket, key, ErrNotFound)
		}
		return r.entry, nil
	}
	f := b.cache.startFill(statKey(bucket, key))
	out, err := b.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		if isNotFound(err) {
			b.cache.finishFill(f, statResult{})
		} else {
			b.cache.dropFill(f)
		}
		return Entry{}, mapErr("stat", bucket, key, err)
	}
	e := Entry{Name: baseName(key), Size: aws.ToInt64(out.ContentLength), ModTime: modTime(out.LastModified, out.Metadata), ETag: unquoteETag(out.ETag),
		SHA256: out.Metadata[MetaSHA256]}
	b.cache.finishFill(f, statResult{entry: e, found: true})
	return e, nil
}

// StatDir reports whether bucket/key is a directory: the bucket itself when key is
// empty, otherwise a "key/" marker or any key under "key/".
func (b *Backend) StatDir(ctx context.Context, bucket, key string) (Entry, error) {
	dkey := dirKey(key)
	if r, ok := b.cache.stat(bucket, dkey); ok {
		if !r.found {
			return Entry{}, fmt.Errorf("stat %s/%s: %w", bucket, dkey, ErrNotFound)
		}
		return r.entry, nil
	}
	f := b.cache.startFill(statKey(bucket, dkey))
	e, found, err := b.statDir(ctx, bucket, key, dkey)
	switch {
	case err != nil:
		b.cache.dropFill(f)
		return Entry{}, err
	case !found:
		b.cache.finishFill(f, statResult{})
		return Entry{}, fmt.Errorf("stat %s/%s: %w", bucket, dkey, ErrNotFound)
	}
	b.cache.finishFill(f, statResult{entry: e, found: true})
	return e, nil
}

// statDir asks S3 what StatDir reports.
func (b *Backend) statDir(ctx context.Context, bucket, key, dkey string) (Entry, bool, error) {
	if dkey == "" {
		if _, err := b.client.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String(bucket)}); err != nil {
			if isNotFound(err) {
				return Entry{}, false, nil
			}
			return Entry{}, false, mapErr("stat bucket", bucket, "", err)
		}
		return Entry{Name: bucket, IsDir: true, ModTime: time.Now().UTC()}, true, nil
	}
	out, err := b.listObjects(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(bucket), Prefix: aws.String(dkey), MaxKeys: aws.Int32(1)})
	if err != nil {
		return Entry{}, false, fmt.Errorf("stat directory: %w", err)
	}
	if len(out.Contents) == 0 {
		return Entry{}, false, nil
	}
	// The first key is the marker when there is one (it sorts first); for an
	// implicit directory it is the first child. Either way a real time.
	return Entry{Name: baseName(key), IsDir: true, ModTime: aws.ToTime(out.Contents[0].LastModified)}, true, nil
}

// Delete removes the file bucket/key. Whatever S3 answers, the cache forgets
// the name rather than asserting anything: a refused delete (IAM) leaves the
// file visible, a delete that S3 applied before the reply was lost is seen on
// the next look.
func (b *Backend) Delete(ctx context.Context, bucket, key string) error {
	if _, err := b.stat(ctx, bucket, key); err != nil {
		if _, derr := b.StatDir(ctx, bucket, key); derr == nil {
			return fmt.Errorf("delete %s/%s: %w", bucket, key, ErrIsDirectory)
		}
		return err
	}
	_, err := b.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	b.cache.changed(bucket, key, nil)
	return mapErr("delete", bucket, key, err)
}

// Mkdir creates the directory bucket/key as a zero-byte "key/" marker, so that an
// empty directory persists.
func (b *Backend) Mkdir(ctx context.Context, bucket, key string) error {
	marker := dirKey(key)
	empty := b.cache.startFill(listKey(bucket, marker)) // before the check that finds it empty
	if _, err := b.Stat(ctx, bucket, key); err == nil {
		b.cache.dropFill(empty)
		return fmt.Errorf("mkdir %s/%s: %w", bucket, key, ErrExists)
	}
	// StatDir just found nothing under the name (unless that answer was voided
	// or its request failed): only then is the new directory known empty.
	known, _ := b.cache.lru.Peek(statKey(bucket, marker))
	wasEmpty := known != nil && !known.(statResult).found
	w := b.cache.startWrite(bucket, marker)
	_, err := b.client.PutObject(ctx, &s3.PutObjectInput{
		Bucket: aws.String(bucket), Key: aws.String(marker), Body: strings.NewReader(""), ContentLength: aws.Int64(0),
	})
	if err != nil {
		b.cache.wrote(w, nil)
		b.cache.dropFill(empty)
		return mapErr("mkdir", bucket, key, err)
	}
	b.cache.wrote(w, &Entry{Name: baseName(key), IsDir: true, ModTime: time.Now().UTC()})
	// Nothing was under the name and no write into it was seen since: the new
	// directory is empty, and uploads into it need not ask S3 whether their
	// names are directories.
	if wasEmpty {
		b.cache.finishFill(empty, []Entry{})
	} else {
		b.cache.dropFill(empty)
	}
	return nil
}

// Rmdir removes the empty directory bucket/key (its marker). A directory that
// still holds anything is refused with ErrNotEmpty, and so is a marker that
// holds data: S3 allows a non-empty object named "key/", which no listing shows,
// and removing a directory must never delete bytes nobody could see.
func (b *Backend) Rmdir(ctx context.Context, bucket, key string) error {
	marker := dirKey(key)
	out, err := b.listObjects(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(bucket), Prefix: aws.String(marker), MaxKeys: aws.Int32(2)})
	if err != nil {
		return fmt.Errorf("rmdir: %w", err)
	}
	hasMarker, markerETag := false, (*string)(nil)
	for _, o := range out.Contents {
		if aws.ToString(o.Key) != marker {
			return fmt.Errorf("rmdir %s/%s: %w", bucket, key, ErrNotEmpty)
		}
		if n := aws.ToInt64(o.Size); n > 0 {
			b.opts.Logger.Warn("RMD refused: the directory's marker object holds data that no listing shows",
				"bucket", bucket, "key", marker, "size", n)
			return fmt.Errorf("rmdir %s/%s: marker object %q holds %d bytes: %w", bucket, key, marker, n, ErrNotEmpty)
		}
		hasMarker, markerETag = true, o.ETag
	}
	if !hasMarker {
		if _, serr := b.stat(ctx, bucket, key); serr == nil {
			return fmt.Errorf("rmdir %s/%s: not a directory: %w", bucket, key, ErrNotFound)
		}
		return fmt.Errorf("rmdir %s/%s: %w", bucket, key, ErrNotFound)
	}
	// Pinned to the empty marker just seen, where S3 honours If-Match on
	// DELETE (AWS does; MinIO ignores it).
	_, err = b.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(bucket), Key: aws.String(marker), IfMatch: markerETag})
	b.cache.changed(bucket, marker, nil)
	return mapErr("rmdir", bucket, key, err)
}
