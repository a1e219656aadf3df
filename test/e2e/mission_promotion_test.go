//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	deployv1alpha1 "github.com/understudy-dev/understudy/api/v1alpha1"
	"github.com/understudy-dev/understudy/internal/bluegreen"
)

// minLive is the promotion gate's minimum live time on dev, short for a test.
const minLive = 15 * time.Second

// taggedTemplate is demo-site at image tag version (every tag is the same
// program, as one build pushed under several tags would be).
func taggedTemplate(app, version string) func(*deployv1alpha1.SiteDeployment) {
	return func(sd *deployv1alpha1.SiteDeployment) {
		sd.Spec.Template = demoTemplate(app, version)
		sd.Spec.Template.Spec.Containers[0].Image = "local/demo-site:" + version
	}
}

// gatedOnDev makes production wait for service0-dev in namespace ns to
// serve a revision's images for d.
func gatedOnDev(ns string, d time.Duration) func(*deployv1alpha1.SiteDeployment) {
	return func(sd *deployv1alpha1.SiteDeployment) {
		sd.Spec.Promotion = &deployv1alpha1.PromotionSpec{
			Upstreams:       []deployv1alpha1.UpstreamReference{{Namespace: ns, Name: "service0-dev"}},
			MinLiveDuration: &metav1.Duration{Duration: d},
		}
	}
}

// waitAwaitingUpstream waits until production waits for its upstream with
// a message that contains want.
func waitAwaitingUpstream(t *testing.T, c client.Client, ns, want string) {
	t.Helper()
	Eventually(t, 30*time.Second, "production waiting for dev", func() (bool, error) {
		st := getSite(t, c, ns, "service0").Status
		return st.Phase == deployv1alpha1.PhaseAwaitingUpstream && strings.Contains(st.Message, want),
			fmt.Errorf("phase %s: %s", st.Phase, st.Message)
	})
	t.Logf("production waits: %s", getSite(t, c, ns, "service0").Status.Message)
}

// prodWaitsForDev creates dev (service0-dev) and production (service0,
// gated on dev for minLive) on v1, applies v2 to production and waits until
// it says that dev runs v1. It returns their v1 revisions.
func prodWaitsForDev(t *testing.T, c client.Client, devNs, prodNs string, minLive time.Duration) (devRev1, prodRev1 string) {
	t.Helper()
	dev := demoSite(devNs, "service0-dev", "v1", 1)
	taggedTemplate("service0-dev", "v1")(dev)
	prod := demoSite(prodNs, "service0", "v1", 1)
	taggedTemplate("service0", "v1")(prod)
	gatedOnDev(devNs, minLive)(prod)
	for _, sd := range []*deployv1alpha1.SiteDeployment{dev, prod} {
		if err := c.Create(context.Background(), sd); err != nil {
			t.Fatal(err)
		}
	}
	devRev1 = waitHealthy(t, c, devNs, "service0-dev", 90*time.Second).Status.ActiveRevision
	prodRev1 = waitHealthy(t, c, prodNs, "service0", 90*time.Second).Status.ActiveRevision
	setTemplate(t, c, prodNs, "service0", taggedTemplate("service0", "v2"))
	waitAwaitingUpstream(t, c, prodNs, fmt.Sprintf("%s/service0-dev runs local/demo-site:v1 (revision %s), not local/demo-site:v2", devNs, devRev1))
	return devRev1, prodRev1
}

// Production gates on dev in another namespace: v2 applied to production
// first waits, saying what dev runs; dev releases v2; production starts v2
// by itself once dev has served it for minLive, on the digest dev ran, and
// history says dev qualified it.
func testPromotionGate(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c := crClient(t)
	devNs, prodNs := env.Namespace(t), env.Namespace(t)
	devRev1, prodRev1 := prodWaitsForDev(t, c, devNs, prodNs, minLive)

	setTemplate(t, c, devNs, "service0-dev", taggedTemplate("service0-dev", "v2"))
	waitSwitch(t, c, devNs, "service0-dev", devRev1, 90*time.Second)
	devLive := waitHealthy(t, c, devNs, "service0-dev", 60*time.Second).Status.History[0]
	if len(devLive.Digests) != 1 || devLive.PromotedAt == nil {
		t.Fatalf("dev's history[0] %+v: want the digest it ran", devLive)
	}

	prodRev2, _ := waitSwitch(t, c, prodNs, "service0", prodRev1, 90*time.Second)
	sd := waitHealthy(t, c, prodNs, "service0", 60*time.Second)
	h := sd.Status.History[0]
	if h.PromotionGate != deployv1alpha1.GateQualified || len(h.QualifiedBy) != 1 || h.QualifiedBy[0] != devNs+"/service0-dev@"+devLive.Revision {
		t.Fatalf("production's history[0] %+v: want qualified by dev's %s", h, devLive.Revision)
	}
	if earliest := devLive.PromotedAt.Add(minLive); h.PromotedAt.Time.Before(earliest) {
		t.Fatalf("production switched at %s, before dev had served v2 for %s (%s)", h.PromotedAt, minLive, earliest)
	}
	d, err := env.Client.AppsV1().Deployments(prodNs).Get(ctx, bluegreen.DeploymentName("service0", sd.Status.ActiveColor), metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := d.Spec.Template.Spec.Containers[0].Image, "local/demo-site:v2@"+devLive.Digests[0].Digest; got != want {
		t.Fatalf("production runs %s, want the digest dev ran: %s", got, want)
	}
	t.Logf("production took %s %s after dev did, on dev's digest %s", prodRev2, h.PromotedAt.Sub(devLive.PromotedAt.Time), devLive.Digests[0].Digest[:19])
}
