//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"

	"github.com/understudy-dev/understudy/test/helm"
)

// chartValues are a two-replica install watching one namespace. No
// ServiceMonitor: the local cluster has no Prometheus Operator CRDs.
const chartValues = `
replicas: 2
image: {digest: "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"}
refreshRunner: {image: {repository: local/refresh-runner}}
watchNamespaces: [%s]
workers: 4
extraArgs: [--kube-api-qps=50]
`

// The chart's manifests are accepted by the API server (server-side dry
// run, in a namespace that warns about pods violating the restricted Pod
// Security Standard: for a Deployment the API server only warns), and the manager runs with exactly the container args and env of
// the rendered Deployment: it takes the leader Lease in its own namespace
// and reconciles a SiteDeployment there. Outside a pod only what must differ
// does: the kubeconfig, POD_NAMESPACE filled in for the downward API, and
// the bind addresses moved to loopback ports. Not parallel: no other manager
// may act on the SiteDeployment meanwhile.
func TestHelmChartInstallsAndItsManagerRuns(t *testing.T) {
	env.InstallCRDs(t)
	ns := env.Namespace(t)
	restrict(t, ns)
	rendered, err := helm.Render(ns, fmt.Sprintf(chartValues, ns))
	if err != nil {
		t.Fatal(err)
	}
	manifests := filepath.Join(t.TempDir(), "understudy.yaml")
	if err := os.WriteFile(manifests, rendered, 0o600); err != nil {
		t.Fatal(err)
	}
	out := env.Kubectl(t, "apply", "--server-side", "--dry-run=server", "--field-manager=helm", "-f", manifests)
	t.Logf("server-side dry run:\n%s", out)
	for _, want := range []string{"deployment.apps/understudy-manager serverside-applied (server dry run)",
		"poddisruptionbudget.policy/understudy-manager serverside-applied (server dry run)",
		"customresourcedefinition.apiextensions.k8s.io/sitedeployments.deploy.understudy.dev serverside-applied (server dry run)"} {
		if !strings.Contains(out, want) {
			t.Errorf("the dry run did not say %q", want)
		}
	}
	if strings.Contains(out, "would violate PodSecurity") {
		t.Errorf("the manager's pod would violate the restricted Pod Security Standard")
	}

	c := managerContainer(t, rendered)
	metrics := freeLoopback(t)
	m := env.RunManagerEnv(t, podEnv(t, c, ns), outsidePod(c.Args, metrics)...)
	m.WaitReady(t, 90*time.Second)
	// watchNamespaces makes it a shard, which leads with a Lease of its own
	// (docs/sharding.md).
	var holders map[string]string
	Eventually(t, 30*time.Second, "the shard's Lease held", func() (bool, error) {
		holders = shardLeaseHolders(t, ns)
		return len(holders) == 1, fmt.Errorf("shard Leases %v", holders)
	})
	t.Logf("the manager run with the chart's args %q leads (%v)", c.Args, holders)

	cl := crClient(t)
	if err := cl.Create(context.Background(), demoSite(ns, "site", "v1", 1)); err != nil {
		t.Fatal(err)
	}
	waitHealthy(t, cl, ns, "site", 90*time.Second)
	Eventually(t, 30*time.Second, "the SiteDeployment on the chart's metrics port", func() (bool, error) {
		body, err := get("http://" + metrics + "/metrics")
		return strings.Contains(body, `understudy_sitedeployment_info{`) && strings.Contains(body, `namespace="`+ns+`"`), err
	})
}

// restrict makes the API server warn about workloads in ns whose pods would
// violate the restricted Pod Security Standard. Not enforce: the test's own
// demo site does not meet it.
func restrict(t *testing.T, ns string) {
	t.Helper()
	patch := `{"metadata":{"labels":{"pod-security.kubernetes.io/warn":"restricted"}}}`
	if _, err := env.Client.CoreV1().Namespaces().Patch(context.Background(), ns, types.MergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
}

// managerContainer is the container of the rendered manager Deployment.
func managerContainer(t *testing.T, rendered []byte) corev1.Container {
	t.Helper()
	objs, err := helm.Decode(rendered)
	if err != nil {
		t.Fatal(err)
	}
	deps := objs.Kind("Deployment")
	if len(deps) != 1 {
		t.Fatalf("the chart rendered %d Deployments, want 1", len(deps))
	}
	var d appsv1.Deployment
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(deps[0].Object, &d); err != nil {
		t.Fatal(err)
	}
	if n := len(d.Spec.Template.Spec.Containers); n != 1 {
		t.Fatalf("the manager Deployment has %d containers", n)
	}
	return d.Spec.Template.Spec.Containers[0]
}

// podEnv is the container's environment as the kubelet would set it in ns.
// It fails on a source it does not know, so that a new one is not ignored.
func podEnv(t *testing.T, c corev1.Container, ns string) []string {
	t.Helper()
	var out []string
	for _, e := range c.Env {
		switch {
		case e.ValueFrom == nil:
			out = append(out, e.Name+"="+e.Value)
		case e.ValueFrom.FieldRef != nil && e.ValueFrom.FieldRef.FieldPath == "metadata.namespace":
			out = append(out, e.Name+"="+ns)
		default:
			t.Fatalf("env %s of the rendered manager: this test cannot resolve %+v", e.Name, e.ValueFrom)
		}
	}
	return out
}

// outsidePod is the rendered args with the bind addresses moved to loopback:
// metrics to the given address; the probe flag is dropped, RunManager passes
// its own loopback probe address.
func outsidePod(args []string, metrics string) []string {
	var out []string
	for _, a := range args {
		switch {
		case strings.HasPrefix(a, "--health-probe-bind-address="):
		case strings.HasPrefix(a, "--metrics-bind-address="):
			out = append(out, "--metrics-bind-address="+metrics)
		default:
			out = append(out, a)
		}
	}
	return out
}

func get(url string) (string, error) {
	resp, err := (&http.Client{Timeout: 5 * time.Second}).Get(url)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return string(b), fmt.Errorf("status %d", resp.StatusCode)
	}
	return string(b), err
}
