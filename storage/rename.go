package storage

import (
	"context"
	"fmt"
	"net/url"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// S3 has no rename: a file is copied inside S3 (one CopyObject, or a multipart
// UploadPartCopy above CopyThreshold) and then the original is deleted. The copy
// is pinned to the source's ETag; the destination, if it exists, is replaced
// atomically by the copy.

// Rename moves the file srcBucket/srcKey to dstBucket/dstKey, replacing any file
// there. The buckets may differ.
func (b *Backend) Rename(ctx context.Context, srcBucket, srcKey, dstBucket, dstKey string) error {
	if srcBucket == dstBucket && srcKey == dstKey {
		return nil
	}
	head, err := b.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(srcBucket), Key: aws.String(srcKey)})
	if err != nil {
		return mapErr("rename", srcBucket, srcKey, err)
	}
	src := object{bucket: srcBucket, key: srcKey, size: aws.ToInt64(head.ContentLength), etag: aws.ToString(head.ETag),
		meta: head.Metadata, contentType: aws.ToString(head.ContentType)}
	_, err = b.copyObject(ctx, src, dstBucket, dstKey)
	b.cache.changed(dstBucket, dstKey, nil) // even after an error: the copy may have landed
	if err != nil {
		return err
	}
	defer b.cache.changed(srcBucket, srcKey, nil)
	return b.deleteCopied(ctx, src)
}

// deleteCopied deletes the original of a finished copy, but only the version
// that was copied: a client that overwrote it in the meantime must not lose its
// upload. The delete carries If-Match, which makes it atomic where S3 honours
// it (AWS); the pinned MinIO ignores If-Match on DELETE, so the ETag is also
// checked right before deleting, which leaves only the gap between the two
// requests. A source that changed stays in place, with a warning: the rename
// itself is done (the copied version is at its new name) and the newer file is
// someone else's write.
func (b *Backend) deleteCopied(ctx context.Context, src object) error {
	_, err := b.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(src.bucket), Key: aws.String(src.key), IfMatch: aws.String(src.etag)})
	if err == nil {
		_, err = b.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(src.bucket), Key: aws.String(src.key), IfMatch: aws.String(src.etag)})
	}
	switch {
	case err == nil:
		return nil
	case isPreconditionFailed(err):
		b.opts.Logger.Warn("rename: the original changed after it was copied; it stays in place",
			"bucket", src.bucket, "key", src.key, "copied_etag", strings.Trim(src.etag, `"`))
		return nil
	case isNotFound(err):
		return nil // gone already: nothing of the copied version is left behind
	}
	return mapErr("rename: delete the original", src.bucket, src.key, err)
}

// object is what a copy needs to know about its source.
type object struct {
	bucket, key string
	size        int64
	etag        string // quoted, as S3 sends it
	meta        map[string]string
	contentType string
}

// copyObject copies src to dstBucket/dstKey with its metadata and returns the new
// ETag (unquoted).
func (b *Backend) copyObject(ctx context.Context, src object, dstBucket, dstKey string) (string, error) {
	if src.size <= b.opts.CopyThreshold {
		out, err := b.client.CopyObject(ctx, &s3.CopyObjectInput{
			Bucket:            aws.String(dstBucket),
			Key:               aws.String(dstKey),
			CopySource:        aws.String(copySource(src.bucket, src.key)),
			CopySourceIfMatch: aws.String(src.etag),
			// The object keeps who sent it (x-amz-meta-ftp-user, -client)
			// and its upload-check tag: S3's defaults, said out loud.
			MetadataDirective: types.MetadataDirectiveCopy,
			TaggingDirective:  types.TaggingDirectiveCopy,
		})
		if err != nil {
			return "", mapErr("copy "+src.bucket+"/"+src.key+" to", dstBucket, dstKey, err)
		}
		if out.CopyObjectResult == nil {
			return "", nil
		}
		return unquoteETag(out.CopyObjectResult.ETag), nil
	}
	in := &s3.CreateMultipartUploadInput{
		Bucket:   aws.String(dstBucket),
		Key:      aws.String(dstKey),
		Metadata: src.meta,
	}
	if src.contentType != "" {
		in.ContentType = aws.String(src.contentType)
	}
	// A copy in parts takes no tags from its source: carry them over (the
	// upload check's ftp2s3-check tag among them, uploadcheck.go). One
	// request per file of more than CopyThreshold, nothing next to the copy.
	if tags, err := b.client.GetObjectTagging(ctx, &s3.GetObjectTaggingInput{Bucket: aws.String(src.bucket), Key: aws.String(src.key)}); err == nil && len(tags.TagSet) > 0 {
		q := url.Values{}
		for _, t := range tags.TagSet {
			q.Set(aws.ToString(t.Key), aws.ToString(t.Value))
		}
		in.Tagging = aws.String(q.Encode())
	}
	created, err := b.client.CreateMultipartUpload(ctx, in)
	if err != nil {
		return "", mapErr("create multipart copy", dstBucket, dstKey, err)
	}
	up := &upload{bucket: dstBucket, key: dstKey, id: created.UploadId}
	partSize := max(b.opts.CopyPartSize, (src.size+MaxParts-1)/MaxParts)
	parts, err := b.copyParts(ctx, up, src.bucket, src.key, src.etag, src.size, partSize)
	if err == nil {
		var out *s3.CompleteMultipartUploadOutput
		out, err = b.client.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{
			Bucket: aws.String(dstBucket), Key: aws.String(dstKey), UploadId: up.id,
			MultipartUpload: &types.CompletedMultipartUpload{Parts: parts},
		})
		if err == nil {
			return unquoteETag(out.ETag), nil
		}
		err = mapErr("complete multipart copy", dstBucket, dstKey, err)
	}
	b.abortMultipart(ctx, dstBucket, dstKey, up.id)
	return "", err
}

// RenameDir moves every key under the directory srcBucket/srcDir to the same
// place under dstBucket/dstDir. A destination that exists is refused
// (ErrExists); a directory of more than MaxRenameKeys keys is refused up front
// (ErrTooLarge). Every key is copied first, at most RenameConcurrency at a time;
// if any copy fails, the copies already made are removed again and the directory
// stays where it was. Only when all copies exist are the originals deleted, so a
// failure part-way never loses an object: each is under its old name, its new
// name, or both.
func (b *Backend) RenameDir(ctx context.Context, srcBucket, srcDir, dstBucket, dstDir string) error {
	srcPrefix, dstPrefix := dirKey(srcDir), dirKey(dstDir)
	if srcPrefix == "" || dstPrefix == "" {
		return fmt.Errorf("rename directory %s/%s: %w", srcBucket, srcDir, ErrInvalidName)
	}
	if srcBucket == dstBucket && strings.HasPrefix(dstPrefix, srcPrefix) {
		return fmt.Errorf("rename directory %s/%s into itself: %w", srcBucket, srcDir, ErrInvalidName)
	}
	if _, err := b.Stat(ctx, dstBucket, dstDir); err == nil {
		return fmt.Errorf("rename directory to %s/%s: %w", dstBucket, dstDir, ErrExists)
	}
	var objs []object
	err := b.listPages(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(srcBucket), Prefix: aws.String(srcPrefix)}, func(page *s3.ListObjectsV2Output) error {
		for _, o := range page.Contents {
			if len(objs) >= b.opts.MaxRenameKeys {
				return fmt.Errorf("rename directory %s/%s: more than %d keys (FTP2S3_MAX_RENAME_KEYS): %w",
					srcBucket, srcDir, b.opts.MaxRenameKeys, ErrTooLarge)
			}
			objs = append(objs, object{bucket: srcBucket, key: aws.ToString(o.Key), size: aws.ToInt64(o.Size), etag: aws.ToString(o.ETag)})
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("rename directory: %w", err)
	}
	if len(objs) == 0 {
		return fmt.Errorf("rename directory %s/%s: %w", srcBucket, srcDir, ErrNotFound)
	}
	defer b.cache.changedTree(srcBucket, srcPrefix)
	defer b.cache.changedTree(dstBucket, dstPrefix)

	dst := func(o object) string { return dstPrefix + strings.TrimPrefix(o.key, srcPrefix) }
	copied := make([]bool, len(objs))
	err = forEach(ctx, len(objs), b.opts.RenameConcurrency, func(ctx context.Context, i int) error {
		o := objs[i]
		if o.size > b.opts.CopyThreshold {
			// Only the multipart path needs the metadata and content type.
			head, err := b.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(o.bucket), Key: aws.String(o.key), IfMatch: aws.String(o.etag)})
			if err != nil {
				return mapErr("rename directory: stat", o.bucket, o.key, err)
			}
			o.meta, o.contentType = head.Metadata, aws.ToString(head.ContentType)
		}
		if _, err := b.copyObject(ctx, o, dstBucket, dst(o)); err != nil {
			return err
		}
		copied[i] = true
		return nil
	})
	if err != nil {
		// Roll back: the destination did not exist, so every key there is ours.
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), abortTimeout)
		defer cancel()
		if rerr := forEach(rctx, len(objs), b.opts.RenameConcurrency, func(ctx context.Context, i int) error {
			if !copied[i] {
				return nil
			}
			_, err := b.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(dstBucket), Key: aws.String(dst(objs[i]))})
			return err
		}); rerr != nil {
			b.opts.Logger.Warn("rename directory: removing partial copies failed; the originals are intact",
				"bucket", dstBucket, "prefix", dstPrefix, "err", rerr)
		}
		return err
	}
	return forEach(ctx, len(objs), b.opts.RenameConcurrency, func(ctx context.Context, i int) error {
		return b.deleteCopied(ctx, objs[i])
	})
}
