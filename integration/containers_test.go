package integration

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/jlaffaye/ftp"

	"github.com/ftp2s3/ftp2s3/storage"
)

// The compose files' defaults for what the tests log in with
// (docs/containers.md).
const (
	composeUser     = "demo"
	composePassword = "demo"
	composeBucket   = "incoming"
	composeS3User   = "ftp2s3admin"
	composeS3Secret = "change-me-minio-secret"
)

// TestContainers brings docker-compose.yml up on images built here and uses
// it from the host as a user would: a passive round trip through the
// published ports, MinIO restarted under an upload, and docker stop of the
// gateway during an upload (the drain). The same images run the HA stack
// meanwhile (TestContainers/ha).
func TestContainers(t *testing.T) {
	t.Parallel()
	requireDocker(t)
	id := runID()
	img := buildLocalImages(t, id)

	// The two stacks share only the images: their projects, ports and networks
	// are their own.
	t.Run("compose", func(t *testing.T) { t.Parallel(); testComposeStack(t, id, img) })
	t.Run("ha", func(t *testing.T) { t.Parallel(); testHAStack(t, id, img) })
}

func testComposeStack(t *testing.T, id string, img *localImages) {
	lo, hi := freePortRange(t, 10)
	control, s3Port := freePort(t), freePort(t)
	st := newStack(t, "ftp2s3ctr"+id, "docker-compose.yml",
		map[string]string{"minio": img.MinIO, "ftp2s3": img.Gateway},
		map[string]string{
			"FTP_CONTROL_PORT": control, "FTP2S3_PASSIVE_PORTS": fmt.Sprintf("%d-%d", lo, hi),
			"FTP_METRICS_PORT": freePort(t), "MINIO_API_PORT": s3Port, "MINIO_CONSOLE_PORT": freePort(t),
			// What docs/containers.md tells users to set: the address clients reach the host by.
			"FTP2S3_PUBLIC_HOST": "127.0.0.1",
		})
	start := time.Now()
	st.must("up", "-d", "--no-build")
	addr := "127.0.0.1:" + control
	waitGreeting(t, addr, 90*time.Second)
	t.Logf("stack up and greeting in %s", time.Since(start).Round(time.Second))
	// Both images' HEALTHCHECKs work without a shell (MinIO's gated the
	// gateway's start already: depends_on service_healthy).
	for _, svc := range []string{"minio", "ftp2s3"} {
		id := st.container(svc)
		waitUntil(t, svc+" to be healthy", 60*time.Second, func() bool {
			return dockerOut(t, "inspect", "-f", "{{.State.Health.Status}}", id) == "healthy"
		})
	}
	s3c := storage.NewStaticClient("http://127.0.0.1:"+s3Port, "us-east-1", composeS3User, composeS3Secret, true)
	if !strings.Contains(st.logs("ftp2s3"), `"msg":"created bucket","bucket":"incoming"`) {
		t.Errorf("the gateway's log does not say it created bucket %s", composeBucket)
	}

	t.Run("passive round trip", func(t *testing.T) {
		c := dialCompose(t, addr)
		if err := c.MakeDir("hello"); err != nil {
			t.Fatal(err)
		}
		want := roundTrip(t, c, "hello/roundtrip.bin", 40<<20)
		entries, err := c.List("hello")
		if err != nil {
			t.Fatal(err)
		}
		if len(entries) != 1 || entries[0].Name != "roundtrip.bin" || entries[0].Size != 40<<20 {
			t.Errorf("LIST hello: %+v", entries)
		}
		if got := objectSHA(t, s3c, "hello/roundtrip.bin"); got != want {
			t.Errorf("the object in MinIO has SHA-256 %s, the upload %s", got, want)
		}
	})

	t.Run("MinIO restarted during an upload", func(t *testing.T) {
		c := dialCompose(t, addr)
		const key, size = "restart.bin", 64 << 20
		up := startStepUpload(c, key, size)
		// Wait until the upload is in S3's hands (a multipart upload exists),
		// then take MinIO away and bring it back.
		up.send(24 << 20)
		waitUntil(t, "the multipart upload to start", 60*time.Second, func() bool { return len(pendingOn(s3c, key)) > 0 })
		minioID := st.container("minio")
		dockerOut(t, "stop", "-t", "10", minioID)
		up.sendAsync(8 << 20)
		dockerOut(t, "start", minioID)
		waitUntil(t, "MinIO to answer again", 90*time.Second, func() bool {
			_, err := s3c.ListBuckets(context.Background(), &s3.ListBucketsInput{})
			return err == nil
		})
		up.send(size)
		err := up.wait()
		if err == nil {
			// Complete: it must be the very bytes sent.
			if got := objectSHA(t, s3c, key); got != up.sha() {
				t.Fatalf("226, but the object has SHA-256 %s, the upload %s", got, up.sha())
			}
			t.Log("the upload survived the MinIO restart")
		} else {
			t.Logf("the upload failed cleanly: %v", err)
			if code := ftpCode(err); code != 426 && code != 451 {
				t.Errorf("failed with %v, want 426 or 451", err)
			}
			if _, err := s3c.HeadObject(context.Background(), &s3.HeadObjectInput{Bucket: aws.String(composeBucket), Key: aws.String(key)}); err == nil {
				t.Error("a failed upload left an object")
			}
		}
		waitUntil(t, "no multipart upload to be left", 60*time.Second, func() bool { return len(pendingOn(s3c, key)) == 0 })
		// And the gateway still serves.
		roundTrip(t, dialCompose(t, addr), "after-restart.bin", 1<<20)
	})

	t.Run("docker stop drains", func(t *testing.T) {
		c := dialCompose(t, addr)
		const key, size = "drain.bin", 8 << 20
		up := startStepUpload(c, key, size)
		up.send(1 << 20)
		gw := st.container("ftp2s3")
		stopped := make(chan error, 1)
		stopAt := time.Now()
		go func() {
			out, err := runLogged(exec.Command("docker", "stop", gw))
			if err != nil {
				err = fmt.Errorf("%v: %s", err, out)
			}
			stopped <- err
		}()
		waitUntil(t, "the gateway to start draining", 20*time.Second, func() bool {
			return strings.Contains(st.logs("ftp2s3"), "shutting down: refusing new connections")
		})
		// A new client is turned away while the transfer runs on.
		if line := greetingLine(addr); strings.HasPrefix(line, "220") {
			t.Errorf("a new client was greeted during the drain: %q", line)
		}
		up.send(size)
		err := up.wait()
		took := time.Since(stopAt)
		switch {
		case err == nil:
			if took > 30*time.Second {
				t.Errorf("226 after %s, beyond FTP2S3_SHUTDOWN_GRACE=30s", took)
			}
			if got := objectSHA(t, s3c, key); got != up.sha() {
				t.Errorf("226, but the object has SHA-256 %s, the upload %s", got, up.sha())
			}
		case ftpCode(err) == 426:
			if _, err := s3c.HeadObject(context.Background(), &s3.HeadObjectInput{Bucket: aws.String(composeBucket), Key: aws.String(key)}); err == nil {
				t.Error("426, but the object was stored")
			}
		default:
			t.Errorf("upload during docker stop: %v, want 226 or 426", err)
		}
		if err := <-stopped; err != nil {
			t.Fatalf("docker stop: %v", err)
		}
		if code := dockerOut(t, "inspect", "-f", "{{.State.ExitCode}}", gw); code != "0" {
			t.Errorf("the gateway exited with status %s after docker stop, want 0", code)
		}
		if !strings.Contains(st.logs("ftp2s3"), "shutdown complete") {
			t.Error("the gateway's log does not end with a complete shutdown")
		}
		if n := len(pendingOn(s3c, key)); n != 0 {
			t.Errorf("%d multipart uploads left after the drain", n)
		}
	})
}

func testHAStack(t *testing.T, id string, img *localImages) {
	aLo, aHi := freePortRange(t, 10)
	bLo, bHi := freePortRange(t, 10)
	for bLo <= aHi && aLo <= bHi {
		bLo, bHi = freePortRange(t, 10)
	}
	control := freePort(t)
	var st *stack
	var subnet string
	// The HA network's /24 is fixed by the file (HAProxy's address is trusted
	// by the replicas); pick one no other network of this engine holds.
	for attempt := 0; ; attempt++ {
		subnet = fmt.Sprintf("172.30.%d", 1+int(time.Now().UnixNano()%250))
		st = newStack(t, fmt.Sprintf("ftp2s3ha%s%d", id, attempt), "deploy/haproxy/docker-compose.ha.yml",
			map[string]string{"minio": img.MinIO, "ftp2s3-a": img.Gateway, "ftp2s3-b": img.Gateway, "haproxy": img.HAProxy},
			map[string]string{
				"FTP_CONTROL_PORT":       control,
				"FTP2S3_A_PASSIVE_PORTS": fmt.Sprintf("%d-%d", aLo, aHi),
				"FTP2S3_B_PASSIVE_PORTS": fmt.Sprintf("%d-%d", bLo, bHi),
				"FTP2S3_HA_NETWORK":      subnet,
			})
		out, err := st.run("up", "-d", "--no-build")
		if err == nil {
			break
		}
		if !strings.Contains(out, "overlaps") || attempt > 5 {
			t.Fatalf("compose up: %v\n%s", err, out)
		}
	}
	addr := "127.0.0.1:" + control
	waitGreeting(t, addr, 120*time.Second)

	// Sessions through the balancer reach both replicas: they stay open, so
	// leastconn sends each new one to the replica with fewer, once HAProxy's
	// checks have found both up (replica b may start a little later).
	served := func(replica string) bool { return strings.Contains(st.logs(replica), `"msg":"transfer"`) }
	var open []*ftp.ServerConn
	deadline := time.Now().Add(60 * time.Second)
	for i := 0; !(served("ftp2s3-a") && served("ftp2s3-b")); i++ {
		if time.Now().After(deadline) {
			t.Fatalf("after %d sessions through HAProxy, not both replicas served one", i)
		}
		c := dialCompose(t, addr)
		if i == 0 {
			if err := c.MakeDir("ha"); err != nil {
				t.Fatal(err)
			}
		}
		roundTrip(t, c, fmt.Sprintf("ha/s%d.bin", i), 2<<20)
		open = append(open, c)
	}
	for _, c := range open {
		_ = c.Quit()
	}
	haproxyAddr := subnet + ".10"
	clients := 0
	for _, replica := range []string{"ftp2s3-a", "ftp2s3-b"} {
		logs := st.logs(replica)
		if !strings.Contains(logs, `"msg":"transfer"`) {
			t.Errorf("%s served no transfer", replica)
		}
		if strings.Contains(logs, `"remote":"`+haproxyAddr+`:`) {
			t.Errorf("%s logged HAProxy's own address %s as a client: the PROXY header was not used", replica, haproxyAddr)
		}
		clients += strings.Count(logs, `"remote":"`+subnet+`.1:`)
	}
	// The host's connections reach HAProxy from the network's gateway address
	// (Docker's port publishing); HAProxy logged that address and the PROXY
	// header carried it to the replicas.
	if hlog := st.logs("haproxy"); !strings.Contains(hlog, subnet+".1:") {
		t.Errorf("HAProxy did not log a client at %s.1:\n%s", subnet, hlog)
	}
	if clients == 0 {
		t.Errorf("no replica logged the client address %s.1 that HAProxy saw", subnet)
	}

	// Replica a goes away; once HAProxy has seen it, new sessions are served by b.
	dockerOut(t, "stop", st.container("ftp2s3-a"))
	waitUntil(t, "HAProxy to take replica a out", 60*time.Second, func() bool {
		return strings.Contains(st.logs("haproxy"), "ftp2s3/a is DOWN")
	})
	before := strings.Count(st.logs("ftp2s3-b"), `"msg":"transfer"`)
	for i := range 3 {
		c := dialCompose(t, addr)
		roundTrip(t, c, fmt.Sprintf("ha/after-%d.bin", i), 1<<20)
		_ = c.Quit()
	}
	if got := strings.Count(st.logs("ftp2s3-b"), `"msg":"transfer"`) - before; got < 3 {
		t.Errorf("replica b logged %d transfers for the 3 sessions after a stopped", got)
	}
}

// waitGreeting waits for a 220 through addr (Docker accepts on a published
// port before the container listens, so a connection alone proves nothing).
func waitGreeting(t *testing.T, addr string, limit time.Duration) {
	t.Helper()
	waitUntil(t, "a 220 greeting at "+addr, limit, func() bool {
		return strings.HasPrefix(greetingLine(addr), "220")
	})
}

// greetingLine is the first line a new connection to addr reads ("" when the
// connection fails or closes first).
func greetingLine(addr string) string {
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		return ""
	}
	defer c.Close()
	_ = c.SetReadDeadline(time.Now().Add(3 * time.Second))
	line, _ := bufio.NewReader(c).ReadString('\n')
	return line
}

// dialCompose logs in as the compose files' demo user, in passive mode with
// PASV, so that the address comes from FTP2S3_PUBLIC_HOST.
func dialCompose(t *testing.T, addr string) *ftp.ServerConn {
	t.Helper()
	c, err := ftp.Dial(addr, ftp.DialWithTimeout(30*time.Second), ftp.DialWithDisabledEPSV(true))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Quit() })
	if err := c.Login(composeUser, composePassword); err != nil {
		t.Fatal(err)
	}
	return c
}

// roundTrip uploads n bytes to name, downloads them and compares SHA-256s; it
// returns the hash.
func roundTrip(t *testing.T, c *ftp.ServerConn, name string, n int64) string {
	t.Helper()
	want, _ := sha256Of(newPattern(n, uint64(n)))
	if err := c.Stor(name, newPattern(n, uint64(n))); err != nil {
		t.Fatalf("STOR %s: %v", name, err)
	}
	r, err := c.Retr(name)
	if err != nil {
		t.Fatalf("RETR %s: %v", name, err)
	}
	got, size := sha256Of(r)
	_ = r.Close()
	if got != want || size != n {
		t.Fatalf("RETR %s: %d bytes with SHA-256 %s, uploaded %d bytes with %s", name, size, got, n, want)
	}
	return want
}

// objectSHA reads an object straight from MinIO.
func objectSHA(t *testing.T, s3c *s3.Client, key string) string {
	t.Helper()
	out, err := s3c.GetObject(context.Background(), &s3.GetObjectInput{Bucket: aws.String(composeBucket), Key: aws.String(key)})
	if err != nil {
		t.Fatalf("GetObject %s: %v", key, err)
	}
	defer out.Body.Close()
	sum, _ := sha256Of(out.Body)
	return sum
}

// pendingOn lists the multipart uploads in progress for key (none when S3
// does not answer).
func pendingOn(s3c *s3.Client, key string) []string {
	out, err := s3c.ListMultipartUploads(context.Background(), &s3.ListMultipartUploadsInput{Bucket: aws.String(composeBucket), Prefix: aws.String(key)})
	if err != nil {
		return []string{"unknown: " + err.Error()}
	}
	var ids []string
	for _, u := range out.Uploads {
		ids = append(ids, aws.ToString(u.UploadId))
	}
	return ids
}

// stepUpload is a STOR whose bytes the test releases in steps.
type stepUpload struct {
	pw     *io.PipeWriter
	pr     *io.PipeReader
	src    io.Reader
	sent   int64
	size   int64
	want   string
	done   chan error
	writes chan error
}

// startStepUpload starts STOR key of size pattern bytes, none of them sent yet.
func startStepUpload(c *ftp.ServerConn, key string, size int64) *stepUpload {
	pr, pw := io.Pipe()
	u := &stepUpload{pw: pw, pr: pr, src: newPattern(size, 7), size: size, done: make(chan error, 1), writes: make(chan error, 1)}
	u.want, _ = sha256Of(newPattern(size, 7))
	go func() {
		err := c.Stor(key, pr)
		// A STOR that ended early stops reading: unblock the writer.
		_ = pr.CloseWithError(errors.New("STOR ended"))
		u.done <- err
	}()
	u.writes <- nil
	return u
}

// send writes bytes until upTo have been sent; sending the last byte ends
// the upload.
func (u *stepUpload) send(upTo int64) {
	if err := <-u.writes; err != nil {
		u.writes <- err
		return
	}
	u.writes <- u.write(upTo)
}

// sendAsync is send without waiting for the gateway to take the bytes.
func (u *stepUpload) sendAsync(upTo int64) {
	err := <-u.writes
	go func() {
		if err == nil {
			err = u.write(upTo)
		}
		u.writes <- err
	}()
}

func (u *stepUpload) write(upTo int64) error {
	n, err := io.CopyN(u.pw, u.src, min(upTo, u.size)-u.sent)
	u.sent += n
	if err == nil && u.sent == u.size {
		return u.pw.Close()
	}
	return err
}

// wait returns the STOR's result.
func (u *stepUpload) wait() error {
	select {
	case err := <-u.done:
		return err
	case <-time.After(3 * time.Minute):
		return errors.New("STOR did not finish within 3 minutes")
	}
}

func (u *stepUpload) sha() string { return u.want }
