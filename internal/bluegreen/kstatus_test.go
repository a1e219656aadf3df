package bluegreen

import (
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"

	v1 "github.com/understudy-dev/understudy/api/v1alpha1"
)

func (w *world) kstatus() status.Status {
	w.t.Helper()
	u, err := runtime.DefaultUnstructuredConverter.ToUnstructured(w.site)
	if err != nil {
		w.t.Fatal(err)
	}
	res, err := status.Compute(&unstructured.Unstructured{Object: u})
	if err != nil {
		w.t.Fatal(err)
	}
	return res.Status
}

// Every phase of a release, as kstatus (Flux, kubectl wait) reads it, with
// the conditions always in one order.
func TestEveryPhaseReadsAsKstatusExpects(t *testing.T) {
	w := newWorld(t, func(s *v1.SiteDeployment) {
		s.Spec.Strategy.AutoPromote = ptr.To(false)
		s.Spec.Strategy.PrePromotion = check()
	})
	step := func(phase v1.SiteDeploymentPhase, want status.Status) {
		t.Helper()
		if w.site.Status.Phase != phase {
			t.Fatalf("phase %s (%s), want %s", w.site.Status.Phase, w.site.Status.Message, phase)
		}
		if got := w.kstatus(); got != want {
			t.Fatalf("%s reads %s to kstatus, want %s", phase, got, want)
		}
		var order []string
		for _, c := range w.site.Status.Conditions {
			order = append(order, c.Type)
		}
		if len(order) != 5 || order[0] != v1.ConditionReady || order[1] != v1.ConditionProgressing || order[2] != v1.ConditionReconciling ||
			order[3] != v1.ConditionDegraded || order[4] != v1.ConditionStalled {
			t.Fatalf("condition order %v", order)
		}
	}
	w.reconcile()
	step(v1.PhasePending, status.InProgressStatus)
	w.available(v1.Blue)
	w.reconcile()
	step(v1.PhaseHealthy, status.CurrentStatus)
	gated(w.site)
	w.upstreams = []Upstream{upstreamRunning("shop:1", digest('0'), w.now)}
	w.release("shop:2")
	w.reconcile()
	step(v1.PhaseAwaitingUpstream, status.InProgressStatus) // Flux and Argo CD: see config/flux, config/argocd
	w.site.Spec.Promotion = nil
	w.reconcile()
	step(v1.PhaseProgressing, status.InProgressStatus)
	w.available(v1.Green)
	w.reconcile()
	step(v1.PhaseProgressing, status.InProgressStatus) // the pre-promotion check runs
	w.finishJob(CheckJobName("shop", rev("shop:2"), PrePromotion), true)
	w.reconcile()
	step(v1.PhaseAwaitingPromotion, status.InProgressStatus) // Flux: see config/flux for reading it Current
	w.annotate(v1.AnnotationPromote, rev("shop:2"))
	w.site.Spec.Replicas = ptr.To[int32](4)
	w.reconcile()
	step(v1.PhasePromoting, status.InProgressStatus)
	w.available(v1.Green)
	w.available(v1.Blue)
	w.reconcile()
	step(v1.PhaseHealthy, status.CurrentStatus)
	w.site.Spec.Paused = true
	w.reconcile()
	step(v1.PhasePaused, status.CurrentStatus) // Ready stays what it was
	w.site.Spec.Paused = false
	w.reconcile()
	step(v1.PhaseHealthy, status.CurrentStatus)
	w.advance(time.Minute)
	w.annotate(v1.AnnotationAbort, rev("shop:2"))
	w.reconcile()
	step(v1.PhaseAborted, status.FailedStatus)
	w.release("shop:3")
	w.reconcile()
	w.advance(10 * time.Minute)
	w.reconcile()
	step(v1.PhaseDegraded, status.FailedStatus) // ProgressDeadlineExceeded
	w.site.Spec.Paused = true
	w.reconcile()
	step(v1.PhasePaused, status.FailedStatus) // pausing does not hide a failure
}
