package storage

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"
)

// Get writes bucket/key from byte offset to w and returns the number of bytes
// written: Open, then Send (see smallfile.go).
func (b *Backend) Get(ctx context.Context, bucket, key string, offset int64, w io.Writer) (int64, error) {
	f, err := b.Open(ctx, bucket, key, offset)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	return f.Send(ctx, w)
}

// readAhead writes the object to w: first is the response of the GET that
// opened it at offset; when more remains, up to DownloadConcurrency ranged GETs
// read ahead, each pinned to the ETag with If-Match, so an object replaced
// mid-download fails with ErrChanged instead of sending a mix of two versions.
// Memory is bounded by DownloadChunk × DownloadConcurrency.
func (b *Backend) readAhead(ctx context.Context, bucket, key, etag string, offset, size int64, first *s3.GetObjectOutput, w io.Writer) (int64, error) {
	chunk := b.opts.DownloadChunk
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	defer wg.Wait() // no fetch outlives the call
	defer cancel()

	type fetched struct {
		buf  []byte
		err  error
		done chan struct{}
	}
	var queue []*fetched
	next := offset + aws.ToInt64(first.ContentLength)
	launch := func() {
		if next >= size {
			return
		}
		start, n := next, min(chunk, size-next)
		next += n
		f := &fetched{done: make(chan struct{})}
		queue = append(queue, f)
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer close(f.done)
			f.buf = b.getBuffer(chunk)[:n]
			f.err = b.fetchRange(ctx, bucket, key, etag, start, f.buf)
		}()
	}
	for range b.opts.DownloadConcurrency {
		launch()
	}

	written, err := io.Copy(w, first.Body)
	first.Body.Close()
	if err != nil {
		return written, fmt.Errorf("send %s/%s: %w", bucket, key, err)
	}
	for len(queue) > 0 {
		f := queue[0]
		queue = queue[1:]
		select {
		case <-f.done:
		case <-ctx.Done():
			return written, ctx.Err()
		}
		if f.err != nil {
			b.putBuffer(f.buf)
			return written, f.err
		}
		n, err := w.Write(f.buf)
		written += int64(n)
		b.putBuffer(f.buf)
		if err != nil {
			return written, fmt.Errorf("send %s/%s: %w", bucket, key, err)
		}
		launch()
	}
	return written, nil
}

func (b *Backend) fetchRange(ctx context.Context, bucket, key, etag string, start int64, buf []byte) error {
	out, err := b.client.GetObject(ctx, &s3.GetObjectInput{
		Bucket:  aws.String(bucket),
		Key:     aws.String(key),
		Range:   aws.String(fmt.Sprintf("bytes=%d-%d", start, start+int64(len(buf))-1)),
		IfMatch: aws.String(etag),
	})
	if err != nil {
		return mapErr("get range of", bucket, key, err)
	}
	defer out.Body.Close()
	if _, err := io.ReadFull(out.Body, buf); err != nil {
		return fmt.Errorf("read range of %s/%s: %w", bucket, key, err)
	}
	return nil
}

func isInvalidRange(err error) bool {
	var api smithy.APIError
	return errors.As(err, &api) && api.ErrorCode() == "InvalidRange"
}

// totalFromContentRange parses "bytes 0-99/1234" into 1234.
func totalFromContentRange(s string) (int64, bool) {
	i := strings.LastIndexByte(s, '/')
	if i < 0 {
		return 0, false
	}
	n, err := strconv.ParseInt(s[i+1:], 10, 64)
	return n, err == nil
}
