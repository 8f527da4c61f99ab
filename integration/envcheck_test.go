package integration

import (
	"bytes"
	"errors"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

// misspelledEnv is a working configuration plus one misspelled variable.
func misspelledEnv(strict string) []string {
	return append(minioEnv(), "FTP2S3_LISTEN=127.0.0.1:0",
		"FTP2S3_PASIVE_PORTS=31000-31009",
		"FTP2S3_STRICT_ENV="+strict,
	)
}

// TestMisspelledVariableWarns: the binary starts, and its log names the
// unknown variable and the one that was meant.
func TestMisspelledVariableWarns(t *testing.T) {
	t.Parallel()
	bin := buildBinary(t)
	cmd := exec.Command(bin)
	cmd.Env = misspelledEnv("false")
	logs := &syncBuffer{}
	cmd.Stderr = logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
	})
	waitUntil(t, "the gateway to listen", 30*time.Second, func() bool {
		return strings.Contains(logs.String(), "ftp2s3 listening")
	})
	if !strings.Contains(logs.String(), "variable=FTP2S3_PASIVE_PORTS did_you_mean=FTP2S3_PASSIVE_PORTS") {
		t.Errorf("no warning names the misspelled variable:\n%s", logs)
	}
}

// TestMisspelledVariableStrict: with FTP2S3_STRICT_ENV=true the same
// environment stops the binary with status 2 and a line naming both names.
func TestMisspelledVariableStrict(t *testing.T) {
	t.Parallel()
	bin := buildBinary(t)
	cmd := exec.Command(bin)
	cmd.Env = misspelledEnv("true")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 2 {
		t.Fatalf("exit: %v, want status 2; stderr:\n%s", err, stderr.String())
	}
	want := "ftp2s3: configuration: FTP2S3_PASIVE_PORTS is not a variable ftp2s3 reads (did you mean FTP2S3_PASSIVE_PORTS?)"
	if strings.TrimSpace(stderr.String()) != want {
		t.Errorf("stderr:\n%s\nwant the single line:\n%s", stderr.String(), want)
	}
}
