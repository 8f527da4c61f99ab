package storage

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// Request bodies carry a CRC32 header and are not hashed a second time with
// SHA-256 for the signature, also over plain HTTP.
func TestUploadsAreUnsignedWithCRC32(t *testing.T) {
	var mu sync.Mutex
	var sha, crc string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		sha, crc = r.Header.Get("X-Amz-Content-Sha256"), r.Header.Get("X-Amz-Checksum-Crc32")
		mu.Unlock()
		w.Header().Set("ETag", `"abc"`)
	}))
	defer srv.Close()
	client := NewStaticClient(srv.URL, "us-east-1", "key", "secret", true)
	_, err := client.PutObject(context.Background(), &s3.PutObjectInput{
		Bucket: aws.String("bucket"), Key: aws.String("key"), Body: bytes.NewReader([]byte("hello")),
		ContentLength: aws.Int64(5), ChecksumAlgorithm: types.ChecksumAlgorithmCrc32,
	})
	if err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if sha != "UNSIGNED-PAYLOAD" {
		t.Errorf("X-Amz-Content-Sha256 = %q, want UNSIGNED-PAYLOAD", sha)
	}
	if crc != "NhCmhg==" { // CRC32 of "hello"
		t.Errorf("X-Amz-Checksum-Crc32 = %q, want the body's CRC32 NhCmhg==", crc)
	}
}
