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
// sweep below aborts uploads under the homes the gateway serves that have been
// idle for longer than FTP2S3_ABANDONED_UPLOAD_AGE, at two sweeps in a row: no
// part written since, or since the upload began when it has no part. S3 cannot tell whose upload it
// is (another replica's, another application's), so idleness rather than age
// is what marks one abandoned: a live upload writes a part every few seconds,
// however long it runs. Uploads this process is running are never touched.

// UploadSet is the set of multipart upload IDs a gateway has created and not
// yet completed or aborted. Every backend of one gateway shares one
// (Options.Uploads): under FTP2S3_AUTH=s3 each user's uploads go through a
// Backend of their own, while the sweep runs once for the gateway.
type UploadSet struct {
	mu  sync.Mutex
	ids map[string]struct{}
}

// NewUploadSet returns an empty set.
func NewUploadSet() *UploadSet { return &UploadSet{ids: map[string]struct{}{}} }

func (s *UploadSet) add(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ids[id] = struct{}{}
}

func (s *UploadSet) remove(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.ids, id)
}

func (s *UploadSet) has(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.ids[id]
	return ok
}

// track keeps the set current from the requests themselves, so every code
// path that creates a multipart upload (streamed uploads, APPE, multipart
// copies) is covered without each having to remember. An upload leaves the set
// when it completes, and on any answer to its abort: after a failed abort this
// process no longer runs it, so it is the sweep's to clean up.
func (s *UploadSet) track(st *middleware.Stack) error {
	return st.Initialize.Add(middleware.InitializeMiddlewareFunc("ftp2s3TrackUploads",
		func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
			out, md, err := next.HandleInitialize(ctx, in)
			switch p := in.Parameters.(type) {
			case *s3.CreateMultipartUploadInput:
				if r, ok := out.Result.(*s3.CreateMultipartUploadOutput); ok && err == nil && r.UploadId != nil {
					s.add(*r.UploadId)
				}
			case *s3.CompleteMultipartUploadInput:
				if err == nil {
					s.remove(aws.ToString(p.UploadId))
				}
			case *s3.AbortMultipartUploadInput:
				s.remove(aws.ToString(p.UploadId))
			}
			return out, md, err
		}), middleware.After)
}

// AbortAbandoned aborts the multipart uploads under bucket/prefix that have
// been idle for more than age (lastActive) and that this gateway is not
// running, logging each. It returns how many it aborted.
func (b *Backend) AbortAbandoned(ctx context.Context, bucket, prefix string, age time.Duration) (int, error) {
	return b.abortAbandoned(ctx, bucket, prefix, age, nil)
}

// idleRounds carries what one sweep round saw to the next: the uploads found
// idle, with their last activity. The periodic sweep aborts an upload only
// when two rounds in a row found it idle with no part written in between, so
// a live upload whose parts are late for a moment (a slow client, S3 or
// gateway) is not taken on one look.
type idleRounds struct {
	prev, cur map[string]time.Time // upload ID → last activity
}

func (b *Backend) abortAbandoned(ctx context.Context, bucket, prefix string, age time.Duration, rounds *idleRounds) (int, error) {
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
			if !started.Before(cutoff) || b.opts.Uploads.has(id) {
				continue
			}
			active, err := b.lastActive(ctx, bucket, key, id, started)
			if err != nil {
				if !isNotFound(err) { // completed or aborted meanwhile: nothing to do
					b.opts.Logger.Warn("abandoned multipart uploads: cannot list the parts of an upload", "bucket", bucket,
						"key", key, "upload_id", id, "err", err)
				}
				continue
			}
			if !active.Before(cutoff) {
				b.opts.Logger.Debug("abandoned multipart uploads: upload still active, kept", "bucket", bucket, "key", key,
					"upload_id", id, "initiated", started, "last_part", active)
				continue
			}
			if rounds != nil {
				rounds.cur[id] = active
				if seen, ok := rounds.prev[id]; !ok || !seen.Equal(active) {
					b.opts.Logger.Debug("abandoned multipart uploads: upload idle, aborted if still idle at the next sweep",
						"bucket", bucket, "key", key, "upload_id", id, "initiated", started, "last_part", active)
					continue
				}
			}
			_, err = b.client.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{Bucket: aws.String(bucket), Key: aws.String(key), UploadId: aws.String(id)})
			if err != nil && !isNotFound(err) {
				b.opts.Logger.Warn("aborting an abandoned multipart upload failed", "bucket", bucket, "key", key,
					"upload_id", id, "initiated", started, "err", err)
				continue
			}
			aborted++
			b.opts.Logger.Info("aborted an abandoned multipart upload", "bucket", bucket, "key", key,
				"upload_id", id, "initiated", started, "idle", time.Since(active).Round(time.Second).String())
		}
		if !aws.ToBool(page.IsTruncated) {
			return aborted, nil
		}
		next := *in
		next.KeyMarker, next.UploadIdMarker = page.NextKeyMarker, page.NextUploadIdMarker
		in = &next
	}
}

// lastActive returns when the upload last showed life: the newest of its
// parts' LastModified, or started when it has none. Every page is read (up to
// 10,000 parts, 1,000 a page): parts may be written in any order, so the
// newest may be on any page.
func (b *Backend) lastActive(ctx context.Context, bucket, key, id string, started time.Time) (time.Time, error) {
	last := started
	in := &s3.ListPartsInput{Bucket: aws.String(bucket), Key: aws.String(key), UploadId: aws.String(id)}
	for {
		page, err := b.client.ListParts(ctx, in)
		if err != nil {
			return last, mapErr("list parts", bucket, key, err)
		}
		for _, p := range page.Parts {
			if t := aws.ToTime(p.LastModified); t.After(last) {
				last = t
			}
		}
		if !aws.ToBool(page.IsTruncated) || page.NextPartNumberMarker == nil {
			return last, nil
		}
		next := *in
		next.PartNumberMarker = page.NextPartNumberMarker
		in = &next
	}
}

// Place is one bucket, or the part of it under Prefix, that the gateway serves.
type Place struct {
	Bucket, Prefix string // Prefix "" or ending in "/"
}

// SweepAbandoned runs AbortAbandoned over the places places returns now and
// then every interval, until ctx is done, aborting an upload only once two
// rounds in a row found it idle (idleRounds). Failures are logged and retried
// at the next round; each round ends with a debug line per place.
func (b *Backend) SweepAbandoned(ctx context.Context, places func(context.Context) ([]Place, error), age, interval time.Duration) {
	rounds := &idleRounds{prev: map[string]time.Time{}}
	for {
		rounds.cur = map[string]time.Time{}
		b.sweepOnce(ctx, places, age, rounds)
		rounds.prev = rounds.cur
		select {
		case <-ctx.Done():
			return
		case <-time.After(interval):
		}
	}
}

func (b *Backend) sweepOnce(ctx context.Context, places func(context.Context) ([]Place, error), age time.Duration, rounds *idleRounds) {
	ps, err := places(ctx)
	if err != nil {
		b.opts.Logger.Warn("abandoned multipart uploads: cannot tell which buckets to sweep", "err", err)
	}
	for _, p := range ps {
		if ctx.Err() != nil {
			return
		}
		n, err := b.abortAbandoned(ctx, p.Bucket, p.Prefix, age, rounds)
		if err != nil {
			b.opts.Logger.Warn("abandoned multipart uploads: sweep failed", "bucket", p.Bucket, "prefix", p.Prefix, "err", err)
			continue
		}
		b.opts.Logger.Debug("abandoned multipart uploads: swept", "bucket", p.Bucket, "prefix", p.Prefix, "aborted", n)
	}
}
