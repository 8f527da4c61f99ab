package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/s3/transfermanager"
	tmtypes "github.com/aws/aws-sdk-go-v2/feature/s3/transfermanager/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/jlaffaye/ftp"
)

// bench holds what every workload needs.
type bench struct {
	ctx      context.Context
	s3       *s3.Client
	up       *transfermanager.Client // direct uploads, in FTP2S3_PART_SIZE parts
	down     *transfermanager.Client // direct downloads, in FTP2S3_DOWNLOAD_CHUNK ranges
	bucket   string
	gw       *gatewayProc
	user     string
	password string
	opts     options
	minioPID int
	lat      latencies
	// directTimer times the direct side's S3 requests (W4/W6 phase tables)
	directTimer *s3Timer
	w6Seeded    bool
	// null is the protocol ceiling's FTP endpoint (nullftp.go)
	null *nullFTP
	// FTPS rows (ftps.go): the client's TLS configuration and its handshakes
	tlsConf  *tls.Config
	tlsStats *tlsStats
	// peers: the other FTP servers of -peers (peers.go)
	peers *peerSet
	// loginCPU is the gateway CPU its logins took so far (login): the CPU
	// columns are per GiB or per file moved, and a password check (bcrypt,
	// ~60 ms of CPU) per repetition's session is not part of that.
	loginMu  sync.Mutex
	loginCPU float64
}

const smallSize = 4 << 10

func (b *bench) dial() (*ftp.ServerConn, error) {
	c, err := ftp.Dial(b.gw.addr, ftp.DialWithTimeout(60*time.Second))
	if err != nil {
		return nil, fmt.Errorf("dial ftp2s3: %w", err)
	}
	if err := b.login(c); err != nil {
		_ = c.Quit()
		return nil, fmt.Errorf("login: %w", err)
	}
	return c, nil
}

// login logs c in as the bench's user and adds the gateway CPU it took to
// loginCPU. Logins are sequential, so the gateway's CPU in that window is the
// login's.
func (b *bench) login(c *ftp.ServerConn) error {
	before, _ := b.gw.cpuSeconds()
	err := c.Login(b.user, b.password)
	after, _ := b.gw.cpuSeconds()
	b.loginMu.Lock()
	b.loginCPU += after - before
	b.loginMu.Unlock()
	return err
}

// loginsSoFar is loginCPU, read safely.
func (b *bench) loginsSoFar() float64 {
	b.loginMu.Lock()
	defer b.loginMu.Unlock()
	return b.loginCPU
}

// dialSessions logs n sessions in; the caller quits them with quitAll.
func (b *bench) dialSessions(n int) ([]*ftp.ServerConn, error) {
	conns := make([]*ftp.ServerConn, 0, n)
	for range n {
		c, err := b.dial()
		if err != nil {
			quitAll(conns)
			return nil, err
		}
		conns = append(conns, c)
	}
	return conns, nil
}

func quitAll(conns []*ftp.ServerConn) {
	for _, c := range conns {
		_ = c.Quit()
	}
}

func (b *bench) ftpURL(path string) string {
	return fmt.Sprintf("ftp://%s:%s@%s/%s", b.user, b.password, b.gw.addr, strings.TrimPrefix(path, "/"))
}

// mkdirs creates directories through the gateway (the gateway, like most FTP
// servers, stores into existing directories only). Existing ones are fine.
func (b *bench) mkdirs(dirs ...string) error {
	c, err := b.dial()
	if err != nil {
		return err
	}
	defer c.Quit()
	for _, d := range dirs {
		if err := c.MakeDir(d); err != nil && !strings.Contains(err.Error(), "exists") {
			if _, serr := c.GetEntry(d); serr != nil {
				return fmt.Errorf("MKD %s: %w", d, err)
			}
		}
	}
	return nil
}

// checkAndDelete fails unless bucket/key holds exactly size bytes, then deletes it.
func (b *bench) checkAndDelete(key string, size int64) error {
	h, err := b.s3.HeadObject(b.ctx, &s3.HeadObjectInput{Bucket: &b.bucket, Key: &key})
	if err != nil {
		return fmt.Errorf("head %s: %w", key, err)
	}
	if got := aws.ToInt64(h.ContentLength); got != size {
		return fmt.Errorf("%s holds %d bytes, want %d", key, got, size)
	}
	_, err = b.s3.DeleteObject(b.ctx, &s3.DeleteObjectInput{Bucket: &b.bucket, Key: &key})
	return err
}

func (b *bench) deletePrefix(prefix string) error {
	p := s3.NewListObjectsV2Paginator(b.s3, &s3.ListObjectsV2Input{Bucket: &b.bucket, Prefix: &prefix})
	for p.HasMorePages() {
		page, err := p.NextPage(b.ctx)
		if err != nil {
			return err
		}
		if len(page.Contents) == 0 {
			continue
		}
		ids := make([]types.ObjectIdentifier, 0, len(page.Contents))
		for _, o := range page.Contents {
			ids = append(ids, types.ObjectIdentifier{Key: o.Key})
		}
		if _, err := b.s3.DeleteObjects(b.ctx, &s3.DeleteObjectsInput{Bucket: &b.bucket, Delete: &types.Delete{Objects: ids, Quiet: aws.Bool(true)}}); err != nil {
			return err
		}
	}
	return nil
}

// seed stores n small objects prefix%05d directly, 32 at a time.
func (b *bench) seed(prefix string, n, size int) error {
	var wg sync.WaitGroup
	errs := make(chan error, n)
	sem := make(chan struct{}, 32)
	for i := range n {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			_, err := b.s3.PutObject(b.ctx, &s3.PutObjectInput{Bucket: &b.bucket, Key: aws.String(fmt.Sprintf("%s%05d", prefix, i)),
				Body: bytes.NewReader(smallFile(size, i)), ContentLength: aws.Int64(int64(size))})
			if err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	return <-errs
}

func (b *bench) directUpload(key string, size, seed int64) error {
	_, err := b.up.UploadObject(b.ctx, &transfermanager.UploadObjectInput{Bucket: &b.bucket, Key: &key, Body: newPayload(size, seed),
		ChecksumAlgorithm: tmtypes.ChecksumAlgorithmCrc32})
	return err
}

func timed(fn func() error) (time.Duration, error) {
	t0 := time.Now()
	err := fn()
	return time.Since(t0), err
}

// --- W1: one large upload ---

func (b *bench) w1Gateway(rep int) (time.Duration, error) { return b.w1Over(b.dial, "gw")(rep) }

func (b *bench) w1Active(rep int) (time.Duration, error) {
	size := b.opts.bigSize()
	key := fmt.Sprintf("w1/active-%d.bin", rep)
	cmd := exec.CommandContext(b.ctx, "curl", "-sS", "--fail", "--ftp-port", "127.0.0.1", "-T", "-", b.ftpURL(key))
	cmd.Stdin = newPayload(size, int64(rep))
	d, err := timed(func() error { return runQuiet(cmd) })
	if err != nil {
		return 0, err
	}
	return d, b.checkAndDelete(key, size)
}

func (b *bench) w1Direct(rep int) (time.Duration, error) {
	size := b.opts.bigSize()
	key := fmt.Sprintf("w1/direct-%d.bin", rep)
	d, err := timed(func() error { return b.directUpload(key, size, int64(rep)) })
	if err != nil {
		return 0, fmt.Errorf("direct upload: %w", err)
	}
	return d, b.checkAndDelete(key, size)
}

func runQuiet(cmd *exec.Cmd) error {
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s: %w: %s", strings.Join(cmd.Args[:len(cmd.Args)-1], " "), err, strings.TrimSpace(stderr.String()))
	}
	return nil
}

// --- W2: one large download ---

const w2Key = "w2/src.bin"

func (b *bench) w2Prepare() error { return b.directUpload(w2Key, b.opts.bigSize(), 7) }

func (b *bench) w2Gateway(rep int) (time.Duration, error) { return b.w2Over(b.dial)(rep) }

func (b *bench) w2Active(int) (time.Duration, error) {
	size := b.opts.bigSize()
	cmd := exec.CommandContext(b.ctx, "curl", "-sS", "--fail", "--ftp-port", "127.0.0.1", "-o", "/dev/null", "-w", "%{size_download}", b.ftpURL(w2Key))
	var out bytes.Buffer
	cmd.Stdout = &out
	d, err := timed(func() error { return runQuiet(cmd) })
	if err != nil {
		return 0, err
	}
	if got, _ := strconv.ParseInt(strings.TrimSpace(out.String()), 10, 64); got != size {
		return 0, fmt.Errorf("curl downloaded %s bytes, want %d", out.String(), size)
	}
	return d, nil
}

func (b *bench) w2Direct(int) (time.Duration, error) {
	size := b.opts.bigSize()
	var n int64
	d, err := timed(func() error {
		out, err := b.down.DownloadObject(b.ctx, &transfermanager.DownloadObjectInput{Bucket: &b.bucket, Key: aws.String(w2Key), WriterAt: discardAt{}})
		if err == nil {
			n = aws.ToInt64(out.ContentLength)
		}
		return err
	})
	if err == nil && n != size {
		err = fmt.Errorf("direct download gave %d bytes, want %d", n, size)
	}
	return d, err
}

// --- W3: concurrent uploads ---

const w3Sessions = 8

func (b *bench) w3Gateway(rep int) (time.Duration, error) {
	size := b.opts.w3Size()
	conns, err := b.dialSessions(w3Sessions)
	if err != nil {
		return 0, err
	}
	defer quitAll(conns)
	d, err := timed(func() error {
		return parallel(w3Sessions, func(i int) error {
			return conns[i].Stor(fmt.Sprintf("/w3/gw-%d-%d.bin", rep, i), newPayload(size, int64(i)))
		})
	})
	if err != nil {
		return 0, err
	}
	for i := range w3Sessions {
		if err := b.checkAndDelete(fmt.Sprintf("w3/gw-%d-%d.bin", rep, i), size); err != nil {
			return 0, err
		}
	}
	return d, nil
}

func (b *bench) w3Direct(rep int) (time.Duration, error) {
	size := b.opts.w3Size()
	d, err := timed(func() error {
		return parallel(w3Sessions, func(i int) error {
			return b.directUpload(fmt.Sprintf("w3/direct-%d-%d.bin", rep, i), size, int64(i))
		})
	})
	if err != nil {
		return 0, err
	}
	for i := range w3Sessions {
		if err := b.checkAndDelete(fmt.Sprintf("w3/direct-%d-%d.bin", rep, i), size); err != nil {
			return 0, err
		}
	}
	return d, nil
}

func parallel(n int, fn func(i int) error) error {
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() { defer wg.Done(); errs[i] = fn(i) }()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// --- W4: many small uploads over one session ---

func (b *bench) w4Gateway(rep int) (time.Duration, error) {
	c, err := b.phaseSession()
	if err != nil {
		return 0, err
	}
	defer c.quit()
	dir := fmt.Sprintf("w4/gw-%d/", rep)
	if _, err := c.expect("MKD /"+dir, 257); err != nil {
		return 0, err
	}
	d, err := timed(func() error {
		for i := range b.opts.files {
			if err := b.storPhased(c, fmt.Sprintf("/%sf%05d", dir, i), i); err != nil {
				return fmt.Errorf("STOR file %d: %w", i, err)
			}
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	if err := b.countKeys(dir, b.opts.files); err != nil {
		return 0, err
	}
	return d, b.deletePrefix(dir)
}

func (b *bench) w4Direct(rep int) (time.Duration, error) {
	dir := fmt.Sprintf("w4/direct-%d/", rep)
	d, err := timed(func() error {
		for i := range b.opts.files {
			if err := b.putSmall(fmt.Sprintf("%sf%05d", dir, i), i); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	if err := b.countKeys(dir, b.opts.files); err != nil {
		return 0, err
	}
	return d, b.deletePrefix(dir)
}

// countKeys lists prefix directly and fails unless it holds want keys.
func (b *bench) countKeys(prefix string, want int) error {
	got, err := b.listDirect(prefix)
	if err != nil {
		return err
	}
	if got != want {
		return fmt.Errorf("%s holds %d keys, want %d", prefix, got, want)
	}
	return nil
}

func (b *bench) listDirect(prefix string) (int, error) {
	n := 0
	p := s3.NewListObjectsV2Paginator(b.s3, &s3.ListObjectsV2Input{Bucket: &b.bucket, Prefix: &prefix, Delimiter: aws.String("/")})
	for p.HasMorePages() {
		page, err := p.NextPage(b.ctx)
		if err != nil {
			return n, fmt.Errorf("list %s: %w", prefix, err)
		}
		n += len(page.CommonPrefixes)
		for _, o := range page.Contents {
			if aws.ToString(o.Key) != prefix { // the directory's own marker
				n++
			}
		}
	}
	return n, nil
}

// --- W5: LIST of a large directory, cold then cached ---

const (
	w5Dir    = "w5/"
	w5BigDir = "w5big/"
)

func (b *bench) w5Prepare(dir string, keys int) error { return b.seed(dir+"k", keys, 16) }

// w5Gateway restarts the gateway (so its cache is empty), lists once cold and
// once more from the cache.
func (b *bench) w5Gateway(dir string, keys int) (cold, cached time.Duration, err error) {
	if err := b.gw.restart(); err != nil {
		return 0, 0, err
	}
	c, err := b.dial()
	if err != nil {
		return 0, 0, err
	}
	defer c.Quit()
	list := func() (time.Duration, error) {
		var entries []*ftp.Entry
		d, err := timed(func() error {
			var err error
			entries, err = c.List("/" + dir)
			return err
		})
		if err == nil && len(entries) < keys {
			err = fmt.Errorf("LIST gave %d entries, want %d", len(entries), keys)
		}
		return d, err
	}
	if cold, err = list(); err != nil {
		return 0, 0, err
	}
	cached, err = list()
	return cold, cached, err
}

func (b *bench) w5Direct(dir string, keys int) (time.Duration, error) {
	var n int
	d, err := timed(func() error {
		var err error
		n, err = b.listDirect(dir)
		return err
	})
	if err == nil && n != keys {
		err = fmt.Errorf("direct LIST gave %d keys, want %d", n, keys)
	}
	return d, err
}

// --- W6: many small downloads over one session ---

const w6Dir = "w6/f"

// w6Prepare seeds W6's files (W8 reads them too) once per run.
func (b *bench) w6Prepare() error {
	if b.w6Seeded {
		return nil
	}
	if err := b.seed(w6Dir, b.opts.files, smallSize); err != nil {
		return err
	}
	b.w6Seeded = true
	return nil
}

func (b *bench) w6Gateway(int) (time.Duration, error) {
	c, err := b.phaseSession()
	if err != nil {
		return 0, err
	}
	defer c.quit()
	buf := make([]byte, smallSize)
	return timed(func() error {
		for i := range b.opts.files {
			if err := b.retrPhased(c, fmt.Sprintf("/%s%05d", w6Dir, i), buf); err != nil {
				return err
			}
		}
		return nil
	})
}

func (b *bench) w6Direct(int) (time.Duration, error) {
	return timed(func() error {
		for i := range b.opts.files {
			if err := b.getSmall(fmt.Sprintf("%s%05d", w6Dir, i)); err != nil {
				return err
			}
		}
		return nil
	})
}
