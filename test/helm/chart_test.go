package helm

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/yaml"
)

// production is what a platform team running two or more replicas sets.
const production = `
replicas: 3
leaderElection: {enabled: false}
image:
  repository: registry.example/understudy/manager
  tag: ignored-when-digest-set
  digest: sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef
refreshRunner:
  image: {repository: registry.example/understudy/refresh-runner, tag: "1.2.3"}
watchNamespaces: [shop, blog]
workers: 8
extraArgs: [--kube-api-qps=50]
nodeSelector: {kubernetes.io/os: linux}
tolerations: [{key: dedicated, operator: Equal, value: platform, effect: NoSchedule}]
affinity:
  podAntiAffinity:
    preferredDuringSchedulingIgnoredDuringExecution:
    - weight: 100
      podAffinityTerm:
        topologyKey: kubernetes.io/hostname
        labelSelector: {matchLabels: {app.kubernetes.io/name: understudy}}
metrics:
  serviceMonitor: {enabled: true, additionalLabels: {release: prometheus}}
crds: {install: false}
`

func render(t *testing.T, values string) Objects {
	t.Helper()
	objs, err := Template(values)
	if err != nil {
		t.Fatal(err)
	}
	return objs
}

// one returns the single object of a kind, decoded into out.
func one[T any](t *testing.T, objs Objects, kind string) *T {
	t.Helper()
	of := objs.Kind(kind)
	if len(of) != 1 {
		t.Fatalf("rendered %d %s objects, want 1", len(of), kind)
	}
	out := new(T)
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(of[0].Object, out); err != nil {
		t.Fatalf("cannot decode the %s: %v", kind, err)
	}
	return out
}

func manager(t *testing.T, d *appsv1.Deployment) corev1.Container {
	t.Helper()
	if len(d.Spec.Template.Spec.Containers) != 1 {
		t.Fatalf("Deployment has %d containers, want 1", len(d.Spec.Template.Spec.Containers))
	}
	return d.Spec.Template.Spec.Containers[0]
}

func TestLint(t *testing.T) {
	for name, values := range map[string]string{"default": "", "production": production} {
		t.Run(name, func(t *testing.T) {
			if out, err := Lint(values); err != nil {
				t.Fatalf("%v\n%s", err, out)
			}
		})
	}
}

func TestChartVersionIsAppVersion(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(ChartDir(), "Chart.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var chart struct{ Version, AppVersion string }
	if err := yaml.Unmarshal(b, &chart); err != nil {
		t.Fatal(err)
	}
	if chart.Version == "" || chart.Version != chart.AppVersion {
		t.Errorf("Chart.yaml: version %q, appVersion %q: they must be one", chart.Version, chart.AppVersion)
	}
}

func TestDefaults(t *testing.T) {
	objs := render(t, "")
	d := one[appsv1.Deployment](t, objs, "Deployment")
	if d.Name != "understudy-manager" || d.Namespace != Namespace {
		t.Errorf("Deployment is %s/%s, want %s/understudy-manager", d.Namespace, d.Name, Namespace)
	}
	c := manager(t, d)
	if c.Image != "understudy/manager:0.1.0" {
		t.Errorf("image %q, want understudy/manager:<appVersion>", c.Image)
	}
	wantArgs := []string{"--leader-elect", "--health-probe-bind-address=:8081", "--metrics-bind-address=:8080",
		"--refresh-runner-image=understudy/refresh-runner:0.1.0"}
	if !slices.Equal(c.Args, wantArgs) {
		t.Errorf("args %q, want %q", c.Args, wantArgs)
	}
	assertRestricted(t, d)
	if n := len(objs.Kind("PodDisruptionBudget")); n != 0 {
		t.Errorf("one replica rendered %d PodDisruptionBudgets: it would block every node drain", n)
	}
	if n := len(objs.Kind("ServiceMonitor")); n != 0 {
		t.Errorf("ServiceMonitor rendered by default (%d): it fails without the Prometheus Operator's CRD", n)
	}
	svc := one[corev1.Service](t, objs, "Service")
	if svc.Name != "understudy-manager-metrics" || len(svc.Spec.Ports) != 1 || svc.Spec.Ports[0].Port != 8080 {
		t.Errorf("metrics Service %s ports %+v, want understudy-manager-metrics on 8080", svc.Name, svc.Spec.Ports)
	}
	crds := objs.Kind("CustomResourceDefinition")
	if len(crds) != 2 {
		t.Fatalf("rendered %d CRDs, want SiteDeployment and DatabaseRefresh", len(crds))
	}
	for _, crd := range crds {
		if got := crd.GetAnnotations()["helm.sh/resource-policy"]; got != "keep" {
			t.Errorf("CRD %s: helm.sh/resource-policy %q, want keep (uninstall must not delete every SiteDeployment)", crd.GetName(), got)
		}
	}
	sa := one[corev1.ServiceAccount](t, objs, "ServiceAccount")
	if sa.Name != d.Spec.Template.Spec.ServiceAccountName {
		t.Errorf("ServiceAccount %s, Deployment runs as %s", sa.Name, d.Spec.Template.Spec.ServiceAccountName)
	}
}

func assertRestricted(t *testing.T, d *appsv1.Deployment) {
	t.Helper()
	pod := d.Spec.Template.Spec.SecurityContext
	if pod == nil || pod.RunAsNonRoot == nil || !*pod.RunAsNonRoot || pod.SeccompProfile == nil || pod.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Errorf("pod securityContext %+v: restricted needs runAsNonRoot and seccomp RuntimeDefault", pod)
	}
	sc := manager(t, d).SecurityContext
	if sc == nil || sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation || sc.Capabilities == nil ||
		!slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
		t.Errorf("container securityContext %+v: restricted needs allowPrivilegeEscalation false and drop ALL", sc)
	}
}

func TestProductionValues(t *testing.T) {
	objs := render(t, production)
	d := one[appsv1.Deployment](t, objs, "Deployment")
	if d.Spec.Replicas == nil || *d.Spec.Replicas != 3 {
		t.Errorf("replicas %v, want 3", d.Spec.Replicas)
	}
	c := manager(t, d)
	if want := "registry.example/understudy/manager@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"; c.Image != want {
		t.Errorf("image %q, want %q (a digest wins over the tag)", c.Image, want)
	}
	for _, arg := range []string{"--leader-elect", "--namespaces=shop,blog", "--workers=8", "--kube-api-qps=50",
		"--refresh-runner-image=registry.example/understudy/refresh-runner:1.2.3"} {
		if !slices.Contains(c.Args, arg) {
			t.Errorf("args %q lack %s", c.Args, arg)
		}
	}
	spec := d.Spec.Template.Spec
	if spec.NodeSelector["kubernetes.io/os"] != "linux" || len(spec.Tolerations) != 1 || spec.Tolerations[0].Key != "dedicated" ||
		spec.Affinity == nil || spec.Affinity.PodAntiAffinity == nil {
		t.Errorf("scheduling not passed through: nodeSelector %v tolerations %v affinity %v", spec.NodeSelector, spec.Tolerations, spec.Affinity)
	}
	assertRestricted(t, d)
	pdb := one[policyv1.PodDisruptionBudget](t, objs, "PodDisruptionBudget")
	if pdb.Spec.MinAvailable == nil || pdb.Spec.MinAvailable.IntValue() != 1 || !selects(pdb.Spec.Selector.MatchLabels, d.Spec.Template.Labels) {
		t.Errorf("PodDisruptionBudget minAvailable %v selector %v does not keep one manager pod up", pdb.Spec.MinAvailable, pdb.Spec.Selector)
	}
	sm := objs.Kind("ServiceMonitor")
	if len(sm) != 1 {
		t.Fatalf("rendered %d ServiceMonitors, want 1", len(sm))
	}
	svc := one[corev1.Service](t, objs, "Service")
	sel, _, _ := unstructured.NestedStringMap(sm[0].Object, "spec", "selector", "matchLabels")
	if !selects(sel, svc.Labels) || sm[0].GetLabels()["release"] != "prometheus" {
		t.Errorf("ServiceMonitor selector %v, labels %v: must select the metrics Service %v and carry additionalLabels", sel, sm[0].GetLabels(), svc.Labels)
	}
	if n := len(objs.Kind("CustomResourceDefinition")); n != 0 {
		t.Errorf("crds.install false rendered %d CRDs", n)
	}
}

func TestLeaderElectionOffOnlyWithOneReplica(t *testing.T) {
	c := manager(t, one[appsv1.Deployment](t, render(t, "leaderElection: {enabled: false}"), "Deployment"))
	if slices.Contains(c.Args, "--leader-elect") {
		t.Errorf("leaderElection.enabled false with one replica: args %q still elect", c.Args)
	}
	c = manager(t, one[appsv1.Deployment](t, render(t, "replicas: 2\nleaderElection: {enabled: false}"), "Deployment"))
	if !slices.Contains(c.Args, "--leader-elect") {
		t.Errorf("two replicas without --leader-elect would both act: args %q", c.Args)
	}
}

func TestCRDsNotKept(t *testing.T) {
	for _, crd := range render(t, "crds: {keep: false}").Kind("CustomResourceDefinition") {
		if _, ok := crd.GetAnnotations()["helm.sh/resource-policy"]; ok {
			t.Errorf("crds.keep false: CRD %s still has helm.sh/resource-policy", crd.GetName())
		}
	}
}

func TestServiceMonitorNeedsTheService(t *testing.T) {
	_, err := Template("metrics: {service: {enabled: false}, serviceMonitor: {enabled: true}}")
	if err == nil || !strings.Contains(err.Error(), "metrics.serviceMonitor.enabled needs metrics.service.enabled") {
		t.Errorf("a ServiceMonitor without its Service rendered: %v", err)
	}
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

// TestDocsListEveryValue: docs/helm.md has a row for every value.
func TestDocsListEveryValue(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(ChartDir(), "values.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var values map[string]any
	if err := yaml.Unmarshal(b, &values); err != nil {
		t.Fatal(err)
	}
	doc, err := os.ReadFile(filepath.Join(RepoRoot(), "docs", "helm.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range leafKeys("", values) {
		if !strings.Contains(string(doc), "| `"+key+"` |") {
			t.Errorf("docs/helm.md has no row for the value %s", key)
		}
	}
}

// leafKeys are the dotted paths of values that are not non-empty maps;
// resources, podSecurityContext and securityContext count as one value.
func leafKeys(prefix string, m map[string]any) []string {
	var out []string
	for k, v := range m {
		key := strings.TrimPrefix(prefix+"."+k, ".")
		sub, ok := v.(map[string]any)
		if !ok || len(sub) == 0 || slices.Contains([]string{"resources", "podSecurityContext", "securityContext"}, key) {
			out = append(out, key)
			continue
		}
		out = append(out, leafKeys(key, sub)...)
	}
	slices.Sort(out)
	return out
}

// TestValuesSchemaRejectsMistakes: values.schema.json turns a typo or a
// wrong type into an error at install time instead of a silent default.
func TestValuesSchemaRejectsMistakes(t *testing.T) {
	for values, want := range map[string]string{
		"replica: 3":                         "replica",
		`replicas: "3"`:                      "replicas",
		"image: {digest: latest}":            "digest",
		"metrics: {serviceMonitor: {on: 1}}": "on",
		"crds: {keep: yes-please}":           "keep",
	} {
		_, err := Template(values)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("values %q: rendered or failed without naming %s: %v", values, want, err)
		}
	}
}
