package storage

import (
	"context"
	"fmt"
	"maps"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// MetaMtime is the user-metadata key (x-amz-meta-mtime) holding a modification
// time a client set (MFMT): the name rclone and s3fs read, in seconds since the
// epoch with an optional fraction, as they write it.
const MetaMtime = "mtime"

// SetModTimeLimit is the largest object whose time SetModTime records: S3
// copies an object onto itself in one CopyObject only up to 5 GiB.
const SetModTimeLimit = MaxPartSize

// SetModTime records t as bucket/key's modification time. S3 sets LastModified
// itself and offers no way to change it, so the time goes into the object's
// metadata by copying the object onto itself with the metadata replaced (a
// metadata-only update on MinIO; a server-side copy on AWS): every other piece
// of metadata and the content headers are carried over, and the copy is pinned
// to the ETag just read so that a concurrent overwrite is never relabelled.
func (b *Backend) SetModTime(ctx context.Context, bucket, key string, t time.Time) (Entry, error) {
	head, err := b.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		return Entry{}, mapErr("set the time of", bucket, key, err)
	}
	size := aws.ToInt64(head.ContentLength)
	if size > SetModTimeLimit {
		return Entry{}, fmt.Errorf("set the time of %s/%s: %d bytes is over the %d a single copy takes: %w", bucket, key, size, int64(SetModTimeLimit), ErrTooLarge)
	}
	meta := maps.Clone(head.Metadata)
	if meta == nil {
		meta = map[string]string{}
	}
	meta[MetaMtime] = formatMtime(t)
	in := &s3.CopyObjectInput{
		Bucket:             aws.String(bucket),
		Key:                aws.String(key),
		CopySource:         aws.String(copySource(bucket, key)),
		CopySourceIfMatch:  head.ETag,
		MetadataDirective:  types.MetadataDirectiveReplace,
		Metadata:           meta,
		ContentType:        head.ContentType,
		ContentEncoding:    head.ContentEncoding,
		ContentDisposition: head.ContentDisposition,
		ContentLanguage:    head.ContentLanguage,
		CacheControl:       head.CacheControl,
	}
	if head.StorageClass != "" {
		in.StorageClass = types.StorageClass(head.StorageClass)
	}
	w := b.cache.startWrite(bucket, key)
	out, err := b.client.CopyObject(ctx, in)
	if err != nil {
		b.cache.wrote(w, nil)
		return Entry{}, mapErr("set the time of", bucket, key, err)
	}
	e := Entry{Name: baseName(key), Size: size, ModTime: t.UTC(), ETag: unquoteETag(head.ETag), SHA256: meta[MetaSHA256]}
	if out.CopyObjectResult != nil && out.CopyObjectResult.ETag != nil {
		e.ETag = unquoteETag(out.CopyObjectResult.ETag)
	}
	b.cache.wrote(w, &e)
	return e, nil
}

// modTime is the time a file shows: the client's own (MetaMtime) when one was
// recorded, else S3's LastModified.
func modTime(lastModified *time.Time, meta map[string]string) time.Time {
	if t, ok := parseMtime(meta[MetaMtime]); ok {
		return t
	}
	return aws.ToTime(lastModified)
}

func formatMtime(t time.Time) string {
	sec, nsec := t.Unix(), t.Nanosecond()
	if nsec == 0 {
		return strconv.FormatInt(sec, 10)
	}
	return fmt.Sprintf("%d.%09d", sec, nsec)
}

// parseMtime reads "1700000000" or "1700000000.123456789" (rclone writes a
// fraction, s3fs whole seconds).
func parseMtime(s string) (time.Time, bool) {
	if s == "" {
		return time.Time{}, false
	}
	whole, frac, _ := strings.Cut(s, ".")
	sec, err := strconv.ParseInt(whole, 10, 64)
	if err != nil {
		return time.Time{}, false
	}
	var nsec int64
	if frac != "" {
		if len(frac) > 9 {
			frac = frac[:9]
		}
		n, err := strconv.ParseInt(frac+strings.Repeat("0", 9-len(frac)), 10, 64)
		if err != nil {
			return time.Time{}, false
		}
		nsec = n
	}
	return time.Unix(sec, nsec).UTC(), true
}
