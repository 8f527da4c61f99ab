package integration

import (
	"fmt"
	"os"
	"os/exec"
	"testing"

	"github.com/ftp2s3/ftp2s3/integration/miniotest"
)

// minioEnv is the environment that points the ftp2s3 binary at the test MinIO
// through the AWS SDK's own chain, as in production, and nothing else.
func minioEnv() []string {
	return []string{
		"PATH=" + os.Getenv("PATH"),
		"AWS_ENDPOINT_URL_S3=" + minio.Endpoint, "AWS_REGION=us-east-1",
		"AWS_ACCESS_KEY_ID=" + miniotest.AccessKey, "AWS_SECRET_ACCESS_KEY=" + miniotest.SecretKey,
		"FTP2S3_S3_PATH_STYLE=true",
	}
}

// serveEnv is minioEnv plus a gateway that serves bucket to alice on a free
// loopback port, with a passive range of its own; it returns the control
// address too. Variables appended later win.
func serveEnv(t *testing.T, bucket string) ([]string, string) {
	t.Helper()
	port, err := freeTCPPort()
	if err != nil {
		t.Fatal(err)
	}
	lo, hi := freePortRange(t, 50)
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	return append(minioEnv(),
		"FTP2S3_BUCKET="+bucket,
		"FTP2S3_USERS="+userRW+":"+passwordHash(t),
		"FTP2S3_LISTEN="+addr,
		fmt.Sprintf("FTP2S3_PASSIVE_PORTS=%d-%d", lo, hi),
	), addr
}

// startBinary runs the real ftp2s3 with env and returns its logs, stopping it
// by its PID when the test ends. exited receives Wait's result once; whoever
// takes it puts a value back for the clean-up.
func startBinary(t *testing.T, bin string, env []string) (*exec.Cmd, *syncBuffer, chan error) {
	t.Helper()
	cmd := exec.Command(bin)
	cmd.Env = env
	logs := &syncBuffer{}
	cmd.Stderr = logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
		exited <- nil
	})
	return cmd, logs, exited
}
