package storage

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// S3 has no append. APPE and REST n + STOR build a new object from the head of the
// existing one plus the streamed bytes: a head of at least MinPartSize becomes
// UploadPartCopy parts, copied inside S3 without passing through the gateway; a
// smaller head cannot be a part of its own (every part but the last must be
// 5 MiB), so it is read back and re-uploaded in front of the stream. The head is
// pinned to the ETag seen when the upload started, so a concurrent overwrite
// fails the transfer instead of splicing two versions.

// compose is Put with opts.Offset or opts.Append.
func (b *Backend) compose(ctx context.Context, bucket, key string, r io.Reader, opts PutOptions) (Entry, error) {
	plain := opts
	plain.Offset, plain.Append = 0, false
	var head *s3.HeadObjectOutput
	err := b.retrySDK(ctx, "HeadObject "+bucket+"/"+key, func() error {
		var err error
		head, err = b.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)}, oneAttempt)
		return err
	})
	if err != nil {
		if isNotFound(err) && (opts.Append || opts.Offset == 0) {
			return b.put(ctx, bucket, key, r, plain, sha256.New())
		}
		return Entry{}, mapErr("resume", bucket, key, err)
	}
	size, etag := aws.ToInt64(head.ContentLength), aws.ToString(head.ETag)
	keep := opts.Offset
	if opts.Append {
		keep = size
	}
	if keep > size {
		return Entry{}, fmt.Errorf("resume %s/%s at %d of %d bytes: %w", bucket, key, keep, size, ErrInvalidOffset)
	}
	if keep == 0 {
		return b.put(ctx, bucket, key, r, plain, sha256.New())
	}
	if keep < MinPartSize {
		data, err := b.readHead(ctx, bucket, key, etag, keep)
		if err != nil {
			return Entry{}, err
		}
		return b.put(ctx, bucket, key, io.MultiReader(bytes.NewReader(data), r), plain, sha256.New())
	}

	up, err := b.createUpload(ctx, bucket, key, false, opts)
	if err != nil {
		return Entry{}, err
	}
	parts, err := b.copyParts(ctx, up, bucket, key, etag, keep, b.opts.CopyPartSize)
	if err != nil {
		b.abortUpload(ctx, up)
		return Entry{}, err
	}
	base := b.basePartSize(opts.SizeHint)
	buf, err := b.mem.get(ctx, base, true)
	if err != nil {
		b.abortUpload(ctx, up)
		return Entry{}, fmt.Errorf("wait for transfer memory: %w", err)
	}
	r = b.rateChecked(r) // from now on the upload holds memory
	n, err := io.ReadFull(r, buf)
	if err != nil && err != io.EOF && !errors.Is(err, io.ErrUnexpectedEOF) {
		b.mem.put(ctx, buf)
		b.abortUpload(ctx, up)
		return Entry{}, fmt.Errorf("read upload data: %w", err)
	}
	// The whole-object hash cannot be extended from the head's stored digest, so
	// a composed object carries none.
	return b.streamParts(ctx, &partStream{up: up, r: r, base: base, opts: plain, parts: parts, size: keep}, buf[:n])
}

// readHead reads the first n bytes of bucket/key, pinned to etag.
func (b *Backend) readHead(ctx context.Context, bucket, key, etag string, n int64) ([]byte, error) {
	data := make([]byte, n) // under MinPartSize: not worth the budget's bookkeeping
	if err := b.fetchRange(ctx, bucket, key, etag, 0, data); err != nil {
		return nil, fmt.Errorf("read head: %w", err)
	}
	return data, nil
}

// copyParts copies the first n bytes of srcBucket/srcKey (pinned to etag) into up
// as its first parts, each between partSize and twice that (and at most 5 GiB),
// with at most UploadConcurrency copies in flight. n must be at least
// MinPartSize.
func (b *Backend) copyParts(ctx context.Context, up *upload, srcBucket, srcKey, etag string, n, partSize int64) ([]types.CompletedPart, error) {
	count := max(n/partSize, (n+MaxPartSize-1)/MaxPartSize, 1)
	if count > MaxParts {
		return nil, fmt.Errorf("copy %s/%s: %d parts: %w", srcBucket, srcKey, count, ErrTooLarge)
	}
	parts := make([]types.CompletedPart, count)
	err := forEach(ctx, int(count), b.opts.UploadConcurrency, func(ctx context.Context, i int) error {
		start, end := n*int64(i)/count, n*int64(i+1)/count // end exclusive
		number := int32(i + 1)
		var out *s3.UploadPartCopyOutput
		err := b.retrySDK(ctx, fmt.Sprintf("UploadPartCopy %d of %s/%s", number, up.bucket, up.key), func() error {
			var err error
			out, err = b.client.UploadPartCopy(ctx, &s3.UploadPartCopyInput{
				Bucket:            aws.String(up.bucket),
				Key:               aws.String(up.key),
				UploadId:          up.id,
				PartNumber:        aws.Int32(number),
				CopySource:        aws.String(copySource(srcBucket, srcKey)),
				CopySourceRange:   aws.String(fmt.Sprintf("bytes=%d-%d", start, end-1)),
				CopySourceIfMatch: aws.String(etag),
			}, oneAttempt)
			return err
		})
		if err != nil {
			return mapErr(fmt.Sprintf("copy part %d from", number), srcBucket, srcKey, err)
		}
		p := types.CompletedPart{PartNumber: aws.Int32(number)}
		if res := out.CopyPartResult; res != nil {
			p.ETag = res.ETag
		}
		parts[i] = p
		return nil
	})
	if err != nil {
		return nil, err
	}
	return parts, nil
}

// copySource is the x-amz-copy-source value for bucket/key: URL-encoded, with the
// slashes between key elements kept.
func copySource(bucket, key string) string {
	elems := strings.Split(key, "/")
	for i, e := range elems {
		elems[i] = url.PathEscape(e)
	}
	return bucket + "/" + strings.Join(elems, "/")
}
