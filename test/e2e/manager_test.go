//go:build e2e

package e2e

import (
	"testing"
	"time"
)

// The harness runs the operator's manager against the local cluster with
// the CRDs installed, and it becomes ready.
func TestManagerRunsAgainstCluster(t *testing.T) {
	t.Parallel()
	env.InstallCRDs(t)
	m := env.RunManager(t)
	m.WaitReady(t, 90*time.Second)
}
