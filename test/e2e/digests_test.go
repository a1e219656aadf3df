//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	deployv1alpha1 "github.com/understudy-dev/understudy/api/v1alpha1"
	"github.com/understudy-dev/understudy/test/nodeagent"
)

// checkPinned: the revision that just took traffic runs the demo-site
// binary by digest (the node agent reports a digest per program and tag,
// as a registry would; the e2e sites name no tag, so latest), and history
// records that digest beside the image.
func checkPinned(t *testing.T, c client.Client, ns, name string) {
	t.Helper()
	sum, err := nodeagent.BuildDigest(filepath.Join(env.BinDir, "demo-site"), "latest")
	if err != nil {
		t.Fatal(err)
	}
	want := "sha256:" + sum
	sd := getSite(t, c, ns, name)
	last := sd.Status.History[0]
	if len(last.Digests) != 1 || last.Digests[0].Digest != want || last.Digests[0].Image != "local/demo-site" {
		t.Fatalf("history[0] of %s: digests %v, want local/demo-site at %s", name, last.Digests, want)
	}
	// The demo's images are in no registry the manager can ask: the
	// candidate started on its tag, its pods' digests were recorded, and
	// its full-size preview took traffic as it was (one rollout): every pod
	// of the active color runs the recorded digest, from one ReplicaSet.
	sel := fmt.Sprintf("%s=%s,%s=%s", deployv1alpha1.LabelSite, name, deployv1alpha1.LabelColor, sd.Status.ActiveColor)
	pods, err := env.Client.CoreV1().Pods(ns).List(context.Background(), metav1.ListOptions{LabelSelector: sel})
	if err != nil {
		t.Fatal(err)
	}
	sets := map[string]bool{}
	for _, p := range pods.Items {
		if p.DeletionTimestamp != nil {
			continue
		}
		sets[p.Labels["pod-template-hash"]] = true
		if id := p.Status.ContainerStatuses[0].ImageID; id != "local/demo-site@"+want {
			t.Fatalf("pod %s of the active color runs %s, want the recorded local/demo-site@%s", p.Name, id, want)
		}
	}
	if len(sets) != 1 {
		t.Fatalf("the active color's pods come from %d ReplicaSets, want one rollout", len(sets))
	}
	t.Logf("%s runs %s on %s by digest %s", name, last.Revision, sd.Status.ActiveColor, want[:19])
}
