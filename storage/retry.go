package storage

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// A running transfer holds data that S3 has not confirmed yet (a part in
// memory, a download half sent), so a short S3 outage, such as a MinIO restart,
// should cost time, not the transfer. Its requests are retried here, with
// backoff, for up to RetryFor (FTP2S3_S3_RETRY_FOR) instead of the SDK's three
// attempts within a second or so; meanwhile the data connection is simply not
// read or written, so the client waits. The SDK decides what is retryable
// (connection errors, 5xx, throttling); its own retries are turned off for
// these calls (oneAttempt) so that its retry quota, which an outage drains for
// every transfer at once, cannot fail them early. Refusals (403, 404, 412…) and
// a cancelled transfer fail at once.

var retryables = retry.IsErrorRetryables(retry.DefaultRetryables)

// oneAttempt is the per-call option that leaves retrying to withRetry.
func oneAttempt(o *s3.Options) { o.RetryMaxAttempts = 1 }

// Backoff between attempts: full jitter over an exponential ceiling.
const (
	retryBaseDelay = 200 * time.Millisecond
	retryMaxDelay  = 2 * time.Second
)

// errRetryWindow marks an error that outlived the retry window.
var errRetryWindow = errors.New("S3 retry window exhausted")

// retryable reports whether err, from an attempt made under ctx, is worth
// another attempt.
func retryable(ctx context.Context, err error) bool {
	if ctx.Err() != nil || errors.Is(err, context.Canceled) {
		return false
	}
	if isNotFound(err) || isAccessDenied(err) || isPreconditionFailed(err) {
		return false
	}
	return retryables.IsErrorRetryable(err) == aws.TrueTernary
}

// withRetry runs call until it succeeds, fails for good or ctx ends, or until
// window has passed since the first of a run of failed attempts. call reports
// whether its attempt made progress (a ranged read that got some bytes before
// failing): progress starts a new run, so a long download survives several
// outages. what names the request in logs.
func (b *Backend) withRetry(ctx context.Context, what string, window time.Duration, isRetryable func(error) bool, call func() (bool, error)) error {
	var failingSince time.Time
	for attempt := 1; ; attempt++ {
		progressed, err := call()
		if err == nil || !isRetryable(err) {
			return err
		}
		if progressed || failingSince.IsZero() {
			failingSince, attempt = time.Now(), 1
		}
		left := window - time.Since(failingSince)
		if left <= 0 {
			b.opts.Logger.Warn("S3 request failed; retry window exhausted", "request", what,
				"attempts", attempt, "retry_for", window.String(), "err", err)
			return fmt.Errorf("%w after %d attempts in %s: %w", errRetryWindow, attempt, window, err)
		}
		ceiling := min(retryBaseDelay<<min(attempt-1, 10), retryMaxDelay)
		delay := min(time.Duration(rand.Int64N(int64(ceiling)))+10*time.Millisecond, left)
		b.opts.Logger.Warn("S3 request failed; retrying", "request", what, "attempt", attempt,
			"delay", delay.String(), "err", err)
		t := time.NewTimer(delay)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return err
		}
	}
}

// retrySDK is withRetry over RetryFor for one SDK call, classified by the SDK's
// rules.
func (b *Backend) retrySDK(ctx context.Context, what string, call func() error) error {
	return b.withRetry(ctx, what, b.opts.RetryFor, func(err error) bool { return retryable(ctx, err) },
		func() (bool, error) { return false, call() })
}
