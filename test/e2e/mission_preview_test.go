//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/ptr"

	deployv1alpha1 "github.com/understudy-dev/understudy/api/v1alpha1"
)

// Preview-only settings on real processes: the candidate's preview pod
// runs with spec.strategy.preview (MAIL_ENABLED=false, and VERSION=preview,
// which demo-site answers with, so that a request shows which settings the
// pod that served it runs); the active Service never answers from such a
// pod, and after the switch the new version answers as its template says,
// on the same revision.
func testPreviewOnlySettings(t *testing.T) {
	t.Parallel()
	c := crClient(t)
	ns := env.Namespace(t)
	sd := demoSite(ns, "service3", "v1", 2)
	sd.Spec.Strategy.AutoPromote = ptr.To(false)
	sd.Spec.Strategy.PreviewReplicas = ptr.To[int32](1)
	sd.Spec.Strategy.Preview = &deployv1alpha1.PreviewSettings{
		Env: []corev1.EnvVar{{Name: "VERSION", Value: "preview"}, {Name: "MAIL_ENABLED", Value: "false"}}}
	if err := c.Create(context.Background(), sd); err != nil {
		t.Fatal(err)
	}
	rev1 := waitHealthy(t, c, ns, "service3", 90*time.Second).Status.ActiveRevision
	live := startTraffic(t, ns, "service3")
	setTemplate(t, c, ns, "service3", func(sd *deployv1alpha1.SiteDeployment) { sd.Spec.Template = demoTemplate("service3", "v2") })
	var rev2 string
	Eventually(t, 90*time.Second, "service3 awaiting promotion", func() (bool, error) {
		st := getSite(t, c, ns, "service3").Status
		rev2 = st.PreviewRevision
		return st.Phase == deployv1alpha1.PhaseAwaitingPromotion, fmt.Errorf("phase %s (%s)", st.Phase, st.Message)
	})
	preview := startTraffic(t, ns, "service3-preview")
	Eventually(t, 30*time.Second, "the preview pod answering with its preview settings", func() (bool, error) {
		seen := preview.versions()
		return slices.Contains(seen, "preview"), fmt.Errorf("preview answered %v", seen)
	})
	preview.stop()

	env.Kubectl(t, "-n", ns, "annotate", "sdep", "service3", deployv1alpha1.AnnotationPromote+"="+rev2)
	got, at := waitSwitch(t, c, ns, "service3", rev1, 90*time.Second)
	if got != rev2 {
		t.Fatalf("switched to %s, want the previewed revision %s", got, rev2)
	}
	waitHealthy(t, c, ns, "service3", 60*time.Second)
	live.expectOnly(t, at, 2*time.Second, "v2")
	live.checkNoFailures(t)
	if seen := live.versions(); slices.Contains(seen, "preview") || !slices.Contains(seen, "v1") {
		t.Fatalf("the active Service answered %v: want v1 then v2, never a pod with preview settings", seen)
	}
}

// versions are the distinct versions that answered so far.
func (tr *traffic) versions() []string {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	var out []string
	for _, s := range tr.samples {
		if !slices.Contains(out, s.version) {
			out = append(out, s.version)
		}
	}
	return out
}
