package integration

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/jlaffaye/ftp"
)

// These tests run the real binary, so that the resident memory measured is the
// gateway's alone (docs/storage.md "Transfers": one memory budget for the process).

// procMemory returns a process's peak (VmHWM) and current (VmRSS) resident memory.
func procMemory(t *testing.T, pid int) (peak, now int64) {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		name, rest, ok := strings.Cut(l, ":")
		if !ok || (name != "VmHWM" && name != "VmRSS") {
			continue
		}
		kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
		if err != nil {
			t.Fatal(err)
		}
		if name == "VmHWM" {
			peak = kb << 10
		} else {
			now = kb << 10
		}
	}
	if peak == 0 || now == 0 {
		t.Fatal("no VmHWM/VmRSS in /proc status")
	}
	return peak, now
}

// binaryEnv are the variables every memory test gives the binary: its own
// passive range (wide enough for every client at once) and metrics.
func binaryEnv(t *testing.T, extra ...string) (env []string, metricsURL string) {
	t.Helper()
	ops, err := freeTCPPort()
	if err != nil {
		t.Fatal(err)
	}
	lo, hi := freePortRange(t, 80)
	env = append([]string{
		fmt.Sprintf("FTP2S3_PASSIVE_PORTS=%d-%d", lo, hi),
		fmt.Sprintf("FTP2S3_METRICS_LISTEN=127.0.0.1:%d", ops),
	}, extra...)
	return env, fmt.Sprintf("http://127.0.0.1:%d/metrics", ops)
}

// rotatedBody is base rotated left by shift bytes: distinct contents for many
// clients without generating each (the pattern generator is slow under -race).
func rotatedBody(base []byte, shift int) io.Reader {
	shift %= len(base)
	return io.MultiReader(bytes.NewReader(base[shift:]), bytes.NewReader(base[:shift]))
}

// metricValue reads one unlabelled metric from a /metrics page.
func metricValue(t *testing.T, page, name string) float64 {
	t.Helper()
	for _, l := range strings.Split(page, "\n") {
		if v, ok := strings.CutPrefix(l, name+" "); ok {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err != nil {
				t.Fatal(err)
			}
			return f
		}
	}
	t.Fatalf("metric %s missing from /metrics", name)
	return 0
}

// TestMemoryBudgetSlowDownloads: 16 clients download a 256 MiB object at
// 20 KB/s each. Read-ahead follows the client, so they pin almost nothing; the
// old gateway read 4 × 16 MiB ahead for each of them (1 GiB).
func TestMemoryBudgetSlowDownloads(t *testing.T) {
	t.Parallel()
	const (
		size    = 256 << 20
		clients = 16
		rate    = 20_000 // bytes per second per client
		readFor = 8 * time.Second
		limit   = 512 << 20
	)
	bin := buildBinary(t)
	bucket := bucketName(t)
	if err := minio.CreateBucket(context.Background(), bucket); err != nil {
		t.Fatal(err)
	}
	base, _ := io.ReadAll(newPattern(size/4, 5))
	_, err := minio.Client().PutObject(context.Background(), &s3.PutObjectInput{
		Bucket: aws.String(bucket), Key: aws.String("big.bin"), ContentLength: aws.Int64(size),
		Body: io.MultiReader(bytes.NewReader(base), bytes.NewReader(base), bytes.NewReader(base), bytes.NewReader(base)),
	})
	if err != nil {
		t.Fatal(err)
	}
	env, metrics := binaryEnv(t) // the default budget
	addr, cmd := runBinary(t, bin, bucket, env...)
	_, startRSS := procMemory(t, cmd.Process.Pid)

	var wg sync.WaitGroup
	got := make([]int64, clients)
	for i := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rawDial(t, addr)
			r.expect(220)
			r.login(userRW)
			port := r.epsv()
			data, err := dialDataFrom(t, "", "127.0.0.1", port)
			if err != nil {
				t.Error(err)
				return
			}
			defer data.Close()
			if err := r.tp.PrintfLine("RETR big.bin"); err != nil {
				t.Error(err)
				return
			}
			// A slow client: 2 KB every 100 ms, for a while, then it goes away.
			buf := make([]byte, rate/10)
			tick := time.NewTicker(100 * time.Millisecond)
			defer tick.Stop()
			for end := time.Now().Add(readFor); time.Now().Before(end); <-tick.C {
				n, err := io.ReadFull(data, buf)
				got[i] += int64(n)
				if err != nil {
					t.Errorf("client %d: %v after %d bytes", i, err, got[i])
					return
				}
			}
		}()
	}
	wg.Wait()
	peak, now := procMemory(t, cmd.Process.Pid)
	t.Logf("%d downloads of %s at %d B/s for %s (default budget): gateway RSS at start %s, peak (VmHWM) %s, at the end (VmRSS) %s",
		clients, fmtSize(size), rate, readFor, fmtSize(startRSS), fmtSize(peak), fmtSize(now))
	if peak > limit {
		t.Errorf("peak RSS %s with %d slow downloads: over %s", fmtSize(peak), clients, fmtSize(limit))
	}
	for i, n := range got {
		if n < rate*int64(readFor/time.Second)/2 {
			t.Errorf("client %d got only %d bytes in %s", i, n, readFor)
		}
	}
	code, page := httpGet(t, metrics)
	if code != 200 {
		t.Fatalf("/metrics: %d", code)
	}
	t.Logf("budget %s, in use at the end %s", fmtSize(int64(metricValue(t, page, "ftp2s3_memory_budget_bytes"))),
		fmtSize(int64(metricValue(t, page, "ftp2s3_memory_in_use_bytes"))))
}

// TestMemoryBudgetConcurrentUploads: 32 clients upload 32 MiB each at once
// under FTP2S3_MEMORY_LIMIT=128MiB. They wait for memory rather than fail, all
// complete with the right bytes, and the gateway stays within the budget plus
// the runtime's own 64 MiB. (Two 16 MiB parts each: without the budget they
// would hold up to 1 GiB at once; 64 MiB each only doubled the test's time.)
func TestMemoryBudgetConcurrentUploads(t *testing.T) {
	t.Parallel()
	const (
		size    = 32 << 20
		clients = 32
		budget  = 128 << 20
		limit   = budget + 64<<20
	)
	bin := buildBinary(t)
	bucket := bucketName(t)
	if err := minio.CreateBucket(context.Background(), bucket); err != nil {
		t.Fatal(err)
	}
	base, _ := io.ReadAll(newPattern(size, 6))
	env, metrics := binaryEnv(t, "FTP2S3_MEMORY_LIMIT=128MiB")
	addr, cmd := runBinary(t, bin, bucket, env...)

	start := time.Now()
	var wg sync.WaitGroup
	for i := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := ftp.Dial(addr, ftp.DialWithTimeout(time.Minute))
			if err != nil {
				t.Error(err)
				return
			}
			defer c.Quit()
			if err := c.Login(userRW, testPassword); err != nil {
				t.Error(err)
				return
			}
			if err := c.Stor(fmt.Sprintf("up-%02d.bin", i), rotatedBody(base, i*4099)); err != nil {
				t.Errorf("upload %d: %v", i, err)
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	peak, now := procMemory(t, cmd.Process.Pid)
	t.Logf("%d uploads of %s under FTP2S3_MEMORY_LIMIT=128MiB in %s: gateway peak RSS (VmHWM) %s, at the end (VmRSS) %s",
		clients, fmtSize(size), elapsed.Round(time.Millisecond), fmtSize(peak), fmtSize(now))
	if peak > limit {
		t.Errorf("peak RSS %s: over the budget plus 64 MiB (%s)", fmtSize(peak), fmtSize(limit))
	}
	if t.Failed() {
		return
	}
	// Every object is whole (read back from MinIO, a few at a time).
	sem := make(chan struct{}, 4)
	g := &testGateway{t: t, Bucket: bucket, S3: minio.Client()}
	for i := range clients {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			want, _ := sha256Of(rotatedBody(base, i*4099))
			if sum, n, err := g.object(fmt.Sprintf("up-%02d.bin", i)); err != nil || sum != want || n != size {
				t.Errorf("up-%02d.bin: %d bytes, %v; SHA-256 differs: %v", i, n, err, sum != want)
			}
		}()
	}
	wg.Wait()
	code, page := httpGet(t, metrics)
	if code != 200 {
		t.Fatalf("/metrics: %d", code)
	}
	waited := metricValue(t, page, "ftp2s3_memory_waited_bytes_total")
	t.Logf("%s of buffers waited for", fmtSize(int64(waited)))
	if waited == 0 {
		t.Error("32 uploads of 64 MiB never waited for a 128 MiB budget: the budget is not in force")
	}
}
