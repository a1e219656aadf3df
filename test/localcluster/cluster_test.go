package localcluster

import (
	"context"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// TestStartStop starts the real control plane, lists namespaces through the
// generated kubeconfig, stops it and checks that no process is left behind.
func TestStartStop(t *testing.T) {
	start := time.Now()
	c, err := Start(context.Background(), Options{Dir: t.TempDir() + "/cluster"})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("control plane ready in %s", time.Since(start).Round(time.Millisecond))
	defer c.Stop()
	cs, err := kubernetes.NewForConfig(c.RESTConfig())
	if err != nil {
		t.Fatal(err)
	}
	ns, err := cs.CoreV1().Namespaces().List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(ns.Items) < 3 {
		t.Fatalf("want the system namespaces, got %d", len(ns.Items))
	}
	// The control plane and the kubectl built with it say the pinned
	// version, so kubectl can judge the skew (`kubectl version` works).
	pinned := "v" + strings.SplitN(AssetsVersion, "-", 2)[0]
	out, err := exec.Command(filepath.Join(c.assets, "kubectl"), "--kubeconfig", c.Kubeconfig, "version").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "Client Version: "+pinned) || !strings.Contains(string(out), "Server Version: "+pinned) {
		t.Fatalf("kubectl version: %v\n%s\nwant client and server %s", err, out, pinned)
	}
	c.Stop()
	if left := Leftovers(c.Marker); len(left) > 0 {
		t.Fatalf("processes left after Stop: %v", left)
	}
}
