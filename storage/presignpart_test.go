package storage

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"hash/crc32"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"testing/iotest"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// readPart reads what io.ReadFull reads, with the same count and error, and
// the CRC32 of those bytes, whatever sizes the reads come in.
func TestReadPartIsReadFullWithCRC(t *testing.T) {
	data := make([]byte, 100_000)
	for i := range data {
		data[i] = byte(i * 7)
	}
	broken := errors.New("broken")
	for _, tc := range []struct {
		name string
		r    func() io.Reader
		size int
	}{
		{"exact", func() io.Reader { return bytes.NewReader(data) }, len(data)},
		{"longer stream", func() io.Reader { return bytes.NewReader(data) }, 4096},
		{"short stream", func() io.Reader { return bytes.NewReader(data) }, len(data) + 1},
		{"empty stream", func() io.Reader { return bytes.NewReader(nil) }, 10},
		{"one byte at a time", func() io.Reader { return iotest.OneByteReader(bytes.NewReader(data[:3000])) }, 2000},
		{"half reads, short", func() io.Reader { return iotest.HalfReader(bytes.NewReader(data)) }, len(data) + 5},
		{"data with EOF", func() io.Reader { return iotest.DataErrReader(bytes.NewReader(data[:5000])) }, 5000},
		{"error mid-way", func() io.Reader {
			return io.MultiReader(bytes.NewReader(data[:700]), iotest.ErrReader(broken))
		}, 1000},
		{"timeout then data", func() io.Reader { return iotest.TimeoutReader(bytes.NewReader(data)) }, 1000},
	} {
		t.Run(tc.name, func(t *testing.T) {
			want := make([]byte, tc.size)
			wn, werr := io.ReadFull(tc.r(), want)
			got := make([]byte, tc.size)
			n, crc, err := readPart(tc.r(), got)
			if n != wn || !errors.Is(err, werr) && err != werr {
				t.Fatalf("readPart: %d, %v; io.ReadFull: %d, %v", n, err, wn, werr)
			}
			if !bytes.Equal(got[:n], want[:wn]) {
				t.Fatal("readPart read other bytes than io.ReadFull")
			}
			if c := crc32.ChecksumIEEE(got[:n]); crc != c {
				t.Fatalf("CRC32 %08x, want %08x", crc, c)
			}
		})
	}
}

// partServer is an S3 endpoint for multipart uploads: it records each
// request with its body and answers UploadPart with the statuses queued for
// its part number, then 200.
type partServer struct {
	mu       sync.Mutex
	reqs     []*http.Request
	body     [][]byte
	fail     map[string][]int // by part number
	complete []byte           // the CompleteMultipartUpload body
	aborted  int
}

const testUploadID = "up+id/with=chars~"

func (p *partServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	q := r.URL.Query()
	p.mu.Lock()
	defer p.mu.Unlock()
	p.reqs = append(p.reqs, r)
	p.body = append(p.body, body)
	switch {
	case r.Method == http.MethodPost && q.Has("uploads"):
		io.WriteString(w, `<InitiateMultipartUploadResult><Bucket>bucket</Bucket><Key>k</Key><UploadId>`+testUploadID+`</UploadId></InitiateMultipartUploadResult>`)
	case r.Method == http.MethodPut && q.Has("partNumber"):
		n := q.Get("partNumber")
		var status int
		if f := p.fail[n]; len(f) > 0 {
			status, p.fail[n] = f[0], f[1:]
		}
		switch status {
		case 0:
			w.Header().Set("ETag", `"etag-`+n+`"`)
			w.Header().Set("X-Amz-Checksum-Crc32", r.Header.Get("X-Amz-Checksum-Crc32"))
		case http.StatusForbidden:
			w.WriteHeader(status)
			io.WriteString(w, `<Error><Code>AccessDenied</Code><Message>no</Message></Error>`)
		case http.StatusBadRequest:
			w.WriteHeader(status)
			io.WriteString(w, `<Error><Code>InvalidArgument</Code><Message>bad part</Message></Error>`)
		default:
			w.WriteHeader(status)
			io.WriteString(w, `<Error><Code>InternalError</Code><Message>try again</Message></Error>`)
		}
	case r.Method == http.MethodPost && q.Has("uploadId"):
		p.complete = body
		io.WriteString(w, `<CompleteMultipartUploadResult><ETag>"final-3"</ETag></CompleteMultipartUploadResult>`)
	case r.Method == http.MethodDelete:
		p.aborted++
		w.WriteHeader(http.StatusNoContent)
	case r.Method == http.MethodGet && q.Has("uploadId"): // ListParts after an abort
		w.WriteHeader(http.StatusNotFound)
		io.WriteString(w, `<Error><Code>NoSuchUpload</Code><Message>gone</Message></Error>`)
	default:
		w.WriteHeader(http.StatusNotImplemented)
	}
}

// parts returns the UploadPart requests with their bodies, in the order
// they came.
func (p *partServer) parts() (reqs []*http.Request, bodies [][]byte) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for i, r := range p.reqs {
		if r.Method == http.MethodPut && r.URL.Query().Has("partNumber") {
			reqs, bodies = append(reqs, r), append(bodies, p.body[i])
		}
	}
	return reqs, bodies
}

// opCounter records the operations Options.Observe reports.
type opCounter struct {
	mu  sync.Mutex
	ops map[string]int
	// statuses counts the failed UploadPart attempts by the HTTP status S3
	// answered (0: none, a cancelled or broken request).
	statuses map[int]int
}

func (c *opCounter) observe(op string, _ time.Duration, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ops == nil {
		c.ops, c.statuses = map[string]int{}, map[int]int{}
	}
	c.ops[op]++
	if err != nil && op == "UploadPart" {
		c.statuses[HTTPStatus(err)]++
	}
}

func (c *opCounter) count(op string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.ops[op]
}

// multipartData is 11.5 MiB: two 5 MiB parts and a 1.5 MiB one.
func multipartData() []byte {
	data := make([]byte, 11<<20+1<<19)
	r := rand.New(rand.NewPCG(1, 2))
	for i := range data {
		data[i] = byte(r.Uint32())
	}
	return data
}

func newPartBackend(t *testing.T, srv *partServer, ops *opCounter) *Backend {
	hs := httptest.NewServer(srv)
	t.Cleanup(hs.Close)
	client := NewStaticClient(hs.URL, "us-east-1", "key", "secret", true)
	return New(client, Options{PartSize: MinPartSize, UploadConcurrency: 2, RetryFor: 5 * time.Second, Observe: ops.observe})
}

// A multipart upload's parts are the requests UploadPart sends: the same URL
// and query, the same x-amz-* headers (the CRC32 S3 verifies,
// UNSIGNED-PAYLOAD), every one signed, 100-continue for large parts; each is
// one UploadPart in the metrics, and CompleteMultipartUpload names every
// part with S3's ETag and its CRC32.
func TestOwnUploadPartIsUploadPartsRequest(t *testing.T) {
	srv := &partServer{}
	var ops opCounter
	b := newPartBackend(t, srv, &ops)
	if b.smallPut == nil || b.smallPut.partHTTP == nil {
		t.Fatal("a client with an HTTP client of its own gets no own part requests")
	}
	data := multipartData()
	e, err := b.Put(context.Background(), "bucket", "dir/big file+1.bin", bytes.NewReader(data), PutOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if e.ETag != "final-3" || e.Size != int64(len(data)) {
		t.Fatalf("entry %+v, want S3's ETag and the size", e)
	}
	if ops.count("CreateMultipartUpload") != 1 || ops.count("UploadPart") != 3 || ops.count("CompleteMultipartUpload") != 1 {
		t.Fatalf("observed %v, want one CreateMultipartUpload, three UploadPart, one CompleteMultipartUpload", ops.ops)
	}
	reqs, bodies := srv.parts()
	if len(reqs) != 3 {
		t.Fatalf("%d part requests, want 3", len(reqs))
	}
	var complete struct {
		Parts []struct {
			ETag          string
			PartNumber    int32
			ChecksumCRC32 string
		} `xml:"Part"`
	}
	if err := xml.Unmarshal(srv.complete, &complete); err != nil {
		t.Fatalf("CompleteMultipartUpload body %q: %v", srv.complete, err)
	}
	for _, r := range reqs {
		q := r.URL.Query()
		number := int(q.Get("partNumber")[0] - '0')
		part := data[(number-1)*MinPartSize : min(number*MinPartSize, len(data))]
		i := slices.Index(reqs, r)
		if !bytes.Equal(bodies[i], part) || r.ContentLength != int64(len(part)) {
			t.Errorf("part %d: %d bytes (Content-Length %d), want its %d", number, len(bodies[i]), r.ContentLength, len(part))
		}
		crc := crc32Base64(crc32.ChecksumIEEE(part))
		if h := amzHeaders(r); h["x-amz-checksum-crc32"] != crc || h["x-amz-content-sha256"] != "UNSIGNED-PAYLOAD" || h["x-amz-sdk-checksum-algorithm"] != "CRC32" {
			t.Errorf("part %d headers %v, want CRC32 %s and UNSIGNED-PAYLOAD", number, h, crc)
		}
		if q.Get("uploadId") != testUploadID {
			t.Errorf("part %d: upload ID %q, want %q", number, q.Get("uploadId"), testUploadID)
		}
		if want := map[bool]string{true: "100-continue", false: ""}[len(part) >= 2<<20]; r.Header.Get("Expect") != want {
			t.Errorf("part %d of %d bytes: Expect %q, want %q", number, len(part), r.Header.Get("Expect"), want)
		}
		signed := signedHeaders(r)
		for _, h := range []string{"host", "content-length", "x-amz-checksum-crc32", "x-amz-content-sha256", "x-amz-date", "x-amz-sdk-checksum-algorithm"} {
			if !slices.Contains(signed, h) {
				t.Errorf("part %d: signed headers %v lack %s", number, signed, h)
			}
		}
		if number > len(complete.Parts) || complete.Parts[number-1].PartNumber != int32(number) ||
			complete.Parts[number-1].ETag != `"etag-`+q.Get("partNumber")+`"` || complete.Parts[number-1].ChecksumCRC32 != crc {
			t.Errorf("completion names %+v, want part %d with ETag etag-%d and CRC32 %s", complete.Parts, number, number, crc)
		}
	}

	// The SDK's UploadPart of the first part, for comparison.
	first := data[:MinPartSize]
	_, err = b.base.UploadPart(context.Background(), &s3.UploadPartInput{Bucket: aws.String("bucket"), Key: aws.String("dir/big file+1.bin"),
		UploadId: aws.String(testUploadID), PartNumber: aws.Int32(1), Body: bytes.NewReader(first),
		ContentLength: aws.Int64(int64(len(first))), ChecksumAlgorithm: types.ChecksumAlgorithmCrc32})
	if err != nil {
		t.Fatal(err)
	}
	reqs, _ = srv.parts()
	sdk := reqs[len(reqs)-1]
	var own *http.Request
	for _, r := range reqs[:3] {
		if r.URL.Query().Get("partNumber") == "1" {
			own = r
		}
	}
	if own.URL.EscapedPath() != sdk.URL.EscapedPath() || own.URL.RawQuery != sdk.URL.RawQuery || own.Host != sdk.Host {
		t.Fatalf("own request %s?%s (Host %s), UploadPart's %s?%s (Host %s)", own.URL.EscapedPath(), own.URL.RawQuery, own.Host,
			sdk.URL.EscapedPath(), sdk.URL.RawQuery, sdk.Host)
	}
	oh, sh := amzHeaders(own), amzHeaders(sdk)
	for k, v := range sh {
		if oh[k] != v {
			t.Errorf("header %s: own %q, UploadPart %q", k, oh[k], v)
		}
	}
	if own.Header.Get("Expect") != sdk.Header.Get("Expect") {
		t.Errorf("Expect: own %q, UploadPart %q", own.Header.Get("Expect"), sdk.Header.Get("Expect"))
	}
}

// A part S3 fails with a server error is sent again (each attempt one
// UploadPart) and the upload completes; a part S3 refuses is not, the error
// keeps its kind, and the upload is aborted, never completed.
func TestOwnUploadPartFailures(t *testing.T) {
	for _, tc := range []struct {
		name     string
		fail     []int
		wantErr  error
		attempts int // of part 2
	}{
		{"500 then 503 then 200", []int{500, 503}, nil, 3},
		{"403", []int{403}, ErrAccessDenied, 1},
		{"400 InvalidArgument", []int{400}, ErrRefused, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := &partServer{fail: map[string][]int{"2": tc.fail}}
			var ops opCounter
			b := newPartBackend(t, srv, &ops)
			data := multipartData()
			_, err := b.Put(context.Background(), "bucket", "k", bytes.NewReader(data), PutOptions{})
			if tc.wantErr == nil && err != nil || tc.wantErr != nil && !errors.Is(err, tc.wantErr) {
				t.Fatalf("err %v, want %v", err, tc.wantErr)
			}
			reqs, _ := srv.parts()
			sent := 0
			for _, r := range reqs {
				if r.URL.Query().Get("partNumber") == "2" {
					sent++
				}
			}
			if sent != tc.attempts {
				t.Fatalf("part 2 sent %d times, want %d", sent, tc.attempts)
			}
			// Parts still in flight when one fails are cancelled, maybe before
			// S3 saw them: observed, not recorded.
			if n := ops.count("UploadPart"); n < len(reqs) || tc.wantErr == nil && n != len(reqs) {
				t.Fatalf("%d UploadPart observed for %d part requests", n, len(reqs))
			}
			// A part cancelled because part 2 failed is no S3 answer of its
			// own: only part 2's attempts carry a status.
			ops.mu.Lock()
			answered := 0
			for st, n := range ops.statuses {
				if st != 0 {
					answered += n
				}
			}
			ops.mu.Unlock()
			if answered != len(tc.fail) {
				t.Fatalf("failed attempts by status %v, want %d answered by S3", ops.statuses, len(tc.fail))
			}
			srv.mu.Lock()
			defer srv.mu.Unlock()
			if tc.wantErr != nil && (srv.aborted == 0 || srv.complete != nil) {
				t.Fatalf("failed upload: %d aborts, completion %q; want it aborted, never completed", srv.aborted, srv.complete)
			}
			if tc.wantErr == nil && (srv.aborted != 0 || srv.complete == nil) {
				t.Fatalf("retried upload: %d aborts, completion %q; want it completed", srv.aborted, srv.complete)
			}
		})
	}
}

// writeSizes records the size of every write to a connection.
type writeSizes struct {
	net.Conn
	mu    sync.Mutex
	sizes []int
}

func (w *writeSizes) Write(p []byte) (int, error) {
	w.mu.Lock()
	w.sizes = append(w.sizes, len(p))
	w.mu.Unlock()
	return w.Conn.Write(p)
}

// Through the parts' client a part's body reaches the connection as one
// write from its buffer; through net/http as it comes it arrives in 32 KiB
// copies (why partConn exists). The bytes are the same.
func TestPartClientWritesBodyFromItsBuffer(t *testing.T) {
	var got []byte
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { got, _ = io.ReadAll(r.Body) }))
	defer srv.Close()
	body := multipartData()[:4<<20]
	for _, own := range []bool{true, false} {
		var conns []*writeSizes
		var mu sync.Mutex
		client := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			ws := &writeSizes{Conn: c}
			mu.Lock()
			conns = append(conns, ws)
			mu.Unlock()
			return ws, nil
		}}}
		var do interface {
			Do(*http.Request) (*http.Response, error)
		} = client
		if own {
			do = partClient(client)
		}
		req, _ := http.NewRequest(http.MethodPut, srv.URL, &partBody{data: body})
		req.ContentLength = int64(len(body))
		resp, err := do.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if !bytes.Equal(got, body) {
			t.Fatalf("own %v: the server got %d bytes, want the %d sent", own, len(got), len(body))
		}
		largest := 0
		for _, c := range conns {
			c.mu.Lock()
			largest = max(largest, slices.Max(c.sizes))
			c.mu.Unlock()
		}
		if own && largest < len(body)-4096 {
			t.Errorf("parts' client: largest write %d bytes, want the body in one write (%d bytes, less what fits after the headers)", largest, len(body))
		}
		if !own && largest > 32<<10 {
			t.Errorf("net/http as it comes wrote %d bytes at once; partConn may no longer be needed", largest)
		}
	}
	// A transport the gateway does not know is used as it is.
	custom := &http.Client{Transport: roundTripFunc(http.DefaultTransport.RoundTrip)}
	if partClient(custom) != custom {
		t.Error("partClient replaced an HTTP client with a transport of its own")
	}
	if c := partClient(&http.Client{Transport: &http.Transport{}}); c.(*http.Client).Transport.(*http.Transport).DialContext == nil {
		t.Error("partClient left a known transport dialing plain connections")
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }
