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
	"sigs.k8s.io/controller-runtime/pkg/client"

	deployv1alpha1 "github.com/understudy-dev/understudy/api/v1alpha1"
)

// A release group of two sites on the local cluster: both candidates start
// and wait for one approval of the group; the promote-group annotation,
// naming their revision set, switches both. Then api's check fails on the
// next release, and web, ready and waiting, goes back with it.
func testReleaseGroup(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	ns := env.Namespace(t)
	c := crClient(t)
	for _, name := range []string{"web", "api"} {
		sd := demoSite(ns, name, "v1", 1)
		sd.Spec.Strategy.Group = "shop"
		sd.Spec.Strategy.AutoPromote = ptr.To(false)
		if err := c.Create(ctx, sd); err != nil {
			t.Fatal(err)
		}
	}
	webRev1 := waitHealthy(t, c, ns, "web", 90*time.Second).Status.ActiveRevision
	apiRev1 := waitHealthy(t, c, ns, "api", 90*time.Second).Status.ActiveRevision

	for _, name := range []string{"web", "api"} {
		setTemplate(t, c, ns, name, func(sd *deployv1alpha1.SiteDeployment) { sd.Spec.Template = demoTemplate(name, "v2") })
	}
	set := waitGroup(t, c, ns, "web", deployv1alpha1.GroupAwaitingPromotion, 90*time.Second).RevisionSet
	if !strings.HasPrefix(set, "api@") || !strings.Contains(set, ",web@") {
		t.Fatalf("revision set %q", set)
	}
	for _, name := range []string{"web", "api"} {
		if st := getSite(t, c, ns, name).Status; st.Phase != deployv1alpha1.PhaseAwaitingPromotion {
			t.Fatalf("%s is %s before the group's approval: %s", name, st.Phase, st.Message)
		}
	}
	annotateSite(t, c, ns, "api", deployv1alpha1.AnnotationPromoteGroup, set)
	webRev2, webAt := waitSwitch(t, c, ns, "web", webRev1, 60*time.Second)
	_, apiAt := waitSwitch(t, c, ns, "api", apiRev1, 60*time.Second)
	t.Logf("one promote-group switched both: web and api %s apart", apiAt.Sub(webAt).Abs().Round(time.Millisecond))
	waitGroup(t, c, ns, "web", deployv1alpha1.GroupPromoted, 60*time.Second)

	setTemplate(t, c, ns, "web", func(sd *deployv1alpha1.SiteDeployment) { sd.Spec.Template = demoTemplate("web", "v3") })
	setTemplate(t, c, ns, "api", func(sd *deployv1alpha1.SiteDeployment) {
		sd.Spec.Template = demoTemplate("api", "v3")
		sd.Spec.Strategy.PrePromotion = &deployv1alpha1.CheckSpec{
			Timeout: &metav1.Duration{Duration: time.Minute}, BackoffLimit: ptr.To[int32](0),
			Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{RestartPolicy: corev1.RestartPolicyNever,
				Containers: []corev1.Container{{Name: "smoke", Image: "busybox", Command: []string{"sh", "-c", "echo api v3 is broken; exit 1"}}}}},
		}
	})
	waitGroup(t, c, ns, "web", deployv1alpha1.GroupRollingBack, 90*time.Second)
	var st deployv1alpha1.SiteDeploymentStatus
	Eventually(t, 60*time.Second, "web withdrawn", func() (bool, error) {
		st = getSite(t, c, ns, "web").Status
		ok := st.Phase == deployv1alpha1.PhaseDegraded && st.Group.State == deployv1alpha1.MemberWithdrawn
		return ok, fmt.Errorf("phase %s, group %+v (%s)", st.Phase, st.Group, st.Message)
	})
	if st.ActiveRevision != webRev2 || st.AbortReason != deployv1alpha1.ReasonGroupMemberFailed ||
		!strings.Contains(st.Message, "api, a member of release group shop, failed") {
		t.Fatalf("web: active %s (want %s), reason %s: %s", st.ActiveRevision, webRev2, st.AbortReason, st.Message)
	}
	t.Logf("web went back with api: %s", st.Message)
}

// waitGroup waits until the site sees its release group in phase, and
// returns its view.
func waitGroup(t *testing.T, c client.Client, ns, name string, phase deployv1alpha1.GroupPhase, timeout time.Duration) *deployv1alpha1.GroupStatus {
	t.Helper()
	var g *deployv1alpha1.GroupStatus
	Eventually(t, timeout, fmt.Sprintf("group of %s %s", name, phase), func() (bool, error) {
		sd := getSite(t, c, ns, name)
		g = sd.Status.Group
		return g != nil && g.Phase == phase, fmt.Errorf("group %+v (%s: %s)", g, sd.Status.Phase, sd.Status.Message)
	})
	return g
}

func annotateSite(t *testing.T, c client.Client, ns, name, key, value string) {
	t.Helper()
	sd := getSite(t, c, ns, name)
	patch := client.MergeFrom(sd.DeepCopy())
	if sd.Annotations == nil {
		sd.Annotations = map[string]string{}
	}
	sd.Annotations[key] = value
	if err := c.Patch(context.Background(), sd, patch); err != nil {
		t.Fatal(err)
	}
}
