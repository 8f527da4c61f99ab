package storage

import (
	"context"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// CreateBucket makes bucket unless it exists already, and reports whether it
// made it. A bucket these credentials already own is not an error; one that
// belongs to somebody else is. Outside us-east-1, AWS wants the region named as
// the location constraint; MinIO accepts it too.
func (b *Backend) CreateBucket(ctx context.Context, bucket string) (created bool, err error) {
	if _, err := b.client.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String(bucket)}); err == nil {
		return false, nil
	} else if !isNotFound(err) {
		return false, mapErr("HeadBucket", bucket, "", err)
	}
	in := &s3.CreateBucketInput{Bucket: aws.String(bucket)}
	if region := b.client.Options().Region; region != "" && region != "us-east-1" {
		in.CreateBucketConfiguration = &types.CreateBucketConfiguration{
			LocationConstraint: types.BucketLocationConstraint(region),
		}
	}
	_, err = b.client.CreateBucket(ctx, in)
	var owned *types.BucketAlreadyOwnedByYou
	switch {
	case err == nil:
		b.cache.bucketsChanged()
		b.cache.changedTree(bucket, "")
		return true, nil
	case errors.As(err, &owned) || hasErrorCode(err, "BucketAlreadyOwnedByYou"):
		// Another replica made it between our HeadBucket and CreateBucket.
		return false, nil
	default:
		return false, fmt.Errorf("create bucket %s: %w", bucket, mapErr("CreateBucket", bucket, "", err))
	}
}
