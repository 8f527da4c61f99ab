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
	out, err := b.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		if isNotFound(err) {
			b.cache.putStat(bucket, key, statResult{})
		}
		return Entry{}, mapErr("stat", bucket, key, err)
	}
	e := Entry{Name: baseName(key), Size: aws.ToInt64(out.ContentLength), ModTime: aws.ToTime(out.LastModified), ETag: unquoteETag(out.ETag),
		SHA256: out.Metadata[MetaSHA256]}
	b.cache.putStat(bucket, key, statResult{entry: e, found: true})
	return e, nil
}

// StatDir reports whether bucket/key is a directory: the bucket itself when key is
// empty, otherwise a "key/" marker or any key under "key/".
func (b *Backend) StatDir(ctx context.Context, bucket, key string) (Entry, error) {
	dkey := dirPrefix(key)
	if r, ok := b.cache.stat(bucket, dkey); ok {
		if !r.found {
			return Entry{}, fmt.Errorf("stat %s/%s: %w", bucket, dkey, ErrNotFound)
		}
		return r.entry, nil
	}
	var e Entry
	if dkey == "" {
		if _, err := b.client.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String(bucket)}); err != nil {
			if isNotFound(err) {
				b.cache.putStat(bucket, dkey, statResult{})
			}
			return Entry{}, mapErr("stat bucket", bucket, "", err)
		}
		e = Entry{Name: bucket, IsDir: true, ModTime: time.Now().UTC()}
	} else {
		out, err := b.client.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(bucket), Prefix: aws.String(dkey), MaxKeys: aws.Int32(1)})
		if err != nil {
			return Entry{}, mapErr("stat directory", bucket, dkey, err)
		}
		if len(out.Contents) == 0 {
			b.cache.putStat(bucket, dkey, statResult{})
			return Entry{}, fmt.Errorf("stat %s/%s: %w", bucket, dkey, ErrNotFound)
		}
		// The first key is the marker when there is one (it sorts first); for an
		// implicit directory it is the first child. Either way a real time.
		e = Entry{Name: baseName(key), IsDir: true, ModTime: aws.ToTime(out.Contents[0].LastModified)}
	}
	b.cache.putStat(bucket, dkey, statResult{entry: e, found: true})
	return e, nil
}

// Delete removes the file bucket/key.
func (b *Backend) Delete(ctx context.Context, bucket, key string) error {
	if _, err := b.stat(ctx, bucket, key); err != nil {
		if _, derr := b.StatDir(ctx, bucket, key); derr == nil {
			return fmt.Errorf("delete %s/%s: %w", bucket, key, ErrIsDirectory)
		}
		return err
	}
	_, err := b.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	b.cache.changed(bucket, key, nil)
	b.cache.putStat(bucket, key, statResult{})
	return mapErr("delete", bucket, key, err)
}

// Mkdir creates the directory bucket/key as a zero-byte "key/" marker, so that an
// empty directory persists.
func (b *Backend) Mkdir(ctx context.Context, bucket, key string) error {
	if _, err := b.Stat(ctx, bucket, key); err == nil {
		return fmt.Errorf("mkdir %s/%s: %w", bucket, key, ErrExists)
	}
	marker := dirPrefix(key)
	_, err := b.client.PutObject(ctx, &s3.PutObjectInput{
		Bucket: aws.String(bucket), Key: aws.String(marker), Body: strings.NewReader(""), ContentLength: aws.Int64(0),
	})
	if err != nil {
		return mapErr("mkdir", bucket, key, err)
	}
	e := Entry{Name: baseName(key), IsDir: true, ModTime: time.Now().UTC()}
	b.cache.changed(bucket, key, nil)
	b.cache.putStat(bucket, marker, statResult{entry: e, found: true})
	// Nothing was under the name (Stat above): the new directory is empty, and
	// uploads into it need not ask S3 whether their names are directories.
	b.cache.putListing(bucket, marker, []Entry{})
	return nil
}

// Rmdir removes the empty directory bucket/key (its marker). A directory that
// still holds anything is refused with ErrNotEmpty.
func (b *Backend) Rmdir(ctx context.Context, bucket, key string) error {
	marker := dirPrefix(key)
	out, err := b.client.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(bucket), Prefix: aws.String(marker), MaxKeys: aws.Int32(2)})
	if err != nil {
		return mapErr("rmdir", bucket, key, err)
	}
	hasMarker := false
	for _, o := range out.Contents {
		if aws.ToString(o.Key) == marker {
			hasMarker = true
		} else {
			return fmt.Errorf("rmdir %s/%s: %w", bucket, key, ErrNotEmpty)
		}
	}
	if !hasMarker {
		if _, serr := b.stat(ctx, bucket, key); serr == nil {
			return fmt.Errorf("rmdir %s/%s: not a directory: %w", bucket, key, ErrNotFound)
		}
		return fmt.Errorf("rmdir %s/%s: %w", bucket, key, ErrNotFound)
	}
	if _, err := b.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(bucket), Key: aws.String(marker)}); err != nil {
		return mapErr("rmdir", bucket, key, err)
	}
	b.cache.changed(bucket, key, nil)
	b.cache.putStat(bucket, marker, statResult{})
	return nil
}
