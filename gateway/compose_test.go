package gateway

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/caarlos0/env/v11"
	"go.yaml.in/yaml/v2"

	"github.com/ftp2s3/ftp2s3/gateway/auth"
)

// The container files are checked by reading them: they must parse, name only
// real variables with valid values, publish exactly the passive ranges they
// configure, and reference only images that exist or are built here.
// integration/containers_test.go brings the same files up for real.

func repoFile(t *testing.T, rel string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", rel))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

type composeService struct {
	Image           string            `yaml:"image"`
	Build           any               `yaml:"build"`
	Environment     map[string]string `yaml:"environment"`
	Ports           []string          `yaml:"ports"`
	DependsOn       any               `yaml:"depends_on"`
	Healthcheck     map[string]any    `yaml:"healthcheck"`
	StopGracePeriod string            `yaml:"stop_grace_period"`
	Networks        any               `yaml:"networks"`
	Command         any               `yaml:"command"`
}

type composeFile struct {
	Services map[string]composeService `yaml:"services"`
}

func loadCompose(t *testing.T, rel string) composeFile {
	t.Helper()
	var f composeFile
	if err := yaml.UnmarshalStrict(repoFile(t, rel), &map[string]any{}); err != nil {
		t.Fatalf("%s is not valid YAML: %v", rel, err)
	}
	if err := yaml.Unmarshal([]byte(interpolate(string(repoFile(t, rel)))), &f); err != nil {
		t.Fatalf("%s: %v", rel, err)
	}
	if len(f.Services) == 0 {
		t.Fatalf("%s has no services", rel)
	}
	return f
}

// interpolate applies compose's substitutions the way docker-compose would
// with nothing set in the shell (or in .env): ${X:-default} is the default, $$
// is $.
func interpolate(s string) string {
	s = regexp.MustCompile(`\$\{[A-Z0-9_]+:-([^}]*)\}`).ReplaceAllString(s, "$1")
	s = regexp.MustCompile(`\$\{[A-Z0-9_]+\}`).ReplaceAllString(s, "")
	return strings.ReplaceAll(s, "$$", "$")
}

// checkGatewayService validates one ftp2s3 service and returns its configuration.
func checkGatewayService(t *testing.T, name string, svc composeService) Config {
	t.Helper()
	vars := map[string]string{}
	known := KnownVariables()
	for k, v := range svc.Environment {
		if strings.HasPrefix(k, "FTP2S3_") && !slices.Contains(known, k) {
			t.Errorf("%s: %s is not a variable ftp2s3 reads", name, k)
		}
		vars[k] = v
	}
	var cfg Config
	if err := env.ParseWithOptions(&cfg, env.Options{Environment: vars}); err != nil {
		t.Fatalf("%s: environment does not parse: %v", name, err)
	}
	if problems := cfg.Validate(); len(problems) > 0 {
		t.Fatalf("%s: configuration invalid: %v", name, problems)
	}
	for _, k := range []string{"FTP2S3_PASSIVE_PORTS", "FTP2S3_PUBLIC_HOST", "FTP2S3_BUCKET", "FTP2S3_USERS",
		"FTP2S3_METRICS_LISTEN", "FTP2S3_SHUTDOWN_GRACE", "FTP2S3_S3_PATH_STYLE", "AWS_ENDPOINT_URL_S3",
		"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"} {
		if vars[k] == "" {
			t.Errorf("%s: %s is not set", name, k)
		}
	}
	// The passive range is published port for port, and nothing else of it.
	want := fmt.Sprintf("%d-%d:%d-%d", cfg.PassivePorts.Lo, cfg.PassivePorts.Hi, cfg.PassivePorts.Lo, cfg.PassivePorts.Hi)
	found := false
	for _, p := range svc.Ports {
		if p == want {
			found = true
		} else if strings.Contains(p, fmt.Sprint(cfg.PassivePorts.Lo)) || strings.Contains(p, fmt.Sprint(cfg.PassivePorts.Hi)) {
			t.Errorf("%s: port mapping %q touches the passive range differently from %q", name, p, want)
		}
	}
	if !found {
		t.Errorf("%s: FTP2S3_PASSIVE_PORTS=%s but ports do not publish %q (got %v)", name, cfg.PassivePorts, want, svc.Ports)
	}
	grace, err := time.ParseDuration(svc.StopGracePeriod)
	if err != nil || grace <= cfg.ShutdownGrace {
		t.Errorf("%s: stop_grace_period %q must be longer than FTP2S3_SHUTDOWN_GRACE %s", name, svc.StopGracePeriod, cfg.ShutdownGrace)
	}
	// The example user logs in with the password the comments promise.
	users, problems := auth.LoadStaticUsers(cfg.Users, "", cfg.DefaultHome())
	if len(problems) > 0 {
		t.Fatalf("%s: FTP2S3_USERS: %v", name, problems)
	}
	if _, err := users.Authenticate(context.Background(), "demo", "demo"); err != nil {
		t.Errorf("%s: user demo/demo does not log in: %v", name, err)
	}
	return cfg
}

func TestComposeFile(t *testing.T) {
	f := loadCompose(t, "docker-compose.yml")
	gw, ok := f.Services["ftp2s3"]
	if !ok {
		t.Fatal("no ftp2s3 service")
	}
	cfg := checkGatewayService(t, "ftp2s3", gw)
	_, port, _ := strings.Cut(cfg.Listen, ":")
	if !contains(gw.Ports, port+":"+port) {
		t.Errorf("control port %s is not published (ports %v)", port, gw.Ports)
	}
	if gw.Build == nil {
		t.Error("the ftp2s3 service does not build the Dockerfile")
	}
	if !cfg.CreateBuckets {
		t.Error("ftp2s3 does not create its bucket (FTP2S3_CREATE_BUCKETS), and nothing else does")
	}
	if deps := dependsOn(gw); deps["minio"] != "service_healthy" {
		t.Errorf("ftp2s3 does not wait for a healthy MinIO: depends_on %v", deps)
	}
	checkMinioService(t, f.Services["minio"])
}

// checkMinioService: MinIO is built from deploy/minio, and its health check
// runs the probe that image installs.
func checkMinioService(t *testing.T, svc composeService) {
	t.Helper()
	if fmt.Sprint(svc.Build) != "deploy/minio" && fmt.Sprint(svc.Build) != "../minio" {
		t.Errorf("minio is not built from deploy/minio (build: %v)", svc.Build)
	}
	test := fmt.Sprint(svc.Healthcheck["test"])
	if !strings.Contains(test, "/usr/local/bin/healthprobe http://127.0.0.1:9000/minio/health/") {
		t.Errorf("minio's healthcheck %s does not use the image's healthprobe", test)
	}
	if d := string(repoFile(t, "deploy/minio/Dockerfile")); !strings.Contains(d, "/rootfs/usr/local/bin/") || !strings.Contains(d, "/out/healthprobe") {
		t.Error("deploy/minio/Dockerfile does not install healthprobe into /usr/local/bin")
	}
}

// dependsOn returns a service's dependencies with their conditions, from
// either compose form (a list of names, or a map of name to condition).
func dependsOn(svc composeService) map[string]string {
	deps := map[string]string{}
	switch d := svc.DependsOn.(type) {
	case []any:
		for _, name := range d {
			deps[fmt.Sprint(name)] = "service_started"
		}
	case map[any]any:
		for name, v := range d {
			cond := "service_started"
			if m, ok := v.(map[any]any); ok && m["condition"] != nil {
				cond = fmt.Sprint(m["condition"])
			}
			deps[fmt.Sprint(name)] = cond
		}
	}
	return deps
}

func TestHAComposeFile(t *testing.T) {
	f := loadCompose(t, "deploy/haproxy/docker-compose.ha.yml")
	hacfg := string(repoFile(t, "deploy/haproxy/haproxy.cfg"))
	ha, ok := f.Services["haproxy"]
	if !ok {
		t.Fatal("no haproxy service")
	}
	haAddr := ""
	if nets, ok := ha.Networks.(map[any]any); ok {
		for _, n := range nets {
			if m, ok := n.(map[any]any); ok {
				haAddr = fmt.Sprint(m["ipv4_address"])
			}
		}
	}
	haIP, err := netip.ParseAddr(haAddr)
	if err != nil {
		t.Fatalf("haproxy has no fixed ipv4_address (%q): the replicas must trust it", haAddr)
	}
	var ranges []PortRange
	replicas := 0
	for name, svc := range f.Services {
		if _, ok := svc.Environment["FTP2S3_PASSIVE_PORTS"]; !ok {
			continue
		}
		replicas++
		cfg := checkGatewayService(t, name, svc)
		if cfg.ProxyProtocol != "required" {
			t.Errorf("%s: FTP2S3_PROXY_PROTOCOL=%s, want required behind HAProxy", name, cfg.ProxyProtocol)
		}
		inTrusted := false
		for _, p := range cfg.ProxyTrusted {
			inTrusted = inTrusted || p.Contains(haIP)
		}
		if !inTrusted {
			t.Errorf("%s: FTP2S3_PROXY_TRUSTED=%v does not hold HAProxy's %s", name, cfg.ProxyTrusted, haIP)
		}
		_, port, _ := strings.Cut(cfg.Listen, ":")
		if !regexp.MustCompile(`(?m)^\s*server \S+ ` + regexp.QuoteMeta(name) + `:` + port + `\b`).MatchString(hacfg) {
			t.Errorf("haproxy.cfg has no server line for %s:%s", name, port)
		}
		for _, r := range ranges {
			if cfg.PassivePorts.Lo <= r.Hi && r.Lo <= cfg.PassivePorts.Hi {
				t.Errorf("%s: passive range %s overlaps %s of another replica", name, cfg.PassivePorts, r)
			}
		}
		ranges = append(ranges, cfg.PassivePorts)
	}
	if replicas != 2 {
		t.Errorf("%d ftp2s3 replicas, want 2", replicas)
	}
	if !contains(ha.Ports, "2121:2121") {
		t.Errorf("haproxy does not publish the control port: %v", ha.Ports)
	}
	for _, want := range []string{"mode tcp", "send-proxy-v2", "bind :2121", "uri /readyz"} {
		if !strings.Contains(hacfg, want) {
			t.Errorf("haproxy.cfg lacks %q", want)
		}
	}
}

func TestDockerfile(t *testing.T) {
	d := string(repoFile(t, "Dockerfile"))
	for _, want := range []string{"AS build", "CGO_ENABLED=0", "./cmd/ftp2s3", "USER 65532", `"healthcheck"`, "HEALTHCHECK", "ENTRYPOINT",
		"-o /rootfs/usr/local/bin/ftp2s3", "/rootfs/etc/ssl/certs/", "/rootfs/etc/passwd"} {
		if !strings.Contains(d, want) {
			t.Errorf("Dockerfile lacks %q", want)
		}
	}
	// The last stage is what integration/containers_test.go builds on local
	// images: its base is a build argument and everything it takes from the
	// build stage is one /rootfs tree.
	args, stages := parseDockerfile(t, "Dockerfile")
	if len(stages) < 2 {
		t.Fatal("Dockerfile is not multi-stage")
	}
	final := stages[len(stages)-1]
	if final.from != "${RUNTIME_IMAGE}" || args["RUNTIME_IMAGE"] != "scratch" {
		t.Errorf("final stage FROM %s (RUNTIME_IMAGE=%q), want FROM ${RUNTIME_IMAGE} defaulting to scratch", final.from, args["RUNTIME_IMAGE"])
	}
	if stages[0].from != "${GO_IMAGE}" {
		t.Errorf("build stage FROM %s, want FROM ${GO_IMAGE}", stages[0].from)
	}
	if copies := regexp.MustCompile(`(?m)^COPY --from=(\S+) (\S+) (\S+)$`).FindAllStringSubmatch(final.text, -1); len(copies) != 1 || copies[0][1] != "build" || copies[0][2] != "/rootfs/" || copies[0][3] != "/" {
		t.Errorf("final stage must take exactly COPY --from=build /rootfs/ /, got %v", copies)
	}
	// The build stage copies every package the binary imports.
	for _, pkg := range []string{"cmd", "gateway", "session", "storage"} {
		if !strings.Contains(d, "COPY "+pkg+" ./"+pkg) {
			t.Errorf("Dockerfile does not copy %s/", pkg)
		}
	}
}

// dockerStage is one FROM ... section of a Dockerfile.
type dockerStage struct {
	from, name, text string
}

// parseDockerfile returns a Dockerfile's global ARG defaults and its stages.
func parseDockerfile(t *testing.T, rel string) (map[string]string, []dockerStage) {
	t.Helper()
	args := map[string]string{}
	var stages []dockerStage
	fromRE := regexp.MustCompile(`^FROM\s+(?:--\S+\s+)*(\S+)(?:\s+AS\s+(\S+))?\s*$`)
	for _, line := range strings.Split(string(repoFile(t, rel)), "\n") {
		if m := fromRE.FindStringSubmatch(line); m != nil {
			stages = append(stages, dockerStage{from: m[1], name: m[2]})
		} else if len(stages) == 0 && strings.HasPrefix(line, "ARG ") {
			k, v, _ := strings.Cut(strings.TrimPrefix(line, "ARG "), "=")
			args[k] = v
		}
		if len(stages) > 0 {
			stages[len(stages)-1].text += line + "\n"
		}
	}
	return args, stages
}

// removedRepos are the Docker Hub repositories MinIO deleted in 2026: a
// compose file or Dockerfile naming them cannot start.
var removedRepos = []string{"minio/minio", "minio/mc"}

// imageProblems says what is wrong with an image reference as a compose file
// or Dockerfile names it: a floating or missing tag, or a repository that no
// longer exists.
func imageProblems(ref string) []string {
	var p []string
	name, digest, _ := strings.Cut(ref, "@")
	repo, tag := name, ""
	if i := strings.LastIndexByte(name, ':'); i > strings.LastIndexByte(name, '/') {
		repo, tag = name[:i], name[i+1:]
	}
	switch {
	case tag == "latest":
		p = append(p, "the floating tag :latest")
	case tag == "" && digest == "":
		p = append(p, "no tag (which means :latest)")
	}
	// Docker Hub spellings of the same repository.
	hub := strings.TrimPrefix(strings.TrimPrefix(strings.TrimPrefix(repo, "docker.io/"), "index.docker.io/"), "registry-1.docker.io/")
	for _, gone := range removedRepos {
		if hub == gone {
			p = append(p, gone+", which was removed from Docker Hub")
		}
	}
	return p
}

func TestImageProblems(t *testing.T) {
	for ref, bad := range map[string]bool{
		"minio/minio:latest": true, "minio/minio": true, "docker.io/minio/mc:RELEASE.2025-01-01T00-00-00Z": true,
		"index.docker.io/minio/minio:RELEASE.2025-09-07T16-13-09Z": true, "haproxy:latest": true, "haproxy": true,
		"localhost:5000/ftp2s3":                            true,
		"quay.io/minio/minio:RELEASE.2025-09-07T16-13-09Z": false, "haproxy:3.0.10": false, "ftp2s3:local": false,
		"localhost:5000/ftp2s3:v1": false, "golang@sha256:0123": false,
	} {
		if got := len(imageProblems(ref)) > 0; got != bad {
			t.Errorf("imageProblems(%q) = %v, want bad=%v", ref, imageProblems(ref), bad)
		}
	}
}

// TestContainerImages guards every file users start containers from against
// images that cannot be pulled: floating tags, removed repositories, services
// that depend on a service that is not there, builds of a missing Dockerfile.
func TestContainerImages(t *testing.T) {
	for _, rel := range []string{"docker-compose.yml", "deploy/haproxy/docker-compose.ha.yml"} {
		f := loadCompose(t, rel)
		for name, svc := range f.Services {
			if svc.Image == "" && svc.Build == nil {
				t.Errorf("%s: service %s has neither image nor build", rel, name)
			}
			if svc.Image != "" {
				for _, p := range imageProblems(svc.Image) {
					t.Errorf("%s: service %s: image %s: %s", rel, name, svc.Image, p)
				}
			}
			if ctx, ok := svc.Build.(string); ok {
				if _, err := os.Stat(filepath.Join("..", filepath.Dir(rel), ctx, "Dockerfile")); err != nil {
					t.Errorf("%s: service %s builds %s, which has no Dockerfile", rel, name, ctx)
				}
			} else if svc.Build != nil {
				t.Errorf("%s: service %s: build %v is not a context folder", rel, name, svc.Build)
			}
			for dep := range dependsOn(svc) {
				if _, ok := f.Services[dep]; !ok {
					t.Errorf("%s: service %s depends on %s, which does not exist", rel, name, dep)
				}
			}
		}
		if raw := string(repoFile(t, rel)); strings.Contains(raw, ":latest") || strings.Contains(raw, "createbucket") {
			t.Errorf("%s still mentions :latest or the createbucket service", rel)
		}
	}
	for _, rel := range []string{"Dockerfile", "deploy/minio/Dockerfile"} {
		args, stages := parseDockerfile(t, rel)
		var names []string
		for _, st := range stages {
			base := st.from
			if m := regexp.MustCompile(`^\$\{?(\w+)\}?$`).FindStringSubmatch(base); m != nil {
				if base = args[m[1]]; base == "" {
					t.Errorf("%s: FROM %s: the argument has no default", rel, st.from)
					continue
				}
			}
			if base != "scratch" && !slices.Contains(names, base) {
				for _, p := range imageProblems(base) {
					t.Errorf("%s: FROM %s: %s", rel, base, p)
				}
			}
			names = append(names, st.name)
		}
		if strings.Contains(string(repoFile(t, rel)), ":latest") {
			t.Errorf("%s mentions :latest", rel)
		}
	}
}

// TestMinioVersionsAgree: the image runs the MinIO the test suite runs.
func TestMinioVersionsAgree(t *testing.T) {
	script := regexp.MustCompile(`(?m)^MINIO_VERSION=(\S+)$`).FindSubmatch(repoFile(t, "scripts/install-minio.sh"))
	if script == nil {
		t.Fatal("scripts/install-minio.sh sets no MINIO_VERSION")
	}
	version := string(script[1])
	args, stages := parseDockerfile(t, "deploy/minio/Dockerfile")
	if !strings.Contains(stages[0].text, "ARG MINIO_VERSION="+version+"\n") {
		t.Errorf("deploy/minio/Dockerfile does not build MinIO %s", version)
	}
	if args["RUNTIME_IMAGE"] != "scratch" || stages[len(stages)-1].from != "${RUNTIME_IMAGE}" {
		t.Error("deploy/minio/Dockerfile's last stage is not FROM ${RUNTIME_IMAGE} defaulting to scratch")
	}
	for _, rel := range []string{"docker-compose.yml", "deploy/haproxy/docker-compose.ha.yml"} {
		if img := loadCompose(t, rel).Services["minio"].Image; img != "ftp2s3-minio:"+version {
			t.Errorf("%s: minio image %s, want ftp2s3-minio:%s", rel, img, version)
		}
	}
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
