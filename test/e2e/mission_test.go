//go:build e2e

package e2e

import (
	"testing"
	"time"
)

// TestMission runs the operator against the local cluster through what its
// users do: blue/green releases, a rollback and a failed check under
// continuous traffic, a schema-changing release and its abort under
// continuous writes, and a scheduled, sanitised dev database refresh on a
// real PostgreSQL, a production site that releases only what dev has
// served for a while (also once dev moved on), and a candidate previewed with settings it drops
// before it takes traffic. It is not parallel with the package's other tests, so no
// other manager acts on its objects; its own cases run in parallel under one
// manager.
func TestMission(t *testing.T) {
	env.InstallCRDs(t)
	for _, pkg := range []string{"./test/cmd/demo-site", "./cmd/refresh-runner"} {
		if _, err := env.Build(pkg); err != nil {
			t.Fatal(err)
		}
	}
	metricsAddr = freeLoopback(t)
	m := env.RunManager(t, "--refresh-runner-image=local/refresh-runner", "-metrics-bind-address="+metricsAddr)
	m.WaitReady(t, 90*time.Second)
	t.Run("ReleasesAndRollbackUnderTraffic", testReleasesUnderTraffic)
	t.Run("FailingPrePromotionCheckKeepsOldVersion", testFailingCheck)
	t.Run("SchemaChangingReleaseUnderWrites", testSchemaRelease)
	t.Run("ScheduledDatabaseRefresh", testScheduledRefresh)
	t.Run("ScheduledRefreshFromABucket", testRefreshFromABucket)
	t.Run("ScheduledRefreshFromPgBackRest", testRefreshFromPgBackRest)
	t.Run("PromotionGateBetweenEnvironments", testPromotionGate)
	t.Run("PromotionGateAfterUpstreamMovedOn", testGateAfterUpstreamMovedOn)
	t.Run("PreviewOnlySettings", testPreviewOnlySettings)
	t.Run("ReleaseGroup", testReleaseGroup)
	t.Run("MetricCheckRollsBack", testMetricCheckRollsBack)
}
