package storage

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// Listing pages as GETs the gateway signs and sends itself (issue 24 §2), on
// the small uploads' machinery (presignput.go): the bucket's URL and signing
// region from the SDK's probe presigning, the SDK's SigV4 signer, the SDK
// client's HTTP client (its connection pool, attempt timeout and transport).
// The answer is read by listDecoder (listxml.go) as it arrives instead of the
// SDK's deserializer, which is most of a cold listing's CPU. A bucket whose
// endpoint is not plain SigV4 for "s3" keeps the SDK's ListObjectsV2
// (listObjects). As there: EncodingType=url, keys decoded; S3's errors are
// the SDK's own to mapErr, retry.go and refusal.go; retries follow the SDK's
// rules (retrySDK), and every attempt is one ListObjectsV2 in the metrics.

// listDecoders keeps decoders (and their 32 KiB read buffers) between pages
// and listings.
var listDecoders = sync.Pool{New: func() any { return newListDecoder() }}

// listStatusError is an S3 error response to a ListObjectsV2 the gateway sent.
type listStatusError struct{ *s3StatusError }

func (e listStatusError) Error() string {
	return fmt.Sprintf("ListObjectsV2: HTTP %d %s: %s", e.status, e.code, e.message)
}

// listPageOf fetches one page of in (Bucket, Prefix, Delimiter, MaxKeys,
// ContinuationToken) into p, keys decoded. Errors are mapped as listObjects
// maps them.
func (b *Backend) listPageOf(ctx context.Context, in *s3.ListObjectsV2Input, p *listPage) error {
	bucket := aws.ToString(in.Bucket)
	if b.smallPut != nil {
		if base := b.smallPut.base(ctx, bucket); base.ok {
			return b.listSigned(ctx, base, in, p)
		}
	}
	out, err := b.listObjects(ctx, in)
	if err != nil {
		return err
	}
	sdkPage(out, p)
	return nil
}

// sdkPage copies the SDK's answer into p.
func sdkPage(out *s3.ListObjectsV2Output, p *listPage) {
	p.objects, p.prefixes = p.objects[:0], p.prefixes[:0]
	for _, o := range out.Contents {
		p.objects = append(p.objects, listObject{key: aws.ToString(o.Key), etag: unquoteETag(o.ETag), size: aws.ToInt64(o.Size), modTime: aws.ToTime(o.LastModified)})
	}
	for _, cp := range out.CommonPrefixes {
		p.prefixes = append(p.prefixes, aws.ToString(cp.Prefix))
	}
	p.truncated, p.next = aws.ToBool(out.IsTruncated), aws.ToString(out.NextContinuationToken)
}

// listSigned is listPageOf through the gateway's own request, retried.
func (b *Backend) listSigned(ctx context.Context, base putBase, in *s3.ListObjectsV2Input, p *listPage) error {
	bucket, prefix := aws.ToString(in.Bucket), aws.ToString(in.Prefix)
	if err := CheckName(bucket, ""); err != nil { // as the SDK's requests do (refusal.go)
		return mapErr("list", bucket, prefix, err)
	}
	target := listURL(base, in)
	d := listDecoders.Get().(*listDecoder)
	defer listDecoders.Put(d)
	err := b.retrySDK(ctx, "ListObjectsV2 "+bucket+"/"+prefix, func() error {
		began := time.Now()
		err := b.smallPut.list(ctx, base, target, d, p)
		if obs := b.opts.Observe; obs != nil {
			obs("ListObjectsV2", time.Since(began), err)
		}
		return err
	})
	if err != nil {
		return mapErr("list", bucket, prefix, err)
	}
	return nil
}

// listURL is the URL of the ListObjectsV2 request in asks for, with
// EncodingType=url: the bucket's URL as the probe found it (path style
// "/bucket", virtual-hosted "/"), and the query the SDK would send.
func listURL(base putBase, in *s3.ListObjectsV2Input) string {
	q := url.Values{"list-type": {"2"}, "encoding-type": {"url"}}
	if in.Prefix != nil {
		q.Set("prefix", *in.Prefix)
	}
	if in.Delimiter != nil {
		q.Set("delimiter", *in.Delimiter)
	}
	if in.ContinuationToken != nil {
		q.Set("continuation-token", *in.ContinuationToken)
	}
	if in.MaxKeys != nil {
		q.Set("max-keys", strconv.Itoa(int(*in.MaxKeys)))
	}
	if in.StartAfter != nil {
		q.Set("start-after", *in.StartAfter)
	}
	path := strings.TrimSuffix(base.path, "/")
	if path == "" {
		path = "/"
	}
	// The signer puts the query in its canonical form (spaces as %20).
	return base.scheme + "://" + base.host + path + "?" + strings.ReplaceAll(q.Encode(), "+", "%20")
}

// list sends one attempt of a ListObjectsV2 GET to target and decodes the
// answer into p.
func (p *presignedPut) list(ctx context.Context, base putBase, target string, d *listDecoder, page *listPage) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		return fmt.Errorf("ListObjectsV2 request: %w", err)
	}
	req.Header["X-Amz-Content-Sha256"] = []string{"UNSIGNED-PAYLOAD"} // as the SDK's requests here (backend.go clientOptions)
	// As the SDK asks (its DisableGzip middleware): without it Go's transport
	// asks for gzip, and S3 (MinIO does) spends its CPU compressing each page
	// and the gateway its own inflating it.
	req.Header["Accept-Encoding"] = []string{"identity"}
	creds, err := p.creds.Retrieve(ctx)
	if err != nil {
		return fmt.Errorf("ListObjectsV2 credentials: %w", err)
	}
	if err := p.signer.SignHTTP(ctx, creds, req, "UNSIGNED-PAYLOAD", "s3", base.region, time.Now()); err != nil {
		return fmt.Errorf("sign ListObjectsV2: %w", err)
	}
	resp, err := p.http.Do(req)
	if err != nil {
		// As the SDK wraps it: retryable as a connection error, IsTimeout.
		return &smithyhttp.RequestSendError{Err: err}
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return classifyRefusal(listStatusError{newS3StatusError(resp)})
	}
	if err := d.decode(resp.Body, page); err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10)) // lets the connection be reused
	return nil
}
