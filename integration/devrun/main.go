// Command devrun runs ftp2s3 for real on this machine: it installs the pinned
// MinIO if needed, starts it on loopback with its data under .local/, creates a
// bucket and a user, and serves FTP until interrupted.
//
//	go run ./integration/devrun
//
// Every FTP2S3_* variable still applies (FTP2S3_LISTEN, FTP2S3_PASSIVE_PORTS, …).
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/ftp2s3/ftp2s3/gateway"
	"github.com/ftp2s3/ftp2s3/gateway/auth"
	"github.com/ftp2s3/ftp2s3/integration/miniotest"
)

const (
	bucket   = "ftp2s3"
	user     = "demo"
	password = "demo"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "devrun:", err)
		os.Exit(1)
	}
}

func run() error {
	dataDir := filepath.Join(miniotest.RepoRoot(), ".local", "minio-data")
	fmt.Fprintln(os.Stderr, "starting MinIO (data in", dataDir+")…")
	m, err := miniotest.Start(dataDir, 0)
	if err != nil {
		return err
	}
	defer m.Stop()
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := m.CreateBucket(ctx, bucket); err != nil {
		return err
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
	fmt.Printf("  try:  curl -T README.md ftp://%s:%s@%s/\n", user, password, cfg.Listen)
	fmt.Printf("        curl ftp://%s:%s@%s/\n", user, password, cfg.Listen)
	fmt.Printf("Ctrl-C stops both.\n\n")
	return g.Run(ctx)
}
