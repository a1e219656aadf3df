//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"

	deployv1alpha1 "github.com/understudy-dev/understudy/api/v1alpha1"
)

// A pre-promotion check that really runs and exits 1 rejects the candidate:
// the old version keeps every request, the candidate goes to zero and the
// SiteDeployment reads Degraded (kstatus Failed).
func testFailingCheck(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	ns := env.Namespace(t)
	c := crClient(t)
	if err := c.Create(ctx, demoSite(ns, "service1", "v1", 1)); err != nil {
		t.Fatal(err)
	}
	rev1 := waitHealthy(t, c, ns, "service1", 90*time.Second).Status.ActiveRevision
	tr := startTraffic(t, ns, "service1")
	start := time.Now()
	setTemplate(t, c, ns, "service1", func(sd *deployv1alpha1.SiteDeployment) {
		sd.Spec.Template = demoTemplate("service1", "v2")
		sd.Spec.Strategy.PrePromotion = &deployv1alpha1.CheckSpec{
			Timeout:      &metav1.Duration{Duration: time.Minute},
			BackoffLimit: ptr.To[int32](0),
			Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{
				RestartPolicy: corev1.RestartPolicyNever,
				Containers: []corev1.Container{{Name: "smoke", Image: "busybox",
					Command: []string{"sh", "-c", `echo "checking $PREVIEW_URL for $REVISION"; exit 1`}}},
			}},
		}
	})
	var st deployv1alpha1.SiteDeploymentStatus
	Eventually(t, 90*time.Second, "service1 Degraded by its check", func() (bool, error) {
		st = getSite(t, c, ns, "service1").Status
		ok := st.Phase == deployv1alpha1.PhaseDegraded && st.AbortedRevision != "" && st.AbortedRevision == st.CurrentRevision
		return ok, fmt.Errorf("phase %s aborted %q current %s (%s)", st.Phase, st.AbortedRevision, st.CurrentRevision, st.Message)
	})
	t.Logf("check failed, phase %s after %s: %s", st.Phase, time.Since(start).Round(time.Millisecond), st.Message)
	// The message quotes what the check printed (its termination message:
	// the last log lines) and names where to read the rest.
	if !strings.Contains(st.Message, "container smoke failed (Error, exit code 1): checking http://service1-preview.") ||
		!strings.Contains(st.Message, "see kubectl logs job/") {
		t.Fatalf("the message does not quote the check's output and name its logs: %s", st.Message)
	}
	if st.ActiveRevision != rev1 {
		t.Fatalf("active revision %s after a failed check, want %s", st.ActiveRevision, rev1)
	}
	candidate := "service1-" + string(otherColor(st.ActiveColor))
	Eventually(t, 30*time.Second, "candidate "+candidate+" at zero", func() (bool, error) {
		d, err := env.Client.AppsV1().Deployments(ns).Get(ctx, candidate, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		return ptr.Deref(d.Spec.Replicas, 1) == 0 && d.Status.Replicas == 0, fmt.Errorf("replicas %d/%d", ptr.Deref(d.Spec.Replicas, 1), d.Status.Replicas)
	})
	tr.expectOnly(t, start, 0, "v1")
	tr.checkNoFailures(t)
	if s := kstatusOf(t, c, "SiteDeployment", ns, "service1"); s != status.FailedStatus {
		t.Errorf("kstatus of the Degraded SiteDeployment is %s, want Failed", s)
	}
	ok, _ := tr.counts()
	t.Logf("%d requests, all answered by v1", ok)
	expectMetrics(t, ns, "service1", releases("promoted", 1), releases("failed", 1),
		metricWant{"understudy_sitedeployment_info", map[string]string{"phase": "Degraded"}, 1})
}

func otherColor(c deployv1alpha1.Color) deployv1alpha1.Color {
	if c == "blue" {
		return "green"
	}
	return "blue"
}
