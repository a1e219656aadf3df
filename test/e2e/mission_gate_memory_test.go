//go:build e2e

package e2e

import (
	"context"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	deployv1alpha1 "github.com/understudy-dev/understudy/api/v1alpha1"
	"github.com/understudy-dev/understudy/internal/bluegreen"
)

// The gate remembers: dev served v2 for minLive and moved on to v3 by a
// normal release before production was given v2; production then starts
// v2 by itself, on the digest dev ran, and history says dev's v2 revision
// qualified it.
func testGateAfterUpstreamMovedOn(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c := crClient(t)
	devNs, prodNs := env.Namespace(t), env.Namespace(t)
	dev := demoSite(devNs, "service0-dev", "v1", 1)
	taggedTemplate("service0-dev", "v1")(dev)
	prod := demoSite(prodNs, "service0", "v1", 1)
	taggedTemplate("service0", "v1")(prod)
	gatedOnDev(devNs, minLive)(prod)
	for _, sd := range []*deployv1alpha1.SiteDeployment{dev, prod} {
		if err := c.Create(ctx, sd); err != nil {
			t.Fatal(err)
		}
	}
	devRev1 := waitHealthy(t, c, devNs, "service0-dev", 90*time.Second).Status.ActiveRevision
	prodRev1 := waitHealthy(t, c, prodNs, "service0", 90*time.Second).Status.ActiveRevision

	setTemplate(t, c, devNs, "service0-dev", taggedTemplate("service0-dev", "v2"))
	devRev2, _ := waitSwitch(t, c, devNs, "service0-dev", devRev1, 90*time.Second)
	devV2 := waitHealthy(t, c, devNs, "service0-dev", 60*time.Second).Status.History[0]
	// dev's v2 must serve minLiveDuration by the wall clock before dev
	// moves on: nothing in the API marks that moment (the gate is judged
	// only when production asks), so this waits for the clock itself.
	time.Sleep(time.Until(devV2.PromotedAt.Add(minLive + time.Second)))
	setTemplate(t, c, devNs, "service0-dev", taggedTemplate("service0-dev", "v3"))
	waitSwitch(t, c, devNs, "service0-dev", devRev2, 90*time.Second)
	waitHealthy(t, c, devNs, "service0-dev", 60*time.Second)

	setTemplate(t, c, prodNs, "service0", taggedTemplate("service0", "v2"))
	waitSwitch(t, c, prodNs, "service0", prodRev1, 90*time.Second)
	sd := waitHealthy(t, c, prodNs, "service0", 60*time.Second)
	if h := sd.Status.History[0]; h.PromotionGate != deployv1alpha1.GateQualified || len(h.QualifiedBy) != 1 ||
		h.QualifiedBy[0] != devNs+"/service0-dev@"+devRev2 {
		t.Fatalf("production's history[0] %+v: want qualified by dev's v2 revision %s", h, devRev2)
	}
	d, err := env.Client.AppsV1().Deployments(prodNs).Get(ctx, bluegreen.DeploymentName("service0", sd.Status.ActiveColor), metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := d.Spec.Template.Spec.Containers[0].Image, "local/demo-site:v2@"+devV2.Digests[0].Digest; got != want {
		t.Fatalf("production runs %s, want the digest dev ran: %s", got, want)
	}
	t.Logf("production took v2 after dev moved on to v3: %s", sd.Status.Promotion.Upstreams[0].Message)
}
