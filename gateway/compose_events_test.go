package gateway

import (
	"fmt"
	"net"
	"strings"
	"testing"

	"github.com/caarlos0/env/v11"
)

// TestHAComposeEventsTargets (issue 20 §1): in the HA stack, MinIO has one
// webhook target per replica, each aimed at that replica's events listener and
// sending the token the replica requires.
func TestHAComposeEventsTargets(t *testing.T) {
	f := loadCompose(t, "deploy/haproxy/docker-compose.ha.yml")
	minioEnv := f.Services["minio"].Environment
	targets := map[string]string{} // endpoint → token
	for k, v := range minioEnv {
		id, ok := strings.CutPrefix(k, "MINIO_NOTIFY_WEBHOOK_ENDPOINT_")
		if !ok {
			continue
		}
		if minioEnv["MINIO_NOTIFY_WEBHOOK_ENABLE_"+id] != "on" {
			t.Errorf("webhook target %s is not enabled", id)
		}
		targets[v] = minioEnv["MINIO_NOTIFY_WEBHOOK_AUTH_TOKEN_"+id]
	}
	replicas := 0
	for name, svc := range f.Services {
		if _, ok := svc.Environment["FTP2S3_PASSIVE_PORTS"]; !ok {
			continue
		}
		replicas++
		var cfg Config
		if err := env.ParseWithOptions(&cfg, env.Options{Environment: svc.Environment}); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if cfg.S3EventsToken == "" || cfg.S3EventsInsecure {
			t.Errorf("%s: the events listener %q takes requests without a token", name, cfg.S3EventsListen)
		}
		_, port, err := net.SplitHostPort(cfg.S3EventsListen)
		if err != nil {
			t.Fatalf("%s: FTP2S3_S3_EVENTS_LISTEN=%q", name, cfg.S3EventsListen)
		}
		endpoint := fmt.Sprintf("http://%s:%s/events", name, port)
		token, ok := targets[endpoint]
		switch {
		case !ok:
			t.Errorf("%s: no MinIO webhook target posts to %s (targets %v)", name, endpoint, targets)
		case token != string(cfg.S3EventsToken):
			t.Errorf("%s: MinIO's target for %s sends another token than FTP2S3_S3_EVENTS_TOKEN", name, endpoint)
		}
		for _, p := range svc.Ports {
			if strings.Contains(p, port+":") {
				t.Errorf("%s: the events port %s is published (%q); it belongs on the private network", name, port, p)
			}
		}
	}
	if replicas != 2 || len(targets) != 2 {
		t.Errorf("%d replicas and %d webhook targets, want 2 of each", replicas, len(targets))
	}
}
