package integration

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ftp2s3/ftp2s3/integration/miniotest"
)

// TestOperatorsBuildImages runs scripts/build-images.sh, the offline image
// build docs/containers.md gives operators, under tags of this run, and checks
// what compose relies on: both images run as user 65532 from their own
// binaries, the gateway image exposes exactly what docker-compose.yml
// publishes, and MinIO's /data belongs to its user (a fresh volume is
// writable). Its images carry this run's tags, so it runs beside the others.
func TestOperatorsBuildImages(t *testing.T) {
	t.Parallel()
	requireDocker(t)
	id := runID()
	gw, mn := "ftp2s3-opstest-"+id+":local", "ftp2s3-opstest-"+id+"-minio:local"
	t.Cleanup(func() { _ = exec.Command("docker", "rmi", "-f", gw, mn).Run() })

	start := time.Now()
	cmd := exec.Command("bash", filepath.Join(miniotest.RepoRoot(), "scripts", "build-images.sh"))
	cmd.Env = append(os.Environ(), "GATEWAY_IMAGE="+gw, "MINIO_IMAGE="+mn)
	out, err := runLogged(cmd)
	if err != nil {
		t.Fatalf("scripts/build-images.sh: %v\n%s", err, out)
	}
	t.Logf("images built in %s", time.Since(start).Round(time.Second))

	type config struct {
		User         string
		ExposedPorts map[string]struct{}
		Entrypoint   []string
	}
	inspect := func(image string) config {
		var c []struct{ Config config }
		if err := json.Unmarshal([]byte(dockerOut(t, "image", "inspect", image)), &c); err != nil || len(c) != 1 {
			t.Fatalf("docker image inspect %s: %v", image, err)
		}
		return c[0].Config
	}
	g := inspect(gw)
	if g.User != "65532:65532" || strings.Join(g.Entrypoint, " ") != "/usr/local/bin/ftp2s3" {
		t.Errorf("gateway image: user %q, entrypoint %v", g.User, g.Entrypoint)
	}
	var exposed []string
	for p := range g.ExposedPorts {
		exposed = append(exposed, p)
	}
	if len(exposed) != 2 || g.ExposedPorts["2121/tcp"] != struct{}{} || g.ExposedPorts["9100/tcp"] != struct{}{} {
		t.Errorf("gateway image exposes %v, want 2121/tcp and 9100/tcp (what docker-compose.yml publishes)", exposed)
	}
	if hash := dockerOut(t, "run", "--rm", gw, "hash-password", "a long password"); !strings.HasPrefix(hash, "$2a$") {
		t.Errorf("the gateway image's hash-password printed %q", hash)
	}

	m := inspect(mn)
	if m.User != "65532:65532" || strings.Join(m.Entrypoint, " ") != "/usr/local/bin/minio" {
		t.Errorf("MinIO image: user %q, entrypoint %v", m.User, m.Entrypoint)
	}
	if v := dockerOut(t, "run", "--rm", mn, "--version"); !strings.Contains(v, "minio version") {
		t.Errorf("minio --version in the image printed %q", v)
	}
	ctr := dockerOut(t, "create", mn)
	defer func() { _ = exec.Command("docker", "rm", ctr).Run() }()
	listing, err := exec.Command("bash", "-c", "docker export "+ctr+" | tar -tvf - --numeric-owner").CombinedOutput()
	if err != nil {
		t.Fatalf("docker export: %v\n%s", err, listing)
	}
	for _, line := range strings.Split(string(listing), "\n") {
		if strings.HasSuffix(line, " data/") && !strings.Contains(line, "65532/65532") {
			t.Errorf("MinIO's /data is not its user's: %s", line)
		}
		if strings.HasSuffix(line, "usr/local/bin/healthprobe") && !strings.HasPrefix(line, "-rwx") {
			t.Errorf("healthprobe is not executable: %s", line)
		}
	}
}
