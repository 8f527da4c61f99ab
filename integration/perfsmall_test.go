package integration

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"hash/crc32"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/ftp2s3/ftp2s3/gateway"
	"github.com/ftp2s3/ftp2s3/storage"
)

// Issue 24 §1: small uploads go out as a PUT the gateway signs and sends
// itself (storage/presignput.go) instead of the SDK's PutObject. Through it, an
// object holds what PutObject stored: the bytes, the CRC32 S3 verified, the
// SHA-256 metadata, S3's own ETag (the MD5 of a single PUT), for names that
// need escaping too; each STOR is one PutObject and the gateway's own answers
// (SIZE, MLST, RETR) agree with S3.
func TestPerfsmallOwnPutStoresWhatPutObjectStores(t *testing.T) {
	t.Parallel()
	g, ft := startStoreGateway(t, longTTL)
	c := g.dial(userRW)
	if err := c.MakeDir("/d ir"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.List("/"); err != nil { // the root's listing cached: one request per STOR
		t.Fatal(err)
	}
	for i, name := range []string{"plain.txt", "d ir/with space+plus (1)!*'.txt", "d ir/ünïcødé & 100%.bin", "d ir/a=b;c,d@e$f.txt"} {
		body := bytes.Repeat([]byte{byte('a' + i)}, 4096+i*777)
		got := requestsDuring(t, ft, func() error { return c.Stor("/"+name, bytes.NewReader(body)) })
		if got != "PutObject×1" {
			t.Errorf("STOR %s sent %q, want PutObject×1", name, got)
		}
		sum := sha256.Sum256(body)
		g.mustHold(name, hex.EncodeToString(sum[:]), int64(len(body)))
		h, err := g.S3.HeadObject(context.Background(), &s3.HeadObjectInput{Bucket: aws.String(g.Bucket), Key: aws.String(name),
			ChecksumMode: types.ChecksumModeEnabled})
		if err != nil {
			t.Fatalf("HEAD %s: %v", name, err)
		}
		var crc [4]byte
		binary.BigEndian.PutUint32(crc[:], crc32.ChecksumIEEE(body))
		if want := base64.StdEncoding.EncodeToString(crc[:]); aws.ToString(h.ChecksumCRC32) != want {
			t.Errorf("%s: CRC32 %q stored, want %q", name, aws.ToString(h.ChecksumCRC32), want)
		}
		if h.Metadata[storage.MetaSHA256] != hex.EncodeToString(sum[:]) {
			t.Errorf("%s: SHA-256 metadata %q, want %x", name, h.Metadata[storage.MetaSHA256], sum)
		}
		md := md5.Sum(body)
		if etag := strings.Trim(aws.ToString(h.ETag), `"`); etag != hex.EncodeToString(md[:]) {
			t.Errorf("%s: ETag %s, want the MD5 of the body %x", name, etag, md)
		}
		if n, err := c.FileSize("/" + name); err != nil || n != int64(len(body)) {
			t.Errorf("SIZE %s: %d, %v; want %d", name, n, err, len(body))
		}
		mustRetr(t, c, "/"+name, string(body))
	}
}

// A small upload S3 keeps failing is retried within FTP2S3_S3_RETRY_FOR, then
// answered with an error, never 226, and leaves no object; once S3 answers
// again the same STOR stores the file.
func TestPerfsmallOwnPutFailureLeavesNoObject(t *testing.T) {
	t.Parallel()
	g, ft := startStoreGateway(t, longTTL, func(c *gateway.Config) { c.S3RetryFor = 700 * time.Millisecond })
	c := g.dial(userRW)
	ft.failWhen(func(op string, _ *http.Request) bool { return op == "PutObject" })
	body := bytes.Repeat([]byte("x"), 4096)
	before := ft.count("PutObject")
	err := c.Stor("/failing.txt", bytes.NewReader(body))
	if err == nil {
		t.Fatal("STOR answered success while S3 refused every PUT")
	}
	if n := ft.count("PutObject") - before; n < 2 {
		t.Errorf("%d PUT attempts, want the failed PUT retried", n)
	}
	g.mustNotExist("failing.txt")
	if _, err := c.FileSize("/failing.txt"); err == nil {
		t.Error("SIZE of the failed upload succeeded: the gateway cached an object S3 never stored")
	}
	ft.failWhen(func(string, *http.Request) bool { return false })
	if err := c.Stor("/failing.txt", bytes.NewReader(body)); err != nil {
		t.Fatalf("STOR after S3 came back: %v", err)
	}
	sum := sha256.Sum256(body)
	g.mustHold("failing.txt", hex.EncodeToString(sum[:]), int64(len(body)))
}
