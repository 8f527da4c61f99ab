package storage

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// Open is how every download starts (RETR): its first GET is also the
// existence check, which is what a small file costs (README "Performance:
// small files").

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
// knows fails or opens without a request: the GET then waits for Send, so that
// it overlaps with the client reading the 150 reply, as before.
func (b *Backend) Open(ctx context.Context, bucket, key string, offset int64) (ObjectReader, error) {
	if r, ok := b.cache.stat(bucket, key); ok {
		if !r.found {
			return nil, fmt.Errorf("open %s/%s: %w", bucket, key, ErrNotFound)
		}
		return &download{b: b, bucket: bucket, key: key, offset: offset, entry: r.entry, lazy: true}, nil
	}
	d := &download{b: b, bucket: bucket, key: key, offset: offset}
	if err := d.get(ctx); err != nil {
		return nil, err
	}
	return d, nil
}

// download is Open's ObjectReader.
type download struct {
	b           *Backend
	bucket, key string
	offset      int64
	etag        string // quoted, as If-Match wants it; "" until the first GET
	entry       Entry
	first       io.ReadCloser // the first GET's body; nil once sent or closed, or when nothing is left to send
	firstLen    int64         // its length
	lazy        bool          // the first GET is still to be sent
}

// get sends the first GET, retried through short outages like every request
// of a transfer (retry.go), and keeps its response; what it says about the
// object is a cache fill like a HEAD's. It is the gateway's own signed request
// where the bucket allows (presignget.go), else the SDK's GetObject.
func (d *download) get(ctx context.Context) error {
	b, bucket, key := d.b, d.bucket, d.key
	d.lazy = false
	f := b.cache.startFill(statKey(bucket, key))
	var got gotObject
	var err error
	if base := b.getBase(ctx, bucket, key); base.ok {
		err = b.retrySDK(ctx, "GetObject "+bucket+"/"+key, func() error {
			began := time.Now()
			var err error
			got, err = b.smallPut.get(ctx, base, key, d.offset, d.offset+b.opts.DownloadChunk-1)
			if obs := b.opts.Observe; obs != nil {
				obs("GetObject", time.Since(began), err)
			}
			return err
		})
	} else {
		err = b.retrySDK(ctx, "GetObject "+bucket+"/"+key, func() error {
			out, err := b.client.GetObject(ctx, &s3.GetObjectInput{
				Bucket: aws.String(bucket),
				Key:    aws.String(key),
				Range:  aws.String(fmt.Sprintf("bytes=%d-%d", d.offset, d.offset+b.opts.DownloadChunk-1)),
			}, oneAttempt)
			if err == nil {
				got = gotObject{body: out.Body, length: aws.ToInt64(out.ContentLength), contentRange: aws.ToString(out.ContentRange),
					etag: aws.ToString(out.ETag), lastModified: out.LastModified, mtime: out.Metadata[MetaMtime], sha256: out.Metadata[MetaSHA256]}
			}
			return err
		})
	}
	if err != nil {
		b.cache.dropFill(f)
		if !isInvalidRange(err) {
			return mapErr("get", bucket, key, err)
		}
		// An empty object, or a restart offset at or past its end: nothing to
		// send, but only a HEAD tells whether the object is there at all.
		e, serr := b.stat(ctx, bucket, key)
		if serr != nil {
			return serr
		}
		d.entry = e
		return nil
	}
	size, ok := totalFromContentRange(got.contentRange)
	if !ok {
		size = d.offset + got.length
	}
	var meta map[string]string
	if got.mtime != "" {
		meta = map[string]string{MetaMtime: got.mtime}
	}
	d.entry = Entry{Name: baseName(key), Size: size, ModTime: modTime(got.lastModified, meta), ETag: unquoteETag(&got.etag),
		SHA256: got.sha256}
	d.etag, d.first, d.firstLen = got.etag, got.body, got.length
	b.cache.finishFill(f, statResult{entry: d.entry, found: true})
	return nil
}

// getBase is where the first GET of bucket/key goes as the gateway's own
// request; not ok sends GetObject. A name S3 cannot hold is left to
// GetObject, whose middleware refuses it before any request (refusal.go).
func (b *Backend) getBase(ctx context.Context, bucket, key string) putBase {
	if b.smallPut == nil || CheckName(bucket, key) != nil {
		return putBase{}
	}
	return b.smallPut.base(ctx, bucket)
}

func (d *download) Entry() Entry { return d.entry }

func (d *download) Send(ctx context.Context, w io.Writer) (int64, error) {
	if d.lazy {
		if err := d.get(ctx); err != nil {
			return 0, err
		}
	}
	first := d.first
	if first == nil {
		return 0, nil
	}
	d.first = nil
	defer first.Close()
	if dst, ok := d.b.spliceDest(w); ok { // see splice.go
		return d.b.sendSpliced(ctx, d.bucket, d.key, d.etag, d.offset, d.entry.Size, first, d.firstLen, w, dst)
	}
	return d.b.readAhead(ctx, d.bucket, d.key, d.etag, d.offset, d.entry.Size, first, d.firstLen, w)
}

func (d *download) Close() error {
	d.lazy = false
	if d.first == nil {
		return nil
	}
	err := d.first.Close()
	d.first = nil
	return err
}
