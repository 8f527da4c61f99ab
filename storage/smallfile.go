package storage

import (
	"context"
	"fmt"
	"io"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// Small files cost S3 round trips, not bandwidth: each request the FTP semantics
// ask for (does it exist, is it a directory, does its directory exist) costs
// about as much as the transfer itself (bench/results/ANALYSIS.md, W4 and W6).
// This file holds the two shortcuts of README "Performance: small files": a
// download whose first GET is also the existence check, and the checks of a new
// upload answered from the metadata cache or asked while the data arrives.

// ObjectReader is an object opened for reading by Backend.Open: the GET that
// found it has answered and its body waits to be sent.
type ObjectReader interface {
	// Entry describes the object as that GET found it.
	Entry() Entry
	// Send writes the object from the offset it was opened at to w. It may be
	// called once; ctx bounds the ranged GETs that read beyond the first chunk.
	Send(ctx context.Context, w io.Writer) (int64, error)
	// Close releases the first GET's response if Send never ran. It is safe to
	// call after Send and more than once.
	Close() error
}

// Open finds bucket/key with the first GET of a download (from offset, at most
// one DownloadChunk), so that RETR learns that the file exists, and its size,
// from the request that also brings its first bytes. A name the metadata cache
// knows to be missing fails without a request.
func (b *Backend) Open(ctx context.Context, bucket, key string, offset int64) (ObjectReader, error) {
	if r, ok := b.cache.stat(bucket, key); ok && !r.found {
		return nil, fmt.Errorf("open %s/%s: %w", bucket, key, ErrNotFound)
	}
	first, err := b.client.GetObject(ctx, &s3.GetObjectInput{
		Bucket: aws.String(bucket),
		Key:    aws.String(key),
		Range:  aws.String(fmt.Sprintf("bytes=%d-%d", offset, offset+b.opts.DownloadChunk-1)),
	})
	if err != nil {
		if !isInvalidRange(err) {
			return nil, mapErr("get", bucket, key, err)
		}
		// An empty object, or a restart offset at or past its end: nothing to
		// send, but only a HEAD tells whether the object is there at all.
		e, serr := b.stat(ctx, bucket, key)
		if serr != nil {
			return nil, serr
		}
		return &download{entry: e}, nil
	}
	size, ok := totalFromContentRange(aws.ToString(first.ContentRange))
	if !ok {
		size = offset + aws.ToInt64(first.ContentLength)
	}
	e := Entry{Name: baseName(key), Size: size, ModTime: aws.ToTime(first.LastModified), ETag: unquoteETag(first.ETag),
		SHA256: first.Metadata[MetaSHA256]}
	b.cache.putStat(bucket, key, statResult{entry: e, found: true})
	return &download{b: b, bucket: bucket, key: key, offset: offset, etag: aws.ToString(first.ETag), entry: e, first: first}, nil
}

// download is Open's ObjectReader.
type download struct {
	b           *Backend
	bucket, key string
	offset      int64
	etag        string // quoted, as If-Match wants it
	entry       Entry
	first       *s3.GetObjectOutput // nil once sent or closed, or when nothing is left to send
}

func (d *download) Entry() Entry { return d.entry }

func (d *download) Send(ctx context.Context, w io.Writer) (int64, error) {
	first := d.first
	if first == nil {
		return 0, nil
	}
	d.first = nil
	defer first.Body.Close()
	return d.b.readAhead(ctx, d.bucket, d.key, d.etag, d.offset, d.entry.Size, first, w)
}

func (d *download) Close() error {
	if d.first == nil {
		return nil
	}
	err := d.first.Body.Close()
	d.first = nil
	return err
}
