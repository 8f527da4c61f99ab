package storage

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// The upload pipeline is written here rather than taken from the SDK's upload
// manager because the gateway must decide at the last moment whether to complete
// the object (the FTP client may have vanished while its data connection looked
// like a clean end of file), and because part buffers are pooled across uploads.

// PutOptions adjust one upload.
type PutOptions struct {
	// SizeHint is the expected size (from ALLO), or 0 when unknown. It lets the
	// part size grow up front so that the object fits in 10,000 parts.
	SizeHint int64
	// BeforeCommit runs after every byte has been read and stored, right before the
	// object becomes visible. An error from it abandons the upload.
	BeforeCommit func() error
}

// abortTimeout bounds the clean-up of an abandoned upload. It runs on a context of
// its own because the transfer's context is usually already cancelled by then.
const abortTimeout = 30 * time.Second

// Put streams r into bucket/key. A stream shorter than one part is stored with a
// single PutObject; a longer one goes through a multipart upload with at most
// UploadConcurrency parts in flight, so memory stays near
// PartSize × (UploadConcurrency + 1) whatever the size. On any error, including
// ctx being cancelled, nothing is created and no multipart upload is left behind.
func (b *Backend) Put(ctx context.Context, bucket, key string, r io.Reader, opts PutOptions) (Entry, error) {
	base := b.basePartSize(opts.SizeHint)
	buf := b.getBuffer(base)
	n, err := io.ReadFull(r, buf)
	switch {
	case err == io.EOF || errors.Is(err, io.ErrUnexpectedEOF):
		defer b.putBuffer(buf)
		return b.putSingle(ctx, bucket, key, buf[:n], opts.BeforeCommit)
	case err != nil:
		b.putBuffer(buf)
		return Entry{}, fmt.Errorf("read upload data: %w", err)
	}
	return b.putMultipart(ctx, bucket, key, r, buf, base, opts.BeforeCommit)
}

func (b *Backend) putSingle(ctx context.Context, bucket, key string, data []byte, beforeCommit func() error) (Entry, error) {
	if beforeCommit != nil {
		if err := beforeCommit(); err != nil {
			return Entry{}, err
		}
	}
	out, err := b.client.PutObject(ctx, &s3.PutObjectInput{
		Bucket:            aws.String(bucket),
		Key:               aws.String(key),
		Body:              bytes.NewReader(data),
		ContentLength:     aws.Int64(int64(len(data))),
		ChecksumAlgorithm: types.ChecksumAlgorithmCrc32,
	})
	if err != nil {
		return Entry{}, mapErr("put", bucket, key, err)
	}
	e := Entry{Name: baseName(key), Size: int64(len(data)), ModTime: time.Now().UTC(), ETag: unquoteETag(out.ETag)}
	b.cache.changed(bucket, key, &e)
	return e, nil
}

// partUpload is one part in flight.
type partUpload struct {
	number int32
	buf    []byte
	n      int
}

func (b *Backend) putMultipart(ctx context.Context, bucket, key string, r io.Reader, first []byte, base int64, beforeCommit func() error) (Entry, error) {
	created, err := b.client.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{
		Bucket:            aws.String(bucket),
		Key:               aws.String(key),
		ChecksumAlgorithm: types.ChecksumAlgorithmCrc32,
	})
	if err != nil {
		b.putBuffer(first)
		return Entry{}, mapErr("create multipart upload", bucket, key, err)
	}
	uploadID := created.UploadId

	uctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var (
		wg        sync.WaitGroup
		mu        sync.Mutex
		completed []types.CompletedPart
		total     int64
		slots     = make(chan struct{}, b.opts.UploadConcurrency)
	)
	send := func(p partUpload) {
		defer wg.Done()
		defer func() { <-slots }()
		defer b.putBuffer(p.buf)
		out, err := b.client.UploadPart(uctx, &s3.UploadPartInput{
			Bucket:            aws.String(bucket),
			Key:               aws.String(key),
			UploadId:          uploadID,
			PartNumber:        aws.Int32(p.number),
			Body:              bytes.NewReader(p.buf[:p.n]),
			ContentLength:     aws.Int64(int64(p.n)),
			ChecksumAlgorithm: types.ChecksumAlgorithmCrc32,
		})
		if err != nil {
			cancel(mapErr(fmt.Sprintf("upload part %d of", p.number), bucket, key, err))
			return
		}
		mu.Lock()
		completed = append(completed, types.CompletedPart{ETag: out.ETag, PartNumber: aws.Int32(p.number), ChecksumCRC32: out.ChecksumCRC32})
		mu.Unlock()
	}

	buf, n := first, len(first)
	var readErr error
	for number := int32(1); ; number++ {
		if number > MaxParts {
			readErr = fmt.Errorf("upload exceeds %d parts: %w", MaxParts, ErrTooLarge)
			b.putBuffer(buf)
			break
		}
		select {
		case slots <- struct{}{}:
		case <-uctx.Done():
		}
		if uctx.Err() != nil {
			b.putBuffer(buf)
			break
		}
		total += int64(n)
		wg.Add(1)
		go send(partUpload{number: number, buf: buf, n: n})

		if readErr != nil { // the part just sent was the last one
			readErr = nil
			break
		}
		buf = b.getBuffer(partSizeFor(base, number+1))
		n, readErr = io.ReadFull(r, buf)
		if readErr == io.EOF {
			b.putBuffer(buf)
			readErr = nil
			break
		}
		if errors.Is(readErr, io.ErrUnexpectedEOF) {
			readErr = io.EOF // send this short part, then stop
			continue
		}
		if readErr != nil {
			readErr = fmt.Errorf("read upload data: %w", readErr)
			b.putBuffer(buf)
			break
		}
	}
	wg.Wait()

	fail := readErr
	if fail == nil {
		fail = context.Cause(uctx)
	}
	if fail == nil && beforeCommit != nil {
		fail = beforeCommit()
	}
	if fail == nil {
		out, err := b.client.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{
			Bucket:          aws.String(bucket),
			Key:             aws.String(key),
			UploadId:        uploadID,
			MultipartUpload: &types.CompletedMultipartUpload{Parts: sortParts(completed)},
		})
		if err == nil {
			e := Entry{Name: baseName(key), Size: total, ModTime: time.Now().UTC(), ETag: unquoteETag(out.ETag)}
			b.cache.changed(bucket, key, &e)
			return e, nil
		}
		fail = mapErr("complete multipart upload", bucket, key, err)
	}
	b.abortMultipart(ctx, bucket, key, uploadID)
	return Entry{}, fail
}

func (b *Backend) abortMultipart(ctx context.Context, bucket, key string, uploadID *string) {
	actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), abortTimeout)
	defer cancel()
	if _, err := b.client.AbortMultipartUpload(actx, &s3.AbortMultipartUploadInput{
		Bucket: aws.String(bucket), Key: aws.String(key), UploadId: uploadID,
	}); err != nil {
		b.opts.Logger.Error("abort multipart upload failed; the bucket's lifecycle rule must clean it up",
			"bucket", bucket, "key", key, "upload_id", aws.ToString(uploadID), "err", err)
	}
}

func sortParts(parts []types.CompletedPart) []types.CompletedPart {
	// Parts finish out of order; S3 wants them ascending. Insertion sort is fine:
	// the slice is nearly sorted already.
	for i := 1; i < len(parts); i++ {
		for j := i; j > 0 && *parts[j].PartNumber < *parts[j-1].PartNumber; j-- {
			parts[j], parts[j-1] = parts[j-1], parts[j]
		}
	}
	return parts
}

// basePartSize is the configured part size, raised when the expected size would
// otherwise need more than MaxParts parts.
func (b *Backend) basePartSize(hint int64) int64 {
	size := b.opts.PartSize
	if hint > 0 {
		need := (hint + MaxParts - 1) / MaxParts
		need = (need + (1<<20 - 1)) &^ (1<<20 - 1) // round up to a MiB
		if need > size {
			size = min(need, MaxPartSize)
		}
	}
	return size
}

// partSizeFor doubles the part size every 1,000 parts, so a stream of unknown
// length reaches S3's 5 TiB object limit well inside 10,000 parts (16 MiB parts
// cover 16 GB in the first thousand, 32 MiB the next, and so on), while ordinary
// files keep the configured size and its memory bound.
func partSizeFor(base int64, number int32) int64 {
	size := base << ((number - 1) / 1000)
	if size > MaxPartSize || size <= 0 {
		size = MaxPartSize
	}
	return size
}
