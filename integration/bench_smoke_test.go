package integration

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/ftp2s3/ftp2s3/integration/miniotest"
)

// TestBenchSmoke runs the benchmark with tiny sizes so that it cannot rot. It
// asserts that every workload produced a figure, never how fast it was.
func TestBenchSmoke(t *testing.T) {
	t.Parallel()
	out := filepath.Join(t.TempDir(), "smoke.md")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	// The MinIO FTP peer only: it comes with the MinIO the suite builds anyway,
	// while rclone's first build (scripts/install-rclone.sh) takes many minutes.
	cmd := exec.CommandContext(ctx, "go", "run", "./integration/bench", "-smoke", "-peers", "minio", "-out", out)
	cmd.Dir = miniotest.RepoRoot()
	logs, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("go run ./integration/bench -smoke: %v\n%s", err, logs)
	}
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	text := string(data)
	if strings.Contains(text, "ERROR") {
		t.Fatalf("a workload failed:\n%s", text)
	}
	number := `[0-9]+(\.[0-9]+)?`
	for _, id := range []string{"W1", "W1a", "W2", "W2a", "W3", "W4", "W5cold", "W5cached", "W6", "W7", "W8"} {
		// | W1 what | unit | ftp2s3 figure | direct figure | ratio | ...
		re := regexp.MustCompile(`(?m)^\| ` + id + ` [^|]*\| [^|]+ \| ` + number + `[^|]*\| ` + number + `[^|]*\| ` + number + ` \|`)
		if !re.MatchString(text) {
			t.Errorf("no figures for %s in the smoke results:\n%s", id, text)
		}
	}
	for _, id := range []string{"W4", "W6", "W7", "W8"} {
		// ... | ratio | p50 / p99 ; p50 / p99 | ...: per-file latencies, both sides
		re := regexp.MustCompile(`(?m)^\| ` + id + ` .*\| ` + number + ` / ` + number + ` ; ` + number + ` / ` + number + ` \|`)
		if !re.MatchString(text) {
			t.Errorf("no per-file latencies for %s in the smoke results:\n%s", id, text)
		}
	}
	for _, id := range []string{"W1", "W2", "W4", "W6"} {
		// | W4 what | MinIO FTP (...) | figure unit | ratio | ...: the peer's row
		re := regexp.MustCompile(`(?m)^\| ` + id + ` [^|]*\| MinIO FTP [^|]*\| ` + number + ` [^|]*\| ` + number + ` \|`)
		if !re.MatchString(text) {
			t.Errorf("no MinIO FTP peer figures for %s in the smoke results:\n%s", id, text)
		}
	}
	if !regexp.MustCompile(`W4 ftp2s3 ≥ 1.2× the best peer \(issue 24 §1\): (met|MISSED);`).MatchString(text) {
		t.Errorf("no peer target line in the smoke results:\n%s", text)
	}
	if !strings.Contains(text, "go run ./integration/bench -smoke") {
		t.Errorf("results do not record the command:\n%s", text)
	}
}
