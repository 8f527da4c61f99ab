package storage

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/aws/smithy-go/encoding/httpbinding"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// A large upload's parts as PUTs the gateway signs and sends itself, like
// the small uploads of presignput.go (issue 24, measured in
// bench/results/notes-perfup.md). Per part the SDK's UploadPart read the
// whole 16 MiB buffer once more, cold, for the CRC32 its checksum middleware
// puts in the header, on top of some forty middlewares. Here the CRC32 is
// computed while the part is read from the data connection (readPart), each
// read's bytes hashed while they are still in the CPU's cache, and the
// request carries it as x-amz-checksum-crc32, which S3 verifies on receipt:
// the same protection for one cheap pass. Where the part goes and how it is
// signed come from the bucket's putBase (the URL of the object, with
// ?partNumber=&uploadId= as UploadPart sends them); a bucket whose endpoint
// is not plain SigV4 for "s3" keeps the SDK's UploadPart, told the CRC32 so
// that it does not compute it again. Errors, retries and metrics are those of
// the small PUT: a status error is a smithy.APIError, classified as refusal.go
// does, a transport error a RequestSendError, each attempt one UploadPart.

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
	query := "partNumber=" + strconv.Itoa(int(number)) + "&uploadId=" + strings.ReplaceAll(url.QueryEscape(uploadID), "+", "%20")
	target := base.scheme + "://" + base.host + base.path + httpbinding.EscapePath(key, false) + "?" + query
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, target, bytes.NewReader(data))
	if err != nil {
		return "", "", fmt.Errorf("UploadPart request: %w", err)
	}
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
	resp, err := p.http.Do(req)
	if err != nil {
		return "", "", &smithyhttp.RequestSendError{Err: err}
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return "", "", classifyRefusal(partStatusError{newS3StatusError(resp)})
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10)) // lets the connection be reused
	return resp.Header.Get("ETag"), resp.Header.Get("X-Amz-Checksum-Crc32"), nil
}
