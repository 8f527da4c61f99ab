package gateway

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/ftp2s3/ftp2s3/gateway/auth"
	"github.com/ftp2s3/ftp2s3/session"
	"github.com/ftp2s3/ftp2s3/storage"
)

// servedBuckets lists the buckets this configuration serves by name:
// FTP2S3_BUCKET, the buckets of static users' homes (users is nil unless
// FTP2S3_AUTH=users) and the anonymous home's, each once, sorted. Homes of
// every bucket ("/") name none.
func servedBuckets(cfg *Config, users *auth.StaticUsers) []string {
	var names []string
	add := func(h session.Home) {
		if h.Bucket != "" && !slices.Contains(names, h.Bucket) {
			names = append(names, h.Bucket)
		}
	}
	add(cfg.DefaultHome())
	if users != nil {
		for _, h := range users.OwnHomes() {
			add(h)
		}
	}
	if cfg.AnonymousHome.Set {
		add(cfg.AnonymousHome.Home)
	}
	slices.Sort(names)
	return names
}

// createBuckets makes the served buckets that are missing (FTP2S3_CREATE_BUCKETS)
// and logs each one it made. While S3 cannot be reached (no connection, no DNS
// name yet, a 5xx from a server still starting) it tries again with backoff for
// up to FTP2S3_S3_RETRY_FOR, the same patience a transfer has; any other
// refusal (credentials, a bucket owned by someone else) ends it at once, since
// waiting would not change the answer.
func createBuckets(ctx context.Context, backend *storage.Backend, cfg *Config, users *auth.StaticUsers, log *slog.Logger) error {
	return createNamed(ctx, backend, servedBuckets(cfg, users), max(cfg.S3RetryFor, 0), log)
}

// createReloaded makes the buckets of homes that a reload of
// FTP2S3_USERS_FILE added (FTP2S3_CREATE_BUCKETS; serve wires it to the
// reload). A failure is logged, not fatal: the gateway is serving, and the new
// users' transfers answer as for any missing bucket until the next reload or
// start creates it.
func (g *Gateway) createReloaded(ctx context.Context) {
	var fresh []string
	for _, name := range servedBuckets(&g.Config, g.users) {
		if !g.bucketsMade[name] {
			fresh = append(fresh, name)
		}
	}
	if len(fresh) == 0 {
		return
	}
	if err := createNamed(ctx, g.Backend, fresh, max(g.Config.S3RetryFor, 0), g.Log); err != nil {
		g.Log.Error("buckets of reloaded users not created", "buckets", fresh, "error", err.Error())
		return
	}
	for _, name := range fresh {
		g.bucketsMade[name] = true
	}
}

// createNamed makes the named buckets that are missing, within the patience
// createBuckets describes.
func createNamed(ctx context.Context, backend *storage.Backend, names []string, within time.Duration, log *slog.Logger) error {
	deadline := time.Now().Add(within)
	delay := 250 * time.Millisecond
	for _, name := range names {
		for attempt := 1; ; attempt++ {
			// Each attempt gets at least attemptTimeout, so that a zero
			// FTP2S3_S3_RETRY_FOR still means one real try.
			cctx, cancel := context.WithTimeout(ctx, max(time.Until(deadline), attemptTimeout))
			created, err := backend.CreateBucket(cctx, name)
			cancel()
			if err == nil {
				if created {
					log.Info("created bucket", "bucket", name)
				} else {
					log.Info("bucket exists", "bucket", name)
				}
				break
			}
			if !unreachable(err) || ctx.Err() != nil {
				return fmt.Errorf("FTP2S3_CREATE_BUCKETS: %w", err)
			}
			if time.Now().Add(delay).After(deadline) {
				return fmt.Errorf("FTP2S3_CREATE_BUCKETS: S3 still unreachable after %s (%d attempts): %w", within, attempt, err)
			}
			log.Warn("S3 not reachable yet; creating buckets again shortly", "bucket", name, "attempt", attempt, "error", err.Error())
			select {
			case <-ctx.Done():
				return fmt.Errorf("FTP2S3_CREATE_BUCKETS: %w", ctx.Err())
			case <-time.After(delay):
			}
			delay = min(2*delay, 5*time.Second)
		}
	}
	return nil
}

// attemptTimeout bounds one HeadBucket+CreateBucket at start-up.
const attemptTimeout = 10 * time.Second

// unreachable reports whether err means S3 did not answer (yet): no HTTP
// response at all, or a server error.
func unreachable(err error) bool {
	status := storage.HTTPStatus(err)
	return status == 0 || status >= 500
}
