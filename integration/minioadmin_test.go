package integration

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/ftp2s3/ftp2s3/integration/miniotest"
)

// The MinIO admin API (what `mc admin user add` and `mc admin policy` use),
// spoken directly: `mc` is not available here and madmin-go is not a dependency.
// Requests are SigV4-signed with the root credentials (service "s3"); the body of
// add-user is encrypted with the root secret as madmin.EncryptData does in its
// PBKDF2 + AES-256-GCM variant (which MinIO always accepts):
//
//	salt(32) | 0x02 | nonce(8) | sio stream of the JSON
//
// where the sio stream of a body under 16 KiB is one final fragment sealed with
// nonce|LE32(1) and associated data 0x80|tag, tag being the seal of nothing with
// nonce|LE32(0).

// minioAdmin sends one signed admin request. Right after start-up MinIO answers
// 503 XMinioServerNotInitialized until its IAM subsystem is loaded: that is
// retried for up to 30 seconds.
func minioAdmin(t *testing.T, method, path string, query url.Values, body []byte) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		status, msg := minioAdminOnce(t, method, path, query, body)
		if status == http.StatusOK {
			return
		}
		if status != http.StatusServiceUnavailable || time.Now().After(deadline) {
			t.Fatalf("MinIO admin %s %s: HTTP %d\n%s", method, path, status, msg)
		}
		time.Sleep(200 * time.Millisecond) // retry pace while MinIO reports 503; bounded by the deadline above
	}
}

func minioAdminOnce(t *testing.T, method, path string, query url.Values, body []byte) (int, []byte) {
	t.Helper()
	u := minio.Endpoint + "/minio/admin/v3/" + path + "?" + query.Encode()
	req, err := http.NewRequest(method, u, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(body)
	payload := hex.EncodeToString(sum[:])
	req.Header.Set("X-Amz-Content-Sha256", payload)
	creds := aws.Credentials{AccessKeyID: miniotest.AccessKey, SecretAccessKey: miniotest.SecretKey}
	if err := v4.NewSigner().SignHTTP(context.Background(), creds, req, payload, "s3", "us-east-1", time.Now()); err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, msg
}

// madminEncrypt encrypts data for the admin API with password (the root secret).
func madminEncrypt(t *testing.T, password string, data []byte) []byte {
	t.Helper()
	if len(data) >= 1<<14 {
		t.Fatal("madminEncrypt handles bodies of one sio fragment only")
	}
	salt := make([]byte, 32)
	nonce := make([]byte, 8)
	_, _ = rand.Read(salt)
	_, _ = rand.Read(nonce)
	key, err := pbkdf2.Key(sha256.New, password, salt, 8192, 32)
	if err != nil {
		t.Fatal(err)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		t.Fatal(err)
	}
	gcm, err := cipher.NewGCM(block)
	if err != nil {
		t.Fatal(err)
	}
	seq := func(n uint32) []byte {
		full := make([]byte, 12)
		copy(full, nonce)
		binary.LittleEndian.PutUint32(full[8:], n)
		return full
	}
	ad := append([]byte{0x80}, gcm.Seal(nil, seq(0), nil, nil)...)
	out := append(append(append([]byte{}, salt...), 0x02), nonce...)
	return gcm.Seal(out, seq(1), data, ad)
}

// minioAddUser creates a MinIO user with an inline policy of its own.
func minioAddUser(t *testing.T, accessKey, secretKey string, statements []map[string]any) {
	t.Helper()
	policyName := "ftp2s3-test-" + accessKey
	doc, _ := json.Marshal(map[string]any{"Version": "2012-10-17", "Statement": statements})
	minioAdmin(t, http.MethodPut, "add-canned-policy", url.Values{"name": {policyName}}, doc)
	user, _ := json.Marshal(map[string]string{"secretKey": secretKey, "status": "enabled"})
	minioAdmin(t, http.MethodPut, "add-user", url.Values{"accessKey": {accessKey}}, madminEncrypt(t, miniotest.SecretKey, user))
	minioAdmin(t, http.MethodPut, "set-user-or-group-policy",
		url.Values{"policyName": {policyName}, "userOrGroup": {accessKey}, "isGroup": {"false"}}, nil)
}

// allow is one IAM statement.
func iamAllow(actions []string, resources ...string) map[string]any {
	return map[string]any{"Effect": "Allow", "Action": actions, "Resource": resources}
}

func iamBucketARN(b string) string { return fmt.Sprintf("arn:aws:s3:::%s", b) }
