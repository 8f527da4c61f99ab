package chart_test

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

// patterns are the passive-mode set-ups docs/containers.md describes.
var patterns = []struct {
	name   string
	values map[string]any
	pods   int
}{
	{"single", map[string]any{"mode": "single", "passive": map[string]any{"publicHost": "ftp.example.com"}}, 1},
	{"single NodePort", map[string]any{"mode": "single", "service": map[string]any{"type": "NodePort", "controlNodePort": 32121},
		"passive": map[string]any{"publicHost": "ftp.example.com", "portsPerReplica": 20}}, 1},
	{"perReplica LoadBalancer", map[string]any{"mode": "perReplica", "replicas": 3,
		"passive": map[string]any{"publicHosts": []any{"203.0.113.10", "203.0.113.11", "203.0.113.12"}}}, 3},
	{"perReplica NodePort", map[string]any{"mode": "perReplica", "replicas": 2, "service": map[string]any{"type": "NodePort"},
		"passive": map[string]any{"publicHost": "ftp.example.com", "firstPort": 31000}}, 2},
	{"hostNetwork", map[string]any{"mode": "hostNetwork", "replicas": 3}, 3},
	{"everything on", map[string]any{"mode": "perReplica", "replicas": 2,
		"passive":       map[string]any{"publicHosts": []any{"a.example.com", "b.example.com"}, "hostOverrides": "10.0.0.0/8=edge-ftp2s3.ftp.svc"},
		"tls":           map[string]any{"mode": "implicit", "secretName": "ftp-tls", "sessionReuse": "required"},
		"proxyProtocol": map[string]any{"mode": "required", "trusted": "10.0.0.0/8"},
		"events":        map[string]any{"enabled": true, "token": map[string]any{"existingSecret": "events-token", "key": "bearer"}},
		"metrics":       map[string]any{"serviceMonitor": map[string]any{"enabled": true}},
		"extraEnv":      map[string]any{"FTP2S3_IDLE_TIMEOUT": "10m"},
		"s3":            map[string]any{"existingSecret": "s3-keys"},
		"users":         map[string]any{"existingSecret": "ftp-users", "records": []any{}},
	}, 2},
}

// TestChartPassivePortsReachTheAnnouncingPod: for every pattern, every port a
// pod announces in PASV/EPSV is published (same number outside and inside) by
// a Service that selects that pod and no other, or, on the host network, by
// the node of a pod that announces the node's address and is alone there.
func TestChartPassivePortsReachTheAnnouncingPod(t *testing.T) {
	for _, p := range patterns {
		t.Run(p.name, func(t *testing.T) {
			r := render(t, merge(baseValues(), p.values))
			if got := len(r.pods()); got != p.pods {
				t.Fatalf("%d pods, want %d", got, p.pods)
			}
			for _, problem := range passiveProblems(t, r) {
				t.Error(problem)
			}
			// The clients' own addresses reach the pods (the passive check and
			// the per-address limits need them).
			for _, s := range r.Services {
				if s.Spec.Type != corev1.ServiceTypeClusterIP && s.Spec.ExternalTrafficPolicy != corev1.ServiceExternalTrafficPolicyLocal {
					t.Errorf("Service %s (%s) has externalTrafficPolicy %q, want Local", s.Name, s.Spec.Type, s.Spec.ExternalTrafficPolicy)
				}
			}
		})
	}
}

// TestChartInvariantCatchesMisroutedPorts: the check above fails on the
// mistakes it exists for, so that its passing means something.
func TestChartInvariantCatchesMisroutedPorts(t *testing.T) {
	values := merge(baseValues(), patterns[2].values) // perReplica LoadBalancer

	// One Service for all replicas' passive ports (the common mistake).
	r := render(t, values)
	for i := range r.Services {
		delete(r.Services[i].Spec.Selector, "ftp2s3.io/replica")
	}
	if len(passiveProblems(t, r)) == 0 {
		t.Error("Services selecting every replica passed the check")
	}

	// Every replica announcing the same range.
	r = render(t, values)
	for i := range r.StatefulSets {
		c := &r.StatefulSets[i].Spec.Template.Spec.Containers[0]
		for j := range c.Env {
			if c.Env[j].Name == "FTP2S3_PASSIVE_PORTS" {
				c.Env[j].Value = "30000-30009"
			}
		}
	}
	if len(passiveProblems(t, r)) == 0 {
		t.Error("replicas announcing one range passed the check")
	}

	// A NodePort Service whose node ports are not the announced numbers.
	r = render(t, merge(baseValues(), patterns[1].values))
	for i := range r.Services {
		for j := range r.Services[i].Spec.Ports {
			r.Services[i].Spec.Ports[j].NodePort = 0
		}
	}
	if len(passiveProblems(t, r)) == 0 {
		t.Error("node ports the cluster picks passed the check")
	}

	// Host network without the node's address.
	r = render(t, merge(baseValues(), patterns[4].values))
	c := &r.StatefulSets[0].Spec.Template.Spec.Containers[0]
	for j := range c.Env {
		if c.Env[j].Name == "FTP2S3_PUBLIC_HOST" {
			c.Env[j] = corev1.EnvVar{Name: "FTP2S3_PUBLIC_HOST", Value: "10.0.0.1"}
		}
	}
	if len(passiveProblems(t, r)) == 0 {
		t.Error("a host-network pod announcing a fixed address passed the check")
	}
}

// TestChartEnvironmentIsReadByTheGateway: every FTP2S3_* name the chart sets
// is one gateway.Config reads (the pods run with FTP2S3_STRICT_ENV=true, so a
// wrong one would stop them), and the rest are the AWS SDK's.
func TestChartEnvironmentIsReadByTheGateway(t *testing.T) {
	known := gatewayVariables(t)
	aws := []string{"AWS_ENDPOINT_URL_S3", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_REGION"}
	for _, p := range patterns {
		r := render(t, merge(baseValues(), p.values))
		for _, s := range r.StatefulSets {
			for _, e := range s.Spec.Template.Spec.Containers[0].Env {
				if !known[e.Name] && !slices.Contains(aws, e.Name) {
					t.Errorf("%s: %s sets %s, which ftp2s3 does not read", p.name, s.Name, e.Name)
				}
			}
		}
	}
}

// TestChartPodSettings: what every pattern's pods must have — probes on the
// operations endpoint, non-root with a read-only root file system, the memory
// budget inside the container's limit, a grace period longer than the
// gateway's drain, users and S3 keys from Secrets.
func TestChartPodSettings(t *testing.T) {
	for _, p := range patterns {
		t.Run(p.name, func(t *testing.T) {
			r := render(t, merge(baseValues(), p.values))
			for _, s := range r.StatefulSets {
				spec := s.Spec.Template.Spec
				c := spec.Containers[0]
				if c.LivenessProbe == nil || c.LivenessProbe.HTTPGet == nil || c.LivenessProbe.HTTPGet.Path != "/healthz" {
					t.Errorf("%s: liveness probe %+v, want GET /healthz", s.Name, c.LivenessProbe)
				}
				if c.ReadinessProbe == nil || c.ReadinessProbe.HTTPGet == nil || c.ReadinessProbe.HTTPGet.Path != "/readyz" {
					t.Errorf("%s: readiness probe %+v, want GET /readyz", s.Name, c.ReadinessProbe)
				}
				if metrics, _ := env(c, "FTP2S3_METRICS_LISTEN"); !strings.HasSuffix(metrics.Value, ":"+c.LivenessProbe.HTTPGet.Port.String()) && !portNamed(c, c.LivenessProbe.HTTPGet.Port.String(), metrics.Value) {
					t.Errorf("%s: probes on port %s, metrics on %q", s.Name, c.LivenessProbe.HTTPGet.Port.String(), metrics.Value)
				}
				sc := c.SecurityContext
				if sc == nil || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem || sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
					t.Errorf("%s: container security context %+v", s.Name, sc)
				}
				if psc := spec.SecurityContext; psc == nil || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot || psc.RunAsUser == nil || *psc.RunAsUser == 0 {
					t.Errorf("%s: pod runs as root: %+v", s.Name, psc)
				}
				limit := c.Resources.Limits[corev1.ResourceMemory]
				budget, _ := env(c, "FTP2S3_MEMORY_LIMIT")
				b, err := mib(budget.Value)
				if err != nil || limit.IsZero() || b <= 0 || b*(1<<20) >= limit.Value() {
					t.Errorf("%s: FTP2S3_MEMORY_LIMIT=%q for a container limit of %s (%v)", s.Name, budget.Value, limit.String(), err)
				}
				grace, _ := env(c, "FTP2S3_SHUTDOWN_GRACE")
				g, err := strconv.Atoi(strings.TrimSuffix(grace.Value, "s"))
				if err != nil || spec.TerminationGracePeriodSeconds == nil || *spec.TerminationGracePeriodSeconds <= int64(g) {
					t.Errorf("%s: terminationGracePeriodSeconds %v not longer than FTP2S3_SHUTDOWN_GRACE=%q", s.Name, spec.TerminationGracePeriodSeconds, grace.Value)
				}
				users, _ := env(c, "FTP2S3_USERS_FILE")
				if !mounted(spec, c, users.Value) {
					t.Errorf("%s: FTP2S3_USERS_FILE=%q is not in a mounted Secret", s.Name, users.Value)
				}
				for _, name := range []string{"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"} {
					if e, _ := env(c, name); e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil {
						t.Errorf("%s: %s does not come from a Secret", s.Name, name)
					}
				}
				if mode, _ := env(c, "FTP2S3_TLS"); mode.Value != "off" {
					for _, name := range []string{"FTP2S3_TLS_CERT", "FTP2S3_TLS_KEY"} {
						if e, _ := env(c, name); !mounted(spec, c, e.Value) {
							t.Errorf("%s: %s=%q is not in a mounted Secret", s.Name, name, e.Value)
						}
					}
				}
				if pp, _ := env(c, "FTP2S3_PROXY_PROTOCOL"); pp.Value != "off" {
					if tr, _ := env(c, "FTP2S3_PROXY_TRUSTED"); tr.Value == "" {
						t.Errorf("%s: PROXY protocol %q without FTP2S3_PROXY_TRUSTED", s.Name, pp.Value)
					}
				}
			}
			if len(r.PDBs) != 1 || r.PDBs[0].Spec.MaxUnavailable == nil || r.PDBs[0].Spec.MaxUnavailable.IntValue() != 1 {
				t.Errorf("PodDisruptionBudgets: %+v", r.PDBs)
			}
		})
	}
}

// TestChartOptions: the optional parts appear when asked for and point at
// what exists.
func TestChartOptions(t *testing.T) {
	r := render(t, merge(baseValues(), patterns[5].values)) // everything on
	if len(r.Secrets) != 0 {
		t.Errorf("existing Secrets given, yet the chart made %d", len(r.Secrets))
	}
	if len(r.ServiceMonitors) != 1 {
		t.Fatalf("%d ServiceMonitors", len(r.ServiceMonitors))
	}
	sm := r.ServiceMonitors[0]
	found := false
	for _, s := range r.Services {
		if selects(sm.Spec.Selector.MatchLabels, s.Labels) {
			found = true
			if !hasPort(s, sm.Spec.Endpoints[0].Port) {
				t.Errorf("ServiceMonitor scrapes port %q, which Service %s lacks", sm.Spec.Endpoints[0].Port, s.Name)
			}
		}
	}
	if !found {
		t.Error("the ServiceMonitor selects no Service")
	}
	c := r.StatefulSets[0].Spec.Template.Spec.Containers[0]
	if e, _ := env(c, "FTP2S3_S3_EVENTS_LISTEN"); e.Value != ":9200" {
		t.Errorf("FTP2S3_S3_EVENTS_LISTEN=%q", e.Value)
	}
	if e, _ := env(c, "FTP2S3_TLS_LISTEN"); e.Value != ":2990" {
		t.Errorf("FTP2S3_TLS_LISTEN=%q", e.Value)
	}
	for _, s := range r.Services {
		if s.Name == "edge-ftp2s3" && !hasPort(s, "ftps") {
			t.Error("implicit FTPS port not published by the control Service")
		}
	}

	// Defaults: the chart makes both Secrets, and the pods name them.
	r = render(t, baseValues())
	names := map[string]bool{}
	for _, s := range r.Secrets {
		names[s.Name] = true
	}
	spec := r.StatefulSets[0].Spec.Template.Spec
	for _, v := range spec.Volumes {
		if v.Secret != nil && !names[v.Secret.SecretName] {
			t.Errorf("volume %s names Secret %s, which the chart does not make", v.Name, v.Secret.SecretName)
		}
	}
	if users := r.secret("edge-ftp2s3-users").StringData["users"]; !strings.Contains(users, "scanner:$2a$10$") {
		t.Errorf("users Secret holds %q", users)
	}
}

// TestChartRefusesBrokenValues: combinations that would announce ports no one
// publishes, or start pods that exit at once, fail the render with a reason.
func TestChartRefusesBrokenValues(t *testing.T) {
	for _, c := range []struct {
		values map[string]any
		want   string
	}{
		{map[string]any{"mode": "roundRobin"}, "mode must be"},
		{map[string]any{"mode": "perReplica", "replicas": 3, "passive": map[string]any{"publicHosts": []any{"a", "b"}}}, "2 hosts for 3 replicas"},
		{map[string]any{"tls": map[string]any{"mode": "explicit"}}, "tls.secretName"},
		{map[string]any{"proxyProtocol": map[string]any{"mode": "required"}}, "proxyProtocol.trusted"},
		{map[string]any{"users": map[string]any{"records": []any{}}}, "users"},
		{map[string]any{"events": map[string]any{"enabled": true}}, "events.token"},
		{map[string]any{"events": map[string]any{"enabled": true, "token": map[string]any{"value": "two words"}}}, "printable ASCII"},
		{map[string]any{"events": map[string]any{"enabled": true, "token": map[string]any{"existingSecret": "t", "key": ""}}}, "events.token.key"},
	} {
		_, err := renderRaw(merge(baseValues(), c.values))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("values %v: error %v, want one containing %q", c.values, err, c.want)
		}
	}
}

func (r *rendered) secret(name string) corev1.Secret {
	for _, s := range r.Secrets {
		if s.Name == name {
			return s
		}
	}
	return corev1.Secret{}
}

func hasPort(s corev1.Service, name string) bool {
	for _, p := range s.Spec.Ports {
		if p.Name == name {
			return true
		}
	}
	return false
}

// portNamed: the probe's named port is the container port metrics listens on.
func portNamed(c corev1.Container, name, listen string) bool {
	for _, p := range c.Ports {
		if p.Name == name && strings.HasSuffix(listen, fmt.Sprintf(":%d", p.ContainerPort)) {
			return true
		}
	}
	return false
}

// mounted says whether path lies under a mount of a Secret volume.
func mounted(spec corev1.PodSpec, c corev1.Container, path string) bool {
	for _, m := range c.VolumeMounts {
		if !strings.HasPrefix(path, m.MountPath+"/") {
			continue
		}
		for _, v := range spec.Volumes {
			if v.Name == m.Name && v.Secret != nil && v.Secret.SecretName != "" {
				return true
			}
		}
	}
	return false
}

// mib parses the chart's FTP2S3_MEMORY_LIMIT form, "<n>MiB".
func mib(s string) (int64, error) {
	q, err := resource.ParseQuantity(strings.TrimSuffix(s, "B"))
	if err != nil {
		return 0, err
	}
	return q.Value() >> 20, nil
}
