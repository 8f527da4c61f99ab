package storage

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"
)

// readAhead writes the object to w from offset: first is the open body, of
// firstLen bytes, of the GET that found it (Open), and etag and size what that
// GET said. Every
// later range is pinned to the ETag with If-Match, so an object replaced
// mid-download fails with ErrChanged instead of sending a mix of two versions.
//
// Read-ahead follows the client (docs/storage.md "Transfers"): ranges are fetched ahead
// into buffers from the memory budget only as far as the client has consumed
// in the last readAheadWindow, at most DownloadConcurrency chunks, and only
// when the budget has room at once. Otherwise the next range is streamed
// straight from S3 to the client without a buffer, so a slow client holds
// almost no memory and a full budget slows downloads but never stops one.
// A range that fails mid-way, the first one included, is asked for again from
// the byte it reached.
func (b *Backend) readAhead(ctx context.Context, bucket, key, etag string, offset, size int64, first io.ReadCloser, firstLen int64, w io.Writer) (int64, error) {
	chunk := b.opts.DownloadChunk
	cw := &clientWriter{w: w, meter: newRateMeter(time.Now())}

	ctx, cancel := context.WithCancel(ctx)
	type fetched struct {
		buf  []byte
		err  error
		done chan struct{}
	}
	var (
		wg    sync.WaitGroup
		queue []*fetched
		next  = offset + firstLen // end of the ranges handed out
	)
	defer func() { // no fetch outlives the call; their buffers go back
		cancel()
		wg.Wait()
		for _, f := range queue {
			b.mem.put(ctx, f.buf)
		}
	}()
	cw.progress = func() {
		ahead := min(int64(b.opts.DownloadConcurrency), cw.meter.recent(time.Now())/chunk)
		for int64(len(queue)) < ahead && next < size {
			buf, _ := b.mem.get(ctx, chunk, false)
			if buf == nil {
				return // the budget is full: stream instead of reading ahead
			}
			start, n := next, min(chunk, size-next)
			next += n
			f := &fetched{buf: buf[:n], done: make(chan struct{})}
			queue = append(queue, f)
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer close(f.done)
				f.err = b.fetchRange(ctx, bucket, key, etag, start, f.buf)
			}()
		}
	}

	pos := next
	if err := b.copyRange(ctx, bucket, key, etag, offset, pos, cw, first); err != nil {
		return cw.n, err
	}
	for pos < size {
		if len(queue) == 0 {
			next = min(pos+chunk, size)
			if err := b.copyRange(ctx, bucket, key, etag, pos, next, cw, nil); err != nil {
				return cw.n, err
			}
			pos = next
			continue
		}
		f := queue[0]
		select {
		case <-f.done:
		case <-ctx.Done():
			return cw.n, ctx.Err()
		}
		if f.err != nil {
			return cw.n, f.err
		}
		queue = queue[1:]
		// In pieces, so that the data connection's stall timeout measures
		// progress and the meter sees the client's pace.
		for p := f.buf; len(p) > 0; p = p[min(len(p), sendPiece):] {
			if _, err := cw.Write(p[:min(len(p), sendPiece)]); err != nil {
				b.mem.put(ctx, f.buf)
				return cw.n, fmt.Errorf("send %s/%s: %w", bucket, key, err)
			}
		}
		pos += int64(len(f.buf))
		b.mem.put(ctx, f.buf)
	}
	return cw.n, nil
}

// readAheadWindow is how far back the client's pace is measured: a download
// reads ahead at most what the client consumed in that time.
const readAheadWindow = 4 * time.Second

// sendPiece is the largest single write of a buffered chunk to the client.
const sendPiece = 256 << 10

// clientWriter counts what the client has taken and lets the download read
// further ahead as it does.
type clientWriter struct {
	w        io.Writer
	n        int64
	meter    *rateMeter
	progress func()
}

func (c *clientWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	c.meter.add(int64(n), time.Now())
	if err != nil {
		return n, &sinkError{err}
	}
	if c.progress != nil {
		c.progress()
	}
	return n, nil
}

// sinkError is a failure of the receiving side (the client), never retried.
type sinkError struct{ err error }

func (e *sinkError) Error() string { return e.err.Error() }
func (e *sinkError) Unwrap() error { return e.err }

// rateMeter tells how many bytes were consumed within the last readAheadWindow,
// from marks taken at most every window/16.
type rateMeter struct {
	total int64
	marks [16]struct {
		at    time.Time
		total int64
	}
	head int
}

func newRateMeter(now time.Time) *rateMeter {
	m := &rateMeter{}
	m.marks[0].at = now
	return m
}

func (m *rateMeter) add(n int64, now time.Time) {
	m.total += n
	if now.Sub(m.marks[m.head].at) >= readAheadWindow/16 {
		m.head = (m.head + 1) % len(m.marks)
		m.marks[m.head].at, m.marks[m.head].total = now, m.total
	}
}

// recent returns the bytes consumed since the oldest mark inside the window
// (everything so far during the first window).
func (m *rateMeter) recent(now time.Time) int64 {
	since := m.total - m.marks[m.head].total
	for _, mk := range m.marks {
		if !mk.at.IsZero() && now.Sub(mk.at) <= readAheadWindow && m.total-mk.total > since {
			since = m.total - mk.total
		}
	}
	return since
}

// fetchRange fills buf with the bytes of bucket/key from start, pinned to etag.
func (b *Backend) fetchRange(ctx context.Context, bucket, key, etag string, start int64, buf []byte) error {
	return b.copyRange(ctx, bucket, key, etag, start, start+int64(len(buf)), &fillWriter{buf: buf}, nil)
}

// fillWriter writes into a fixed buffer.
type fillWriter struct {
	buf []byte
	n   int
}

func (f *fillWriter) Write(p []byte) (int, error) {
	n := copy(f.buf[f.n:], p)
	f.n += n
	if n < len(p) {
		return n, &sinkError{io.ErrShortWrite}
	}
	return n, nil
}

// ReadFrom reads the body straight into the buffer: io.Copy would otherwise
// read it in 32 KiB pieces and copy each (bench/results/notes-perftls.md).
func (f *fillWriter) ReadFrom(r io.Reader) (int64, error) {
	var total int64
	for f.n < len(f.buf) {
		n, err := r.Read(f.buf[f.n:])
		f.n += n
		total += int64(n)
		if err == io.EOF {
			return total, nil
		}
		if err != nil {
			return total, err
		}
	}
	return total, nil
}

// copyRange writes bytes [start, end) of bucket/key, pinned to etag, to w. body,
// when not nil, is an open response for that range. A request or a body that
// fails is asked for again from the byte reached, with backoff, for up to
// RetryFor after the last progress; failures of w end it at once.
func (b *Backend) copyRange(ctx context.Context, bucket, key, etag string, start, end int64, w io.Writer, body io.ReadCloser) error {
	pos := start
	what := "GetObject " + bucket + "/" + key + " from byte " + strconv.FormatInt(start, 10) // only logged; Sprintf cost a small download 1 % of its CPU
	var sinkErr *sinkError
	isRetryable := func(err error) bool {
		if errors.As(err, &sinkErr) || ctx.Err() != nil {
			return false
		}
		var re *bodyError
		return errors.As(err, &re) || retryable(ctx, err)
	}
	err := b.withRetry(ctx, what, b.opts.RetryFor, isRetryable, func() (bool, error) {
		if body == nil {
			out, err := b.client.GetObject(ctx, &s3.GetObjectInput{
				Bucket:  aws.String(bucket),
				Key:     aws.String(key),
				Range:   aws.String(fmt.Sprintf("bytes=%d-%d", pos, end-1)),
				IfMatch: aws.String(etag),
			}, oneAttempt)
			if err != nil {
				return false, err
			}
			body = out.Body
		}
		defer func() { body.Close(); body = nil }()
		n, err := io.Copy(w, io.LimitReader(body, end-pos))
		pos += n
		if err == nil && pos < end {
			err = io.ErrUnexpectedEOF
		}
		if err != nil && !errors.As(err, &sinkErr) {
			err = &bodyError{err}
		}
		return n > 0, err
	})
	switch {
	case err == nil:
		return nil
	case errors.As(err, &sinkErr):
		return fmt.Errorf("send %s/%s: %w", bucket, key, sinkErr.err)
	default:
		return mapErr("get range of", bucket, key, err)
	}
}

// bodyError is a response body that broke off: the connection to S3 failed.
type bodyError struct{ err error }

func (e *bodyError) Error() string { return "read response body: " + e.err.Error() }
func (e *bodyError) Unwrap() error { return e.err }

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
