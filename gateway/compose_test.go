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

	"github.com/ftp2s3/ftp2s3/session"
)

// There is no container engine where the tests run, so the container files are
// checked by reading them: they must parse, name only real variables with
// valid values, and publish exactly the passive ranges they configure.

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
	if err := yaml.Unmarshal(repoFile(t, rel), &f); err != nil {
		t.Fatalf("%s: %v", rel, err)
	}
	if len(f.Services) == 0 {
		t.Fatalf("%s has no services", rel)
	}
	return f
}

// interpolate applies compose's substitutions the way `docker compose` would
// with nothing set in the shell: ${X:-default} is the default, $$ is $.
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
		vars[k] = interpolate(v)
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
	users, problems := LoadStaticUsers(cfg.Users, "", session.Home{Bucket: cfg.Bucket})
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
	if len(f.Services["minio"].Healthcheck) == 0 {
		t.Error("minio has no healthcheck")
	}
	deps := fmt.Sprint(gw.DependsOn)
	for _, want := range []string{"createbucket", "service_completed_successfully", "minio", "service_healthy"} {
		if !strings.Contains(deps, want) {
			t.Errorf("ftp2s3 depends_on lacks %q: %s", want, deps)
		}
	}
	if mb := f.Services["createbucket"]; !strings.Contains(fmt.Sprint(mb.DependsOn), "service_healthy") {
		t.Error("createbucket does not wait for a healthy MinIO")
	}
	if cmd := fmt.Sprint(f.Services["createbucket"].Command); !strings.Contains(cmd, "mc mb") || !strings.Contains(cmd, "local/"+cfg.Bucket) {
		t.Errorf("createbucket does not make bucket %s", cfg.Bucket)
	}
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
		trusted, _ := ParseTrusted(cfg.ProxyTrusted)
		inTrusted := false
		for _, p := range trusted {
			inTrusted = inTrusted || p.Contains(haIP)
		}
		if !inTrusted {
			t.Errorf("%s: FTP2S3_PROXY_TRUSTED=%q does not hold HAProxy's %s", name, cfg.ProxyTrusted, haIP)
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
	for _, want := range []string{"AS build", "CGO_ENABLED=0", "./cmd/ftp2s3", "USER 65532", `"healthcheck"`, "HEALTHCHECK", "ENTRYPOINT"} {
		if !strings.Contains(d, want) {
			t.Errorf("Dockerfile lacks %q", want)
		}
	}
	froms := regexp.MustCompile(`(?m)^FROM (\S+)`).FindAllStringSubmatch(d, -1)
	if len(froms) < 2 {
		t.Fatal("Dockerfile is not multi-stage")
	}
	final := froms[len(froms)-1][1]
	if !strings.Contains(final, "distroless/static") && final != "scratch" {
		t.Errorf("final image %s is not distroless/static or scratch", final)
	}
	// The build stage copies every package the binary imports.
	for _, pkg := range []string{"cmd", "gateway", "session", "storage"} {
		if !strings.Contains(d, "COPY "+pkg+" ./"+pkg) {
			t.Errorf("Dockerfile does not copy %s/", pkg)
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
