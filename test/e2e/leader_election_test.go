//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	deployv1alpha1 "github.com/understudy-dev/understudy/api/v1alpha1"
)

// leaseName is the manager's leader election Lease.
const leaseName = "understudy-manager.deploy.understudy.dev"

// Two managers with leader election: the leader is SIGKILLed in the middle
// of a release; the standby takes the Lease within its duration and
// finishes the release; the Service selector only ever moves to a fully
// available color of the revision it names. Then a SIGTERM of the new
// leader (a rolling update) hands over to a third manager in under 2 s.
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
	// (renewals come every second, the kill up to a second after the last)
	// and asks every second, with jitter.
	if limit := 15*time.Second + 3*time.Second; takeover > limit {
		t.Errorf("takeover after a SIGKILL took %s, more than %s (the 15 s lease, a renewal and a retry)", takeover, limit)
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
	if handover >= 2*time.Second {
		t.Errorf("SIGTERM handover took %s, want under 2 s (the Lease is released on shutdown)", handover)
	}
}

// waitLeaseHolder waits until the manager's Lease is held by someone other
// than not, and returns the holder.
func waitLeaseHolder(t *testing.T, ns, not string, timeout time.Duration) string {
	t.Helper()
	var holder string
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		lease, err := env.Client.CoordinationV1().Leases(ns).Get(context.Background(), leaseName, metav1.GetOptions{})
		if err == nil {
			holder = leaseHolder(lease)
			if holder != "" && holder != not {
				return holder
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("no new holder of Lease %s/%s within %s (holder %q, previous %q)", ns, leaseName, timeout, holder, not)
	return ""
}

func leaseHolder(l *coordinationv1.Lease) string { return ptr.Deref(l.Spec.HolderIdentity, "") }

// watchSelectorInvariant polls the active Service until stopped and fails
// the test if its selector ever names a color whose Deployment is not
// fully available with the revision the selector names.
func watchSelectorInvariant(t *testing.T, ns, site string) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		last := ""
		for ctx.Err() == nil {
			if err := checkSelector(ctx, ns, site, &last); err != nil {
				t.Errorf("safety invariant broken: %v", err)
				return
			}
			time.Sleep(50 * time.Millisecond)
		}
	}()
	return func() { cancel(); wg.Wait() }
}

// checkSelector checks the selector when it differs from *last.
func checkSelector(ctx context.Context, ns, site string, last *string) error {
	svc, err := env.Client.CoreV1().Services(ns).Get(ctx, site, metav1.GetOptions{})
	if err != nil {
		return nil // a failed read proves nothing either way
	}
	color, rev := svc.Spec.Selector[deployv1alpha1.LabelColor], svc.Spec.Selector[revisionLabel]
	if color+"/"+rev == *last {
		return nil
	}
	d, err := env.Client.AppsV1().Deployments(ns).Get(ctx, site+"-"+color, metav1.GetOptions{})
	if err != nil {
		return nil
	}
	want := ptr.Deref(d.Spec.Replicas, 1)
	if d.Spec.Template.Labels[revisionLabel] != rev || d.Status.AvailableReplicas < want || want == 0 {
		return fmt.Errorf("the Service selects %s/%s but Deployment %s runs %s with %d/%d available",
			color, rev, d.Name, d.Spec.Template.Labels[revisionLabel], d.Status.AvailableReplicas, want)
	}
	*last = color + "/" + rev
	return nil
}
