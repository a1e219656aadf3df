//go:build e2e

package e2e

import (
	"fmt"
	"os"
	"testing"
	"time"
)

// TestMain starts one local cluster for every test of the package, stops it
// at the end and fails the run if any process it started is still alive.
func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	dir, err := os.MkdirTemp("", "understudy-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer func() {
		if os.Getenv("E2E_KEEP") == "" {
			os.RemoveAll(dir)
		}
	}()
	begin := time.Now()
	env, err = StartEnv(dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, "cannot start the local cluster:", err)
		return 1
	}
	fmt.Printf("e2e: local cluster up in %s (control plane and node agent), kubeconfig %s\n",
		env.StartDuration.Round(time.Millisecond), env.Kubeconfig)
	code := m.Run()
	if code != 0 {
		fmt.Printf("e2e: failed; logs in %s (set E2E_KEEP=1 to keep them)\n", env.Cluster.LogPath("*"))
	}
	stopStart := time.Now()
	if left := env.Stop(); len(left) > 0 {
		fmt.Fprintf(os.Stderr, "e2e: processes left running after stop: %v\n", left)
		code = 1
	} else {
		fmt.Printf("e2e: cluster stopped in %s, no process left behind\n", time.Since(stopStart).Round(time.Millisecond))
	}
	fmt.Printf("e2e: total %s\n", time.Since(begin).Round(time.Millisecond))
	return code
}
