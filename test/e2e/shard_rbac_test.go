//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	deployv1alpha1 "github.com/understudy-dev/understudy/api/v1alpha1"
)

// A shard's manager with the project's role granted in its namespace only
// (a RoleBinding, as a team without cluster-wide rights installs it) runs
// production there; a promotion gate on dev in a namespace it may not read
// holds the release with a message that says which grant is missing, and
// once that grant is made the gate reads dev by itself. Not parallel: no
// manager of every namespace may act meanwhile.
func TestShardWithoutReadOnItsUpstreamSaysWhichGrantIsMissing(t *testing.T) {
	env.InstallCRDs(t)
	if _, err := env.Build("./test/cmd/demo-site"); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	c := crClient(t)
	devNs, prodNs := env.Namespace(t), env.Namespace(t)
	env.RunManager(t, "--namespaces="+devNs).WaitReady(t, 90*time.Second)
	kubeconfig := namespacedManagerKubeconfig(t, c, prodNs)
	env.RunManager(t, "--kubeconfig="+kubeconfig, "--namespaces="+prodNs).WaitReady(t, 90*time.Second)

	dev := demoSite(devNs, "service0-dev", "v1", 1)
	taggedTemplate("service0-dev", "v1")(dev)
	prod := demoSite(prodNs, "service0", "v1", 1)
	taggedTemplate("service0", "v1")(prod)
	for _, sd := range []*deployv1alpha1.SiteDeployment{dev, prod} {
		if err := c.Create(ctx, sd); err != nil {
			t.Fatal(err)
		}
	}
	devRev1 := waitHealthy(t, c, devNs, "service0-dev", 90*time.Second).Status.ActiveRevision
	waitHealthy(t, c, prodNs, "service0", 90*time.Second) // the namespaced role is enough for its own site

	setTemplate(t, c, prodNs, "service0", func(sd *deployv1alpha1.SiteDeployment) {
		taggedTemplate("service0", "v2")(sd)
		gatedOnDev(devNs, 0)(sd)
	})
	waitAwaitingUpstream(t, c, prodNs, fmt.Sprintf("%s/service0-dev cannot be read: the manager may not get sitedeployments in namespace %s", devNs, devNs))

	// The grant the message asks for: get on SiteDeployments in dev's
	// namespace. The gate reads an upstream outside its shard again every
	// 30 s (no watch there).
	grantSiteRead(t, c, devNs, prodNs)
	want := fmt.Sprintf("%s/service0-dev runs local/demo-site:v1 (revision %s), not local/demo-site:v2", devNs, devRev1)
	Eventually(t, 75*time.Second, "production reading dev after the grant", func() (bool, error) {
		st := getSite(t, c, prodNs, "service0").Status
		return st.Phase == deployv1alpha1.PhaseAwaitingUpstream && strings.Contains(st.Message, want),
			fmt.Errorf("phase %s: %s", st.Phase, st.Message)
	})
}

// namespacedManagerKubeconfig makes a ServiceAccount in ns with the
// project's ClusterRole (config/rbac/role.yaml, under a name of this test's
// own) bound in ns alone, and returns a kubeconfig that authenticates as it.
func namespacedManagerKubeconfig(t *testing.T, c client.Client, ns string) string {
	t.Helper()
	ctx := context.Background()
	raw, err := os.ReadFile(filepath.Join(env.Root, "config", "rbac", "role.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	role := &rbacv1.ClusterRole{}
	if err := yaml.Unmarshal(raw, role); err != nil {
		t.Fatal(err)
	}
	role.ObjectMeta = metav1.ObjectMeta{Name: "understudy-manager-" + ns}
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "understudy-manager"}}
	binding := &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "understudy-manager"},
		RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: role.Name},
		Subjects: []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Namespace: ns, Name: sa.Name}}}
	for _, obj := range []client.Object{role, sa, binding} {
		if err := c.Create(ctx, obj); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() { _ = c.Delete(context.Background(), role) })
	token := &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr.To[int64](3600)}}
	if err := c.SubResource("token").Create(ctx, sa, token); err != nil {
		t.Fatal(err)
	}

	cfg, err := clientcmd.LoadFromFile(env.Kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	user := cfg.AuthInfos[cfg.Contexts[cfg.CurrentContext].AuthInfo]
	user.ClientCertificate, user.ClientKey, user.ClientCertificateData, user.ClientKeyData = "", "", nil, nil
	user.Token, user.TokenFile = token.Status.Token, ""
	path := filepath.Join(t.TempDir(), "kubeconfig")
	if err := clientcmd.WriteToFile(*cfg, path); err != nil {
		t.Fatal(err)
	}
	return path
}

// grantSiteRead lets the manager's ServiceAccount of managerNs get
// SiteDeployments in ns.
func grantSiteRead(t *testing.T, c client.Client, ns, managerNs string) {
	t.Helper()
	ctx := context.Background()
	role := &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "understudy-upstream-reader"},
		Rules: []rbacv1.PolicyRule{{APIGroups: []string{deployv1alpha1.GroupVersion.Group}, Resources: []string{"sitedeployments"}, Verbs: []string{"get"}}}}
	binding := &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "understudy-upstream-reader"},
		RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: role.Name},
		Subjects: []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Namespace: managerNs, Name: "understudy-manager"}}}
	for _, obj := range []client.Object{role, binding} {
		if err := c.Create(ctx, obj); err != nil {
			t.Fatal(err)
		}
	}
}
