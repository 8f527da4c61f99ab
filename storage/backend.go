package storage

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
)

// Options tune transfers and the metadata cache. Zero values take the defaults of
// the specification.
type Options struct {
	PartSize            int64         // multipart part size; the first tier of the growth schedule
	UploadConcurrency   int           // parts in flight per upload
	DownloadChunk       int64         // ranged GET size
	DownloadConcurrency int           // ranged GETs in flight per download
	CacheEntries        int           // metadata cache capacity
	CacheTTL            time.Duration // metadata cache freshness
	Logger              *slog.Logger
}

func (o *Options) setDefaults() {
	if o.PartSize <= 0 {
		o.PartSize = 16 << 20
	}
	if o.PartSize < MinPartSize {
		o.PartSize = MinPartSize
	}
	if o.PartSize > MaxPartSize {
		o.PartSize = MaxPartSize
	}
	if o.UploadConcurrency <= 0 {
		o.UploadConcurrency = 4
	}
	if o.DownloadChunk <= 0 {
		o.DownloadChunk = 16 << 20
	}
	if o.DownloadConcurrency <= 0 {
		o.DownloadConcurrency = 4
	}
	if o.CacheEntries <= 0 {
		o.CacheEntries = 10000
	}
	if o.CacheTTL <= 0 {
		o.CacheTTL = 30 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
}

// Backend is the S3 file system shared by every session of a gateway.
type Backend struct {
	client *s3.Client
	opts   Options
	cache  *metaCache
}

// New returns a Backend that talks to S3 through client.
func New(client *s3.Client, opts Options) *Backend {
	opts.setDefaults()
	return &Backend{client: client, opts: opts, cache: newMetaCache(opts.CacheEntries, opts.CacheTTL)}
}

// Client returns the underlying S3 client.
func (b *Backend) Client() *s3.Client { return b.client }

// NewClient builds an S3 client from the AWS SDK's own configuration chain
// (AWS_ENDPOINT_URL_S3, AWS_REGION, credentials, profiles, roles). pathStyle is
// needed for MinIO and most self-hosted S3 servers.
func NewClient(ctx context.Context, pathStyle bool) (*s3.Client, error) {
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		return nil, fmt.Errorf("load AWS configuration: %w", err)
	}
	if cfg.Region == "" {
		// MinIO and most self-hosted servers accept any region; AWS needs one set.
		cfg.Region = "us-east-1"
	}
	return s3.NewFromConfig(cfg, clientOptions(pathStyle)), nil
}

// NewStaticClient builds a client for an explicit endpoint and key pair (tests,
// benchmarks and per-user credentials).
func NewStaticClient(endpoint, region, accessKey, secretKey string, pathStyle bool) *s3.Client {
	if region == "" {
		region = "us-east-1"
	}
	return s3.New(s3.Options{
		Region:       region,
		BaseEndpoint: aws.String(endpoint),
		Credentials: aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
			return aws.Credentials{AccessKeyID: accessKey, SecretAccessKey: secretKey}, nil
		}),
		HTTPClient: newHTTPClient(),
	}, clientOptions(pathStyle))
}

func clientOptions(pathStyle bool) func(*s3.Options) {
	return func(o *s3.Options) {
		o.UsePathStyle = pathStyle
		if o.HTTPClient == nil {
			o.HTTPClient = newHTTPClient()
		}
		// Every body we send carries a CRC32 checksum header, which protects it end to
		// end; hashing the same bytes again with SHA-256 for the signature would double
		// the CPU cost per byte for no extra safety.
		o.APIOptions = append(o.APIOptions, v4.SwapComputePayloadSHA256ForUnsignedPayloadMiddleware)
	}
}

// newHTTPClient keeps enough idle connections for every part and chunk in flight
// across many sessions, so transfers do not pay for new TCP handshakes.
func newHTTPClient() *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConns = 512
	t.MaxIdleConnsPerHost = 256
	t.IdleConnTimeout = 90 * time.Second
	return &http.Client{Transport: t}
}

// isNotFound reports whether err is S3's answer for a missing key or bucket.
func isNotFound(err error) bool {
	var nsk *types.NoSuchKey
	var nb *types.NoSuchBucket
	var nf *types.NotFound
	if errors.As(err, &nsk) || errors.As(err, &nb) || errors.As(err, &nf) {
		return true
	}
	var api smithy.APIError
	if errors.As(err, &api) {
		switch api.ErrorCode() {
		case "NotFound", "NoSuchKey", "NoSuchBucket", "404":
			return true
		}
	}
	return false
}

// isAccessDenied reports whether S3 refused the request by policy (a HEAD
// request's 403 has no body, hence "Forbidden").
func isAccessDenied(err error) bool {
	var api smithy.APIError
	if errors.As(err, &api) {
		switch api.ErrorCode() {
		case "AccessDenied", "Forbidden", "403", "AllAccessDisabled":
			return true
		}
	}
	return false
}

func isPreconditionFailed(err error) bool {
	var api smithy.APIError
	if errors.As(err, &api) {
		switch api.ErrorCode() {
		case "PreconditionFailed", "412":
			return true
		}
	}
	return false
}

// mapErr turns S3's "not found" family into ErrNotFound and wraps everything else.
func mapErr(op, bucket, key string, err error) error {
	if err == nil {
		return nil
	}
	if isNotFound(err) {
		return fmt.Errorf("%s %s/%s: %w", op, bucket, key, ErrNotFound)
	}
	if isPreconditionFailed(err) {
		return fmt.Errorf("%s %s/%s: %w", op, bucket, key, ErrChanged)
	}
	if isAccessDenied(err) {
		return fmt.Errorf("%s %s/%s: %w: %w", op, bucket, key, ErrAccessDenied, err)
	}
	return fmt.Errorf("%s %s/%s: %w", op, bucket, key, err)
}

func unquoteETag(s *string) string {
	return strings.Trim(aws.ToString(s), `"`)
}

// parentPrefix returns the listing prefix of the directory that holds key:
// "a/b/c" → "a/b/", "a" → "".
func parentPrefix(key string) string {
	key = strings.TrimSuffix(key, "/")
	if i := strings.LastIndexByte(key, '/'); i >= 0 {
		return key[:i+1]
	}
	return ""
}

// baseName returns the last element of key without a trailing slash.
func baseName(key string) string {
	key = strings.TrimSuffix(key, "/")
	if i := strings.LastIndexByte(key, '/'); i >= 0 {
		return key[i+1:]
	}
	return key
}
