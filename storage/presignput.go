package storage

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"
	"github.com/aws/smithy-go/encoding/httpbinding"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// Small uploads as signed PUTs sent by the gateway (issue 24 §1, measured in
// bench/results/2026-12-06-2c-smallfiles.md). A 4 KiB upload's PutObject
// spends more CPU in the SDK's request stack — some forty middlewares of
// serialising, endpoint rules, checksums, retry bookkeeping, signing and
// deserialising, deep enough that the transfer goroutine's stack grows
// (is copied) several times per file — than in everything else the gateway
// does for the file. A small upload's body is in memory, so the gateway does
// that work itself: it computes the CRC32, signs the PUT with the SDK's
// SigV4 signer (headers signed, UNSIGNED-PAYLOAD, as PutObject does here,
// backend.go clientOptions) and sends it with the SDK client's own HTTP
// client: the same connection pool, attempt timeout (timeout.go) and
// transport. Where to send it comes from the SDK: once per bucket the SDK
// presigns a PUT of a probe key, and the object's URL is that URL's path up to
// the key, followed by the key escaped as the SDK escapes it (path style or
// virtual-hosted, custom endpoint or AWS's), signed for the region and
// service the SDK's endpoint rules chose. A bucket whose endpoint is not plain
// SigV4 for "s3" (S3 Express, an access point with SigV4a) keeps PutObject.
// Errors are the SDK's: a status error is a smithy.APIError that retry.go,
// mapErr and the refusal codes (refusal.go) read as the SDK's own, a
// transport error a RequestSendError (IsTimeout), and every attempt is one S3
// request in the metrics (Options.Observe).

// presignedPut signs and sends the PUTs of small uploads.
type presignedPut struct {
	presign *s3.PresignClient // for the probes
	signer  *v4.Signer
	creds   aws.CredentialsProvider
	http    interface {
		Do(*http.Request) (*http.Response, error)
	}
	mu    sync.Mutex
	bases map[string]putBase // by bucket, at most maxPutBases
	// partHTTP sends the parts of multipart uploads (presignpart.go).
	partHTTP interface {
		Do(*http.Request) (*http.Response, error)
	}
	// continueAt is the body size from which a part asks for 100-continue,
	// as the SDK's client does (ContinueHeaderThresholdBytes); -1: never.
	continueAt int64
}

// putBase is where a bucket's objects are PUT and how the request is signed;
// ok is false when PutObject must be used instead.
type putBase struct {
	scheme, host, path string // path: escaped, up to and with the "/" before the key
	region             string
	ok                 bool
}

// maxPutBases bounds the per-bucket URLs kept: a gateway serves a few buckets;
// past this many the map starts over.
const maxPutBases = 256

// probeKey is the key of the probe presignings: a name that escapes to
// itself.
const probeKey = "ftp2s3-probe"

// newPresignedPut returns the small-upload path of client, or nil when it has
// no HTTP client or credentials of its own. client is the one Backend.New was
// given, without the metrics middleware: signing is no request.
func newPresignedPut(client *s3.Client) *presignedPut {
	if client == nil {
		return nil
	}
	o := client.Options()
	if o.HTTPClient == nil || o.Credentials == nil {
		return nil
	}
	if _, anon := o.Credentials.(aws.AnonymousCredentials); anon {
		return nil // the SDK sends those requests unsigned
	}
	// The client's own API options are for its requests (and a benchmark's
	// timers); presigning runs none of them.
	probe := s3.New(o, func(o *s3.Options) { o.APIOptions = nil })
	return &presignedPut{
		presign: s3.NewPresignClient(probe),
		// S3 signs the path as sent, escaped once (as the SDK's S3 client does).
		signer:     v4.NewSigner(func(so *v4.SignerOptions) { so.DisableURIPathEscaping = true }),
		creds:      o.Credentials,
		http:       o.HTTPClient,
		partHTTP:   partClient(o.HTTPClient),
		bases:      map[string]putBase{},
		continueAt: continueThreshold(o.ContinueHeaderThresholdBytes),
	}
}

// continueThreshold is the SDK's rule for ContinueHeaderThresholdBytes
// (service/internal/s3shared s3100Continue): -1 never, 0 its default of 2 MiB.
func continueThreshold(v int64) int64 {
	switch {
	case v == -1:
		return -1
	case v > 0:
		return v
	}
	return 2 << 20
}

// base returns bucket's putBase, presigning a probe the first time.
func (p *presignedPut) base(ctx context.Context, bucket string) putBase {
	p.mu.Lock()
	b, ok := p.bases[bucket]
	p.mu.Unlock()
	if ok {
		return b
	}
	b, err := p.probe(ctx, bucket)
	if err != nil {
		return putBase{} // PutObject this time; the probe is tried again next time
	}
	p.mu.Lock()
	if len(p.bases) >= maxPutBases {
		clear(p.bases)
	}
	p.bases[bucket] = b
	p.mu.Unlock()
	return b
}

// probe presigns a PUT of probeKey in bucket and derives its putBase. An
// error (no credentials yet) is not an answer about the bucket.
func (p *presignedPut) probe(ctx context.Context, bucket string) (putBase, error) {
	ps, err := p.presign.PresignPutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(probeKey)})
	if err != nil {
		return putBase{}, err
	}
	u, err := url.Parse(ps.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") {
		return putBase{}, nil
	}
	q := u.Query()
	path, ok := strings.CutSuffix(u.EscapedPath(), "/"+probeKey)
	scope := strings.Split(q.Get("X-Amz-Credential"), "/") // key/date/region/service/aws4_request
	if !ok || q.Get("X-Amz-Algorithm") != "AWS4-HMAC-SHA256" || len(scope) != 5 || scope[3] != "s3" {
		return putBase{}, nil
	}
	return putBase{scheme: u.Scheme, host: u.Host, path: path + "/", region: scope[2], ok: true}, nil
}

// crc32Header is the value of x-amz-checksum-crc32 for data.
func crc32Header(data []byte) string {
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], crc32.ChecksumIEEE(data))
	return base64.StdEncoding.EncodeToString(b[:])
}

// putStatusError is an S3 error response to a presigned PUT.
type putStatusError struct{ *s3StatusError }

func (e putStatusError) Error() string {
	return fmt.Sprintf("PutObject: HTTP %d %s: %s", e.status, e.code, e.message)
}

// put sends one attempt of a PUT to base and returns the object's ETag as S3
// gave it (quoted).
func (p *presignedPut) put(ctx context.Context, base putBase, key string, data []byte, crc string, meta map[string]string, tagging string) (string, error) {
	escaped := base.path + httpbinding.EscapePath(key, false)
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, base.scheme+"://"+base.host+escaped, bytes.NewReader(data))
	if err != nil {
		return "", fmt.Errorf("PutObject request: %w", err)
	}
	h := req.Header
	h["X-Amz-Checksum-Crc32"] = []string{crc}
	h["X-Amz-Sdk-Checksum-Algorithm"] = []string{"CRC32"}
	h["X-Amz-Content-Sha256"] = []string{"UNSIGNED-PAYLOAD"}
	for k, v := range meta { // as PutObjectInput.Metadata and Tagging send them
		h["X-Amz-Meta-"+k] = []string{v}
	}
	if tagging != "" {
		h["X-Amz-Tagging"] = []string{tagging}
	}
	creds, err := p.creds.Retrieve(ctx)
	if err != nil {
		return "", fmt.Errorf("PutObject credentials: %w", err)
	}
	if err := p.signer.SignHTTP(ctx, creds, req, "UNSIGNED-PAYLOAD", "s3", base.region, time.Now()); err != nil {
		return "", fmt.Errorf("sign PutObject: %w", err)
	}
	resp, err := p.http.Do(req)
	if err != nil {
		// As the SDK wraps it: retryable as a connection error, IsTimeout.
		return "", &smithyhttp.RequestSendError{Err: err}
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return "", classifyRefusal(putStatusError{newS3StatusError(resp)})
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10)) // lets the connection be reused
	return resp.Header.Get("ETag"), nil
}

// classifyRefusal turns a permanent refusal into its Err* kind, as the
// classifyRefusals middleware does for the SDK's requests.
func classifyRefusal(err error) error {
	var api smithy.APIError
	if errors.As(err, &api) {
		if kind, ok := refusedCodes[api.ErrorCode()]; ok {
			return &refusal{kind: kind, reason: refusalReason(api), cause: err}
		}
	}
	return err
}

// putPresigned is putSingle over presignedPut: the same checks, metadata and
// tags, commit context, retries, commit report, upload check and cache update
// around a presigned PUT.
func (b *Backend) putPresigned(ctx context.Context, bucket, key string, data []byte, opts PutOptions, sum string) (Entry, error) {
	if err := CheckName(bucket, key); err != nil { // as the SDK's requests do (refusal.go)
		return Entry{}, mapErr("put", bucket, key, err)
	}
	base := b.smallPut.base(ctx, bucket)
	if !base.ok {
		h := sha256.New()
		h.Write(data)
		return b.putSingle(ctx, bucket, key, data, opts, h)
	}
	if opts.BeforeCommit != nil {
		if err := opts.BeforeCommit(); err != nil {
			return Entry{}, err
		}
	}
	crc := crc32Header(data)
	meta := withMeta(opts.Metadata, sum)
	ctx, cancel := b.commitContext(ctx)
	defer cancel()
	w := b.cache.startWrite(bucket, key)
	var etag string
	err := b.retrySDK(ctx, "PutObject "+bucket+"/"+key, func() error {
		if opts.Report != nil {
			opts.Report.CommitSent = true
		}
		began := time.Now()
		var err error
		etag, err = b.smallPut.put(ctx, base, key, data, crc, meta, opts.Tagging)
		if obs := b.opts.Observe; obs != nil {
			obs("PutObject", time.Since(began), err)
		}
		return err
	})
	if err != nil {
		b.cache.wrote(w, nil)
		return Entry{}, mapErr("put", bucket, key, err)
	}
	return b.putDone(ctx, w, bucket, key, int64(len(data)), unquoteETag(&etag), sum, opts)
}
