package localcluster

import (
	"context"
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
	c.Stop()
	if left := Leftovers(c.Marker); len(left) > 0 {
		t.Fatalf("processes left after Stop: %v", left)
	}
}
