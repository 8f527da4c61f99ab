package integration

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// buildBinary compiles cmd/ftp2s3 once per test binary, the way the Dockerfile
// does (goBuildStaticCmd), into the folder TestMain removes, and returns its
// path; tests only run it, never change it.
func buildBinary(t *testing.T) string {
	t.Helper()
	bin, err := builtBinary()
	if err != nil {
		t.Fatal(err)
	}
	return bin
}

var builtBinary = sync.OnceValues(func() (string, error) {
	bin := filepath.Join(scratchDir, "ftp2s3")
	if out, err := goBuildStaticCmd("./cmd/ftp2s3", bin).CombinedOutput(); err != nil {
		return "", fmt.Errorf("build: %v\n%s", err, out)
	}
	return bin, nil
})

func repoRoot() string {
	wd, _ := os.Getwd()
	return filepath.Dir(wd)
}

func TestInvalidConfigurationExits2(t *testing.T) {
	t.Parallel()
	bin := buildBinary(t)
	cmd := exec.Command(bin)
	cmd.Env = []string{
		"PATH=" + os.Getenv("PATH"),
		"FTP2S3_PASSIVE_PORTS=40000-30000",
		"FTP2S3_PART_SIZE=-5MiB",
		"FTP2S3_TLS=sometimes",
		"FTP2S3_CACHE_TTL=soon",
		"FTP2S3_USERS_FILE=/nonexistent/users",
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 2 {
		t.Fatalf("exit status: %v, want 2; stderr:\n%s", err, stderr.String())
	}
	for _, name := range []string{"FTP2S3_PASSIVE_PORTS", "FTP2S3_PART_SIZE", "FTP2S3_TLS", "FTP2S3_CACHE_TTL", "FTP2S3_USERS_FILE"} {
		if !strings.Contains(stderr.String(), name) {
			t.Errorf("no line names %s; stderr:\n%s", name, stderr.String())
		}
	}
}

func TestHashPasswordCommand(t *testing.T) {
	t.Parallel()
	bin := buildBinary(t)
	cmd := exec.Command(bin, "hash-password")
	cmd.Stdin = strings.NewReader("hunter2\n")
	out, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	h := strings.TrimSpace(string(out))
	if !strings.HasPrefix(h, "$2a$") || len(h) != 60 {
		t.Fatalf("hash-password printed %q, want a bcrypt hash", h)
	}
	if strings.Contains(h, "hunter2") {
		t.Fatal("the hash contains the password")
	}
}
