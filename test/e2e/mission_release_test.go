//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"

	deployv1alpha1 "github.com/understudy-dev/understudy/api/v1alpha1"
)

// settle is how long after a switch responses may still come from the
// previous version (EndpointSlices follow the Service selector).
const settle = 3 * time.Second

// Three releases and a rollback of the active revision while a client sends
// requests without pause: no request fails, each switch moves every response
// to the new version within the settle window, the rollback moves them back,
// and old colors are scaled down under traffic.
func testReleasesUnderTraffic(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	ns := env.Namespace(t)
	c := crClient(t)
	begin := time.Now()
	if err := c.Create(ctx, demoSite(ns, "service0", "v1", 2)); err != nil {
		t.Fatal(err)
	}
	rev := waitHealthy(t, c, ns, "service0", 90*time.Second).Status.ActiveRevision
	t.Logf("v1 (%s) healthy in %s", rev, time.Since(begin).Round(time.Millisecond))

	tr := startTraffic(t, ns, "service0")
	tr.expectOnly(t, time.Now(), 0, "v1")

	release := func(version string) string {
		t.Helper()
		start := time.Now()
		setTemplate(t, c, ns, "service0", func(sd *deployv1alpha1.SiteDeployment) {
			sd.Spec.Template = demoTemplate("service0", version)
		})
		next, at := waitSwitch(t, c, ns, "service0", rev, 90*time.Second)
		tr.expectOnly(t, at, settle, version)
		tr.checkNoFailures(t)
		t.Logf("%s (%s) took traffic %s after the template change", version, next, at.Sub(start).Round(time.Millisecond))
		return next
	}

	rev1 := rev
	rev = release("v2")
	rev2 := rev
	checkPinned(t, c, ns, "service0")

	// Roll back the active revision while the old color is still warm: one
	// selector flip back to it.
	abortAt := time.Now()
	env.Kubectl(t, "-n", ns, "annotate", "sdep", "service0", deployv1alpha1.AnnotationAbort+"="+rev2, "--overwrite")
	back, at := waitSwitch(t, c, ns, "service0", rev2, 30*time.Second)
	if back != rev1 {
		t.Fatalf("abort of %s switched to %s, want the previous revision %s", rev2, back, rev1)
	}
	tr.expectOnly(t, at, settle, "v1")
	tr.checkNoFailures(t)
	st := getSite(t, c, ns, "service0").Status
	if st.Phase != deployv1alpha1.PhaseAborted || st.AbortedRevision != rev2 {
		t.Fatalf("after the abort: phase %s abortedRevision %s, want Aborted %s", st.Phase, st.AbortedRevision, rev2)
	}
	t.Logf("abort of v2 (%s) switched back to v1 (%s) in %s", rev2, back, at.Sub(abortAt).Round(time.Millisecond))
	rev = back

	rev = release("v3")
	rev3 := rev
	waitScaledDown(t, ns, "service0", rev1)
	tr.checkNoFailures(t)

	rev = release("v4")
	waitScaledDown(t, ns, "service0", rev3)
	sd := waitHealthy(t, c, ns, "service0", 60*time.Second)
	tr.expectOnly(t, time.Now(), 0, "v4")
	tr.checkNoFailures(t)
	ok, failed := tr.counts()
	t.Logf("%d requests, %d failed, over %s", ok, failed, time.Since(begin).Round(time.Second))

	out := env.Kubectl(t, "-n", ns, "get", "sdep", "service0")
	t.Logf("kubectl get sdep:\n%s", out)
	want := []string{"ACTIVE", "ACTIVE-REV", "PHASE", "READY", string(sd.Status.ActiveColor), rev, "Healthy", "2/2"}
	for _, w := range want {
		if !strings.Contains(out, w) {
			t.Errorf("kubectl get sdep lacks %q", w)
		}
	}
	if s := kstatusOf(t, c, "SiteDeployment", ns, "service0"); s != status.CurrentStatus {
		t.Errorf("kstatus of the healthy SiteDeployment is %s, want Current", s)
	}
	// v1 available, v2, v3 and v4 switched to; v2 aborted and rolled back.
	expectMetrics(t, ns, "service0", releases("promoted", 4), releases("aborted", 1), releases("rolled_back", 1),
		metricWant{"understudy_sitedeployment_switch_latency_seconds", perNamespace, 4},
		metricWant{"understudy_sitedeployment_info", map[string]string{"phase": "Healthy", "active_color": string(sd.Status.ActiveColor)}, 1})
}

// waitScaledDown waits until no pod of the given revision is left.
func waitScaledDown(t *testing.T, ns, site, rev string) {
	t.Helper()
	start := time.Now()
	Eventually(t, 60*time.Second, "pods of revision "+rev+" gone", func() (bool, error) {
		pods, err := env.Client.CoreV1().Pods(ns).List(context.Background(), metav1.ListOptions{
			LabelSelector: fmt.Sprintf("deploy.understudy.dev/site=%s,%s=%s", site, revisionLabel, rev)})
		if err != nil {
			return false, err
		}
		return len(pods.Items) == 0, fmt.Errorf("%d pods left", len(pods.Items))
	})
	t.Logf("old revision %s scaled down (waited %s)", rev, time.Since(start).Round(time.Millisecond))
}
