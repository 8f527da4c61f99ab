package storage

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go/middleware"
)

// A gateway killed mid-upload (kill -9, OOM, power) leaves its multipart upload
// in the bucket for ever: S3 bills the parts and no listing shows them. The
// sweep below aborts uploads older than FTP2S3_ABANDONED_UPLOAD_AGE under the
// homes the gateway serves. S3 cannot tell whose upload it is, so the age must
// exceed any real transfer by anyone writing there (docs/storage.md "Object-storage
// semantics"); uploads this process is running are never touched, whatever
// their age.

// running is the set of multipart upload IDs this process has created and not
// yet completed or aborted. It is process-wide rather than per Backend because
// under FTP2S3_AUTH=s3 every user's uploads go through a Backend of their own,
// while the sweep runs once for the gateway.
var running = uploadSet{ids: map[string]struct{}{}}

type uploadSet struct {
	mu  sync.Mutex
	ids map[string]struct{}
}

func (s *uploadSet) add(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ids[id] = struct{}{}
}

func (s *uploadSet) remove(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.ids, id)
}

func (s *uploadSet) has(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.ids[id]
	return ok
}

// trackUploads keeps running current from the requests themselves, so every
// code path that creates a multipart upload (streamed uploads, APPE, multipart
// copies) is covered without each having to remember. An upload leaves the set
// when it completes, and on any answer to its abort: after a failed abort this
// process no longer runs it, so it is the sweep's to clean up.
func trackUploads(st *middleware.Stack) error {
	return st.Initialize.Add(middleware.InitializeMiddlewareFunc("ftp2s3TrackUploads",
		func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
			out, md, err := next.HandleInitialize(ctx, in)
			switch p := in.Parameters.(type) {
			case *s3.CreateMultipartUploadInput:
				if r, ok := out.Result.(*s3.CreateMultipartUploadOutput); ok && err == nil && r.UploadId != nil {
					running.add(*r.UploadId)
				}
			case *s3.CompleteMultipartUploadInput:
				if err == nil {
					running.remove(aws.ToString(p.UploadId))
				}
			case *s3.AbortMultipartUploadInput:
				running.remove(aws.ToString(p.UploadId))
			}
			return out, md, err
		}), middleware.After)
}

// AbortAbandoned aborts the multipart uploads under bucket/prefix that were
// initiated more than age ago and that this process is not running, logging
// each. It returns how many it aborted.
func (b *Backend) AbortAbandoned(ctx context.Context, bucket, prefix string, age time.Duration) (int, error) {
	cutoff := time.Now().Add(-age)
	aborted := 0
	in := &s3.ListMultipartUploadsInput{Bucket: aws.String(bucket), Prefix: aws.String(prefix), EncodingType: types.EncodingTypeUrl}
	for {
		page, err := b.client.ListMultipartUploads(ctx, in)
		if err != nil {
			return aborted, mapErr("list multipart uploads", bucket, prefix, err)
		}
		if err := decodeUploads(page); err != nil {
			return aborted, fmt.Errorf("list multipart uploads %s/%s: %w", bucket, prefix, err)
		}
		for _, u := range page.Uploads {
			id, key, started := aws.ToString(u.UploadId), aws.ToString(u.Key), aws.ToTime(u.Initiated)
			if !started.Before(cutoff) || running.has(id) {
				continue
			}
			_, err := b.client.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{Bucket: aws.String(bucket), Key: aws.String(key), UploadId: aws.String(id)})
			if err != nil && !isNotFound(err) {
				b.opts.Logger.Warn("aborting an abandoned multipart upload failed", "bucket", bucket, "key", key,
					"upload_id", id, "initiated", started, "err", err)
				continue
			}
			aborted++
			b.opts.Logger.Info("aborted an abandoned multipart upload", "bucket", bucket, "key", key,
				"upload_id", id, "initiated", started, "age", time.Since(started).Round(time.Second).String())
		}
		if !aws.ToBool(page.IsTruncated) {
			return aborted, nil
		}
		next := *in
		next.KeyMarker, next.UploadIdMarker = page.NextKeyMarker, page.NextUploadIdMarker
		in = &next
	}
}

// Place is one bucket, or the part of it under Prefix, that the gateway serves.
type Place struct {
	Bucket, Prefix string // Prefix "" or ending in "/"
}

// SweepAbandoned runs AbortAbandoned over the places places returns now and
// then every interval, until ctx is done. Failures are logged and retried at
// the next round.
func (b *Backend) SweepAbandoned(ctx context.Context, places func(context.Context) ([]Place, error), age, interval time.Duration) {
	for {
		b.sweepOnce(ctx, places, age)
		select {
		case <-ctx.Done():
			return
		case <-time.After(interval):
		}
	}
}

func (b *Backend) sweepOnce(ctx context.Context, places func(context.Context) ([]Place, error), age time.Duration) {
	ps, err := places(ctx)
	if err != nil {
		b.opts.Logger.Warn("abandoned multipart uploads: cannot tell which buckets to sweep", "err", err)
	}
	for _, p := range ps {
		if ctx.Err() != nil {
			return
		}
		if _, err := b.AbortAbandoned(ctx, p.Bucket, p.Prefix, age); err != nil {
			b.opts.Logger.Warn("abandoned multipart uploads: sweep failed", "bucket", p.Bucket, "prefix", p.Prefix, "err", err)
		}
	}
}
