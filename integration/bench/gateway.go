package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/ftp2s3/ftp2s3/gateway"
	"github.com/ftp2s3/ftp2s3/integration/miniotest"
)

// gatewayProc is ftp2s3 under test: a subprocess built from ./cmd/ftp2s3, so that
// its memory and CPU can be read from /proc, or, for CPU profiling, the gateway
// package running inside the benchmark itself.
type gatewayProc struct {
	bin     string
	env     []string
	addr    string
	logPath string
	// metricsAddr serves the gateway's /metrics, whose S3 request counter
	// gives the requests per file of the small-file rows
	metricsAddr string
	inProc      bool
	// timer times the in-process gateway's S3 requests (W4/W6 phase tables)
	timer    *s3Timer
	cmd      *exec.Cmd
	exited   chan struct{}
	cancel   context.CancelFunc
	runDone  chan error
	restarts int
}

// buildGateway compiles ./cmd/ftp2s3 into dir.
func buildGateway(dir string) (string, error) {
	bin := filepath.Join(dir, "ftp2s3")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/ftp2s3")
	cmd.Dir = miniotest.RepoRoot()
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("go build ./cmd/ftp2s3: %w", err)
	}
	return bin, nil
}

// gatewayEnv is the gateway's configuration: defaults everywhere except what
// loopback needs.
func gatewayEnv(m *miniotest.Server, bucket, addr string, passiveLo int, usersLine string) []string {
	return []string{
		"AWS_ENDPOINT_URL_S3=" + m.Endpoint,
		"AWS_ACCESS_KEY_ID=" + miniotest.AccessKey,
		"AWS_SECRET_ACCESS_KEY=" + miniotest.SecretKey,
		"AWS_REGION=us-east-1",
		"FTP2S3_S3_PATH_STYLE=true",
		"FTP2S3_LISTEN=" + addr,
		fmt.Sprintf("FTP2S3_PASSIVE_PORTS=%d-%d", passiveLo, passiveLo+199),
		"FTP2S3_BUCKET=" + bucket,
		"FTP2S3_USERS=" + usersLine,
	}
}

func (g *gatewayProc) start() error {
	if g.inProc {
		return g.startInProcess()
	}
	logf, err := os.OpenFile(g.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer logf.Close()
	cmd := exec.Command(g.bin)
	cmd.Env = append(minimalEnv(), g.env...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start ftp2s3: %w", err)
	}
	g.cmd, g.exited = cmd, make(chan struct{})
	go func() { _ = cmd.Wait(); close(g.exited) }()
	return g.waitListening()
}

// minimalEnv keeps PATH and HOME but drops any FTP2S3_* or AWS_* of the caller,
// so the run is reproducible.
func minimalEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "FTP2S3_") || strings.HasPrefix(kv, "AWS_") {
			continue
		}
		env = append(env, kv)
	}
	return env
}

func (g *gatewayProc) startInProcess() error {
	for _, kv := range g.env {
		k, v, _ := strings.Cut(kv, "=")
		if err := os.Setenv(k, v); err != nil {
			return err
		}
	}
	cfg, problems := gateway.LoadConfig()
	if len(problems) > 0 {
		return fmt.Errorf("gateway configuration: %v", errors.Join(problems...))
	}
	cfg.LogLevel = gateway.LogLevel(slog.LevelWarn)
	cfg.S3.APIOptions = append(cfg.S3.APIOptions, g.timer.middleware)
	ctx, cancel := context.WithCancel(context.Background())
	gw, err := gateway.New(ctx, cfg, cfg.NewLogger())
	if err != nil {
		cancel()
		return err
	}
	g.cancel, g.runDone = cancel, make(chan error, 1)
	go func() { g.runDone <- gw.Run(ctx) }()
	return g.waitListening()
}

func (g *gatewayProc) waitListening() error {
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if g.exited != nil {
			select {
			case <-g.exited:
				return fmt.Errorf("ftp2s3 exited during start-up; see %s", g.logPath)
			default:
			}
		}
		c, err := net.DialTimeout("tcp", g.addr, time.Second)
		if err == nil {
			_ = c.Close()
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("ftp2s3 not listening on %s after 30s", g.addr)
}

func (g *gatewayProc) stop() {
	if g.inProc {
		if g.cancel != nil {
			g.cancel()
			<-g.runDone
			g.cancel = nil
		}
		return
	}
	if g.cmd == nil {
		return
	}
	_ = g.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-g.exited:
	case <-time.After(10 * time.Second):
		_ = g.cmd.Process.Kill()
		<-g.exited
	}
	g.cmd = nil
}

func (g *gatewayProc) restart() error {
	g.stop()
	g.restarts++
	return g.start()
}

func (g *gatewayProc) procDir() string {
	if g.inProc {
		return "/proc/self"
	}
	return "/proc/" + strconv.Itoa(g.cmd.Process.Pid)
}

// resetPeak sets VmHWM back to the current RSS (Linux: "5" > clear_refs).
func (g *gatewayProc) resetPeak() error {
	return os.WriteFile(filepath.Join(g.procDir(), "clear_refs"), []byte("5"), 0)
}

// peakRSS is VmHWM in bytes.
func (g *gatewayProc) peakRSS() (int64, error) {
	b, err := os.ReadFile(filepath.Join(g.procDir(), "status"))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			f := strings.Fields(rest)
			kb, err := strconv.ParseInt(f[0], 10, 64)
			return kb << 10, err
		}
	}
	return 0, errors.New("no VmHWM in " + g.procDir() + "/status")
}

// cpuSeconds is user+system CPU time of the gateway so far.
func (g *gatewayProc) cpuSeconds() (float64, error) { return procCPU(g.procDir()) }

// procCPU is user+system CPU time of the process whose /proc folder is dir.
func procCPU(dir string) (float64, error) {
	b, err := os.ReadFile(filepath.Join(dir, "stat"))
	if err != nil {
		return 0, err
	}
	s := string(b)
	// Fields after the command name (which may hold spaces) start after ')'.
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	utime, err1 := strconv.ParseFloat(f[11], 64)
	stime, err2 := strconv.ParseFloat(f[12], 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, fmt.Errorf("parse %s/stat: %w", dir, err)
	}
	return (utime + stime) / 100, nil // USER_HZ is 100 on Linux
}

// metrics returns the lines of the gateway's /metrics.
func (g *gatewayProc) metrics() ([]string, error) {
	resp, err := http.Get("http://" + g.metricsAddr + "/metrics")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	return strings.Split(string(body), "\n"), nil
}

// sumMetric adds up the values of the lines of lines that start with prefix.
func sumMetric(lines []string, prefix string) (float64, error) {
	var total float64
	for _, line := range lines {
		if !strings.HasPrefix(line, prefix) {
			continue
		}
		f := strings.Fields(line)
		v, err := strconv.ParseFloat(f[len(f)-1], 64)
		if err != nil {
			return 0, fmt.Errorf("parse %q: %w", line, err)
		}
		total += v
	}
	return total, nil
}

// s3Requests is the number of S3 requests the gateway has sent so far (its
// ftp2s3_s3_requests_total, every operation and result).
func (g *gatewayProc) s3Requests() (float64, error) {
	lines, err := g.metrics()
	if err != nil {
		return 0, err
	}
	return sumMetric(lines, "ftp2s3_s3_requests_total{")
}

// s3Seconds is the total time the gateway has spent in S3 requests of operation
// op so far, and their number (its ftp2s3_s3_request_duration_seconds).
func (g *gatewayProc) s3Seconds(op string) (sum, count float64, err error) {
	lines, err := g.metrics()
	if err != nil {
		return 0, 0, err
	}
	label := `{operation="` + op + `"}`
	sum, err1 := sumMetric(lines, "ftp2s3_s3_request_duration_seconds_sum"+label)
	count, err2 := sumMetric(lines, "ftp2s3_s3_request_duration_seconds_count"+label)
	return sum, count, errors.Join(err1, err2)
}

// gcCycles is the number of garbage collections the gateway has run so far (its
// go_gc_duration_seconds_count).
func (g *gatewayProc) gcCycles() (float64, error) {
	lines, err := g.metrics()
	if err != nil {
		return 0, err
	}
	return sumMetric(lines, "go_gc_duration_seconds_count")
}
