package auth

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
	lru "github.com/hashicorp/golang-lru/v2"

	"github.com/ftp2s3/ftp2s3/session"
	"github.com/ftp2s3/ftp2s3/storage"
)

// S3Auth implements FTP2S3_AUTH=s3: the FTP user name and password are an S3
// access key and secret key. They are checked with one cheap S3 call, and the
// session then runs every S3 request with them, so the storage's own policies
// (MinIO or AWS IAM) decide what the user may see and do.
type S3Auth struct {
	base *s3.Client // the gateway's client: endpoint, region, addressing, HTTP
	opts storage.Options
	home session.Home
	// known maps an access key to its verified identity until a deadline: a
	// plain LRU, as httpauth.go's cache, since the expirable one's sweeping
	// goroutine would outlive the gateway.
	known *lru.Cache[string, *s3Identity]
	ttl   time.Duration

	// backends holds one storage per key pair (the hash of access key and
	// secret, so a changed secret never reaches another's storage) beyond the
	// credential TTL: a login after the TTL is verified again but reuses the
	// identity's Backend and its cache. The caches share one listing budget
	// (storage.CacheShare, through opts) and FTP2S3_CACHE_ENTRIES is divided
	// between the backends kept; an evicted backend's cache is emptied and
	// shrunk to one entry for the sessions that still use it.
	mu       sync.Mutex
	backends *lru.Cache[[32]byte, *storage.Backend]
}

// s3Identity is a verified key pair and the storage that acts as it.
type s3Identity struct {
	secretHash [32]byte
	backend    *storage.Backend
	expires    time.Time // verified again after this
}

// s3AuthTTL is how long a verified key pair is trusted without asking S3 again.
// A key revoked in IAM stops working for new logins within this time (running
// sessions fail on their next request).
const s3AuthTTL = time.Minute

// NewS3Auth returns the S3 authenticator. base is the gateway's own client (its
// credentials are not used for users); home is FTP2S3_BUCKET/FTP2S3_PREFIX.
// base must be a client without storage's middleware (storage.Backend's
// BaseClient), which every per-user Backend adds itself; opts are the gateway
// backend's Options, whose memory budget, upload set and listing budget the
// per-user backends share. ttl is how long a verified key pair is trusted
// (0: s3AuthTTL).
func NewS3Auth(base *s3.Client, opts storage.Options, home session.Home, ttl time.Duration) *S3Auth {
	if ttl <= 0 {
		ttl = s3AuthTTL
	}
	a := &S3Auth{base: base, opts: opts, home: home, ttl: ttl}
	a.known, _ = lru.New[string, *s3Identity](1024) // fails only for a size ≤ 0
	a.backends, _ = lru.NewWithEvict(maxIdentityBackends, func(_ [32]byte, b *storage.Backend) {
		// Nothing to stop: a cache runs no goroutine (storage/cachelru.go), so
		// the backend is garbage once its last session ends. Purging gives
		// its listings back to the shared budget now rather than at expiry.
		b.PurgeCache()
		b.ResizeCache(1)
	})
	return a
}

// maxIdentityBackends bounds the identities whose storage (and cache) is kept
// between logins; FTP2S3_CACHE_ENTRIES is shared among them.
const maxIdentityBackends = 64

// backendFor returns the storage of the key pair whose hash is hash, made
// with client if there is none yet, and gives every kept backend its share of
// FTP2S3_CACHE_ENTRIES.
func (a *S3Auth) backendFor(hash [32]byte, client *s3.Client) *storage.Backend {
	a.mu.Lock()
	defer a.mu.Unlock()
	if b, ok := a.backends.Get(hash); ok {
		return b
	}
	b := storage.New(client, a.opts)
	a.backends.Add(hash, b)
	share := a.opts.CacheEntries / a.backends.Len()
	for _, kept := range a.backends.Values() {
		kept.ResizeCache(share)
	}
	return b
}

// Backends returns how many identities' storages are kept (tests, metrics).
func (a *S3Auth) Backends() int { return a.backends.Len() }

// Authenticate implements session.Authenticator.
func (a *S3Auth) Authenticate(ctx context.Context, accessKey, secretKey string) (*session.User, error) {
	if accessKey == "" || secretKey == "" || strings.ContainsAny(accessKey, " \t") {
		return nil, session.ErrAuthFailed
	}
	hash := sha256.Sum256([]byte(accessKey + "\x00" + secretKey))
	if id, ok := a.known.Get(accessKey); ok && time.Now().Before(id.expires) && subtle.ConstantTimeCompare(id.secretHash[:], hash[:]) == 1 {
		return a.user(accessKey, id), nil
	}
	client := s3.New(a.base.Options(), func(o *s3.Options) {
		// A signer of its own: the SigV4 signer caches derived signing keys by
		// access key alone, so one shared with other clients would sign a wrong
		// secret with the key derived from the right one and let it in.
		o.HTTPSignerV4 = v4.NewSigner(func(so *v4.SignerOptions) {
			so.Logger, so.LogSigning = o.Logger, o.ClientLogMode.IsSigning()
			so.DisableURIPathEscaping = true // as S3's default signer
		})
		o.AuthSchemes = nil        // rebuilt around the new signer
		o.ExpressCredentials = nil // nor share the S3 Express session cache
		o.Credentials = aws.NewCredentialsCache(aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
			return aws.Credentials{AccessKeyID: accessKey, SecretAccessKey: secretKey, Source: "ftp2s3 login"}, nil
		}))
	})
	if err := a.verify(ctx, client); err != nil {
		return nil, err
	}
	id := &s3Identity{secretHash: hash, backend: a.backendFor(hash, client), expires: time.Now().Add(a.ttl)}
	a.known.Add(accessKey, id)
	return a.user(accessKey, id), nil
}

// EachBackend calls fn with the storage of every identity kept, whose caches
// the S3 events endpoint must reach (gateway/ops/events.go).
func (a *S3Auth) EachBackend(fn func(*storage.Backend)) {
	for _, b := range a.backends.Values() {
		fn(b)
	}
}

func (a *S3Auth) user(name string, id *s3Identity) *session.User {
	return &session.User{Name: name, Home: a.home, FS: id.backend}
}

// verify makes the cheapest request that proves the key pair: a one-key listing
// of the home (or the bucket list in multi-bucket mode). S3 checks the signature
// before the permission, so "access denied" means the keys are genuine and only
// that request is not allowed; the user may still be allowed others (a drop box
// that may only write). A GET is used rather than HEAD because a HEAD error has
// no body to tell a bad signature from a denied request.
func (a *S3Auth) verify(ctx context.Context, c *s3.Client) error {
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	var err error
	// The check is an S3 request like any other: the metrics count it, once.
	counted := func(o *s3.Options) {
		if a.opts.Observe != nil {
			o.APIOptions = append(o.APIOptions, storage.ObserveRequests(a.opts.Observe))
		}
	}
	if a.home.Bucket == "" {
		_, err = c.ListBuckets(ctx, &s3.ListBucketsInput{}, counted)
	} else {
		prefix := a.home.Prefix
		if prefix != "" {
			prefix += "/"
		}
		// URL-encoded keys: a first key that XML cannot carry must not fail the login.
		_, err = c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(a.home.Bucket), Prefix: aws.String(prefix), MaxKeys: aws.Int32(1),
			EncodingType: types.EncodingTypeUrl}, counted)
	}
	if err == nil {
		return nil
	}
	var api smithy.APIError
	if errors.As(err, &api) {
		switch api.ErrorCode() {
		case "InvalidAccessKeyId", "SignatureDoesNotMatch", "InvalidToken", "ExpiredToken",
			"InvalidClientTokenId", "AuthorizationHeaderMalformed", "XMinioInvalidAccessKeyId":
			return fmt.Errorf("%w: %s", session.ErrAuthFailed, api.ErrorCode())
		case "AccessDenied", "NoSuchBucket", "AllAccessDisabled":
			return nil
		}
	}
	return fmt.Errorf("verify S3 credentials: %w", err)
}
