// Package miniotest installs and runs a real MinIO server on loopback for tests,
// benchmarks and the local run command.
package miniotest

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/ftp2s3/ftp2s3/storage"
)

// Credentials of the MinIO root user the harness starts with.
const (
	AccessKey = "ftp2s3admin"
	SecretKey = "ftp2s3-secret-key"
)

// RepoRoot returns the repository's top folder (where go.mod is).
func RepoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

// Install runs scripts/install-minio.sh, which builds the pinned MinIO once into
// a cache folder, and returns the binary's path.
func Install() (string, error) {
	cmd := exec.Command("bash", filepath.Join(RepoRoot(), "scripts", "install-minio.sh"))
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("install MinIO with scripts/install-minio.sh: %w", err)
	}
	return strings.TrimSpace(string(out)), nil
}

// Server is a running MinIO.
type Server struct {
	Endpoint string // http://127.0.0.1:port
	DataDir  string
	bin      string
	port     int
	console  int
	env      []string // extra environment, kept for Restart
	args     []string // extra arguments of "minio server", kept for Restart
	cmd      *exec.Cmd
	exited   chan struct{}
}

// FreePort returns a TCP port that was free on 127.0.0.1 a moment ago, for a
// server to bind. It comes from above Linux's ephemeral range (32768-60999 by
// default), not from it as net.Listen(":0") would: a port from that range may
// be taken by any process's outgoing connection before the server binds it,
// which made MinIO exit at start-up while a parallel suite ran. Below the
// ephemeral range, the integration tests hand out passive ranges
// (integration/ports_helpers_test.go), so this range is apart from both.
func FreePort() (int, error) {
	lo, hi := ownPortsLo, ownPortsHi
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		var elo, ehi int
		if _, err := fmt.Sscan(string(b), &elo, &ehi); err == nil && ehi >= lo {
			lo = ehi + 1 // a machine with a wider ephemeral range
		}
	}
	for range 200 {
		if lo >= hi {
			break
		}
		port := lo + rand.IntN(hi-lo)
		l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err != nil {
			continue
		}
		l.Close()
		return port, nil
	}
	// No room above the ephemeral range: let the kernel choose.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// ownPortsLo-ownPortsHi is where FreePort looks first.
const ownPortsLo, ownPortsHi = 61000, 65500

// Start installs MinIO if needed and starts it on a free loopback port with its
// data in dataDir. port 0 picks one.
func Start(dataDir string, port int) (*Server, error) { return StartEnv(dataDir, port) }

// StartEnv is Start with extra MINIO_* environment variables (for example the
// MINIO_NOTIFY_WEBHOOK_* of a notification target).
func StartEnv(dataDir string, port int, env ...string) (*Server, error) {
	return StartArgs(dataDir, port, nil, env...)
}

// StartArgs is StartEnv with extra arguments of "minio server" (the bench's
// MinIO FTP peer: --ftp=...).
func StartArgs(dataDir string, port int, args []string, env ...string) (*Server, error) {
	bin, err := Install()
	if err != nil {
		return nil, err
	}
	if port == 0 {
		if port, err = FreePort(); err != nil {
			return nil, err
		}
	}
	console, err := FreePort()
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dataDir, 0o755); err != nil {
		return nil, err
	}
	s := &Server{Endpoint: fmt.Sprintf("http://127.0.0.1:%d", port), DataDir: dataDir, bin: bin, port: port, console: console, env: env, args: args}
	if err := s.launch(); err != nil {
		return nil, err
	}
	return s, nil
}

// launch starts the MinIO process and waits until it is ready.
func (s *Server) launch() error {
	logf, err := os.OpenFile(s.logPath(),
		os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer logf.Close()
	args := append([]string{"server", "--quiet", "--address", fmt.Sprintf("127.0.0.1:%d", s.port),
		"--console-address", fmt.Sprintf("127.0.0.1:%d", s.console)}, s.args...)
	cmd := exec.Command(s.bin, append(args, s.DataDir)...)
	cmd.Env = append(os.Environ(), "MINIO_ROOT_USER="+AccessKey, "MINIO_ROOT_PASSWORD="+SecretKey,
		"MINIO_BROWSER=off", "MINIO_UPDATE=off", "MINIO_API_REQUESTS_MAX=10000")
	cmd.Env = append(cmd.Env, s.env...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start MinIO: %w", err)
	}
	exited := make(chan struct{})
	s.cmd, s.exited = cmd, exited
	go func() { _ = cmd.Wait(); close(exited) }()
	if err := s.waitReady(60 * time.Second); err != nil {
		s.Stop()
		return err
	}
	return nil
}

// Kill ends MinIO at once (SIGKILL by its PID), as a crash or an outage would,
// and waits until it has exited; Restart brings the same server back.
func (s *Server) Kill() {
	_ = s.cmd.Process.Kill()
	<-s.exited
}

// Restart starts a killed or stopped server again on the same port with the
// same data, and waits until it is ready.
func (s *Server) Restart() error {
	select {
	case <-s.exited:
	default:
		return errors.New("MinIO is still running")
	}
	return s.launch()
}

func (s *Server) waitReady(limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		select {
		case <-s.exited:
			return fmt.Errorf("MinIO exited during start-up (%s); its log ends:\n%s", s.cmd.ProcessState, s.logTail())
		default:
		}
		resp, err := http.Get(s.Endpoint + "/minio/health/ready")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("MinIO at %s not ready after %s", s.Endpoint, limit)
}

// logTail is the end of MinIO's log (launch), for an error that ends the
// run before anyone could read the file.
func (s *Server) logTail() string {
	b, err := os.ReadFile(s.logPath())
	if err != nil {
		return err.Error()
	}
	return string(b[max(0, len(b)-2048):])
}

func (s *Server) logPath() string {
	return filepath.Join(filepath.Dir(s.DataDir), filepath.Base(s.DataDir)+".log")
}

// PID returns MinIO's process id.
func (s *Server) PID() int { return s.cmd.Process.Pid }

// Stop ends MinIO by its PID: SIGTERM, then SIGKILL after five seconds. A
// server that has already exited (Kill) is left as it is.
func (s *Server) Stop() {
	select {
	case <-s.exited:
		return
	default:
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.exited:
	case <-time.After(5 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.exited
	}
}

// Client returns an S3 client for the root user.
func (s *Server) Client() *s3.Client {
	return storage.NewStaticClient(s.Endpoint, "us-east-1", AccessKey, SecretKey, true)
}

// CreateBucket makes a bucket (no error if it is there already). A MinIO
// that reports ready may still answer 503 XMinioServerNotInitialized for a
// while on a loaded machine, beyond the SDK's own three attempts: that answer
// is asked again for up to a minute.
func (s *Server) CreateBucket(ctx context.Context, name string) error {
	deadline := time.Now().Add(time.Minute)
	for {
		_, err := s.Client().CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(name)})
		switch {
		case err == nil || strings.Contains(err.Error(), "BucketAlreadyOwnedByYou"):
			return nil
		case strings.Contains(err.Error(), "NotInitialized") && time.Now().Before(deadline):
			select {
			case <-ctx.Done():
				return fmt.Errorf("create bucket %s: %w", name, err)
			case <-time.After(500 * time.Millisecond):
			}
		default:
			return fmt.Errorf("create bucket %s: %w", name, err)
		}
	}
}
