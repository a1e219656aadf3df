//go:build e2e

package e2e

import (
	"context"
	"path/filepath"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/understudy-dev/understudy/internal/bluegreen"
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
	d, err := env.Client.AppsV1().Deployments(ns).Get(context.Background(), bluegreen.DeploymentName(name, sd.Status.ActiveColor), metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := d.Spec.Template.Spec.Containers[0].Image; got != "local/demo-site@"+want {
		t.Fatalf("the active color runs %s, want local/demo-site@%s", got, want)
	}
	t.Logf("%s runs %s on %s by digest %s", name, last.Revision, sd.Status.ActiveColor, want[:19])
}
