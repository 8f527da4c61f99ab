package storage

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/aws/smithy-go/encoding/httpbinding"
	smithytime "github.com/aws/smithy-go/time"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// The first GET of a download as a request the gateway signs and sends itself
// (issue 24 §1, W6/W8), for the reason small uploads are (presignput.go): a
// 4 KiB download's GetObject spent more of the gateway's CPU in the SDK's
// middleware stack than in everything else the file costs. It goes where
// GetObject would (the bucket's putBase: the same object URL for a GET as for a
// PUT), signed the same way (headers signed, UNSIGNED-PAYLOAD, Range and
// Accept-Encoding: identity, as the SDK's GetObject sends them), over the SDK
// client's own HTTP client (its pool, AttemptTimeout, and the transport tests
// inject faults through). Its answers read as GetObject's: a status error is
// an s3StatusError (a smithy.APIError with the SDK's codes, so retry.go,
// mapErr and refusal.go classify it as theirs), a transport error a
// RequestSendError, and each attempt counts once as GetObject in the metrics
// (download.get). A bucket without a putBase keeps GetObject.

// gotObject is what a first GET answered: its body and what the download
// needs of its headers.
type gotObject struct {
	body         io.ReadCloser
	length       int64  // Content-Length: the body's length
	contentRange string // "bytes 0-99/1234"
	etag         string // quoted
	lastModified *time.Time
	mtime        string // x-amz-meta-mtime (MetaMtime)
	sha256       string // x-amz-meta-ftp2s3-sha256 (MetaSHA256)
}

// Canonical forms of the user-metadata headers the download reads.
var (
	headerMetaMtime  = http.CanonicalHeaderKey("X-Amz-Meta-" + MetaMtime)
	headerMetaSHA256 = http.CanonicalHeaderKey("X-Amz-Meta-" + MetaSHA256)
)

// getRequest returns a signed GET of bytes [first, last] of key at base,
// pinned to etag (quoted) unless it is "".
func (p *presignedPut) getRequest(ctx context.Context, base putBase, key string, first, last int64, etag string) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base.scheme+"://"+base.host+base.path+httpbinding.EscapePath(key, false), nil)
	if err != nil {
		return nil, fmt.Errorf("GetObject request: %w", err)
	}
	h := req.Header
	h["Range"] = []string{"bytes=" + strconv.FormatInt(first, 10) + "-" + strconv.FormatInt(last, 10)}
	if etag != "" {
		h["If-Match"] = []string{etag}
	}
	// As the SDK's GetObject: no transparent decompression by net/http, which
	// would change the body's length.
	h["Accept-Encoding"] = []string{"identity"}
	h["X-Amz-Content-Sha256"] = []string{"UNSIGNED-PAYLOAD"}
	creds, err := p.creds.Retrieve(ctx)
	if err != nil {
		return nil, fmt.Errorf("GetObject credentials: %w", err)
	}
	if err := p.signer.SignHTTP(ctx, creds, req, "UNSIGNED-PAYLOAD", "s3", base.region, time.Now()); err != nil {
		return nil, fmt.Errorf("sign GetObject: %w", err)
	}
	return req, nil
}

// get sends one attempt of a GET of bytes [first, last] of key to base. The
// caller closes the body.
func (p *presignedPut) get(ctx context.Context, base putBase, key string, first, last int64) (gotObject, error) {
	req, err := p.getRequest(ctx, base, key, first, last, "")
	if err != nil {
		return gotObject{}, err
	}
	resp, err := p.http.Do(req)
	if err != nil {
		return gotObject{}, &smithyhttp.RequestSendError{Err: err}
	}
	if resp.StatusCode/100 != 2 {
		defer resp.Body.Close()
		return gotObject{}, classifyRefusal(newS3StatusError(resp))
	}
	g := gotObject{
		body:         resp.Body,
		length:       max(resp.ContentLength, 0),
		contentRange: strings.TrimSpace(resp.Header.Get("Content-Range")),
		etag:         strings.TrimSpace(resp.Header.Get("ETag")),
		mtime:        strings.TrimSpace(resp.Header.Get(headerMetaMtime)),
		sha256:       strings.TrimSpace(resp.Header.Get(headerMetaSHA256)),
	}
	if v := resp.Header.Get("Last-Modified"); v != "" {
		t, err := smithytime.ParseHTTPDate(strings.TrimSpace(v))
		if err != nil { // as GetObject's deserializer fails
			resp.Body.Close()
			return gotObject{}, fmt.Errorf("GetObject: Last-Modified %q: %w", v, err)
		}
		g.lastModified = &t
	}
	return g, nil
}
