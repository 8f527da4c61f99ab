package gateway

import (
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// TestDockerfileExposesWhatComposePublishes: every port the gateway image
// EXPOSEs is one docker-compose.yml publishes for the ftp2s3 service, so that
// `docker-compose ps` lists no exposed-but-unpublished ports; and the passive
// range is not among them (`docker run -P` would map it to random host ports,
// which PASV replies cannot name).
func TestDockerfileExposesWhatComposePublishes(t *testing.T) {
	_, stages := parseDockerfile(t, "Dockerfile")
	final := stages[len(stages)-1].text
	var exposed []string
	for _, m := range regexp.MustCompile(`(?m)^EXPOSE\s+(.+)$`).FindAllStringSubmatch(final, -1) {
		exposed = append(exposed, strings.Fields(m[1])...)
	}
	if len(exposed) == 0 {
		t.Fatal("the Dockerfile exposes no port")
	}
	svc := loadCompose(t, "docker-compose.yml").Services["ftp2s3"]
	cfg := checkGatewayService(t, "ftp2s3", svc)
	published := map[string]bool{}
	for _, p := range svc.Ports {
		parts := strings.Split(p, ":")
		published[parts[len(parts)-1]] = true // the container side
	}
	for _, port := range exposed {
		if !published[port] {
			t.Errorf("the Dockerfile exposes %s, which docker-compose.yml does not publish (published: %v)", port, svc.Ports)
		}
		lo, _, _ := strings.Cut(port, "-")
		if n, _ := strconv.Atoi(lo); n >= cfg.PassivePorts.Lo && n <= cfg.PassivePorts.Hi {
			t.Errorf("the Dockerfile exposes %s, inside the passive range %s", port, cfg.PassivePorts)
		}
	}
}
