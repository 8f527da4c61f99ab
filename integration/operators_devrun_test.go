package integration

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/ftp2s3/ftp2s3/integration/miniotest"
	"github.com/ftp2s3/ftp2s3/storage"
)

// TestOperatorsDevrun runs the README's first command (the devrun command,
// built once) the way a newcomer does, then every line of the README's "Try
// it" block as written, against it: the printed MinIO keys reach the bucket
// and see the uploads, and a second run keeps MinIO's port and data. devrun
// starts a MinIO of its own (that is what it is for), in a folder of this test.
func TestOperatorsDevrun(t *testing.T) {
	t.Parallel()
	bin := filepath.Join(t.TempDir(), "devrun")
	build := exec.Command("go", "build", "-o", bin, "./integration/devrun")
	build.Dir = miniotest.RepoRoot()
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build ./integration/devrun: %v\n%s", err, out)
	}
	dir := t.TempDir()
	port, err := freeTCPPort()
	if err != nil {
		t.Fatal(err)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	lo, hi := freePortRange(t, 10)
	env := []string{
		"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"),
		"DEVRUN_DIR=" + dir,
		"FTP2S3_LISTEN=" + addr,
		fmt.Sprintf("FTP2S3_PASSIVE_PORTS=%d-%d", lo, hi),
	}
	if c := os.Getenv("FTP2S3_CACHE"); c != "" {
		env = append(env, "FTP2S3_CACHE="+c) // where the pinned MinIO is
	}

	first := startDevrun(t, bin, env)
	s3c := storage.NewStaticClient(first.endpoint, first.region, first.key, first.secret, true)
	ctx := context.Background()
	if _, err := s3c.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String("ftp2s3")}); err != nil {
		t.Fatalf("the printed MinIO keys do not reach bucket ftp2s3: %v", err)
	}

	// The README's block, line by line, with this run's control address.
	work := t.TempDir()
	report := strings.Repeat("a report\n", 5000)
	if err := os.WriteFile(filepath.Join(work, "report.pdf"), []byte(report), 0o644); err != nil {
		t.Fatal(err)
	}
	lines := readmeBlock(t, "# tested by: TestOperatorsDevrun (each line")
	if len(lines) != 5 {
		t.Fatalf("the README's block has %d commands, want 5: %q", len(lines), lines)
	}
	for _, line := range lines {
		cmd := strings.ReplaceAll(line, "127.0.0.1:2121", addr)
		out, err := tryClient(t, work, "bash", "-c", "set -e; "+cmd+" --silent --show-error --max-time 60")
		if err != nil {
			t.Fatalf("%s: %v\n%s", cmd, err, out)
		}
		if strings.HasPrefix(line, "curl ftp://") && !strings.Contains(out, "report.pdf") {
			t.Errorf("the listing does not show report.pdf:\n%s", out)
		}
	}
	if b, err := os.ReadFile(filepath.Join(work, "copy.pdf")); err != nil || string(b) != report {
		t.Errorf("copy.pdf is not report.pdf (%v)", err)
	}
	for _, key := range []string{"report.pdf", "2026/11/report.pdf"} {
		h, err := s3c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("ftp2s3"), Key: aws.String(key)})
		if err != nil || aws.ToInt64(h.ContentLength) != int64(len(report)) {
			t.Errorf("object %s through the printed keys: %v", key, err)
		}
	}
	first.stop(t)

	// Run again: same MinIO port, same data.
	second := startDevrun(t, bin, env)
	if second.endpoint != first.endpoint {
		t.Errorf("MinIO moved from %s to %s between runs", first.endpoint, second.endpoint)
	}
	s3c = storage.NewStaticClient(second.endpoint, second.region, second.key, second.secret, true)
	if _, err := s3c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("ftp2s3"), Key: aws.String("report.pdf")}); err != nil {
		t.Errorf("report.pdf is gone after a restart: %v", err)
	}
	second.stop(t)
}

type devrun struct {
	cmd                           *exec.Cmd
	exited                        chan error
	endpoint, key, secret, region string
}

var minioLine = regexp.MustCompile(`MinIO: AWS_ENDPOINT_URL_S3=(\S+) AWS_ACCESS_KEY_ID=(\S+) AWS_SECRET_ACCESS_KEY=(\S+) AWS_REGION=(\S+)`)

// startDevrun starts bin and waits for the lines it prints once serving.
func startDevrun(t *testing.T, bin string, env []string) *devrun {
	t.Helper()
	cmd := exec.Command(bin)
	cmd.Env = env
	logs := &syncBuffer{}
	cmd.Stderr = logs
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	d := &devrun{cmd: cmd, exited: make(chan error, 1)}
	found := make(chan []string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if m := minioLine.FindStringSubmatch(sc.Text()); m != nil {
				found <- m[1:]
			}
		}
		_, _ = io.Copy(io.Discard, stdout)
		d.exited <- cmd.Wait()
	}()
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	select {
	case m := <-found:
		d.endpoint, d.key, d.secret, d.region = m[0], m[1], m[2], m[3]
	case err := <-d.exited:
		t.Fatalf("devrun exited before serving: %v\n%s", err, logs)
	case <-time.After(5 * time.Minute):
		t.Fatalf("devrun printed no MinIO line within 5 minutes\n%s", logs)
	}
	return d
}

// stop interrupts devrun as Ctrl-C does and expects a clean exit.
func (d *devrun) stop(t *testing.T) {
	t.Helper()
	_ = d.cmd.Process.Signal(syscall.SIGINT)
	select {
	case err := <-d.exited:
		if err != nil {
			t.Errorf("devrun after Ctrl-C: %v", err)
		}
	case <-time.After(time.Minute):
		t.Fatal("devrun did not stop within a minute of SIGINT")
	}
}

// readmeBlock returns the commands of the README's shell block whose first
// line is marker, without their comments.
func readmeBlock(t *testing.T, marker string) []string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(miniotest.RepoRoot(), "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(b), marker)
	if !ok {
		t.Fatalf("README.md has no block marked %q", marker)
	}
	_, rest, _ = strings.Cut(rest, "\n")
	block, _, _ := strings.Cut(rest, "```")
	var lines []string
	for _, l := range strings.Split(block, "\n") {
		if cmd, _, _ := strings.Cut(l, "#"); strings.TrimSpace(cmd) != "" {
			lines = append(lines, strings.TrimSpace(cmd))
		}
	}
	return lines
}
