// Package chart_test renders deploy/helm/ftp2s3 with Helm's own template
// engine for each passive-mode pattern, decodes every object strictly into the
// Kubernetes API types, and checks what a cluster would get wrong silently: a
// passive port announced by one pod but published to another, an environment
// variable ftp2s3 does not read, a grace period Kubernetes cuts short.
//
// It is a module of its own so that Helm and the Kubernetes API types never
// become dependencies of the product (../../../go.mod). No cluster runs here.
package chart_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"helm.sh/helm/v4/pkg/chart/common"
	"helm.sh/helm/v4/pkg/chart/common/util"
	"helm.sh/helm/v4/pkg/chart/v2/loader"
	"helm.sh/helm/v4/pkg/engine"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"sigs.k8s.io/yaml"
)

const chartDir = "../ftp2s3"

// rendered is one render of the chart, every object decoded.
type rendered struct {
	StatefulSets    []appsv1.StatefulSet
	Services        []corev1.Service
	Secrets         []corev1.Secret
	PDBs            []policyv1.PodDisruptionBudget
	ServiceMonitors []serviceMonitor
}

// serviceMonitor is the part of the Prometheus Operator's type the chart
// writes; decoding into it strictly still catches a misspelled field.
type serviceMonitor struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Metadata   struct {
		Name   string            `json:"name"`
		Labels map[string]string `json:"labels"`
	} `json:"metadata"`
	Spec struct {
		Selector struct {
			MatchLabels map[string]string `json:"matchLabels"`
		} `json:"selector"`
		Endpoints []struct {
			Port     string `json:"port"`
			Path     string `json:"path"`
			Interval string `json:"interval"`
		} `json:"endpoints"`
	} `json:"spec"`
}

// baseValues is what every case sets: the chart requires users and S3 keys.
func baseValues() map[string]any {
	return map[string]any{
		"s3": map[string]any{
			"endpoint": "http://minio.storage:9000", "accessKeyId": "ftp2s3", "secretAccessKey": "secret",
		},
		"users": map[string]any{"records": []any{"scanner:$2a$10$abcdefghijklmnopqrstuv"}},
	}
}

// merge copies b onto a, recursively for maps.
func merge(a, b map[string]any) map[string]any {
	out := map[string]any{}
	for k, v := range a {
		out[k] = v
	}
	for k, v := range b {
		if bm, ok := v.(map[string]any); ok {
			if am, ok := out[k].(map[string]any); ok {
				out[k] = merge(am, bm)
				continue
			}
		}
		out[k] = v
	}
	return out
}

// render renders the chart with values over the chart's own and decodes the
// result.
func render(t *testing.T, values map[string]any) *rendered {
	t.Helper()
	out, err := renderRaw(values)
	if err != nil {
		t.Fatal(err)
	}
	return decodeAll(t, out)
}

func renderRaw(values map[string]any) (map[string]string, error) {
	ch, err := loader.Load(chartDir)
	if err != nil {
		return nil, err
	}
	vals, err := util.ToRenderValues(ch, values,
		common.ReleaseOptions{Name: "edge", Namespace: "ftp", IsInstall: true}, nil)
	if err != nil {
		return nil, err
	}
	return engine.Engine{Strict: true}.RenderWithContext(context.Background(), ch, vals)
}

// decodeAll splits every rendered file into documents and decodes each into
// its API type, refusing unknown fields.
func decodeAll(t *testing.T, files map[string]string) *rendered {
	t.Helper()
	r := &rendered{}
	names := make([]string, 0, len(files))
	for name := range files {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		if !strings.HasSuffix(name, ".yaml") {
			continue
		}
		for i, doc := range regexp.MustCompile(`(?m)^---\s*$`).Split(files[name], -1) {
			js, err := yaml.YAMLToJSON([]byte(doc))
			if err != nil {
				t.Fatalf("%s document %d: %v\n%s", name, i, err, doc)
			}
			if string(js) == "null" {
				continue
			}
			var head struct{ APIVersion, Kind string }
			if err := json.Unmarshal(js, &head); err != nil {
				t.Fatal(err)
			}
			var target any
			switch head.APIVersion + " " + head.Kind {
			case "apps/v1 StatefulSet":
				r.StatefulSets = append(r.StatefulSets, appsv1.StatefulSet{})
				target = &r.StatefulSets[len(r.StatefulSets)-1]
			case "v1 Service":
				r.Services = append(r.Services, corev1.Service{})
				target = &r.Services[len(r.Services)-1]
			case "v1 Secret":
				r.Secrets = append(r.Secrets, corev1.Secret{})
				target = &r.Secrets[len(r.Secrets)-1]
			case "policy/v1 PodDisruptionBudget":
				r.PDBs = append(r.PDBs, policyv1.PodDisruptionBudget{})
				target = &r.PDBs[len(r.PDBs)-1]
			case "monitoring.coreos.com/v1 ServiceMonitor":
				r.ServiceMonitors = append(r.ServiceMonitors, serviceMonitor{})
				target = &r.ServiceMonitors[len(r.ServiceMonitors)-1]
			default:
				t.Fatalf("%s: unexpected object %s %s", name, head.APIVersion, head.Kind)
			}
			dec := json.NewDecoder(bytes.NewReader(js))
			dec.DisallowUnknownFields()
			if err := dec.Decode(target); err != nil {
				t.Fatalf("%s document %d does not decode strictly as %s: %v\n%s", name, i, head.Kind, err, doc)
			}
		}
	}
	return r
}

// pod is one pod a StatefulSet would run: its name, labels and container.
type pod struct {
	name   string
	labels map[string]string
	spec   corev1.PodSpec
}

// pods expands every StatefulSet into the pods it runs, with the label the
// StatefulSet controller adds (statefulset.kubernetes.io/pod-name).
func (r *rendered) pods() []pod {
	var out []pod
	for _, s := range r.StatefulSets {
		n := 1
		if s.Spec.Replicas != nil {
			n = int(*s.Spec.Replicas)
		}
		for i := range n {
			name := fmt.Sprintf("%s-%d", s.Name, i)
			labels := map[string]string{"statefulset.kubernetes.io/pod-name": name}
			for k, v := range s.Spec.Template.Labels {
				labels[k] = v
			}
			out = append(out, pod{name: name, labels: labels, spec: s.Spec.Template.Spec})
		}
	}
	return out
}

func env(c corev1.Container, name string) (corev1.EnvVar, bool) {
	for _, e := range c.Env {
		if e.Name == name {
			return e, true
		}
	}
	return corev1.EnvVar{}, false
}

// announced is the passive range a pod's container announces.
func announced(t *testing.T, p pod) (lo, hi int) {
	t.Helper()
	e, ok := env(p.spec.Containers[0], "FTP2S3_PASSIVE_PORTS")
	if !ok {
		t.Fatalf("pod %s sets no FTP2S3_PASSIVE_PORTS", p.name)
	}
	if _, err := fmt.Sscanf(e.Value, "%d-%d", &lo, &hi); err != nil || lo > hi {
		t.Fatalf("pod %s: FTP2S3_PASSIVE_PORTS=%q", p.name, e.Value)
	}
	return lo, hi
}

func selects(selector, labels map[string]string) bool {
	if len(selector) == 0 {
		return false
	}
	for k, v := range selector {
		if labels[k] != v {
			return false
		}
	}
	return true
}

// passiveProblems lists how the render breaks passive mode: an announced port
// that no Service publishes to exactly the announcing pod (or, with the host
// network, that the node does not carry), and Services that hand a passive
// port to pods that did not announce it.
func passiveProblems(t *testing.T, r *rendered) []string {
	t.Helper()
	var problems []string
	pods := r.pods()
	owner := map[int]string{} // passive port -> the pod announcing it
	for _, p := range pods {
		lo, hi := announced(t, p)
		for port := lo; port <= hi; port++ {
			if p.spec.HostNetwork {
				continue // every pod has the range on its own node
			}
			if other, dup := owner[port]; dup {
				problems = append(problems, fmt.Sprintf("port %d announced by %s and %s", port, other, p.name))
			}
			owner[port] = p.name
		}
		if p.spec.HostNetwork {
			problems = append(problems, hostNetworkProblems(p, lo, hi)...)
			continue
		}
		for port := lo; port <= hi; port++ {
			published := false
			for _, s := range r.Services {
				if !selects(s.Spec.Selector, p.labels) || !publishes(s, port) {
					continue
				}
				var chosen []string
				for _, q := range pods {
					if selects(s.Spec.Selector, q.labels) {
						chosen = append(chosen, q.name)
					}
				}
				if len(chosen) != 1 {
					problems = append(problems, fmt.Sprintf("Service %s publishes passive port %d of %s to %d pods %v", s.Name, port, p.name, len(chosen), chosen))
					continue
				}
				published = true
			}
			if !published {
				problems = append(problems, fmt.Sprintf("port %d announced by %s is published by no Service selecting only that pod", port, p.name))
			}
		}
	}
	// A Service's port in some pod's passive range must lead to that pod.
	for _, s := range r.Services {
		for _, sp := range s.Spec.Ports {
			name, ok := owner[int(sp.Port)]
			if !ok {
				continue
			}
			for _, p := range pods {
				if selects(s.Spec.Selector, p.labels) && p.name != name {
					problems = append(problems, fmt.Sprintf("Service %s sends passive port %d (announced by %s) to %s", s.Name, sp.Port, name, p.name))
				}
			}
		}
	}
	return problems
}

// publishes says whether the Service carries port on the same number outside
// (port, node port) and inside (target port).
func publishes(s corev1.Service, port int) bool {
	for _, sp := range s.Spec.Ports {
		if int(sp.Port) != port || sp.TargetPort.IntValue() != port {
			continue
		}
		if s.Spec.Type == corev1.ServiceTypeNodePort && int(sp.NodePort) != port {
			return false
		}
		return s.Spec.Type == corev1.ServiceTypeLoadBalancer || s.Spec.Type == corev1.ServiceTypeNodePort
	}
	return false
}

// hostNetworkProblems: on the node's network the pod must announce the node's
// address, carry the range on the node, and be alone on its node.
func hostNetworkProblems(p pod, lo, hi int) []string {
	var problems []string
	c := p.spec.Containers[0]
	if e, _ := env(c, "FTP2S3_PUBLIC_HOST"); e.ValueFrom == nil || e.ValueFrom.FieldRef == nil || e.ValueFrom.FieldRef.FieldPath != "status.hostIP" {
		problems = append(problems, fmt.Sprintf("pod %s is on the host network but does not announce status.hostIP", p.name))
	}
	host := map[int32]bool{}
	for _, cp := range c.Ports {
		if cp.HostPort == cp.ContainerPort {
			host[cp.ContainerPort] = true
		}
	}
	for port := lo; port <= hi; port++ {
		if !host[int32(port)] {
			problems = append(problems, fmt.Sprintf("pod %s: passive port %d is not a host port", p.name, port))
		}
	}
	alone := false
	if a := p.spec.Affinity; a != nil && a.PodAntiAffinity != nil {
		for _, term := range a.PodAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution {
			if term.TopologyKey == "kubernetes.io/hostname" && term.LabelSelector != nil && selects(term.LabelSelector.MatchLabels, p.labels) {
				alone = true
			}
		}
	}
	if !alone {
		problems = append(problems, fmt.Sprintf("pod %s: nothing keeps a second replica off its node", p.name))
	}
	return problems
}

// gatewayVariables are the FTP2S3_* names gateway.Config reads, from its
// struct tags (a text scan, so that this module need not import the product).
func gatewayVariables(t *testing.T) map[string]bool {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "..", "gateway", "config.go"))
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, m := range regexp.MustCompile(`env:"(FTP2S3_[A-Z0-9_]+)`).FindAllSubmatch(b, -1) {
		names[string(m[1])] = true
	}
	if len(names) < 20 {
		t.Fatalf("found only %d variables in gateway/config.go", len(names))
	}
	return names
}
