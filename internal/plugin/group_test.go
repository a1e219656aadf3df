package plugin_test

import (
	"context"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1 "github.com/understudy-dev/understudy/api/v1alpha1"
	"github.com/understudy-dev/understudy/internal/bluegreen"
)

// groupSite is a member of release group g running image's candidate
// against revA, with the status st (its group's view filled in by the test).
func groupSite(t *testing.T, name, image string, st v1.SiteDeploymentStatus) (*v1.SiteDeployment, string) {
	t.Helper()
	ctx := context.Background()
	site := &v1.SiteDeployment{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", Annotations: map[string]string{"team": "web"}},
		Spec: v1.SiteDeploymentSpec{
			Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: image}}}},
			Service:  v1.ServiceSpec{Ports: []v1.ServicePort{{Port: 80}}},
			Strategy: v1.StrategySpec{Group: "g"},
		},
	}
	if err := env.Client.Create(ctx, site); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = env.Client.Delete(ctx, site) })
	rev := bluegreen.SiteRevision(&site.Spec)
	st.ObservedGeneration, st.ActiveRevision, st.ActiveColor, st.CurrentRevision = site.Generation, revA, v1.Blue, rev
	if st.Group != nil {
		st.Group.Revision = rev
		st.Group.Members = []v1.GroupMemberStatus{{Name: name, Revision: rev, State: st.Group.State, Message: st.Message}}
	}
	site.Status = st
	if err := env.Client.Status().Update(ctx, site); err != nil {
		t.Fatal(err)
	}
	return site, rev
}

// get group shows each member's state; promote --group writes the
// revision set of the members in flight on one of them.
func TestPromoteAndGetGroup(t *testing.T) {
	_, web := groupSite(t, "g-web", "registry.example/web:2", v1.SiteDeploymentStatus{Phase: v1.PhaseAwaitingPromotion,
		Message: "revision ready on green; approve it", Group: &v1.GroupStatus{Name: "g", State: v1.MemberAwaitingPromotion, Phase: v1.GroupProgressing}})
	api, apiRev := groupSite(t, "g-api", "registry.example/api:2", v1.SiteDeploymentStatus{Phase: v1.PhaseHealthy, Message: "revision serves traffic"})
	out, errOut, code := run(t, "get", "group", "g")
	want := "Group default/g  Progressing  revision set g-api@" + apiRev + ",g-web@" + web + "\n" +
		"├── g-api  Pending  revision " + apiRev + "  Healthy  active blue/" + revA + "\n" +
		"│   revision serves traffic\n" +
		"└── g-web  AwaitingPromotion  revision " + web + "  AwaitingPromotion  active blue/" + revA + "\n" +
		"    revision ready on green; approve it\n"
	if code != 0 || out != want {
		t.Fatalf("exit %d, stderr %q, out:\n%s\nwant:\n%s", code, errOut, out, want)
	}

	set := "g-api@" + apiRev + ",g-web@" + web
	out, errOut, code = run(t, "promote", "--group", "g")
	if code != 0 || out != "release group g: promoting "+set+" ("+v1.AnnotationPromoteGroup+" on sitedeployment g-api); each member switches once every one is ready\n" {
		t.Fatalf("exit %d, out %q, stderr %q", code, out, errOut)
	}
	wantOnly(t, api, v1.AnnotationPromoteGroup, set)

	if _, errOut, code := run(t, "promote", "--group", "nothing"); code != 1 ||
		errOut != "error: no sitedeployment in namespace default names release group nothing (spec.strategy.group)\n" {
		t.Errorf("exit %d, stderr %q", code, errOut)
	}
}
