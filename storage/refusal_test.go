package storage

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

func TestCheckName(t *testing.T) {
	if err := CheckName("b", strings.Repeat("k", MaxKeyLen)); err != nil {
		t.Fatalf("a key of exactly %d bytes: %v", MaxKeyLen, err)
	}
	err := CheckName("b", strings.Repeat("é", MaxKeyLen/2)+"x") // 1,025 UTF-8 bytes
	if !errors.Is(err, ErrInvalidName) || !strings.Contains(Reason(err), "1024") {
		t.Fatalf("a key of 1,025 bytes: %v (reason %q)", err, Reason(err))
	}
	if err := CheckName(strings.Repeat("b", MaxBucketLen+1), "k"); !errors.Is(err, ErrInvalidName) {
		t.Fatalf("a 64-byte bucket: %v", err)
	}
}

func TestRequestNames(t *testing.T) {
	b, k := requestNames(&s3.PutObjectInput{Bucket: aws.String("bkt"), Key: aws.String("a/b")})
	if b != "bkt" || k != "a/b" {
		t.Fatalf("PutObjectInput: %q %q", b, k)
	}
	if b, k := requestNames(&s3.ListBucketsInput{}); b != "" || k != "" {
		t.Fatalf("ListBucketsInput: %q %q", b, k)
	}
	if b, k := requestNames(nil); b != "" || k != "" {
		t.Fatalf("nil: %q %q", b, k)
	}
}

// TestClientRefusesLongKeyBeforeSending: every request through a Backend's
// client that names a key over S3's limit fails with ErrInvalidName without
// being sent: the endpoint here refuses connections, so any attempt would be a
// connection error instead.
func TestClientRefusesLongKeyBeforeSending(t *testing.T) {
	calls := 0
	b := New(NewStaticClient("http://127.0.0.1:1", "", "k", "s", true), Options{
		Observe: func(string, time.Duration, error) { calls++ }, RetryFor: 0})
	_, err := b.client.DeleteObject(context.Background(), &s3.DeleteObjectInput{Bucket: aws.String("bucket"),
		Key: aws.String(strings.Repeat("k", MaxKeyLen+1))})
	if !errors.Is(err, ErrInvalidName) || Reason(err) == "" {
		t.Fatalf("DeleteObject of a 1,025-byte key: %v", err)
	}
	if calls != 0 {
		t.Fatalf("%d S3 requests observed, want none", calls)
	}
}
