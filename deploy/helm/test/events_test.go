package chart_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

// eventsToken is the token the tests give the chart inline; it must never
// appear in a pod spec.
const eventsToken = "0123456789abcdef-events-token"

// withEvents turns the S3 events feed on over a pattern's values, the token
// either inline (the chart makes the Secret) or in an existing Secret.
func withEvents(values map[string]any, existing bool) map[string]any {
	token := map[string]any{"value": eventsToken}
	if existing {
		token = map[string]any{"existingSecret": "events-token", "key": "bearer"}
	}
	return merge(values, map[string]any{"events": map[string]any{"enabled": true, "port": 9300, "token": token}})
}

// eventsPort is the port a pod's FTP2S3_S3_EVENTS_LISTEN names (0: none).
func eventsPort(t *testing.T, p pod) int {
	t.Helper()
	e, ok := env(p.spec.Containers[0], "FTP2S3_S3_EVENTS_LISTEN")
	if !ok {
		return 0
	}
	var port int
	if _, err := fmt.Sscanf(e.Value, ":%d", &port); err != nil {
		t.Fatalf("pod %s: FTP2S3_S3_EVENTS_LISTEN=%q", p.name, e.Value)
	}
	return port
}

// targets says whether the Service port leads to container port port of the
// pod (by number, or by the name of a container port with that number).
func targets(sp corev1.ServicePort, p pod, port int) bool {
	if sp.TargetPort.IntValue() == port {
		return true
	}
	for _, cp := range p.spec.Containers[0].Ports {
		if cp.Name != "" && cp.Name == sp.TargetPort.String() && int(cp.ContainerPort) == port {
			return true
		}
	}
	return false
}

// eventsProblems lists how the render fails the S3 side: every pod listening
// for events must be reached by exactly one ClusterIP Service port that
// selects that pod and no other (MinIO sends each event to each target; a
// Service spreading over several pods would tell one replica at random), and
// no Service may carry the events port outside the cluster.
func eventsProblems(t *testing.T, r *rendered) []string {
	t.Helper()
	var problems []string
	pods := r.pods()
	for _, p := range pods {
		port := eventsPort(t, p)
		if port == 0 {
			problems = append(problems, fmt.Sprintf("pod %s does not listen for S3 events", p.name))
			continue
		}
		reached := 0
		for _, s := range r.Services {
			if !selects(s.Spec.Selector, p.labels) {
				continue
			}
			for _, sp := range s.Spec.Ports {
				if !targets(sp, p, port) {
					continue
				}
				var chosen []string
				for _, q := range pods {
					if selects(s.Spec.Selector, q.labels) {
						chosen = append(chosen, q.name)
					}
				}
				switch {
				case s.Spec.Type != "" && s.Spec.Type != corev1.ServiceTypeClusterIP:
					problems = append(problems, fmt.Sprintf("Service %s (%s) publishes the events port of %s outside the cluster", s.Name, s.Spec.Type, p.name))
				case len(chosen) != 1:
					problems = append(problems, fmt.Sprintf("Service %s sends events to %d pods %v", s.Name, len(chosen), chosen))
				default:
					reached++
				}
			}
		}
		if reached != 1 {
			problems = append(problems, fmt.Sprintf("pod %s's events port %d is reached by %d single-pod Services, want 1", p.name, port, reached))
		}
	}
	return problems
}

// TestChartEventsReachEveryReplica: with events on, in every passive-mode
// pattern, each pod listens with a token taken from a Secret (never written
// into the pod spec), every name set is one the gateway reads, and each pod's
// events port is reached by a Service of its own, as MinIO's per-replica
// webhook targets need.
func TestChartEventsReachEveryReplica(t *testing.T) {
	known := gatewayVariables(t)
	for i, p := range patterns[:5] {
		existing := i%2 == 1
		t.Run(p.name, func(t *testing.T) {
			r := render(t, withEvents(merge(baseValues(), p.values), existing))
			for _, problem := range eventsProblems(t, r) {
				t.Error(problem)
			}
			secrets := map[string]corev1.Secret{}
			for _, s := range r.Secrets {
				secrets[s.Name] = s
			}
			for _, s := range r.StatefulSets {
				c := s.Spec.Template.Spec.Containers[0]
				for _, e := range c.Env {
					if strings.HasPrefix(e.Name, "FTP2S3_") && !known[e.Name] {
						t.Errorf("%s sets %s, which ftp2s3 does not read", s.Name, e.Name)
					}
				}
				if _, ok := env(c, "FTP2S3_S3_EVENTS_INSECURE"); ok {
					t.Errorf("%s sets FTP2S3_S3_EVENTS_INSECURE", s.Name)
				}
				e, _ := env(c, "FTP2S3_S3_EVENTS_TOKEN")
				ref := e.ValueFrom
				if e.Value != "" || ref == nil || ref.SecretKeyRef == nil {
					t.Fatalf("%s: FTP2S3_S3_EVENTS_TOKEN %+v does not come from a Secret", s.Name, e)
				}
				if o := ref.SecretKeyRef.Optional; o != nil && *o {
					t.Errorf("%s: the events token is optional: a pod would start without it", s.Name)
				}
				name, key := ref.SecretKeyRef.Name, ref.SecretKeyRef.Key
				if existing {
					if name != "events-token" || key != "bearer" {
						t.Errorf("%s: token from Secret %s key %s, want events-token key bearer", s.Name, name, key)
					}
				} else if secrets[name].StringData[key] != eventsToken {
					t.Errorf("%s: token from Secret %s key %s, which the chart does not make with the token", s.Name, name, key)
				}
				spec, err := json.Marshal(s)
				if err != nil {
					t.Fatal(err)
				}
				if strings.Contains(string(spec), eventsToken) {
					t.Errorf("%s: the events token is written into the StatefulSet", s.Name)
				}
			}
			if existing {
				if _, made := secrets["edge-ftp2s3-events"]; made {
					t.Error("an existing token Secret given, yet the chart made one")
				}
			}
		})
	}
}

// TestChartEventsCheckCatchesMisrouting: the check above fails on the
// mistakes it exists for: one Service for every replica's events port (the
// old chart's internal Service), a Service targeting another port, the events
// port on an external Service, and no Service at all.
func TestChartEventsCheckCatchesMisrouting(t *testing.T) {
	values := withEvents(merge(baseValues(), patterns[2].values), false) // perReplica, 3 pods
	for _, c := range []struct {
		name  string
		spoil func(r *rendered)
	}{
		{"one Service for all pods", func(r *rendered) {
			for i := range r.Services {
				delete(r.Services[i].Spec.Selector, "statefulset.kubernetes.io/pod-name")
			}
		}},
		{"target port metrics", func(r *rendered) {
			for i := range r.Services {
				for j := range r.Services[i].Spec.Ports {
					if r.Services[i].Spec.Ports[j].Name == "events" {
						r.Services[i].Spec.Ports[j].TargetPort.StrVal = "metrics"
					}
				}
			}
		}},
		{"external events Service", func(r *rendered) {
			for i := range r.Services {
				if strings.Contains(r.Services[i].Name, "-events-") {
					r.Services[i].Spec.Type = corev1.ServiceTypeLoadBalancer
				}
			}
		}},
		{"no events Services", func(r *rendered) {
			var kept []corev1.Service
			for _, s := range r.Services {
				if !strings.Contains(s.Name, "-events-") {
					kept = append(kept, s)
				}
			}
			r.Services = kept
		}},
	} {
		r := render(t, values)
		if got := eventsProblems(t, r); len(got) != 0 {
			t.Fatalf("the render itself fails: %v", got)
		}
		c.spoil(r)
		if len(eventsProblems(t, r)) == 0 {
			t.Errorf("%s passed the check", c.name)
		}
	}
}

// TestChartEventsNotes: the install notes give MinIO one webhook target per
// replica, each at that replica's own events Service, with the token.
func TestChartEventsNotes(t *testing.T) {
	out, err := renderRaw(withEvents(merge(baseValues(), patterns[2].values), false))
	if err != nil {
		t.Fatal(err)
	}
	notes := out["ftp2s3/templates/NOTES.txt"]
	for i := range 3 {
		for _, want := range []string{
			fmt.Sprintf("MINIO_NOTIFY_WEBHOOK_ENABLE_FTP2S3R%d=on", i),
			fmt.Sprintf("MINIO_NOTIFY_WEBHOOK_ENDPOINT_FTP2S3R%d=http://edge-ftp2s3-events-%d.ftp.svc:9300/events", i, i),
			fmt.Sprintf("MINIO_NOTIFY_WEBHOOK_AUTH_TOKEN_FTP2S3R%d=", i),
			fmt.Sprintf("arn:minio:sqs::FTP2S3R%d:webhook", i),
		} {
			if !strings.Contains(notes, want) {
				t.Errorf("NOTES.txt lacks %q:\n%s", want, notes)
			}
		}
	}
	if strings.Contains(notes, eventsToken) {
		t.Error("NOTES.txt prints the token")
	}
}
