// Command devrun runs ftp2s3 for real on this machine: it installs the pinned
// MinIO if needed, starts it on loopback with its data under .local/, creates a
// bucket and a user, prints how to reach both, and serves FTP until
// interrupted.
//
//	go run ./integration/devrun
//
// Every FTP2S3_* variable still applies (FTP2S3_LISTEN, FTP2S3_PASSIVE_PORTS, …).
// DEVRUN_DIR moves .local/ elsewhere (the tests give each run its own).
// MinIO listens on the port it had last time (remembered in minio-port there),
// 9000 the first time, so S3 clients pointed at it keep working; another free
// port only when that one is taken.
package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/ftp2s3/ftp2s3/gateway"
	"github.com/ftp2s3/ftp2s3/gateway/auth"
	"github.com/ftp2s3/ftp2s3/integration/miniotest"
)

const (
	bucket   = "ftp2s3"
	user     = "demo"
	password = "demo"

	// defaultMinIOPort is MinIO's own default, what S3 tools assume.
	defaultMinIOPort = 9000
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "devrun:", err)
		os.Exit(1)
	}
}

func run() error {
	dir := os.Getenv("DEVRUN_DIR")
	if dir == "" {
		dir = filepath.Join(miniotest.RepoRoot(), ".local")
	}
	dataDir := filepath.Join(dir, "minio-data")
	port, err := minioPort(filepath.Join(dir, "minio-port"))
	if err != nil {
		return err
	}
	fmt.Fprintln(os.Stderr, "starting MinIO (data in", dataDir+")…")
	m, err := miniotest.Start(dataDir, port)
	if err != nil {
		return err
	}
	defer m.Stop()
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	// MinIO may answer 503 "server not initialized" for a moment after its
	// readiness check passed (seen on a busy machine): try for a while.
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(500 * time.Millisecond) {
		err := m.CreateBucket(ctx, bucket)
		if err == nil {
			break
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return err
		}
	}
	hash, err := auth.HashPassword(password)
	if err != nil {
		return err
	}
	// The gateway reads S3 settings through the AWS SDK's own chain, as in
	// production; point it at the MinIO just started.
	setDefault := func(k, v string) {
		if os.Getenv(k) == "" {
			_ = os.Setenv(k, v)
		}
	}
	_ = os.Setenv("AWS_ENDPOINT_URL_S3", m.Endpoint)
	_ = os.Setenv("AWS_ACCESS_KEY_ID", miniotest.AccessKey)
	_ = os.Setenv("AWS_SECRET_ACCESS_KEY", miniotest.SecretKey)
	setDefault("AWS_REGION", "us-east-1")
	setDefault("FTP2S3_S3_PATH_STYLE", "true")
	setDefault("FTP2S3_LISTEN", "127.0.0.1:2121")
	setDefault("FTP2S3_BUCKET", bucket)
	setDefault("FTP2S3_USERS", user+":"+hash)

	cfg, problems := gateway.LoadConfig()
	if len(problems) > 0 {
		for _, p := range problems {
			fmt.Fprintln(os.Stderr, "configuration:", p)
		}
		os.Exit(2)
	}
	g, err := gateway.New(ctx, cfg, cfg.NewLogger())
	if err != nil {
		return err
	}
	fmt.Printf("\nftp2s3 is serving bucket %q of MinIO %s (pid %d)\n", bucket, m.Endpoint, m.PID())
	fmt.Printf("  user %q, password %q, control port %s, passive ports %s\n", user, password, cfg.Listen, cfg.PassivePorts)
	fmt.Printf("  MinIO: AWS_ENDPOINT_URL_S3=%s AWS_ACCESS_KEY_ID=%s AWS_SECRET_ACCESS_KEY=%s AWS_REGION=%s\n",
		m.Endpoint, miniotest.AccessKey, miniotest.SecretKey, os.Getenv("AWS_REGION"))
	fmt.Printf("  try:  curl -T README.md ftp://%s:%s@%s/\n", user, password, cfg.Listen)
	fmt.Printf("        curl ftp://%s:%s@%s/\n", user, password, cfg.Listen)
	fmt.Printf("Ctrl-C stops both.\n\n")
	return g.Run(ctx)
}

// minioPort is the port MinIO had last time (from file), or 9000, when it is
// free; otherwise a free one. The choice is written back to file.
func minioPort(file string) (int, error) {
	want := defaultMinIOPort
	if b, err := os.ReadFile(file); err == nil {
		if p, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && p > 0 && p < 65536 {
			want = p
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return 0, err
	}
	port := want
	if l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(want))); err == nil {
		_ = l.Close()
	} else {
		if port, err = miniotest.FreePort(); err != nil {
			return 0, err
		}
		fmt.Fprintf(os.Stderr, "MinIO's port %d is taken; using %d from now on\n", want, port)
	}
	if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
		return 0, err
	}
	return port, os.WriteFile(file, []byte(strconv.Itoa(port)+"\n"), 0o644)
}
