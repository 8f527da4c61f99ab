package storage

import (
	"context"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// What an upload leaves behind, and the check that may still refuse it once S3
// has it (FTP2S3_UPLOAD_CHECK_URL, docs/events.md). The check runs inside the
// upload's own-write window of the metadata cache (ownwrite.go): the cache
// learns of the object only once the check kept it, so a rejected object is
// never listed by the gateway.

// CheckTag is the object tag that tells downstream readers whether an upload
// check has approved the object: CheckPending while it waits, CheckPassed after.
const (
	CheckTag     = "ftp2s3-check"
	CheckPending = "pending"
	CheckPassed  = "passed"
)

// CheckVerdict is what PutOptions.Check decided about a committed object.
type CheckVerdict int

const (
	// CheckKeep: approved; the object is tagged CheckTag=CheckPassed.
	CheckKeep CheckVerdict = iota
	// CheckKeepUnverified: kept without a verdict (the checker failed and the
	// policy accepts); its tags stay as written.
	CheckKeepUnverified
	// CheckRemove: the version written is deleted and Put returns the check's
	// error.
	CheckRemove
)

// PutReport says what became of an upload, for the events that announce it;
// each field records what S3 answered, not what was intended.
type PutReport struct {
	// Multipart: a multipart upload was created for it.
	Multipart bool
	// MultipartAborted: S3 confirmed that multipart upload's abort (or had no
	// such upload any more).
	MultipartAborted bool
	// CommitSent: a request that makes the object visible (PutObject,
	// CompleteMultipartUpload) was sent. Without one, no object was written.
	CommitSent bool
	// Committed: S3 confirmed the object; ETag is its version.
	Committed bool
	ETag      string
	// Removed: the upload check refused the object and its version is gone.
	Removed bool
}

// ObjectLeft tells whether the upload left an object behind: known is false
// when a commit was sent and its answer lost.
func (r *PutReport) ObjectLeft() (left, known bool) {
	switch {
	case !r.CommitSent:
		return false, true
	case r.Committed:
		return !r.Removed, true
	}
	return false, false
}

// checkCommitted runs opts.Check on the object e just committed as
// bucket/key and applies its verdict. It runs on a context of its own: the
// object exists whatever the client does now, and leaving it unchecked would
// leave it pending for good; the checker bounds its own wait.
func (b *Backend) checkCommitted(ctx context.Context, bucket, key string, e Entry, opts PutOptions) (Entry, error) {
	if opts.Check == nil {
		return e, nil
	}
	ctx = context.WithoutCancel(ctx)
	getURL, err := b.presignGet(ctx, bucket, key, opts.CheckURLTTL)
	if err != nil {
		b.opts.Logger.Warn("upload check: presigning the object's URL failed; the checker gets none",
			"bucket", bucket, "key", key, "err", err)
	}
	verdict, cerr := opts.Check(ctx, e, getURL)
	switch verdict {
	case CheckKeep:
		if err := b.tagPassed(ctx, bucket, key); err != nil {
			b.opts.Logger.Warn("upload check passed but tagging the object failed; it stays tagged pending",
				"bucket", bucket, "key", key, "err", err)
		}
		return e, nil
	case CheckKeepUnverified:
		return e, nil
	}
	if err := b.deleteVersion(ctx, bucket, key, e.ETag); err != nil {
		b.opts.Logger.Error("upload check refused the object but deleting it failed; it stays, tagged pending",
			"bucket", bucket, "key", key, "etag", e.ETag, "err", err)
	} else if opts.Report != nil {
		opts.Report.Removed = true
	}
	return Entry{}, cerr
}

// presignGet signs a GET of bucket/key valid for ttl (at least a second, at
// most S3's 7 days). It is a plain URL: pinning the version with If-Match
// would make the header part of the signature, which every checker would then
// have to send; a checker compares the response's ETag with the event's
// instead (docs/events.md).
func (b *Backend) presignGet(ctx context.Context, bucket, key string, ttl time.Duration) (string, error) {
	if b.checkPresign == nil {
		return "", fmt.Errorf("no S3 client to sign with")
	}
	ttl = min(max(ttl, time.Second), 7*24*time.Hour)
	in := &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)}
	req, err := b.checkPresign.PresignGetObject(ctx, in, s3.WithPresignExpires(ttl))
	if err != nil {
		return "", fmt.Errorf("presign GET %s/%s: %w", bucket, key, err)
	}
	return req.URL, nil
}

// tagPassed replaces the object's tags with CheckTag=CheckPassed: a tagging
// request, not a copy, so the object and its ETag stay as they are.
func (b *Backend) tagPassed(ctx context.Context, bucket, key string) error {
	ctx, cancel := context.WithTimeout(ctx, abortTimeout)
	defer cancel()
	return b.retrySDK(ctx, "PutObjectTagging "+bucket+"/"+key, func() error {
		_, err := b.client.PutObjectTagging(ctx, &s3.PutObjectTaggingInput{
			Bucket:  aws.String(bucket),
			Key:     aws.String(key),
			Tagging: &types.Tagging{TagSet: []types.Tag{{Key: aws.String(CheckTag), Value: aws.String(CheckPassed)}}},
		}, oneAttempt)
		return err
	})
}

// deleteVersion deletes bucket/key only while it is still the version etag
// (unquoted) that the gateway wrote: a client that overwrote it meanwhile
// keeps its file. As in deleteCopied, the DELETE carries If-Match, which S3
// honours and the pinned MinIO ignores, so a HEAD with If-Match goes first and
// only the gap between the two requests is left open. A version already
// replaced or gone counts as removed.
func (b *Backend) deleteVersion(ctx context.Context, bucket, key, etag string) error {
	ctx, cancel := context.WithTimeout(ctx, abortTimeout)
	defer cancel()
	defer b.cache.changed(bucket, key, nil)
	match := aws.String(`"` + etag + `"`)
	_, err := b.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), IfMatch: match})
	if err == nil {
		_, err = b.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), IfMatch: match})
	}
	switch {
	case err == nil:
		return nil
	case isPreconditionFailed(err):
		b.opts.Logger.Warn("upload check: the refused object was replaced before it could be deleted; the newer one stays",
			"bucket", bucket, "key", key, "refused_etag", etag)
		return nil
	case isNotFound(err):
		return nil
	}
	return mapErr("delete refused upload", bucket, key, err)
}
