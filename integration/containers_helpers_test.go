package integration

import (
	"archive/tar"
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/ftp2s3/ftp2s3/integration/miniotest"
)

// The container tests build every image they run on this machine (no registry
// is reachable): static binaries built on the host go into images made FROM
// scratch, through the last stage of the repository's own Dockerfiles, and
// the compose files run with an override that names those images and changes
// nothing else. Every image, container, network and volume carries the run's
// id and is removed at the end.

// dockerOut runs docker and returns its standard output; any failure ends the
// test with docker's own words.
func dockerOut(t *testing.T, args ...string) string {
	t.Helper()
	out, err := runLogged(exec.Command("docker", args...))
	if err != nil {
		t.Fatalf("docker %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(out)
}

// runLogged runs cmd and returns its combined output.
func runLogged(cmd *exec.Cmd) (string, error) {
	var buf bytes.Buffer
	cmd.Stdout, cmd.Stderr = &buf, &buf
	err := cmd.Run()
	return buf.String(), err
}

// requireDocker fails the test unless a Docker Engine answers and a compose
// tool is installed (scripts/install-deps.sh installs and starts both).
func requireDocker(t *testing.T) {
	t.Helper()
	if out, err := exec.Command("docker", "version", "--format", "{{.Server.Version}}").CombinedOutput(); err != nil {
		t.Fatalf("no Docker Engine answers (scripts/install-deps.sh installs and starts one): %v\n%s", err, out)
	}
	if len(composeCommand()) == 0 {
		t.Fatal("neither docker-compose nor `docker compose` is installed (scripts/install-deps.sh installs docker-compose)")
	}
}

// composeCommand is docker-compose (v1, Debian's) when installed, else the
// Compose v2 plugin.
func composeCommand() []string {
	if p, err := exec.LookPath("docker-compose"); err == nil {
		return []string{p}
	}
	if exec.Command("docker", "compose", "version").Run() == nil {
		return []string{"docker", "compose"}
	}
	return nil
}

// runID names everything one test run makes.
func runID() string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// tarEntry is one file or folder of an image made from a tar stream.
type tarEntry struct {
	path     string // inside the image, without a leading slash
	from     string // host file to copy (symlinks followed); empty: body
	body     string
	dir      bool
	mode     int64
	uid, gid int
}

// importImage makes image tag from entries with `docker import`, which keeps
// the owners the tar stream gives (COPY from a build context would not).
func importImage(t *testing.T, tag string, entries []tarEntry, changes ...string) {
	t.Helper()
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(writeTar(pw, entries)) }()
	args := []string{"import"}
	for _, c := range changes {
		args = append(args, "--change", c)
	}
	cmd := exec.Command("docker", append(args, "-", tag)...)
	cmd.Stdin = pr
	out, err := runLogged(cmd)
	_ = pr.Close()
	if err != nil {
		t.Fatalf("docker import %s: %v\n%s", tag, err, out)
	}
}

func writeTar(w io.Writer, entries []tarEntry) error {
	tw := tar.NewWriter(w)
	for _, e := range entries {
		h := &tar.Header{Name: e.path, Mode: e.mode, Uid: e.uid, Gid: e.gid, ModTime: time.Unix(0, 0)}
		if e.dir {
			h.Typeflag, h.Name = tar.TypeDir, e.path+"/"
			if err := tw.WriteHeader(h); err != nil {
				return err
			}
			continue
		}
		body := []byte(e.body)
		if e.from != "" {
			b, err := os.ReadFile(e.from)
			if err != nil {
				return err
			}
			body = b
		}
		h.Typeflag, h.Size = tar.TypeReg, int64(len(body))
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		if _, err := tw.Write(body); err != nil {
			return err
		}
	}
	return tw.Close()
}

// withParents puts the folders leading to each entry before the entries, so
// that the tar stream creates them with sane modes.
func withParents(entries []tarEntry) []tarEntry {
	seen := map[string]bool{}
	var out []tarEntry
	for _, e := range entries {
		for d := filepath.Dir(e.path); d != "." && !seen[d]; d = filepath.Dir(d) {
			seen[d] = true
			out = append([]tarEntry{{path: d, dir: true, mode: 0o755}}, out...)
		}
	}
	return append(out, entries...)
}

// buildFinalStage builds the last stage of the repository's Dockerfile rel as
// tag, with the files its `COPY --from=build` takes coming from image
// buildImage instead of the Go build stage, which needs a registry. Every
// other line is the Dockerfile's own; the global ARGs keep their defaults.
func buildFinalStage(t *testing.T, rel, buildImage, tag string) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot(), rel))
	if err != nil {
		t.Fatal(err)
	}
	text := string(b)
	froms := regexp.MustCompile(`(?m)^FROM `).FindAllStringIndex(text, -1)
	if len(froms) < 2 {
		t.Fatalf("%s is not multi-stage", rel)
	}
	var global []string
	for _, line := range strings.Split(text[:froms[0][0]], "\n") {
		if strings.HasPrefix(line, "ARG ") {
			global = append(global, line)
		}
	}
	final := text[froms[len(froms)-1][0]:]
	if n := strings.Count(final, "COPY --from=build "); n != 1 {
		t.Fatalf("%s: the last stage has %d COPY --from=build lines, want 1", rel, n)
	}
	final = strings.Replace(final, "COPY --from=build ", "COPY --from="+buildImage+" ", 1)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte(strings.Join(global, "\n")+"\n"+final), 0o644); err != nil {
		t.Fatal(err)
	}
	dockerOut(t, "build", "--rm", "--force-rm", "-t", tag, dir)
}

// goBuildStatic builds a package of this repository the way the Dockerfiles
// do: static, trimmed, stripped.
func goBuildStatic(t *testing.T, pkg, out string) {
	t.Helper()
	if out, err := runLogged(goBuildStaticCmd(pkg, out)); err != nil {
		t.Fatalf("go build %s: %v\n%s", pkg, err, out)
	}
}

// goBuildStaticCmd is goBuildStatic's command. buildBinary uses it too, so that
// the binary the tests run is the one the image ships, compiled once.
func goBuildStaticCmd(pkg, out string) *exec.Cmd {
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags=-s -w", "-o", out, pkg)
	cmd.Dir = repoRoot()
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux")
	return cmd
}

// systemFiles are what the Dockerfiles' build stages put next to the
// binaries: CA certificates and the non-root user.
func systemFiles(user string) []tarEntry {
	return []tarEntry{
		{path: "rootfs/etc/ssl/certs/ca-certificates.crt", from: "/etc/ssl/certs/ca-certificates.crt", mode: 0o644},
		{path: "rootfs/etc/passwd", body: user + ":x:65532:65532:" + user + ":/nonexistent:/sbin/nologin\n", mode: 0o644},
		{path: "rootfs/etc/group", body: user + ":x:65532:\n", mode: 0o644},
	}
}

// localImages are the images of one run.
type localImages struct {
	Gateway, MinIO, HAProxy string
	tags                    []string
}

// buildLocalImages builds ftp2s3 and MinIO through their Dockerfiles' last
// stages, and HAProxy from Debian's binary, all tagged with id.
func buildLocalImages(t *testing.T, id string) *localImages {
	t.Helper()
	img := &localImages{
		Gateway: "ftp2s3-ctrtest-" + id + ":local",
		MinIO:   "ftp2s3-ctrtest-" + id + "-minio:local",
		HAProxy: "ftp2s3-ctrtest-" + id + "-haproxy:local",
	}
	stage := func(name string) string { return "ftp2s3-ctrtest-" + id + "-" + name + "-build:local" }
	img.tags = []string{img.Gateway, img.MinIO, img.HAProxy, stage("gateway"), stage("minio")}
	t.Cleanup(func() {
		for _, tag := range img.tags {
			_ = exec.Command("docker", "rmi", "-f", tag).Run()
		}
	})
	bin := t.TempDir()
	start := time.Now()
	gatewayBin := buildBinary(t) // goBuildStatic's way, shared with the other tests
	goBuildStatic(t, "./deploy/minio/healthprobe", filepath.Join(bin, "healthprobe"))
	minioBin, err := miniotest.Install()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("binaries built in %s", time.Since(start).Round(time.Second))

	start = time.Now()
	importImage(t, stage("gateway"), withParents(append([]tarEntry{
		{path: "rootfs/usr/local/bin/ftp2s3", from: gatewayBin, mode: 0o755},
	}, systemFiles("nonroot")...)))
	buildFinalStage(t, "Dockerfile", stage("gateway"), img.Gateway)
	importImage(t, stage("minio"), withParents(append([]tarEntry{
		{path: "rootfs/usr/local/bin/minio", from: minioBin, mode: 0o755},
		{path: "rootfs/usr/local/bin/healthprobe", from: filepath.Join(bin, "healthprobe"), mode: 0o755},
		{path: "rootfs/data", dir: true, mode: 0o755, uid: 65532, gid: 65532},
		{path: "rootfs/tmp", dir: true, mode: 0o1777},
	}, systemFiles("minio")...)))
	buildFinalStage(t, "deploy/minio/Dockerfile", stage("minio"), img.MinIO)
	importImage(t, img.HAProxy, haproxyFiles(t),
		`USER 65532:65532`,
		`ENTRYPOINT ["/usr/sbin/haproxy", "-db", "-f", "/usr/local/etc/haproxy/haproxy.cfg"]`)
	t.Logf("images built in %s", time.Since(start).Round(time.Second))
	return img
}

// haproxyFiles is Debian's HAProxy with the shared libraries ldd lists, the
// dynamic loader among them, and a user to run as.
func haproxyFiles(t *testing.T) []tarEntry {
	t.Helper()
	bin := haproxyBin(t)
	out, err := exec.Command("ldd", bin).Output()
	if err != nil {
		t.Fatalf("ldd %s: %v", bin, err)
	}
	entries := []tarEntry{{path: "usr/sbin/haproxy", from: bin, mode: 0o755}}
	for _, m := range regexp.MustCompile(`(?m)(/\S+\.so[.\d]*) \(0x`).FindAllStringSubmatch(string(out), -1) {
		entries = append(entries, tarEntry{path: strings.TrimPrefix(m[1], "/"), from: m[1], mode: 0o755})
	}
	if len(entries) < 3 {
		t.Fatalf("ldd %s listed no libraries:\n%s", bin, out)
	}
	entries = append(entries,
		tarEntry{path: "etc/passwd", body: "haproxy:x:65532:65532:haproxy:/nonexistent:/sbin/nologin\n", mode: 0o644},
		tarEntry{path: "etc/group", body: "haproxy:x:65532:\n", mode: 0o644},
		tarEntry{path: "usr/local/etc/haproxy", dir: true, mode: 0o755},
		tarEntry{path: "tmp", dir: true, mode: 0o1777},
	)
	return withParents(entries)
}

// stack is one compose project of a test run.
type stack struct {
	t       *testing.T
	project string
	files   []string
	env     []string
}

// newStack writes the override that swaps in the run's images and returns the
// project, not yet started. images maps service name to image.
func newStack(t *testing.T, project, composeFile string, images map[string]string, env map[string]string) *stack {
	t.Helper()
	var o strings.Builder
	o.WriteString("# Only the images change: everything else is the file under test.\nservices:\n")
	for svc, image := range images {
		fmt.Fprintf(&o, "  %s:\n    image: %s\n", svc, image)
	}
	override := filepath.Join(t.TempDir(), "docker-compose.override.yml")
	if err := os.WriteFile(override, []byte(o.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	s := &stack{t: t, project: project, files: []string{filepath.Join(repoRoot(), composeFile), override}}
	// The stack sees only what the test sets, not the developer's shell.
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		if !strings.HasPrefix(name, "FTP") && !strings.HasPrefix(name, "COMPOSE_") && !strings.HasPrefix(name, "MINIO_") {
			s.env = append(s.env, kv)
		}
	}
	for k, v := range env {
		s.env = append(s.env, k+"="+v)
	}
	t.Cleanup(func() {
		if t.Failed() {
			out, _ := s.run("logs", "--no-color", "--tail", "200")
			t.Logf("logs of %s:\n%s", project, out)
		}
		if out, err := s.run("down", "-v", "--remove-orphans", "-t", "5"); err != nil {
			t.Errorf("%s down: %v\n%s", project, err, out)
		}
	})
	return s
}

func (s *stack) run(args ...string) (string, error) {
	c := composeCommand()
	full := append([]string{}, c[1:]...)
	full = append(full, "-p", s.project)
	for _, f := range s.files {
		full = append(full, "-f", f)
	}
	cmd := exec.Command(c[0], append(full, args...)...)
	cmd.Env = s.env
	return runLogged(cmd)
}

// must runs a compose command and ends the test if it fails.
func (s *stack) must(args ...string) string {
	s.t.Helper()
	out, err := s.run(args...)
	if err != nil {
		s.t.Fatalf("compose %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// container returns the id of a service's container.
func (s *stack) container(service string) string {
	s.t.Helper()
	id := strings.TrimSpace(s.must("ps", "-q", service))
	if id == "" {
		s.t.Fatalf("service %s has no container", service)
	}
	return id
}

// logs returns a container's whole log.
func (s *stack) logs(service string) string {
	s.t.Helper()
	out, _ := runLogged(exec.Command("docker", "logs", s.container(service)))
	return out
}

// freePort is one free port, as a string for compose.
func freePort(t *testing.T) string {
	t.Helper()
	p, err := freeTCPPort()
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprint(p)
}
