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
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/ftp2s3/ftp2s3/gateway"
)

// Issue 24: a large upload's parts go out as PUTs the gateway signs and
// writes itself, straight from the part buffer, with the CRC32 it computed
// while reading the part (storage/presignpart.go), instead of the SDK's
// UploadPart. Against MinIO the object must be what UploadPart stored: the
// bytes, S3's multipart ETag (the MD5 of the parts' MD5s), the CRC32 of every
// part verified and combined by S3; each part one UploadPart in the metrics.
func TestPerfupOwnPartsStoreWhatUploadPartStores(t *testing.T) {
	t.Parallel()
	g := startOpsGateway(t, minio, smallParts, nil) // the gateway's own HTTP client: parts written from their buffers
	var body bytes.Buffer
	if _, err := io.Copy(&body, newPattern(2*smallPart+smallPart/2+777, 24)); err != nil {
		t.Fatal(err)
	}
	data := body.Bytes()
	before := scrape(t, g)
	c := g.dial(userRW)
	if err := c.Stor("/big name+1.bin", bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(data)
	g.mustHold("big name+1.bin", hex.EncodeToString(sum[:]), int64(len(data)))

	var md5s, crcs []byte
	parts := 0
	for off := 0; off < len(data); off += smallPart {
		part := data[off:min(off+smallPart, len(data))]
		m := md5.Sum(part)
		md5s = append(md5s, m[:]...)
		crcs = binary.BigEndian.AppendUint32(crcs, crc32.ChecksumIEEE(part))
		parts++
	}
	h, err := g.S3.HeadObject(context.Background(), &s3.HeadObjectInput{Bucket: aws.String(g.Bucket), Key: aws.String("big name+1.bin"),
		ChecksumMode: types.ChecksumModeEnabled})
	if err != nil {
		t.Fatal(err)
	}
	whole := md5.Sum(md5s)
	if etag, want := strings.Trim(aws.ToString(h.ETag), `"`), hex.EncodeToString(whole[:])+"-3"; etag != want {
		t.Errorf("ETag %s, want %s (the MD5 of the three parts' MD5s)", etag, want)
	}
	var composite [4]byte
	binary.BigEndian.PutUint32(composite[:], crc32.ChecksumIEEE(crcs))
	if got, want := aws.ToString(h.ChecksumCRC32), base64.StdEncoding.EncodeToString(composite[:]); strings.TrimSuffix(got, "-3") != want {
		t.Errorf("CRC32 %q stored, want %s-3 (the CRC32 of the parts' CRC32s)", got, want)
	}

	after := scrape(t, g)
	for series, want := range map[string]float64{
		`ftp2s3_s3_requests_total{operation="CreateMultipartUpload",result="ok"}`:   1,
		`ftp2s3_s3_requests_total{operation="UploadPart",result="ok"}`:              float64(parts),
		`ftp2s3_s3_request_duration_seconds_count{operation="UploadPart"}`:          float64(parts),
		`ftp2s3_s3_requests_total{operation="CompleteMultipartUpload",result="ok"}`: 1,
		`ftp2s3_s3_requests_total{operation="PutObject",result="ok"}`:               0,
	} {
		if d := after[series] - before[series]; d != want {
			t.Errorf("%s moved by %v, want %v", series, d, want)
		}
	}
	mustRetr(t, c, "/big name+1.bin", string(data))
}

// partFault answers the UploadPart requests of part 2 with status (and S3's
// error code), and passes every other request to MinIO; it counts them.
type partFault struct {
	base   http.RoundTripper
	status int
	code   string
	sent   atomic.Int64
}

func (f *partFault) RoundTrip(r *http.Request) (*http.Response, error) {
	if s3Op(r) != "UploadPart" || r.URL.Query().Get("partNumber") != "2" {
		return f.base.RoundTrip(r)
	}
	f.sent.Add(1)
	if r.Body != nil {
		_, _ = io.Copy(io.Discard, r.Body)
		r.Body.Close()
	}
	body := `<?xml version="1.0" encoding="UTF-8"?><Error><Code>` + f.code + `</Code><Message>injected</Message></Error>`
	return &http.Response{StatusCode: f.status, Status: http.StatusText(f.status), Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: http.Header{"Content-Type": {"application/xml"}}, Body: io.NopCloser(strings.NewReader(body)),
		ContentLength: int64(len(body)), Request: r}, nil
}

// A part S3 refuses is not sent again and the client hears 550; a part S3
// keeps failing is retried within FTP2S3_S3_RETRY_FOR and the client hears
// 451. Either way no object and no multipart upload is left, the old object
// stays, and every attempt is one UploadPart in the metrics, labelled by
// S3's answer.
func TestPerfupFailedPartLeavesNothing(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, code string
		status     int
		result     string // the metrics' label of a failed attempt
		reply      int
		attempts   func(int64) bool // of part 2, over both uploads
	}{
		{"refused", "InvalidArgument", http.StatusBadRequest, "client_error", 550, func(n int64) bool { return n == 2 }},
		{"failing", "InternalError", http.StatusInternalServerError, "server_error", 451, func(n int64) bool { return n >= 4 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			fault := &partFault{base: http.DefaultTransport.(*http.Transport).Clone(), status: tc.status, code: tc.code}
			g := startOpsGateway(t, minio, func(c *gateway.Config) {
				smallParts(c)
				c.S3RetryFor = time.Second
				c.S3.HTTPClient = &http.Client{Transport: fault}
			}, nil)
			oldSum, oldSize := withOld(g.testGateway, "f.bin")
			before := scrape(t, g)
			for _, key := range []string{"f.bin", "never-f.bin"} {
				u := g.startUpload(key, bigUpload, 7)
				<-u.done
				u.data.Close()
				if code, msg := u.ctl.read(); code != tc.reply {
					t.Fatalf("STOR %s with part 2 answered %d: got %d %s, want %d", key, tc.status, code, msg, tc.reply)
				}
			}
			g.intact("f.bin", oldSum, oldSize)
			if n := fault.sent.Load(); !tc.attempts(n) {
				t.Errorf("part 2 sent %d times for two uploads", n)
			}
			// Parts in flight when part 2 failed count as canceled; each
			// attempt of part 2 counts once, by what S3 answered.
			series := `ftp2s3_s3_requests_total{operation="UploadPart",result="` + tc.result + `"}`
			if d := scrape(t, g)[series] - before[series]; d != float64(fault.sent.Load()) {
				t.Errorf("%s moved by %v; %d attempts of part 2 were sent", series, d, fault.sent.Load())
			}
		})
	}
}

// An upload longer than the small-file buffer but shorter than a part is one
// PutObject, given the CRC32 the gateway computed while reading it: S3 checks
// it and keeps it.
func TestPerfupSinglePutCarriesTheReadCRC(t *testing.T) {
	t.Parallel()
	g, ft := startStoreGateway(t, smallParts)
	var body bytes.Buffer
	if _, err := io.Copy(&body, newPattern(3<<20+5, 9)); err != nil {
		t.Fatal(err)
	}
	data := body.Bytes()
	c := g.dial(userRW)
	before := ft.count("PutObject")
	if err := c.Stor("/mid.bin", bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	if n := ft.count("PutObject") - before; n != 1 || ft.count("CreateMultipartUpload") != 0 {
		t.Fatalf("%d PutObject, %d CreateMultipartUpload; want one PutObject", n, ft.count("CreateMultipartUpload"))
	}
	sum := sha256.Sum256(data)
	g.mustHold("mid.bin", hex.EncodeToString(sum[:]), int64(len(data)))
	h, err := g.S3.HeadObject(context.Background(), &s3.HeadObjectInput{Bucket: aws.String(g.Bucket), Key: aws.String("mid.bin"),
		ChecksumMode: types.ChecksumModeEnabled})
	if err != nil {
		t.Fatal(err)
	}
	var crc [4]byte
	binary.BigEndian.PutUint32(crc[:], crc32.ChecksumIEEE(data))
	if got, want := aws.ToString(h.ChecksumCRC32), base64.StdEncoding.EncodeToString(crc[:]); got != want {
		t.Errorf("CRC32 %q stored, want %q", got, want)
	}
}
