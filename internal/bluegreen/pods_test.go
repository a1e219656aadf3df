package bluegreen

import (
	"testing"
	"time"

	v1 "github.com/understudy-dev/understudy/api/v1alpha1"
)

// The switch fires when every pod of the candidate is Ready, before the
// Deployment's status says so; one pod not Ready (or gone) holds it.
func TestTheSwitchFiresOnPodReadiness(t *testing.T) {
	w := newWorld(t)
	w.healthyOn("shop:1")
	w.registry = map[string]string{"shop:2": digest('a')}
	w.release("shop:2")
	w.reconcile()
	w.runDigests(v1.Green) // the kubelet starts the pods; kcm has written no status yet
	w.pods[v1.Green][2].Ready = false
	w.reconcile()
	w.expect(v1.PhaseProgressing, v1.Blue, rev("shop:1"))
	w.pods[v1.Green] = w.pods[v1.Green][:2] // deleted
	w.reconcile()
	w.expect(v1.PhaseProgressing, v1.Blue, rev("shop:1"))
	w.runPods(v1.Green)
	if d := w.deps[v1.Green]; d.Status.AvailableReplicas != 0 {
		t.Fatalf("the test must not play kcm: %+v", d.Status)
	}
	w.reconcile()
	w.expect(v1.PhaseHealthy, v1.Green, rev("shop:2"))
}

// promotedFromPreview: shop:2 previewed on one pod with mail off, checked
// and promoted; the scale-up (without the preview settings) was decided,
// and its pods are still the preview's.
func promotedFromPreview(t *testing.T) *world {
	t.Helper()
	w := newWorld(t, manualSite, mailOffOnPreview)
	w.healthyOn("shop:1")
	w.registry = map[string]string{"shop:2": digest('a')}
	w.release("shop:2")
	w.reconcile()
	w.runDigests(v1.Green)
	w.reconcile()
	w.finishJob(CheckJobName("shop", rev("shop:2"), PrePromotion), true)
	w.reconcile()
	w.annotate(v1.AnnotationPromote, rev("shop:2"))
	w.reconcile()
	return w
}

// Pods of the revision that still run the preview settings, or another
// digest, are not the candidate that takes traffic.
func TestPodsOfAnotherTemplateDoNotCount(t *testing.T) {
	w := promotedFromPreview(t)
	if inPreview(w.deps[v1.Green]) {
		t.Fatal("the scale-up keeps the preview settings")
	}
	// Its pods are still the preview's: ready, same revision, same digest.
	w.reconcile()
	w.expect(v1.PhasePromoting, v1.Blue, rev("shop:1"))
	for i := range w.pods[v1.Green] {
		w.pods[v1.Green][i].Preview = ""
		w.pods[v1.Green][i].ImageIDs["web"] = "registry.example/shop@" + digest('b')
	}
	w.reconcile()
	w.expect(v1.PhasePromoting, v1.Blue, rev("shop:1"))
	w.runPods(v1.Green)
	w.reconcile()
	w.expect(v1.PhaseHealthy, v1.Green, rev("shop:2"))
}

// The new pods all Ready while a preview pod of the same revision still
// runs: the active selector names the revision, so it would serve from the
// preview pod too; the switch waits until that pod is gone.
func TestAPreviewPodStillRunningHoldsTheSwitch(t *testing.T) {
	w := promotedFromPreview(t)
	preview := w.pods[v1.Green][0]
	w.runPods(v1.Green) // the scale-up's pods, all Ready
	w.pods[v1.Green] = append(w.pods[v1.Green], preview)
	w.reconcile()
	w.expect(v1.PhasePromoting, v1.Blue, rev("shop:1"))
	w.pods[v1.Green] = w.pods[v1.Green][:len(w.pods[v1.Green])-1] // deleted by the rollout
	w.reconcile()
	w.expect(v1.PhaseHealthy, v1.Green, rev("shop:2"))
}

// A Deployment's minReadySeconds holds the switch until every pod was
// Ready that long, and wakes the planner then.
func TestMinReadySecondsIsHonoured(t *testing.T) {
	w := newWorld(t)
	w.healthyOn("shop:1")
	w.release("shop:2")
	w.reconcile()
	w.deps[v1.Green].Spec.MinReadySeconds = 30
	w.runDigests(v1.Green, digest('a'))
	for i := range w.pods[v1.Green] {
		w.pods[v1.Green][i].ReadySince = w.now
	}
	p := w.reconcile()
	w.expect(v1.PhaseProgressing, v1.Blue, rev("shop:1"))
	if p.RequeueAfter != 30*time.Second {
		t.Fatalf("requeue after %s, want when the pods have been Ready 30s", p.RequeueAfter)
	}
	w.advance(30 * time.Second)
	w.reconcile()
	w.expect(v1.PhaseHealthy, v1.Green, rev("shop:2"))
}
