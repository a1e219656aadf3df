package helm

import (
	"context"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/understudy-dev/understudy/test/testenv"
)

var crdNames = []string{"sitedeployments.deploy.understudy.dev", "databaserefreshes.deploy.understudy.dev"}

// helmOwner is the release a CRD says it belongs to ("" when none).
func helmOwner(t *testing.T, c client.Client, name string) string {
	t.Helper()
	crd := &apiextensionsv1.CustomResourceDefinition{}
	if err := c.Get(context.Background(), client.ObjectKey{Name: name}, crd); err != nil {
		t.Fatalf("CRD %s: %v", name, err)
	}
	return crd.Annotations["meta.helm.sh/release-name"]
}

// `helm install` (default values, crds.install true) over CRDs another tool
// installed, as `kubectl apply -k config/crd` or `make deploy` leave them
// (envtest creates them from config/crd/bases the same way, without Helm's
// ownership annotations), succeeds: the release leaves those CRDs to that
// tool and says so in its notes, and `helm upgrade` works too. On a cluster
// without the CRDs the release installs and owns them.
func TestInstallOverCRDsInstalledByAnotherTool(t *testing.T) {
	env, err := testenv.Start()
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = env.Stop() }()
	kubeconfig := env.KubeconfigFile(t)
	c := env.Client
	ctx := context.Background()
	if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: Namespace}}); err != nil {
		t.Fatal(err)
	}
	helm := func(verb string) string {
		t.Helper()
		out, err := Run("", verb, Release, ChartDir(), "--namespace", Namespace, "--kubeconfig", kubeconfig)
		if err != nil {
			t.Fatalf("helm %s over CRDs installed by another tool: %v", verb, err)
		}
		return string(out)
	}

	notes := helm("install")
	for _, name := range crdNames {
		if owner := helmOwner(t, c, name); owner != "" {
			t.Errorf("CRD %s taken over by release %q, want it left to the tool that installed it", name, owner)
		}
		if !strings.Contains(notes, "The CRD "+name+" was installed by another tool") {
			t.Errorf("the notes do not say CRD %s is left to another tool:\n%s", name, notes)
		}
	}
	if err := c.Get(ctx, client.ObjectKey{Namespace: Namespace, Name: "understudy-manager"}, &appsv1.Deployment{}); err != nil {
		t.Fatalf("the release's Deployment: %v", err)
	}
	helm("upgrade")

	// Without the CRDs the release installs them, owns them, and keeps
	// them on upgrade.
	if _, err := Run("", "uninstall", Release, "--namespace", Namespace, "--kubeconfig", kubeconfig); err != nil {
		t.Fatal(err)
	}
	for _, name := range crdNames {
		crd := &apiextensionsv1.CustomResourceDefinition{ObjectMeta: metav1.ObjectMeta{Name: name}}
		if err := c.Delete(ctx, crd); err != nil {
			t.Fatal(err)
		}
		gone := func(ctx context.Context) (bool, error) {
			return apierrors.IsNotFound(c.Get(ctx, client.ObjectKey{Name: name}, crd)), nil
		}
		if err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, time.Minute, true, gone); err != nil {
			t.Fatalf("CRD %s not deleted: %v", name, err)
		}
	}
	helm("install")
	helm("upgrade")
	for _, name := range crdNames {
		if owner := helmOwner(t, c, name); owner != Release {
			t.Errorf("CRD %s belongs to release %q, want %s", name, owner, Release)
		}
	}
	manifest, err := Run("", "get", "manifest", Release, "--namespace", Namespace, "--kubeconfig", kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range crdNames {
		if !strings.Contains(string(manifest), "name: "+name) {
			t.Errorf("the upgraded release's manifest lacks CRD %s", name)
		}
	}
}
