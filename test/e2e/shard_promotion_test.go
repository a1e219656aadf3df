//go:build e2e

package e2e

import (
	"testing"
	"time"

	deployv1alpha1 "github.com/understudy-dev/understudy/api/v1alpha1"
)

// Production's manager watches only production's namespace (a shard) and
// dev has a manager of its own: production's gate reads dev past the cache
// (a direct GET, no watch), says what dev runs, and starts v2 by itself
// within a poll of dev serving it. Not parallel: no manager of every
// namespace may act meanwhile.
func TestShardedPromotionGateReadsItsUpstreamPastTheCache(t *testing.T) {
	env.InstallCRDs(t)
	if _, err := env.Build("./test/cmd/demo-site"); err != nil {
		t.Fatal(err)
	}
	c := crClient(t)
	devNs, prodNs, system := env.Namespace(t), env.Namespace(t), env.Namespace(t)
	for _, ns := range []string{devNs, prodNs} {
		m := env.RunManager(t, "--namespaces="+ns, "--leader-elect", "--leader-election-namespace="+system)
		m.WaitReady(t, 90*time.Second)
	}
	devRev1, prodRev1 := prodWaitsForDev(t, c, devNs, prodNs, 0)

	setTemplate(t, c, devNs, "service0-dev", taggedTemplate("service0-dev", "v2"))
	waitSwitch(t, c, devNs, "service0-dev", devRev1, 90*time.Second)
	devLive := waitHealthy(t, c, devNs, "service0-dev", 60*time.Second).Status.History[0]
	// The gate's poll of an upstream outside the shard (30s) plus the release.
	waitSwitch(t, c, prodNs, "service0", prodRev1, 90*time.Second)
	h := waitHealthy(t, c, prodNs, "service0", 60*time.Second).Status.History[0]
	if h.PromotionGate != deployv1alpha1.GateQualified || len(h.QualifiedBy) != 1 || h.QualifiedBy[0] != devNs+"/service0-dev@"+devLive.Revision {
		t.Fatalf("production's history[0] %+v: want qualified by dev's %s", h, devLive.Revision)
	}
	t.Logf("production took v2 %s after dev did", h.PromotedAt.Sub(devLive.PromotedAt.Time))
}
