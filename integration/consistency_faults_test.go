package integration

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/ftp2s3/ftp2s3/gateway"
)

// TestConsistencyDeniedDeleteKeepsFile (issue 13 §2): when S3 refuses a
// DeleteObject (here a MinIO policy denying s3:DeleteObject to the gateway's
// own credentials), DELE answers 550 and the file stays visible in SIZE, MDTM
// and NLST: the cache does not claim a deletion S3 never made. On main the
// failed delete cached "not found" for the TTL.
func TestConsistencyDeniedDeleteKeepsFile(t *testing.T) {
	t.Parallel()
	access, secret := fmt.Sprintf("ftpnodel%d", bucketSeq.Add(1)), "ftp-no-delete-secret"
	minioAddUser(t, access, secret, []map[string]any{
		iamAllow([]string{"s3:*"}, "arn:aws:s3:::*"),
		{"Effect": "Deny", "Action": []string{"s3:DeleteObject"}, "Resource": []string{"arn:aws:s3:::*"}},
	})
	g := startOpsGateway(t, minio, func(c *gateway.Config) {
		longTTL(c)
		c.S3.AccessKey, c.S3.SecretKey = access, secret
	}, nil)
	g.putObject("keep.txt", "12345")
	c := g.dial(userRW)
	if n, err := c.FileSize("keep.txt"); err != nil || n != 5 {
		t.Fatalf("SIZE before DELE: %d, %v", n, err)
	}
	if err := c.Delete("keep.txt"); ftpCode(err) != 550 {
		t.Fatalf("DELE denied by policy: %v, want 550", err)
	}
	if n, err := c.FileSize("keep.txt"); err != nil || n != 5 {
		t.Fatalf("SIZE after a refused DELE: %d, %v; want 5 (the file still exists)", n, err)
	}
	if _, err := c.GetTime("keep.txt"); err != nil {
		t.Fatalf("MDTM after a refused DELE: %v", err)
	}
	if names, err := c.NameList("/"); err != nil || !slices.Contains(names, "keep.txt") {
		t.Fatalf("NLST after a refused DELE: %v, %v; want keep.txt", names, err)
	}
	if _, _, err := g.object("keep.txt"); err != nil {
		t.Fatalf("the object is gone from MinIO: %v", err)
	}
}

// overwriteAfterCopy writes a new version of key straight to MinIO as soon
// as the gateway's CopyObject of that key has been answered: the moment
// between a rename's copy and its delete.
type overwriteAfterCopy struct {
	base   http.RoundTripper
	direct *s3.Client
	bucket string
	key    string
	body   string
	done   atomic.Bool
}

func (o *overwriteAfterCopy) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := o.base.RoundTrip(r)
	src := r.Header.Get("X-Amz-Copy-Source")
	if err == nil && s3Op(r) == "CopyObject" && strings.HasSuffix(src, "/"+o.key) && o.done.CompareAndSwap(false, true) {
		_, perr := o.direct.PutObject(r.Context(), &s3.PutObjectInput{Bucket: aws.String(o.bucket), Key: aws.String(o.key), Body: strings.NewReader(o.body)})
		if perr != nil {
			return nil, fmt.Errorf("test: overwrite the source: %w", perr)
		}
	}
	return resp, err
}

// overwriteGateway starts a gateway with a one-hour cache whose S3 requests
// go through an overwriteAfterCopy of key with body.
func overwriteGateway(t *testing.T, key, body string) (*opsGateway, *overwriteAfterCopy) {
	t.Helper()
	ow := &overwriteAfterCopy{base: http.DefaultTransport, direct: minio.Client(), key: key, body: body}
	g := startOpsGateway(t, minio, func(c *gateway.Config) {
		longTTL(c)
		c.S3.HTTPClient = &http.Client{Transport: ow}
	}, nil)
	ow.bucket = g.Bucket
	return g, ow
}

// TestConsistencyRenameKeepsNewerSource (issue 13 §2): a client overwrites a
// file between a rename's copy and its delete. The rename moves the version it
// copied and leaves the newer upload at the old name, with a warning; on main
// the delete took the newer upload with it.
func TestConsistencyRenameKeepsNewerSource(t *testing.T) {
	t.Parallel()
	g, ow := overwriteGateway(t, "src.txt", "the newer upload")
	c := g.dial(userRW)
	if err := c.Stor("src.txt", strings.NewReader("the renamed file")); err != nil {
		t.Fatal(err)
	}
	if err := c.Rename("src.txt", "dst.txt"); err != nil {
		t.Fatalf("RNTO: %v", err)
	}
	if !ow.done.Load() {
		t.Fatal("the test never overwrote the source: no CopyObject seen")
	}
	want := func(key, body string) {
		t.Helper()
		sum, n, err := g.object(key)
		if wsum, _ := sha256Of(strings.NewReader(body)); err != nil || sum != wsum {
			t.Fatalf("%s: %d bytes, %v; want %q", key, n, err, body)
		}
	}
	want("dst.txt", "the renamed file")
	want("src.txt", "the newer upload")
	if !strings.Contains(g.Logs.String(), "the original changed after it was copied") {
		t.Fatal("no warning logged about the source left in place")
	}
	if n, err := c.FileSize("src.txt"); err != nil || n != int64(len("the newer upload")) {
		t.Fatalf("SIZE src.txt after the rename: %d, %v", n, err)
	}
}

// TestConsistencyRenameDirKeepsNewerSource: the same race inside a directory
// rename.
func TestConsistencyRenameDirKeepsNewerSource(t *testing.T) {
	t.Parallel()
	g, ow := overwriteGateway(t, "d/b.txt", "newer b")
	g.putObject("d/a.txt", "a")
	g.putObject("d/b.txt", "old b")
	c := g.dial(userRW)
	if err := c.Rename("d", "e"); err != nil {
		t.Fatalf("RNTO of a directory: %v", err)
	}
	if !ow.done.Load() {
		t.Fatal("the test never overwrote d/b.txt")
	}
	if got := strings.Join(g.keys(""), ","); got != "d/b.txt,e/a.txt,e/b.txt" {
		t.Fatalf("keys after the rename: %s; want d/b.txt (the newer upload) kept", got)
	}
	wantSum, _ := sha256Of(strings.NewReader("newer b"))
	if sum, _, err := g.object("d/b.txt"); err != nil || sum != wantSum {
		t.Fatalf("d/b.txt is not the newer upload (%v)", err)
	}
}
