//go:build e2e

package e2e

import (
	"context"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	deployv1alpha1 "github.com/understudy-dev/understudy/api/v1alpha1"
)

// Two managers on disjoint --namespaces shards, each with leader election
// in the operator's one namespace, as two teams would run them: each leads
// its shard with a Lease of its own and releases its own site; with shard A's manager stopped, shard B's
// finishes a release while A's site waits untouched, and A's manager picks
// it up when it is back. Not parallel: no manager of every namespace may act
// meanwhile.
func TestShardedManagersNeverTouchEachOthersSites(t *testing.T) {
	env.InstallCRDs(t)
	if _, err := env.Build("./test/cmd/demo-site"); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	c := crClient(t)
	nsA, nsB, system := env.Namespace(t), env.Namespace(t), env.Namespace(t)
	shard := func(ns string) *Manager {
		m := env.RunManager(t, "--namespaces="+ns, "--leader-elect", "--leader-election-namespace="+system)
		m.WaitReady(t, 90*time.Second)
		return m
	}
	managerA, _ := shard(nsA), shard(nsB)
	rev1 := map[string]string{}
	for _, ns := range []string{nsA, nsB} {
		if err := c.Create(ctx, demoSite(ns, "service0", "v1", 1)); err != nil {
			t.Fatal(err)
		}
	}
	for _, ns := range []string{nsA, nsB} {
		rev1[ns] = waitHealthy(t, c, ns, "service0", 90*time.Second).Status.ActiveRevision
	}
	if holders := shardLeaseHolders(t, system); len(holders) != 2 {
		t.Fatalf("shard Leases in %s held by %v, want two: each shard leads on its own", system, holders)
	}

	managerA.Stop(10 * time.Second)
	for _, ns := range []string{nsA, nsB} {
		setTemplate(t, c, ns, "service0", func(sd *deployv1alpha1.SiteDeployment) {
			sd.Spec.Template = demoTemplate("service0", "v2")
		})
	}
	waitSwitch(t, c, nsB, "service0", rev1[nsB], 90*time.Second)
	waitHealthy(t, c, nsB, "service0", 60*time.Second)
	a := getSite(t, c, nsA, "service0")
	if a.Status.ObservedGeneration == a.Generation || a.Status.ActiveRevision != rev1[nsA] {
		t.Fatalf("shard A's site was handled while its manager was down: observedGeneration %d of %d, active %s",
			a.Status.ObservedGeneration, a.Generation, a.Status.ActiveRevision)
	}
	svc, err := env.Client.CoreV1().Services(nsA).Get(ctx, "service0", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := svc.Spec.Selector[revisionLabel]; got != rev1[nsA] {
		t.Fatalf("shard A's Service selects %s, want %s untouched", got, rev1[nsA])
	}
	t.Logf("shard B released v2 while shard A's site stayed at generation %d of %d", a.Status.ObservedGeneration, a.Generation)

	shard(nsA)
	waitSwitch(t, c, nsA, "service0", rev1[nsA], 90*time.Second)
	waitHealthy(t, c, nsA, "service0", 60*time.Second)
}

// shardLeaseHolders are the holders of the shard Leases in ns, by Lease.
func shardLeaseHolders(t *testing.T, ns string) map[string]string {
	t.Helper()
	leases, err := env.Client.CoordinationV1().Leases(ns).List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	holders := map[string]string{}
	for _, l := range leases.Items {
		if h := ptr.Deref(l.Spec.HolderIdentity, ""); strings.HasPrefix(l.Name, "understudy-manager-") && h != "" {
			holders[l.Name] = h
		}
	}
	return holders
}
