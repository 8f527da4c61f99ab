package storage

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
	"github.com/aws/smithy-go/middleware"
)

// Options tune transfers and the metadata cache. Zero values take the defaults
// set in setDefaults.
type Options struct {
	PartSize            int64         // multipart part size; the first tier of the growth schedule
	UploadConcurrency   int           // parts in flight per upload
	DownloadChunk       int64         // ranged GET size
	DownloadConcurrency int           // ranged GETs in flight per download
	CacheEntries        int           // metadata cache capacity
	CacheTTL            time.Duration // metadata cache freshness
	// MaxRenameKeys is the largest directory rename accepted (ErrTooLarge
	// beyond); 0 means 10000, the default of FTP2S3_MAX_RENAME_KEYS, which
	// itself must be positive, so 0 has no other meaning there. There is no
	// "no limit": the keys of a rename are held in memory.
	MaxRenameKeys int
	// RenameConcurrency bounds the copies and deletes in flight during a
	// directory rename.
	RenameConcurrency int
	// CopyThreshold is the size above which a rename copies with multipart
	// UploadPartCopy instead of one CopyObject (S3 refuses CopyObject above
	// 5 GiB); CopyPartSize is the size of each copied part. Tests lower both.
	CopyThreshold int64
	CopyPartSize  int64
	// HashCopyLimit is the largest multipart upload whose SHA-256 is stored by
	// copying the object onto itself with new metadata (see storeHash); 0 means
	// never, as FTP2S3_HASH_COPY_LIMIT=0 does, and values above 5 GiB mean 5 GiB.
	HashCopyLimit int64
	Logger        *slog.Logger
	// MemoryLimit caps every part and chunk buffer of the process together
	// (FTP2S3_MEMORY_LIMIT); 0 means DefaultMemoryLimit. Memory, when set, is a
	// budget shared with other backends (per-user S3 credentials) and wins.
	MemoryLimit int64
	Memory      *Memory
	// MinUploadRate, in bytes per second, is the slow-upload rule
	// (slowupload.go): while any transfer waits for the memory budget, an
	// upload whose client sent less than this over UploadRateWindow of waiting
	// for it ends with ErrTooSlow. 0 turns the rule off.
	MinUploadRate    int64
	UploadRateWindow time.Duration // 0 means 30s
	// Uploads is the set of multipart uploads this gateway runs, which the
	// abandoned-upload sweep spares (abandoned.go); nil means a new one.
	// Backends made from one Backend's Options share it, as they share Memory.
	Uploads *UploadSet
	// CacheShare is the listing budget the metadata caches of several
	// backends hold together (cacheshare.go); nil means a new one. Backends
	// made from one Backend's Options share it.
	CacheShare *CacheShare
	// RetryFor is how long a running transfer keeps retrying a failed S3
	// request, with backoff, before it fails (FTP2S3_S3_RETRY_FOR, whose default
	// is 30s); 0 means one attempt, as in the variable.
	RetryFor time.Duration
	// Observe, when set, is called after every S3 request (retries included) with
	// the operation's name ("PutObject"), how long it took and its error (metrics).
	Observe func(op string, d time.Duration, err error)
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
	if o.MaxRenameKeys <= 0 {
		o.MaxRenameKeys = 10000
	}
	if o.RenameConcurrency <= 0 {
		o.RenameConcurrency = 8
	}
	if o.CopyThreshold <= 0 || o.CopyThreshold > MaxPartSize {
		o.CopyThreshold = MaxPartSize
	}
	if o.CopyPartSize <= 0 {
		o.CopyPartSize = 512 << 20
	}
	o.CopyPartSize = min(max(o.CopyPartSize, MinPartSize), MaxPartSize)
	o.HashCopyLimit = min(max(o.HashCopyLimit, 0), MaxPartSize)
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Memory == nil {
		o.Memory = newMemoryFor(o.MemoryLimit, o.perTransfer())
	}
	if o.UploadRateWindow <= 0 {
		o.UploadRateWindow = 30 * time.Second
	}
	o.MinUploadRate = max(o.MinUploadRate, 0)
	if o.Uploads == nil {
		o.Uploads = NewUploadSet()
	}
	if o.CacheShare == nil {
		o.CacheShare = &CacheShare{}
	}
	o.MemoryLimit = o.Memory.Limit()
	o.RetryFor = max(o.RetryFor, 0)
}

// perTransfer is the most one transfer holds of the budget at full speed: an
// upload's parts in flight and the one being read, or a download's read-ahead.
func (o *Options) perTransfer() int64 {
	return max(o.PartSize*int64(o.UploadConcurrency+1), o.DownloadChunk*int64(o.DownloadConcurrency))
}

// Backend is the S3 file system shared by every session of a gateway.
type Backend struct {
	client *s3.Client
	opts   Options
	cache  *metaCache
	mem    *Memory
	// base is the client as New was given it, before the middleware New adds.
	base *s3.Client
	// presign signs the GETs of spliced downloads; nil when downloads cannot
	// be spliced (splice.go).
	presign *s3.PresignClient
	// smallPut sends small uploads as presigned PUTs (presignput.go); nil
	// sends them with PutObject.
	smallPut *presignedPut
	// headerTimeout bounds the wait for a spliced GET's response head
	// (AttemptTimeout); zero means none.
	headerTimeout time.Duration
	// checkPresign signs the GET an upload checker is given (uploadcheck.go);
	// nil only in unit tests without a client.
	checkPresign *s3.PresignClient
}

// New returns a Backend that talks to S3 through client.
func New(client *s3.Client, opts Options) *Backend {
	opts.setDefaults()
	base := client
	var presign, checkPresign *s3.PresignClient
	var headerWait time.Duration
	if client != nil { // unit tests of the pure parts pass none
		presign = splicePresigner(client) // before the metrics hook: signing is no request
		checkPresign = s3.NewPresignClient(client)
		headerWait = headerTimeout(client)
		client = s3.New(client.Options(), func(o *s3.Options) {
			o.APIOptions = append(o.APIOptions, opts.Uploads.track) // see abandoned.go
			if opts.Observe != nil {
				o.APIOptions = append(o.APIOptions, ObserveRequests(opts.Observe))
			}
			o.APIOptions = append(o.APIOptions, classifyRefusals) // see refusal.go
		})
	}
	cache := newMetaCache(opts.CacheEntries, opts.CacheTTL)
	cache.listed = &opts.CacheShare.listed
	return &Backend{client: client, base: base, opts: opts, cache: cache, mem: opts.Memory, presign: presign, checkPresign: checkPresign, headerTimeout: headerWait,
		smallPut: newPresignedPut(base)}
}

// Options returns the backend's options with their defaults applied; backends
// made from them share its memory budget.
func (b *Backend) Options() Options { return b.opts }

// MemoryStats returns the state of the transfer memory budget (metrics).
func (b *Backend) MemoryStats() MemoryStats { return b.mem.Stats() }

// Client returns the underlying S3 client, with the backend's middleware
// (metrics, upload tracking).
func (b *Backend) Client() *s3.Client { return b.client }

// BaseClient returns the client New was given, without the middleware New
// adds: a client derived from it for another Backend (per-user credentials)
// gets that middleware once, from its own New, and each request is counted
// once.
func (b *Backend) BaseClient() *s3.Client { return b.base }

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
		// Otherwise the SDK prints "Response has no supported checksum" to stderr
		// for every ranged GET (ranges never carry one): a write per chunk and a
		// flood in the gateway's output.
		o.DisableLogOutputChecksumValidationSkipped = true
		if o.HTTPClient == nil {
			o.HTTPClient = newHTTPClient()
		}
		// Every body we send carries a CRC32 checksum header, which protects it end to
		// end; hashing the same bytes again with SHA-256 for the signature would double
		// the CPU cost per byte for no extra safety.
		o.APIOptions = append(o.APIOptions, v4.SwapComputePayloadSHA256ForUnsignedPayloadMiddleware, unsignedBeforeChecksum)
	}
}

// unsignedBeforeChecksum marks the payload unsigned before the SDK's checksum
// middleware runs. Over plain HTTP (MinIO on loopback or a private network) that
// middleware otherwise hashes every body with SHA-256 alongside the CRC32, for a
// signature the swap above then throws away: more than half of the gateway's CPU
// per uploaded byte.
func unsignedBeforeChecksum(stack *middleware.Stack) error {
	const checksumID = "AWSChecksum:ComputeInputPayloadChecksum"
	if _, ok := stack.Finalize.Get(checksumID); !ok {
		return nil
	}
	return stack.Finalize.Insert(middleware.FinalizeMiddlewareFunc("ftp2s3:UnsignedPayload",
		func(ctx context.Context, in middleware.FinalizeInput, next middleware.FinalizeHandler) (middleware.FinalizeOutput, middleware.Metadata, error) {
			return next.HandleFinalize(v4.SetPayloadHash(ctx, "UNSIGNED-PAYLOAD"), in)
		}), checksumID, middleware.Before)
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

// ObserveRequests is the middleware that reports every request to observe
// (Options.Observe). It times each operation from the top of the stack, so the
// duration covers signing, retries and reading the response headers.
func ObserveRequests(observe func(string, time.Duration, error)) func(*middleware.Stack) error {
	return func(st *middleware.Stack) error {
		return st.Initialize.Add(middleware.InitializeMiddlewareFunc("ftp2s3Observe",
			func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
				start := time.Now()
				out, md, err := next.HandleInitialize(ctx, in)
				observe(middleware.GetOperationName(ctx), time.Since(start), err)
				return out, md, err
			}), middleware.Before)
	}
}

// RequestID returns the S3 request id carried by err, or "" (S3 support asks for
// it; MinIO logs it).
func RequestID(err error) string {
	var re interface{ ServiceRequestID() string }
	if errors.As(err, &re) {
		return re.ServiceRequestID()
	}
	return ""
}

// HTTPStatus returns the HTTP status of the S3 response behind err, or 0 when
// there was none (network failure, cancellation).
func HTTPStatus(err error) int {
	var re interface{ HTTPStatusCode() int }
	if errors.As(err, &re) {
		return re.HTTPStatusCode()
	}
	return 0
}

// isNotFound reports whether err is S3's answer for a missing key or bucket.
func isNotFound(err error) bool {
	var nsk *types.NoSuchKey
	var nb *types.NoSuchBucket
	var nf *types.NotFound
	return errors.As(err, &nsk) || errors.As(err, &nb) || errors.As(err, &nf) ||
		hasErrorCode(err, "NotFound", "NoSuchKey", "NoSuchBucket", "404")
}

// isAccessDenied reports whether S3 refused the request by policy (a HEAD
// request's 403 has no body, hence "Forbidden").
func isAccessDenied(err error) bool {
	return hasErrorCode(err, "AccessDenied", "Forbidden", "403", "AllAccessDisabled")
}

func isPreconditionFailed(err error) bool {
	return hasErrorCode(err, "PreconditionFailed", "412")
}

// hasErrorCode reports whether err carries an S3 error code among codes. A
// response without a body (HEAD) has its HTTP status as its code.
func hasErrorCode(err error, codes ...string) bool {
	var api smithy.APIError
	return errors.As(err, &api) && slices.Contains(codes, api.ErrorCode())
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

// dirKey returns the key of the directory dir with exactly one trailing slash:
// its marker's key and the listing prefix of what it holds. "a/b" and "a/b/"
// both become "a/b/"; "" (the bucket's root) stays "".
func dirKey(dir string) string {
	dir = strings.TrimSuffix(dir, "/")
	if dir == "" {
		return ""
	}
	return dir + "/"
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
