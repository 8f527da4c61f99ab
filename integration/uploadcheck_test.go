package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/textproto"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/jlaffaye/ftp"

	"github.com/ftp2s3/ftp2s3/gateway"
)

// The upload check (FTP2S3_UPLOAD_CHECK_URL) against MinIO and a real HTTP
// checker started by the test.

// checkCall is what the checker saw of one request.
type checkCall struct {
	event   sinkEvent
	content []byte // what the presigned URL gave
	getErr  error
	tag     string // the object's ftp2s3-check tag while the check ran
}

// checker is an HTTP upload checker; answer decides each request.
type checker struct {
	t      *testing.T
	srv    *httptest.Server
	answer func(w http.ResponseWriter, r *http.Request, c checkCall)
	mu     sync.Mutex
	calls  []checkCall
}

func newChecker(t *testing.T, answer func(w http.ResponseWriter, r *http.Request, c checkCall)) *checker {
	c := &checker{t: t, answer: answer}
	c.srv = httptest.NewServer(http.HandlerFunc(c.serve))
	t.Cleanup(c.srv.Close)
	return c
}

func (c *checker) serve(w http.ResponseWriter, r *http.Request) {
	var call checkCall
	body, _ := io.ReadAll(r.Body)
	if err := json.Unmarshal(body, &call.event); err != nil {
		c.t.Errorf("checker: not JSON: %v", err)
	}
	call.event.auth = r.Header.Get("Authorization")
	if u, ok := call.event.Data["get_url"].(string); ok && u != "" {
		resp, err := http.Get(u)
		if err == nil {
			call.content, err = io.ReadAll(resp.Body)
			_ = resp.Body.Close()
			if resp.StatusCode != 200 {
				err = fmt.Errorf("GET the presigned URL: HTTP %d", resp.StatusCode)
			}
		}
		call.getErr = err
	}
	bucket, _ := call.event.Data["bucket"].(string)
	key, _ := call.event.Data["key"].(string)
	if tags, err := minio.Client().GetObjectTagging(r.Context(), &s3.GetObjectTaggingInput{Bucket: aws.String(bucket), Key: aws.String(key)}); err == nil {
		for _, tg := range tags.TagSet {
			if aws.ToString(tg.Key) == "ftp2s3-check" {
				call.tag = aws.ToString(tg.Value)
			}
		}
	}
	c.mu.Lock()
	c.calls = append(c.calls, call)
	answer := c.answer
	c.mu.Unlock()
	answer(w, r, call)
}

func (c *checker) lastCall() checkCall {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.calls) == 0 {
		c.t.Fatal("the checker was never asked")
	}
	return c.calls[len(c.calls)-1]
}

// checkWith points the gateway's upload check at url.
func checkWith(url string, timeout time.Duration, failure string) func(*gateway.Config) {
	return func(c *gateway.Config) {
		if err := c.UploadCheckURL.UnmarshalText([]byte(url)); err != nil {
			panic(err)
		}
		c.UploadCheckToken = "check-token"
		c.UploadCheckTimeout = timeout
		if err := c.UploadCheckFailure.UnmarshalText([]byte(failure)); err != nil {
			panic(err)
		}
	}
}

// tagOf returns the object's ftp2s3-check tag ("" when none).
func (g *testGateway) tagOf(key string) string {
	g.t.Helper()
	out, err := g.S3.GetObjectTagging(context.Background(), &s3.GetObjectTaggingInput{Bucket: aws.String(g.Bucket), Key: aws.String(key)})
	if err != nil {
		g.t.Fatalf("tags of %s: %v", key, err)
	}
	for _, tg := range out.TagSet {
		if aws.ToString(tg.Key) == "ftp2s3-check" {
			return aws.ToString(tg.Value)
		}
	}
	return ""
}

// storCode uploads data as name over a raw connection and returns the final
// reply.
func storCode(t *testing.T, r *ftpRaw, name string, data []byte) (int, string) {
	t.Helper()
	addr := r.pasv()
	r.send("STOR %s", name)
	conn := dialData(t, addr)
	r.expect(150)
	if _, err := conn.Write(data); err != nil {
		t.Fatal(err)
	}
	_ = conn.Close()
	return r.read()
}

// TestUploadCheckPassTagsObject: the checker gets the upload.completed event
// and a URL that reads the object, sees it tagged pending while it decides,
// and a 2xx gives 226 and the tag passed; small and multipart.
func TestUploadCheckPassTagsObject(t *testing.T) {
	t.Parallel()
	chk := newChecker(t, func(w http.ResponseWriter, _ *http.Request, _ checkCall) { w.WriteHeader(http.StatusOK) })
	g := startGateway(t, checkWith(chk.srv.URL, 10*time.Second, "reject"), func(c *gateway.Config) {
		c.PartSize = 5 << 20
		c.HashCopyLimit = 64 << 20        // the SHA-256 copy must keep the pending tag
		c.Storage.CopyThreshold = 5 << 20 // big.bin is renamed by a copy in parts
	})
	c := g.dial(userRW)
	for name, size := range map[string]int64{"small.bin": 4 << 10, "big.bin": 6 << 20} {
		sum, _ := sha256Of(newPattern(size, 3))
		if err := c.Stor(name, newPattern(size, 3)); err != nil {
			t.Fatalf("STOR %s: %v", name, err)
		}
		call := chk.lastCall()
		if call.event.Type != "io.ftp2s3.upload.completed" || call.event.Data["key"] != name ||
			call.event.Data["user"] != userRW || call.event.auth != "Bearer check-token" {
			t.Fatalf("%s: checker got %+v", name, call.event)
		}
		if got, n := sha256Of(bytes.NewReader(call.content)); call.getErr != nil || got != sum || n != size {
			t.Fatalf("%s: the presigned URL gave %d bytes (%v), want the object", name, n, call.getErr)
		}
		if call.tag != "pending" {
			t.Fatalf("%s: tag %q while the check ran, want pending", name, call.tag)
		}
		if tag := g.tagOf(name); tag != "passed" {
			t.Fatalf("%s: tag %q after approval, want passed", name, tag)
		}
		g.mustMeta(name) // the tagging request kept the object as written
		if err := c.Rename(name, "moved-"+name); err != nil {
			t.Fatal(err)
		}
		if tag := g.tagOf("moved-" + name); tag != "passed" {
			t.Fatalf("%s: tag %q after a rename, want passed", name, tag)
		}
		g.mustMeta("moved-" + name)
	}
}

// TestUploadCheckRejectDeletes: a 4xx gives 550 with the checker's reason,
// sanitised and bounded; the object is gone from MinIO and from the
// gateway's listings; an upload.rejected event follows.
func TestUploadCheckRejectDeletes(t *testing.T) {
	t.Parallel()
	sink := newEventSink(t)
	reason := "virus found: Eicar-Test\x07 in page 1\r\nsecond line is not shown"
	chk := newChecker(t, func(w http.ResponseWriter, _ *http.Request, _ checkCall) {
		w.WriteHeader(http.StatusUnprocessableEntity)
		_, _ = io.WriteString(w, reason)
	})
	g := startNotifyGateway(t, checkWith(chk.srv.URL, 10*time.Second, "reject"), notifyTo(sink.url(), ""))
	r := rawLogin(t, g.Addr, userRW)
	r.cmd(200, "TYPE I")
	code, msg := storCode(t, r, "bad.bin", []byte("X5O!P%@AP"))
	if code != 550 || !strings.Contains(msg, "virus found: Eicar-Test  in page 1") || strings.Contains(msg, "second line") {
		t.Fatalf("STOR refused by the check: %d %q", code, msg)
	}
	g.mustNotExist("bad.bin")
	r.cmd(550, "SIZE bad.bin")
	if list := nlst(t, r); slices.Contains(list, "bad.bin") {
		t.Fatalf("NLST shows the refused object: %v", list)
	}
	ev := sink.wait("upload.rejected", keyIs("bad.bin"))
	if ev.Data["code"] != float64(550) || ev.Data["object_left"] != false || ev.Data["check"] != "rejected" || ev.Data["etag"] == "" {
		t.Fatalf("upload.rejected data: %v", ev.Data)
	}

	long := strings.Repeat("é", 300)
	chk.mu.Lock()
	chk.answer = func(w http.ResponseWriter, _ *http.Request, _ checkCall) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusForbidden)
		_ = json.NewEncoder(w).Encode(map[string]string{"reason": long})
	}
	chk.mu.Unlock()
	code, msg = storCode(t, r, "bad2.bin", []byte("x"))
	if code != 550 || !strings.Contains(msg, "refused: é") || len(msg) > 300 {
		t.Fatalf("a JSON refusal of 600 bytes: %d %q (%d bytes)", code, msg, len(msg))
	}
}

// nlst lists the current directory's names over a raw connection.
func nlst(t *testing.T, r *ftpRaw) []string {
	t.Helper()
	addr := r.pasv()
	r.send("NLST")
	conn := dialData(t, addr)
	r.expect(150)
	b, _ := io.ReadAll(conn)
	_ = conn.Close()
	r.expect(226)
	return strings.Fields(string(b))
}

// TestUploadCheckTimeout: a checker that does not answer in time rejects the
// upload (451, object deleted) under reject, and keeps it tagged pending
// (226) under accept.
func TestUploadCheckTimeout(t *testing.T) {
	t.Parallel()
	stuck := func(_ http.ResponseWriter, r *http.Request, _ checkCall) { <-r.Context().Done() }
	for _, failure := range []string{"reject", "accept"} {
		t.Run(failure, func(t *testing.T) {
			t.Parallel()
			chk := newChecker(t, stuck)
			g := startGateway(t, checkWith(chk.srv.URL, time.Second, failure))
			r := rawLogin(t, g.Addr, userRW)
			r.cmd(200, "TYPE I")
			code, msg := storCode(t, r, "slow.bin", []byte("data"))
			if failure == "reject" {
				if code != 451 {
					t.Fatalf("reject: %d %q, want 451", code, msg)
				}
				g.mustNotExist("slow.bin")
				return
			}
			if code != 226 {
				t.Fatalf("accept: %d %q, want 226", code, msg)
			}
			if call := chk.lastCall(); call.event.Data["key"] != "slow.bin" {
				t.Fatalf("accept: the checker was asked about %v", call.event.Data["key"])
			}
			if tag := g.tagOf("slow.bin"); tag != "pending" {
				t.Fatalf("accept: tag %q, want pending (never checked)", tag)
			}
		})
	}
}

// TestUploadCheckDocsExample runs the Python checker of docs/events.md
// against the gateway: a clean file passes, the EICAR string is refused.
func TestUploadCheckDocsExample(t *testing.T) {
	t.Parallel()
	python, err := exec.LookPath("python3")
	if err != nil {
		t.Fatal("python3 is needed (the ftplib client tests use it too)")
	}
	doc, err := os.ReadFile(filepath.Join("..", "docs", "events.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, after, ok := strings.Cut(string(doc), "<!-- upload-check-example -->\n```python\n")
	code, _, ok2 := strings.Cut(after, "```")
	if !ok || !ok2 {
		t.Fatal("docs/events.md has no example block after <!-- upload-check-example -->")
	}
	script := filepath.Join(t.TempDir(), "checker.py")
	if err := os.WriteFile(script, []byte(code), 0o600); err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	_ = l.Close()
	cmd := exec.Command(python, script, fmt.Sprint(port))
	cmd.Stderr = testWriter{t}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	waitUntil(t, "the Python checker to listen", 20*time.Second, func() bool {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			_ = c.Close()
		}
		return err == nil
	})
	g := startGateway(t, checkWith("http://"+addr+"/", 10*time.Second, "reject"))
	c := g.dial(userRW)
	if err := c.Stor("clean.txt", strings.NewReader("just a scan\n")); err != nil {
		t.Fatalf("clean file: %v", err)
	}
	if tag := g.tagOf("clean.txt"); tag != "passed" {
		t.Fatalf("clean file tagged %q", tag)
	}
	err = c.Stor("eicar.txt", strings.NewReader(`X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*`))
	var perr *textproto.Error
	if !errors.As(err, &perr) || perr.Code != 550 || !strings.Contains(perr.Msg, "infected or empty: /eicar.txt") {
		t.Fatalf("EICAR file: %v, want 550 with the checker's reason", err)
	}
	g.mustNotExist("eicar.txt")
}

// TestUploadCheckCost measures what an upload check adds to a small file:
// 200 STORs of 4 KiB through a gateway without a check and one with a
// trivially accepting checker on loopback, interleaved, p50 and p90 of each.
// The timings are only logged (on a shared machine they assert nothing); what
// it checks is that every file of the checked gateway was checked. For the
// figure: go test -count=1 -v -run TestUploadCheckCost ./integration/
// (FTP2S3_MEASURE_UPLOAD_CHECK=1 makes it 200 files instead of 40).
func TestUploadCheckCost(t *testing.T) {
	t.Parallel()
	accept := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body) // trivially accepting: no GET of the object
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(accept.Close)
	plain := startGateway(t)
	checked := startGateway(t, checkWith(accept.URL, 10*time.Second, "reject"))
	cp, cc := plain.dial(userRW), checked.dial(userRW)
	payload := bytes.Repeat([]byte("x"), 4<<10)
	n := 40
	if os.Getenv("FTP2S3_MEASURE_UPLOAD_CHECK") != "" {
		n = 200
	}
	var dp, dc []time.Duration
	for i := range n {
		for _, s := range []struct {
			c *ftp.ServerConn
			d *[]time.Duration
		}{{cp, &dp}, {cc, &dc}} {
			start := time.Now()
			if err := s.c.Stor(fmt.Sprintf("f%03d", i), bytes.NewReader(payload)); err != nil {
				t.Fatal(err)
			}
			*s.d = append(*s.d, time.Since(start))
		}
	}
	pct := func(d []time.Duration, p int) time.Duration {
		slices.Sort(d)
		return d[len(d)*p/100]
	}
	t.Logf("%d x 4 KiB STOR, one connection each, interleaved: without check p50 %s p90 %s; with check p50 %s p90 %s; added p50 %s",
		n, pct(dp, 50), pct(dp, 90), pct(dc, 50), pct(dc, 90), pct(dc, 50)-pct(dp, 50))
	for _, key := range []string{"f000", fmt.Sprintf("f%03d", n-1)} {
		if tag := checked.tagOf(key); tag != "passed" {
			t.Fatalf("the checked gateway did not check %s (tag %q)", key, tag)
		}
	}
}
