package storage

import (
	"context"
	"crypto/sha256"
	"errors"
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
	first       *s3.GetObjectOutput // nil once sent or closed, or when nothing is left to send
	lazy        bool                // the first GET is still to be sent
}

// get sends the first GET, retried through short outages like every request
// of a transfer (retry.go), and keeps its response; what it says about the
// object is a cache fill like a HEAD's.
func (d *download) get(ctx context.Context) error {
	b, bucket, key := d.b, d.bucket, d.key
	d.lazy = false
	f := b.cache.startFill(statKey(bucket, key))
	var first *s3.GetObjectOutput
	err := b.retrySDK(ctx, "GetObject "+bucket+"/"+key, func() error {
		var err error
		first, err = b.client.GetObject(ctx, &s3.GetObjectInput{
			Bucket: aws.String(bucket),
			Key:    aws.String(key),
			Range:  aws.String(fmt.Sprintf("bytes=%d-%d", d.offset, d.offset+b.opts.DownloadChunk-1)),
		}, oneAttempt)
		return err
	})
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
	size, ok := totalFromContentRange(aws.ToString(first.ContentRange))
	if !ok {
		size = d.offset + aws.ToInt64(first.ContentLength)
	}
	d.entry = Entry{Name: baseName(key), Size: size, ModTime: modTime(first.LastModified, first.Metadata), ETag: unquoteETag(first.ETag),
		SHA256: first.Metadata[MetaSHA256]}
	d.etag, d.first = aws.ToString(first.ETag), first
	b.cache.finishFill(f, statResult{entry: d.entry, found: true})
	return nil
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
	defer first.Body.Close()
	if dst, ok := d.b.spliceDest(w); ok { // see splice.go
		return d.b.sendSpliced(ctx, d.bucket, d.key, d.etag, d.offset, d.entry.Size, first, w, dst)
	}
	return d.b.readAhead(ctx, d.bucket, d.key, d.etag, d.offset, d.entry.Size, first, w)
}

func (d *download) Close() error {
	d.lazy = false
	if d.first == nil {
		return nil
	}
	err := d.first.Body.Close()
	d.first = nil
	return err
}

// smallPutLimit is the size up to which an upload is read into a buffer of its
// own size rather than a part buffer (PartSize, 16 MiB by default): most files of
// the small-file workloads are a few KiB, and sessions each holding a part
// buffer for one would take the memory budget (README "Transfers") sixteen
// times faster, limiting how many small uploads run at once. The buffers come
// from the budget's small share (Memory.getSmall).
const smallPutLimit = 1 << 20

// putSmallFirst is put for a stream that may be small: it reads up to
// smallPutLimit into a buffer of the budget's small share and stores that with
// one PutObject when the stream ends there; a longer stream goes on through put
// with what was read in front. When the small share is taken it is put.
func (b *Backend) putSmallFirst(ctx context.Context, bucket, key string, r io.Reader, opts PutOptions) (Entry, error) {
	if opts.SizeHint > smallPutLimit {
		return b.put(ctx, bucket, key, r, opts, sha256.New())
	}
	buf := b.mem.getSmall()
	if buf == nil {
		return b.put(ctx, bucket, key, r, opts, sha256.New())
	}
	n, err := io.ReadFull(r, buf)
	switch {
	case err == io.EOF || errors.Is(err, io.ErrUnexpectedEOF):
		defer b.mem.putSmall(buf)
		h := sha256.New()
		h.Write(buf[:n])
		if b.smallPut != nil {
			return b.putPresigned(ctx, bucket, key, buf[:n], opts.BeforeCommit, hexSum(h))
		}
		return b.putSingle(ctx, bucket, key, buf[:n], opts.BeforeCommit, h)
	case err != nil:
		b.mem.putSmall(buf)
		return Entry{}, fmt.Errorf("read upload data: %w", err)
	}
	// put may wait for a part buffer while this one is held: safe, since the
	// parts pool never waits for the small share (see smallShare).
	head := &headReader{mem: b.mem, buf: buf, rest: r}
	defer head.release()
	return b.put(ctx, bucket, key, head, opts, sha256.New())
}

// headReader yields the bytes putSmallFirst read ahead, then the rest of the
// stream; the small buffer goes back to its share as soon as it is drained, so
// a large upload holds no more than its part buffers.
type headReader struct {
	mem  *Memory
	buf  []byte
	off  int
	rest io.Reader
}

func (h *headReader) Read(p []byte) (int, error) {
	if h.buf == nil {
		return h.rest.Read(p)
	}
	n := copy(p, h.buf[h.off:])
	if h.off += n; h.off == len(h.buf) {
		h.release()
	}
	return n, nil
}

func (h *headReader) release() {
	if h.buf != nil {
		h.mem.putSmall(h.buf)
		h.buf = nil
	}
}
