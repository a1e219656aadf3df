package helm

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"
)

// kustomize builds config/<dir> as `kubectl apply -k` does (config/default
// is what `make deploy` applies).
func kustomize(t *testing.T, dir string) Objects {
	t.Helper()
	k := krusty.MakeKustomizer(krusty.MakeDefaultOptions())
	res, err := k.Run(filesys.MakeFsOnDisk(), filepath.Join(RepoRoot(), "config", dir))
	if err != nil {
		t.Fatalf("cannot build config/%s: %v", dir, err)
	}
	out, err := res.AsYaml()
	if err != nil {
		t.Fatal(err)
	}
	objs, err := Decode(out)
	if err != nil {
		t.Fatal(err)
	}
	return objs
}

// names maps kind to the sorted "namespace/name" of its objects.
func names(objs Objects) map[string][]string {
	out := map[string][]string{}
	for _, u := range objs {
		out[u.GetKind()] = append(out[u.GetKind()], u.GetNamespace()+"/"+u.GetName())
	}
	for k := range out {
		slices.Sort(out[k])
	}
	return out
}

// TestChartAgreesWithMakeDeploy: `make deploy` and `helm install understudy
// -n understudy-system` (the README's two ways) create the same objects
// under the same names, and run the manager with the same flags, so that
// docs, alerts and `kubectl -n understudy-system logs deploy/understudy-manager`
// hold for both. The chart's images differ only by tag (config/ deploys :dev
// builds), so the chart is rendered with tag dev here.
func TestChartAgreesWithMakeDeploy(t *testing.T) {
	kust := kustomize(t, "default")
	chart := render(t, "image: {tag: dev}\nrefreshRunner: {image: {tag: dev}}\n")

	ns := one[corev1.Namespace](t, kust, "Namespace")
	if ns.Name != Namespace {
		t.Errorf("config/default installs into %s, the chart's documented namespace is %s", ns.Name, Namespace)
	}
	if ns.Labels["pod-security.kubernetes.io/enforce"] != "restricted" {
		t.Errorf("config/default's namespace is not restricted: %v", ns.Labels)
	}
	kn, cn := names(kust), names(chart)
	for _, kind := range []string{"Deployment", "ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding", "CustomResourceDefinition"} {
		if !slices.Equal(kn[kind], cn[kind]) {
			t.Errorf("%s: make deploy creates %q, the chart %q", kind, kn[kind], cn[kind])
		}
	}

	kd, cd := one[appsv1.Deployment](t, kust, "Deployment"), one[appsv1.Deployment](t, chart, "Deployment")
	for k, v := range kd.Spec.Template.Labels {
		if cd.Spec.Template.Labels[k] != v {
			t.Errorf("chart pods lack config/default's label %s=%s, which config/prometheus selects", k, v)
		}
	}
	kc, cc := manager(t, kd), manager(t, cd)
	if !slices.Equal(kc.Args, cc.Args) {
		t.Errorf("manager args differ:\n make deploy %q\n chart       %q", kc.Args, cc.Args)
	}
	same := map[string][2]any{
		"image":              {kc.Image, cc.Image},
		"env":                {kc.Env, cc.Env},
		"ports":              {kc.Ports, cc.Ports},
		"probes":             {[]any{kc.LivenessProbe, kc.ReadinessProbe}, []any{cc.LivenessProbe, cc.ReadinessProbe}},
		"resources":          {kc.Resources, cc.Resources},
		"securityContext":    {kc.SecurityContext, cc.SecurityContext},
		"podSecurityContext": {kd.Spec.Template.Spec.SecurityContext, cd.Spec.Template.Spec.SecurityContext},
		"serviceAccountName": {kd.Spec.Template.Spec.ServiceAccountName, cd.Spec.Template.Spec.ServiceAccountName},
		"grace period":       {kd.Spec.Template.Spec.TerminationGracePeriodSeconds, cd.Spec.Template.Spec.TerminationGracePeriodSeconds},
	}
	for what, pair := range same {
		if !equality.Semantic.DeepEqual(pair[0], pair[1]) {
			t.Errorf("manager %s differs:\n make deploy %s\n chart       %s", what, show(pair[0]), show(pair[1]))
		}
	}
	for _, kind := range []string{"ClusterRole", "Role"} {
		kr, _, _ := unstructured.NestedSlice(kust.Kind(kind)[0].Object, "rules")
		cr, _, _ := unstructured.NestedSlice(chart.Kind(kind)[0].Object, "rules")
		if !equality.Semantic.DeepEqual(kr, cr) {
			t.Errorf("%s rules differ between make deploy and the chart", kind)
		}
	}
}

// TestChartAgreesWithConfigPrometheus: the metrics Service and
// ServiceMonitor have the names config/prometheus gives them.
func TestChartAgreesWithConfigPrometheus(t *testing.T) {
	kn := names(kustomize(t, "prometheus"))
	cn := names(render(t, "metrics: {serviceMonitor: {enabled: true}}"))
	for _, kind := range []string{"Service", "ServiceMonitor"} {
		if !slices.Equal(kn[kind], cn[kind]) {
			t.Errorf("%s: config/prometheus creates %q, the chart %q", kind, kn[kind], cn[kind])
		}
	}
}

// TestReadmeInstallsWithTheseNames: the README's install section installs
// the chart under the release name and namespace these tests render with.
func TestReadmeInstallsWithTheseNames(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(RepoRoot(), "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"helm install " + Release + " charts/understudy --namespace " + Namespace,
		"kubectl apply --server-side -k config/default",
	} {
		if !strings.Contains(string(b), want) {
			t.Errorf("README.md does not say %q", want)
		}
	}
}

func show(v any) string {
	b, _ := yaml.Marshal(v)
	return string(b)
}
