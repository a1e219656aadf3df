//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/tools/cache"
	watchtools "k8s.io/client-go/tools/watch"
	"k8s.io/utils/ptr"

	deployv1alpha1 "github.com/understudy-dev/understudy/api/v1alpha1"
)

// leaseName is the manager's leader election Lease.
const leaseName = "understudy-manager.deploy.understudy.dev"

// Two managers with leader election: the leader is SIGKILLed in the middle
// of a release; the standby takes the Lease within its duration and
// finishes the release; the Service selector only ever moves to a fully
// available color of the revision it names. Then a SIGTERM of the new
// leader (a rolling update) hands over to a third manager at once: the
// Lease is released on shutdown (0.7-0.9 s measured here), where a leader
// that kept it would hold the standby for its 15 s.
// Not parallel: no manager without leader election may act meanwhile.
func TestLeaderFailoverFinishesARelease(t *testing.T) {
	env.InstallCRDs(t)
	if _, err := env.Build("./test/cmd/demo-site"); err != nil {
		t.Fatal(err)
	}
	ns := env.Namespace(t)
	manager := func() *Manager {
		m := env.RunManager(t, "--leader-elect", "--leader-election-namespace="+ns)
		m.WaitReady(t, 90*time.Second)
		return m
	}
	first := manager()
	firstHolder := waitLeaseHolder(t, ns, "", 30*time.Second)
	second := manager()

	ctx := context.Background()
	c := crClient(t)
	if err := c.Create(ctx, demoSite(ns, "service0", "v1", 2)); err != nil {
		t.Fatal(err)
	}
	rev1 := waitHealthy(t, c, ns, "service0", 90*time.Second).Status.ActiveRevision
	stopWatch := watchSelectorInvariant(t, ns, "service0")
	defer stopWatch()

	setTemplate(t, c, ns, "service0", func(sd *deployv1alpha1.SiteDeployment) {
		sd.Spec.Template = demoTemplate("service0", "v2")
	})
	Eventually(t, 30*time.Second, "the candidate started", func() (bool, error) {
		st := getSite(t, c, ns, "service0").Status
		return st.PreviewRevision != "" && st.PreviewRevision != rev1, fmt.Errorf("phase %s preview %q", st.Phase, st.PreviewRevision)
	})
	killedAt := time.Now()
	first.Kill()
	secondHolder := waitLeaseHolder(t, ns, firstHolder, 30*time.Second)
	takeover := time.Since(killedAt)
	t.Logf("leader %s SIGKILLed mid-release; %s leads %s later", firstHolder, secondHolder, takeover.Round(time.Millisecond))
	// The standby may take the Lease 15 s after it last saw it renewed
	// (renewals come every half second, the kill up to that after the last)
	// and asks every 0.5-1.1 s (client-go's jitter).
	if limit := 15*time.Second + 2*time.Second; takeover > limit {
		t.Errorf("takeover after a SIGKILL took %s, more than %s (the 15 s lease, a renewal and a jittered retry)", takeover, limit)
	}
	rev2, _ := waitSwitch(t, c, ns, "service0", rev1, 90*time.Second)
	waitHealthy(t, c, ns, "service0", 60*time.Second)
	t.Logf("the release of v2 (%s) completed under the new leader", rev2)

	manager() // the standby that a rolling update starts
	termAt := time.Now()
	go second.Stop(10 * time.Second)
	thirdHolder := waitLeaseHolder(t, ns, secondHolder, 10*time.Second)
	handover := time.Since(termAt)
	t.Logf("leader SIGTERMed; %s leads %s later", thirdHolder, handover.Round(time.Millisecond))
	// 5 s: a third of the lease, so a shared machine's slow shutdown does
	// not pass for a Lease kept to its end.
	if handover >= 5*time.Second {
		t.Errorf("SIGTERM handover took %s, want under 5 s (the Lease is released on shutdown, not left to expire after 15 s)", handover)
	}
}

// waitLeaseHolder watches the manager's Lease until it is held by someone
// other than not, and returns the holder.
func waitLeaseHolder(t *testing.T, ns, not string, timeout time.Duration) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	holder := ""
	_, err := watchtools.UntilWithSync(ctx, watchNamed(env.Client.CoordinationV1().RESTClient(), "leases", ns, leaseName),
		&coordinationv1.Lease{}, nil, func(ev watch.Event) (bool, error) {
			if l, ok := ev.Object.(*coordinationv1.Lease); ok {
				holder = ptr.Deref(l.Spec.HolderIdentity, "")
			}
			return holder != "" && holder != not, nil
		})
	if err != nil {
		t.Fatalf("no new holder of Lease %s/%s within %s (holder %q, previous %q): %v", ns, leaseName, timeout, holder, not, err)
	}
	return holder
}

// watchNamed lists and watches the one object ns/name of resource.
func watchNamed(c cache.Getter, resource, ns, name string) *cache.ListWatch {
	return cache.NewListWatchFromClient(c, resource, ns, fields.OneTermEqualSelector("metadata.name", name))
}

// watchSelectorInvariant watches the active Service until stopped and
// fails the test if its selector ever names a color whose Deployment is
// not fully available with the revision the selector names.
func watchSelectorInvariant(t *testing.T, ns, site string) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		last := ""
		_, err := watchtools.UntilWithSync(ctx, watchNamed(env.Client.CoreV1().RESTClient(), "services", ns, site),
			&corev1.Service{}, nil, func(ev watch.Event) (bool, error) {
				svc, ok := ev.Object.(*corev1.Service)
				if !ok || ev.Type == watch.Deleted {
					return false, nil
				}
				return false, checkSelector(ctx, svc, &last)
			})
		if err != nil && ctx.Err() == nil {
			t.Errorf("safety invariant broken: %v", err)
		}
	}()
	return func() { cancel(); <-done }
}

// checkSelector checks svc's selector when it differs from *last.
func checkSelector(ctx context.Context, svc *corev1.Service, last *string) error {
	color, rev := svc.Spec.Selector[deployv1alpha1.LabelColor], svc.Spec.Selector[revisionLabel]
	if color+"/"+rev == *last {
		return nil
	}
	d, err := env.Client.AppsV1().Deployments(svc.Namespace).Get(ctx, svc.Name+"-"+color, metav1.GetOptions{})
	if err != nil {
		return nil // a failed read proves nothing either way
	}
	want := ptr.Deref(d.Spec.Replicas, 1)
	if d.Spec.Template.Labels[revisionLabel] != rev || d.Status.AvailableReplicas < want || want == 0 {
		return fmt.Errorf("the Service selects %s/%s but Deployment %s runs %s with %d/%d available",
			color, rev, d.Name, d.Spec.Template.Labels[revisionLabel], d.Status.AvailableReplicas, want)
	}
	*last = color + "/" + rev
	return nil
}
