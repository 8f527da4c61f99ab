package gateway

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go/middleware"

	"github.com/ftp2s3/ftp2s3/gateway/ops"
	"github.com/ftp2s3/ftp2s3/storage"
)

// How the gateway reaches S3 and what storage settings the configuration gives.

// S3Access reaches S3 without the AWS SDK's configuration chain. The binary
// leaves it empty, so the chain reads AWS_ENDPOINT_URL_S3, AWS_ACCESS_KEY_ID
// and the rest (docs/configuration.md "Configuration"); embedders and tests set it in
// Config.S3.
type S3Access struct {
	Endpoint  string // e.g. http://127.0.0.1:9000; empty: the SDK's chain
	Region    string // empty: us-east-1
	AccessKey string
	SecretKey string
	// HTTPClient, when set, carries every S3 request (tests put a
	// fault-injecting transport here).
	HTTPClient *http.Client
	// APIOptions are added to the middleware stack of every S3 request the SDK
	// sends (the bench times the gateway's requests with one,
	// integration/bench/phases.go). A small upload's PUT, which the gateway signs
	// and sends itself (storage/presignput.go), does not pass through them.
	APIOptions []func(*middleware.Stack) error
}

// StorageTuning holds storage settings no variable exposes, so that a test can
// reach a code path with little data; zero values keep storage's defaults.
type StorageTuning struct {
	RenameConcurrency int   // copies and deletes in flight per directory rename
	CopyThreshold     int64 // size above which a rename copies in parts (5 GiB)
	CopyPartSize      int64 // part size of those copies (512 MiB)
	// S3AuthTTL is how long FTP2S3_AUTH=s3 trusts a verified key pair before
	// asking S3 again (one minute).
	S3AuthTTL time.Duration
}

// newS3Client builds the S3 client cfg asks for.
func newS3Client(ctx context.Context, cfg *Config) (*s3.Client, error) {
	a := cfg.S3
	var client *s3.Client
	if a.Endpoint != "" {
		client = storage.NewStaticClient(a.Endpoint, a.Region, a.AccessKey, a.SecretKey, cfg.S3PathStyle)
	} else {
		var err error
		if client, err = storage.NewClient(ctx, cfg.S3PathStyle); err != nil {
			return nil, err
		}
	}
	client = s3.New(client.Options(), storage.AttemptTimeout(cfg.S3AttemptTimeout))
	if a.HTTPClient != nil || len(a.APIOptions) > 0 {
		client = s3.New(client.Options(), func(o *s3.Options) {
			if a.HTTPClient != nil {
				o.HTTPClient = a.HTTPClient
			}
			o.APIOptions = append(o.APIOptions, a.APIOptions...)
		})
	}
	return client, nil
}

// storageOptions are the storage settings of the configuration, with every S3
// request counted in m. Each variable and its storage option give 0 the same
// meaning (FTP2S3_HASH_COPY_LIMIT=0 is off, FTP2S3_S3_RETRY_FOR=0 one attempt,
// in both), so values pass through unchanged.
func storageOptions(cfg *Config, log *slog.Logger, m *ops.Metrics) storage.Options {
	return storage.Options{
		PartSize:            int64(cfg.PartSize),
		UploadConcurrency:   cfg.UploadConcurrency,
		DownloadChunk:       int64(cfg.DownloadChunk),
		DownloadConcurrency: cfg.DownloadConcurrency,
		CacheEntries:        cfg.CacheEntries,
		CacheTTL:            cfg.CacheTTL,
		MaxRenameKeys:       cfg.MaxRenameKeys,
		RenameConcurrency:   cfg.Storage.RenameConcurrency,
		CopyThreshold:       cfg.Storage.CopyThreshold,
		CopyPartSize:        cfg.Storage.CopyPartSize,
		HashCopyLimit:       int64(cfg.HashCopyLimit),
		MemoryLimit:         int64(cfg.MemoryLimit),
		MinUploadRate:       int64(cfg.UploadMinRate),
		UploadRateWindow:    cfg.DataTimeout,
		RetryFor:            cfg.S3RetryFor,
		Logger:              log,
		Observe:             m.ObserveS3,
	}
}
