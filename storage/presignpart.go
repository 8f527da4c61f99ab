package storage

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/smithy-go"
	"github.com/aws/smithy-go/encoding/httpbinding"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// A large upload's parts as PUTs the gateway signs and sends itself, like
// the small uploads of presignput.go (issue 24, measured in
// bench/results/notes-perfup.md). Per part the SDK's UploadPart read the
// whole 16 MiB buffer once more for the CRC32 its checksum middleware puts
// in the header, on top of some forty middlewares. Here the CRC32 is
// computed while the part is read from the data connection (readPart), and
// the request carries it as x-amz-checksum-crc32, which S3 verifies on
// receipt. Where the part goes and how it is signed come from the bucket's
// putBase (the URL of the object, with ?partNumber=&uploadId=&x-id= as
// UploadPart sends them); a bucket whose endpoint is not plain SigV4 for
// "s3" keeps the SDK's UploadPart, told the CRC32 so that it does not
// compute it again. Errors, retries and metrics are those of the small PUT:
// a status error is a smithy.APIError, classified as refusal.go does, a
// transport error a RequestSendError, a cancelled attempt a CanceledError,
// each attempt one UploadPart.

// readPart fills buf from r as io.ReadFull does and returns, with the count
// and error io.ReadFull would, the CRC32 (IEEE) of the bytes read.
func readPart(r io.Reader, buf []byte) (int, uint32, error) {
	var crc uint32
	n := 0
	var err error
	for n < len(buf) && err == nil {
		var m int
		m, err = r.Read(buf[n:])
		crc = crc32.Update(crc, crc32.IEEETable, buf[n:n+m])
		n += m
	}
	switch {
	case n == len(buf):
		err = nil
	case n > 0 && err == io.EOF:
		err = io.ErrUnexpectedEOF
	}
	return n, crc, err
}

// crc32Base64 is the value of an x-amz-checksum-crc32 header for crc.
func crc32Base64(crc uint32) string {
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], crc)
	return base64.StdEncoding.EncodeToString(b[:])
}

// partStatusError is an S3 error response to an own UploadPart.
type partStatusError struct{ *s3StatusError }

func (e partStatusError) Error() string {
	return fmt.Sprintf("UploadPart: HTTP %d %s: %s", e.status, e.code, e.message)
}

// uploadPart sends one attempt of part number of the multipart upload
// uploadID of key to base, with data as its body and crc its CRC32 header
// value. It returns the part's ETag (quoted, as S3 gave it) and the CRC32 S3
// answered with ("" when it gave none).
func (p *presignedPut) uploadPart(ctx context.Context, base putBase, key, uploadID string, number int32, data []byte, crc string) (etag, crcOut string, err error) {
	// The query as the SDK's UploadPart serialises it; the signer encodes it
	// again the same way for the canonical request.
	query := "partNumber=" + strconv.Itoa(int(number)) + "&uploadId=" + strings.ReplaceAll(url.QueryEscape(uploadID), "+", "%20") + "&x-id=UploadPart"
	target := base.scheme + "://" + base.host + base.path + httpbinding.EscapePath(key, false) + "?" + query
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, target, &partBody{data: data})
	if err != nil {
		return "", "", fmt.Errorf("UploadPart request: %w", err)
	}
	req.ContentLength = int64(len(data))
	// Lets net/http send the part again on a fresh connection when a reused
	// one turns out closed before any of it went out.
	req.GetBody = func() (io.ReadCloser, error) { return &partBody{data: data}, nil }
	h := req.Header
	h["X-Amz-Checksum-Crc32"] = []string{crc}
	h["X-Amz-Sdk-Checksum-Algorithm"] = []string{"CRC32"}
	h["X-Amz-Content-Sha256"] = []string{"UNSIGNED-PAYLOAD"}
	if p.continueAt >= 0 && int64(len(data)) >= p.continueAt {
		// As the SDK asks for large bodies (service/internal/s3shared
		// s3100Continue): a refused part costs no 16 MiB on the wire.
		h["Expect"] = []string{"100-continue"}
	}
	creds, err := p.creds.Retrieve(ctx)
	if err != nil {
		return "", "", fmt.Errorf("UploadPart credentials: %w", err)
	}
	if err := p.signer.SignHTTP(ctx, creds, req, "UNSIGNED-PAYLOAD", "s3", base.region, time.Now()); err != nil {
		return "", "", fmt.Errorf("sign UploadPart: %w", err)
	}
	resp, err := p.partHTTP.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			// As the SDK's client reports it (smithy-go transport/http): a
			// part cancelled because another failed is no failure of its own
			// (its error would otherwise be that part's, the group's cause).
			return "", "", &smithy.CanceledError{Err: ctx.Err()}
		}
		return "", "", &smithyhttp.RequestSendError{Err: err}
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return "", "", classifyRefusal(partStatusError{newS3StatusError(resp)})
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10)) // lets the connection be reused
	return resp.Header.Get("ETag"), resp.Header.Get("X-Amz-Checksum-Crc32"), nil
}

// Writing a part. net/http copies a request body to the connection through a
// 32 KiB buffer (io.Copy of an io.LimitedReader): a memmove of every byte
// and a write system call per 32 KiB, 0.12 CPU-s per GiB of the 0.9 left
// after the change above (bench/results/notes-perfup.md). The parts
// therefore go out through a copy of the S3 client's transport whose
// connections are partConns: net/http hands a partConn the body through
// ReadFrom, and a partBody is then written straight from the part buffer,
// in as few system calls as the socket takes. Everything else (connection
// reuse, 100-continue, response-header timeout, proxies, TLS, which sits
// above a partConn and so sends partBody through its records) is
// net/http's. An HTTP client the gateway does not know (tests inject faults
// through their own transport) is used as it is.

// partBody is a part's bytes as a request body. It is an io.ReadCloser so
// that net/http passes it on unwrapped (it wraps other readers in a
// NopCloser, which partConn would not recognise).
type partBody struct {
	data []byte
	off  int
}

func (b *partBody) Read(p []byte) (int, error) {
	if b.off >= len(b.data) {
		return 0, io.EOF
	}
	n := copy(p, b.data[b.off:])
	b.off += n
	return n, nil
}

// Close does nothing: the buffer belongs to the part (send gives it back).
func (b *partBody) Close() error { return nil }

// partConn is a connection of the parts' transport (partClient).
type partConn struct{ net.Conn }

// ReadFrom writes a partBody, which net/http passes limited to the request's
// Content-Length, from its buffer; any other body is copied as the
// connection itself would (a *net.TCPConn splices or sends files).
func (c *partConn) ReadFrom(r io.Reader) (int64, error) {
	if lr, ok := r.(*io.LimitedReader); ok {
		if body, ok := lr.R.(*partBody); ok {
			rest := body.data[body.off:]
			if int64(len(rest)) > lr.N {
				rest = rest[:lr.N]
			}
			n, err := c.Conn.Write(rest)
			body.off += n
			lr.N -= int64(n)
			return int64(n), err
		}
	}
	if rf, ok := c.Conn.(io.ReaderFrom); ok {
		return rf.ReadFrom(r)
	}
	return io.Copy(struct{ io.Writer }{c.Conn}, r)
}

// partClient returns the HTTP client of the parts: client with its transport
// copied and dialing partConns, or client itself when its transport is not
// one the gateway knows.
func partClient(client any) interface {
	Do(*http.Request) (*http.Response, error)
} {
	switch c := client.(type) {
	case *awshttp.BuildableClient:
		return c.WithTransportOptions(dialPartConns)
	case *http.Client:
		var t *http.Transport
		switch rt := c.Transport.(type) {
		case nil:
			t = http.DefaultTransport.(*http.Transport).Clone()
		case *http.Transport:
			t = rt.Clone()
		default:
			return c
		}
		dialPartConns(t)
		cc := *c
		cc.Transport = t
		return &cc
	case interface {
		Do(*http.Request) (*http.Response, error)
	}:
		return c
	}
	return nil
}

// dialPartConns makes t's plain connections partConns (but those of a
// transport that only has the deprecated Dial, which it keeps).
func dialPartConns(t *http.Transport) {
	dial := t.DialContext
	//lint:ignore SA1019 a transport that dials with Dial alone is left as it is
	if legacy := t.Dial; dial == nil && legacy != nil {
		return
	}
	if dial == nil {
		dial = (&net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}).DialContext
	}
	t.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := dial(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return &partConn{Conn: c}, nil
	}
}
