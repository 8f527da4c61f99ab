package storage

import (
	"bufio"
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"
)

// Spliced downloads (measured in bench/results/2026-11-29-2c-splice.md,
// tested by integration/splice_test.go). Copying a download through the
// gateway costs two copies of every byte in user space (S3 socket → buffer →
// data connection), which on a small machine makes downloads CPU-bound
// (bench/results/ANALYSIS.md, W2). When the S3 endpoint is plain HTTP and the
// data connection is plain TCP in binary mode, the bytes after a download's
// first chunk go from the S3 socket to the data connection through a kernel
// pipe (splice(2)) and never enter the process: each range is a GET that the
// gateway signs (rangeRequest: Range and If-Match signed, as the first GET is
// in presignget.go, or presigned by the SDK where that cannot be), writes
// on a connection of its own and whose response head it parses; its body is
// then spliced. Everything else stays as in readAhead: ranges of
// DownloadChunk, each pinned to the ETag; a range that breaks off is asked for
// again from the byte reached (retry.go); the next range is requested ahead
// only while the client keeps up, and it waits in the kernel's socket buffers,
// not in the memory budget. TLS to S3, a proxy, a TLS data connection or ASCII
// mode keep the copying path.

// SpliceDest is the plain TCP socket under a download's destination and the
// rules its writes follow.
type SpliceDest struct {
	Conn *net.TCPConn
	// Timeout bounds every wait for the socket to accept more bytes (the data
	// connection's stall timeout); 0 means none.
	Timeout time.Duration
	// Moved, when set, is told every count of bytes moved (byte counters).
	Moved func(n int64)
	// Err, when set, turns a failure of the socket into the error its Write
	// would have returned.
	Err func(error) error
}

// SpliceTarget is a download destination whose bytes may bypass Write: the
// FTP data connection. SpliceDest reports false when they must go through
// Write (TLS).
type SpliceTarget interface {
	SpliceDest() (SpliceDest, bool)
}

// spliceDest reports whether a download to w may be spliced, and how.
func (b *Backend) spliceDest(w io.Writer) (SpliceDest, bool) {
	if !spliceSupported || b.presign == nil {
		return SpliceDest{}, false
	}
	t, ok := w.(SpliceTarget)
	if !ok {
		return SpliceDest{}, false
	}
	d, ok := t.SpliceDest()
	if !ok || d.Conn == nil {
		return SpliceDest{}, false
	}
	if d.Moved == nil {
		d.Moved = func(int64) {}
	}
	if d.Err == nil {
		d.Err = func(err error) error { return err }
	}
	return d, true
}

// splicePresigner returns the signer of spliced GETs for a client, or nil when
// its requests must go through its own HTTP client: an endpoint that is not
// plain HTTP, an HTTP proxy on the way, or an HTTP client the gateway does not
// know (tests inject faults through their own transport).
func splicePresigner(client *s3.Client) *s3.PresignClient {
	o := client.Options()
	u, err := url.Parse(aws.ToString(o.BaseEndpoint))
	if err != nil || u.Scheme != "http" || u.Host == "" {
		return nil
	}
	var t *http.Transport
	switch c := o.HTTPClient.(type) {
	case *http.Client:
		switch rt := c.Transport.(type) {
		case nil:
			t = http.DefaultTransport.(*http.Transport)
		case *http.Transport:
			t = rt
		default:
			return nil
		}
	case *awshttp.BuildableClient:
		t = c.GetTransport()
	default:
		return nil
	}
	if t.Proxy != nil {
		if p, err := t.Proxy(&http.Request{Method: http.MethodGet, URL: u, Header: http.Header{}}); err != nil || p != nil {
			return nil
		}
	}
	return s3.NewPresignClient(client)
}

// pipeSize is the pipe capacity asked for: fewer, larger splices. Its pages are
// kernel memory the process holds, so the download takes them from the memory
// budget first (sendSpliced); without room, or when the kernel refuses (a
// user's pipe pages are limited), the default 64 KiB works too.
const pipeSize = 1 << 20

// sendSpliced sends bucket/key from offset to w: first (the first GET's body,
// of firstLen bytes) through w, the rest spliced into dst in ranges pinned to
// etag. It returns the bytes sent.
func (b *Backend) sendSpliced(ctx context.Context, bucket, key, etag string, offset, size int64, first io.ReadCloser, firstLen int64, w io.Writer, dst SpliceDest) (int64, error) {
	cw := &clientWriter{w: w, meter: newRateMeter(time.Now())}
	pos := offset + firstLen
	if err := b.copyRange(ctx, bucket, key, etag, offset, pos, cw, first); err != nil {
		return cw.n, err
	}
	if pos >= size {
		return cw.n, nil
	}
	large := b.mem.reserve(ctx, pipeSize)
	if large {
		defer b.mem.unreserve(ctx, pipeSize)
	}
	p, err := newKernelPipe(large)
	if err != nil { // out of file descriptors: copy instead
		b.opts.Logger.Warn("splice unavailable; copying the download", "path", bucket+"/"+key, "err", err)
		n, err := b.readAhead(ctx, bucket, key, etag, pos, size, http.NoBody, 0, w)
		return cw.n + n, err
	}
	s := &splicer{b: b, bucket: bucket, key: key, etag: etag, pos: pos, size: size, dst: dst, cw: cw, pipe: p}
	stop := context.AfterFunc(ctx, s.closeAll) // a cancelled transfer unblocks at once
	defer func() {
		stop()
		s.closeAll()
		p.close()
	}()
	err = s.run(ctx)
	n := cw.n + s.spliced
	b.opts.Logger.Debug("spliced download", "path", bucket+"/"+key, "spliced_bytes", s.spliced,
		"copied_bytes", cw.n, "requests", s.requests, "pipe", p.size, "splices_in", p.ins, "splices_out", p.outs, "err", err)
	return n, err
}

// splicer moves bytes [pos, size) of a download.
type splicer struct {
	b                 *Backend
	bucket, key, etag string
	pos, size         int64
	dst               SpliceDest
	cw                *clientWriter // for what the response heads' readers buffered
	pipe              *kernelPipe
	spliced           int64
	requests          int

	mu     sync.Mutex
	open   map[*rangeConn]bool // connections to S3, closed on cancellation
	closed bool
	idle   *rangeConn // a connection whose last response ended cleanly
}

// maxIdle is how long a connection may wait between two ranges and still be
// used again; S3 servers close idle connections after a while.
const maxIdle = 5 * time.Second

// rangeConn is a connection to S3 carrying one ranged GET at a time.
type rangeConn struct {
	c          *net.TCPConn
	br         *bufio.Reader
	req        *http.Request
	start, end int64
	sent       time.Time
	reusable   bool      // the response did not ask to close the connection
	idleSince  time.Time // when its last response ended
}

func (s *splicer) track(c *rangeConn) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		_ = c.c.Close()
		return context.Canceled
	}
	if s.open == nil {
		s.open = map[*rangeConn]bool{}
	}
	s.open[c] = true
	return nil
}

func (s *splicer) drop(c *rangeConn) {
	if c == nil {
		return
	}
	s.mu.Lock()
	delete(s.open, c)
	s.mu.Unlock()
	_ = c.c.Close()
}

func (s *splicer) closeAll() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	for c := range s.open {
		_ = c.c.Close()
	}
	s.open = nil
}

// run sends everything left, asking again from the byte reached when S3
// breaks off, as copyRange does.
func (s *splicer) run(ctx context.Context) error {
	what := fmt.Sprintf("GetObject %s/%s from byte %d", s.bucket, s.key, s.pos)
	var sinkErr *sinkError
	isRetryable := func(err error) bool {
		if errors.As(err, &sinkErr) || ctx.Err() != nil {
			return false
		}
		var be *bodyError
		var se *s3StatusError
		switch {
		case errors.As(err, &be):
			return true
		case errors.As(err, &se):
			return se.retryable()
		}
		return retryable(ctx, err)
	}
	err := s.b.withRetry(ctx, what, s.b.opts.RetryFor, isRetryable, func() (bool, error) {
		start := s.pos
		err := s.stream(ctx)
		if err != nil {
			s.closeConns()
		}
		return s.pos > start, err
	})
	switch {
	case err == nil:
		return nil
	case errors.As(err, &sinkErr):
		return fmt.Errorf("send %s/%s: %w", s.bucket, s.key, sinkErr.err)
	default:
		return mapErr("get range of", s.bucket, s.key, err)
	}
}

// closeConns drops every connection after a failure: a half-read response
// cannot carry another request.
func (s *splicer) closeConns() {
	s.mu.Lock()
	open := s.open
	s.open = nil
	s.idle = nil
	s.mu.Unlock()
	for c := range open {
		_ = c.c.Close()
	}
}

// stream sends ranges from s.pos until the end or the first failure. While the
// client keeps up (it took a chunk within the read-ahead window), the next
// range is asked for on a second connection before the current body is
// spliced, so that it is waiting when that body ends.
func (s *splicer) stream(ctx context.Context) error {
	cur, err := s.request(ctx, s.pos)
	if err != nil {
		return err
	}
	var next *rangeConn
	for {
		if err := s.head(cur); err != nil {
			return err
		}
		if next == nil && cur.end < s.size && s.cw.meter.recent(time.Now()) >= s.b.opts.DownloadChunk {
			if next, err = s.request(ctx, cur.end); err != nil {
				return err
			}
		}
		if err := s.body(cur); err != nil {
			return err
		}
		if s.pos >= s.size {
			return nil
		}
		if next == nil {
			if next, err = s.request(ctx, s.pos); err != nil {
				return err
			}
		}
		cur, next = next, nil
	}
}

// request signs a GET of [start, start+DownloadChunk) and writes it on the
// idle connection or a new one.
func (s *splicer) request(ctx context.Context, start int64) (*rangeConn, error) {
	end := min(start+s.b.opts.DownloadChunk, s.size)
	req, err := s.b.rangeRequest(ctx, s.bucket, s.key, start, end-1, s.etag)
	if err != nil {
		return nil, err
	}
	if req.URL.Scheme != "http" {
		return nil, fmt.Errorf("signed GetObject: %s is not plain HTTP", req.URL.Redacted())
	}
	c := s.idle
	s.idle = nil
	if c != nil && time.Since(c.idleSince) > maxIdle {
		s.drop(c)
		c = nil
	}
	if c == nil {
		began := time.Now()
		conn, err := dialS3(ctx, req.URL)
		if err != nil {
			err = &bodyError{err}
			s.observe(began, err)
			return nil, err
		}
		c = &rangeConn{c: conn, br: bufio.NewReaderSize(conn, 4096)}
		if err := s.track(c); err != nil {
			return nil, err
		}
	}
	c.req, c.start, c.end, c.sent = req, start, end, time.Now()
	s.requests++
	if err := req.Write(c.c); err != nil {
		s.drop(c)
		err = &bodyError{fmt.Errorf("write GetObject request: %w", err)}
		s.observe(c.sent, err)
		return nil, err
	}
	return c, nil
}

// rangeRequest returns the signed GET of bytes [first, last] of bucket/key
// pinned to etag that a spliced range writes on its own connection: signed by
// the gateway (presignget.go) where the bucket allows, which costs a fraction
// of the SDK's presigning, else presigned by the SDK.
func (b *Backend) rangeRequest(ctx context.Context, bucket, key string, first, last int64, etag string) (*http.Request, error) {
	if base := b.getBase(ctx, bucket, key); base.ok {
		return b.smallPut.getRequest(ctx, base, key, first, last, etag)
	}
	ps, err := b.presign.PresignGetObject(ctx, &s3.GetObjectInput{
		Bucket:  aws.String(bucket),
		Key:     aws.String(key),
		Range:   aws.String(fmt.Sprintf("bytes=%d-%d", first, last)),
		IfMatch: aws.String(etag),
	})
	if err != nil {
		return nil, fmt.Errorf("sign GetObject: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, ps.Method, ps.URL, nil)
	if err != nil {
		return nil, fmt.Errorf("signed GetObject: %w", err)
	}
	for k, v := range ps.SignedHeader {
		if http.CanonicalHeaderKey(k) == "Host" {
			req.Host = v[0]
			continue
		}
		req.Header[http.CanonicalHeaderKey(k)] = v
	}
	return req, nil
}

// observe counts a GET, failed or answered, in the S3 request metrics.
func (s *splicer) observe(began time.Time, err error) {
	if obs := s.b.opts.Observe; obs != nil {
		obs("GetObject", time.Since(began), err)
	}
}

func dialS3(ctx context.Context, u *url.URL) (*net.TCPConn, error) {
	host := u.Host
	if u.Port() == "" {
		host = net.JoinHostPort(u.Hostname(), "80")
	}
	d := net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}
	c, err := d.DialContext(ctx, "tcp", host)
	if err != nil {
		return nil, err
	}
	return c.(*net.TCPConn), nil
}

// head reads the response head of c's request and checks that its body is
// exactly the range asked for.
func (s *splicer) head(c *rangeConn) (err error) {
	defer func() {
		s.observe(c.sent, err)
		if err != nil {
			s.drop(c)
		}
	}()
	if d := s.b.headerTimeout; d > 0 {
		// An S3 that never answers fails this attempt as it would an SDK request's.
		_ = c.c.SetReadDeadline(time.Now().Add(d))
		defer func() { _ = c.c.SetReadDeadline(time.Time{}) }()
	}
	resp, err := http.ReadResponse(c.br, c.req)
	if err != nil {
		return &bodyError{fmt.Errorf("read GetObject response: %w", err)}
	}
	if resp.StatusCode != http.StatusPartialContent {
		return newS3StatusError(resp)
	}
	first, last, _, ok := parseContentRange(resp.Header.Get("Content-Range"))
	if resp.ContentLength != c.end-c.start || len(resp.TransferEncoding) > 0 || !ok || first != c.start || last != c.end-1 {
		return fmt.Errorf("GetObject bytes %d-%d: unexpected response (Content-Length %d, Content-Range %q, Transfer-Encoding %v)",
			c.start, c.end-1, resp.ContentLength, resp.Header.Get("Content-Range"), resp.TransferEncoding)
	}
	c.reusable = !resp.Close
	return nil
}

// body sends c's response body: what the head's reader already holds through
// Write, the rest spliced. The connection then becomes the idle one, or is
// closed.
func (s *splicer) body(c *rangeConn) error {
	end := c.end
	if n := min(int64(c.br.Buffered()), end-s.pos); n > 0 {
		p, _ := c.br.Peek(int(n))
		if _, err := s.cw.Write(p); err != nil {
			return err
		}
		_, _ = c.br.Discard(int(n))
		s.pos += n
	}
	if s.pos < end {
		n, err := s.pipe.move(c.c, s.dst, end-s.pos, func(n int64) { s.cw.meter.add(n, time.Now()) })
		s.pos += n
		s.spliced += n
		if err != nil {
			return err
		}
	}
	if !c.reusable || c.br.Buffered() > 0 {
		s.drop(c)
		return nil
	}
	c.idleSince, s.idle = time.Now(), c
	return nil
}

// parseContentRange parses "bytes 0-99/1234".
func parseContentRange(v string) (first, last, total int64, ok bool) {
	var rest string
	if _, err := fmt.Sscanf(v, "bytes %d-%d/%s", &first, &last, &rest); err != nil {
		return 0, 0, 0, false
	}
	if rest == "*" {
		return first, last, -1, first <= last
	}
	total, err := strconv.ParseInt(rest, 10, 64)
	return first, last, total, err == nil && first <= last
}

// s3StatusError is an S3 error response to a spliced GET; as a smithy.APIError
// it maps like the SDK's errors (mapErr).
type s3StatusError struct {
	status        int
	code, message string
	requestID     string
}

func newS3StatusError(resp *http.Response) *s3StatusError {
	e := &s3StatusError{status: resp.StatusCode, requestID: resp.Header.Get("X-Amz-Request-Id")}
	var body struct {
		Code    string
		Message string
	}
	if resp.Body != nil {
		if b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10)); err == nil {
			_ = xml.Unmarshal(b, &body)
		}
	}
	e.code, e.message = body.Code, body.Message
	if e.code == "" {
		switch resp.StatusCode {
		case http.StatusNotFound:
			e.code = "NotFound"
		case http.StatusPreconditionFailed:
			e.code = "PreconditionFailed"
		case http.StatusForbidden:
			e.code = "Forbidden"
		case http.StatusRequestedRangeNotSatisfiable:
			e.code = "InvalidRange"
		default:
			e.code = strconv.Itoa(resp.StatusCode)
		}
	}
	return e
}

func (e *s3StatusError) Error() string {
	return fmt.Sprintf("GetObject: HTTP %d %s: %s", e.status, e.code, e.message)
}
func (e *s3StatusError) ErrorCode() string             { return e.code }
func (e *s3StatusError) ErrorMessage() string          { return e.message }
func (e *s3StatusError) ErrorFault() smithy.ErrorFault { return smithy.FaultServer }
func (e *s3StatusError) HTTPStatusCode() int           { return e.status }
func (e *s3StatusError) ServiceRequestID() string      { return e.requestID }

// retryable follows the SDK's rules for status codes: throttling and server
// errors are worth another attempt, refusals are not.
func (e *s3StatusError) retryable() bool {
	switch e.code {
	case "SlowDown", "Throttling", "ThrottlingException", "RequestTimeout", "RequestTimeTooSkewed", "InternalError", "ServiceUnavailable":
		return true
	}
	return e.status >= 500 || e.status == http.StatusTooManyRequests || e.status == http.StatusRequestTimeout
}
