package bluegreen

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	v1 "github.com/understudy-dev/understudy/api/v1alpha1"
)

func TestPostPromotionFailureSwitchesBackToWarmColor(t *testing.T) {
	w := newWorld(t, func(s *v1.SiteDeployment) {
		s.Spec.Strategy.PostPromotion = check()
		s.Spec.Strategy.PostPromotion.Timeout.Duration = time.Hour
	})
	w.healthyOn("shop:1")
	w.release("shop:2")
	w.reconcile()
	w.available(v1.Green)
	w.reconcile()
	w.expect(v1.PhasePromoting, v1.Green, rev("shop:2"))
	w.advance(20 * time.Minute) // past scaleDownDelay: blue is still kept warm for the check
	w.reconcile()
	if w.replicas(v1.Blue) != 3 {
		t.Fatal("old color scaled down while the post-promotion check runs")
	}
	w.finishJob(CheckJobName("shop", rev("shop:2"), PostPromotion), false)
	p := w.reconcile()
	w.expect(v1.PhaseDegraded, v1.Blue, rev("shop:1"))
	// The decision says which releases ended (metrics count them), and
	// history says the live revision was rolled back.
	if want := []v1.RevisionOutcome{v1.OutcomeFailed, v1.OutcomeRolledBack}; !slices.Equal(p.Ended, want) {
		t.Fatalf("ended %v, want %v", p.Ended, want)
	}
	if h := w.site.Status.History; h[0].Revision != rev("shop:1") || h[1].Revision != rev("shop:2") || h[1].Outcome != v1.OutcomeRolledBack {
		t.Fatalf("history %+v", h)
	}
	w.reconcile()
	if w.site.Status.AbortReason != v1.ReasonPostPromotionFailed || w.replicas(v1.Green) != 0 {
		t.Fatalf("reason %s green %d", w.site.Status.AbortReason, w.replicas(v1.Green))
	}
}

func TestAbort(t *testing.T) {
	t.Run("a candidate is scaled down", func(t *testing.T) {
		w := newWorld(t)
		w.healthyOn("shop:1")
		w.release("shop:2")
		w.reconcile()
		w.annotate(v1.AnnotationAbort, rev("shop:2"))
		w.reconcile()
		w.expect(v1.PhaseAborted, v1.Blue, rev("shop:1"))
		if w.replicas(v1.Green) != 0 {
			t.Fatal("aborted candidate not scaled down")
		}
		w.reconcile()
		w.expect(v1.PhaseAborted, v1.Blue, rev("shop:1"))
		w.release("shop:3")
		w.reconcile()
		w.expect(v1.PhaseProgressing, v1.Blue, rev("shop:1"))
	})
	t.Run("an active revision flips back while the old color is warm", func(t *testing.T) {
		w := newWorld(t)
		w.healthyOn("shop:1")
		w.release("shop:2")
		w.reconcile()
		w.available(v1.Green)
		w.reconcile()
		w.expect(v1.PhaseHealthy, v1.Green, rev("shop:2"))
		w.advance(time.Minute)
		w.annotate(v1.AnnotationAbort, rev("shop:2"))
		w.reconcile()
		w.expect(v1.PhaseAborted, v1.Blue, rev("shop:1"))
	})
	t.Run("an active revision restarts the previous one after scale-down", func(t *testing.T) {
		w := newWorld(t)
		w.healthyOn("shop:1")
		w.release("shop:2")
		w.reconcile()
		w.available(v1.Green)
		w.reconcile()
		w.advance(11 * time.Minute)
		w.reconcile()
		if w.replicas(v1.Blue) != 0 {
			t.Fatal("setup: blue should be scaled down")
		}
		w.annotate(v1.AnnotationAbort, rev("shop:2"))
		w.reconcile()
		w.expect(v1.PhaseAborted, v1.Green, rev("shop:2"))
		if w.replicas(v1.Blue) != 3 || revisionOf(w.deps[v1.Blue]) != rev("shop:1") {
			t.Fatal("previous revision not restarted on blue at full size")
		}
		w.available(v1.Blue)
		w.reconcile()
		w.expect(v1.PhaseAborted, v1.Blue, rev("shop:1"))
		w.reconcile()
		if w.replicas(v1.Green) != 0 {
			t.Fatal("aborted revision not scaled down after the rollback")
		}
	})
}

func TestProgressDeadlineAbortsTheCandidate(t *testing.T) {
	w := newWorld(t)
	w.healthyOn("shop:1")
	w.release("shop:2")
	w.reconcile()
	if w.last.RequeueAfter != 10*time.Minute {
		t.Fatalf("want a wake-up at the deadline, got %s", w.last.RequeueAfter)
	}
	w.advance(10 * time.Minute)
	w.reconcile()
	w.expect(v1.PhaseDegraded, v1.Blue, rev("shop:1"))
	if w.replicas(v1.Green) != 0 || w.site.Status.AbortReason != v1.ReasonProgressDeadlineExceeded || w.replicas(v1.Blue) != 3 {
		t.Fatalf("green=%d blue=%d reason=%s", w.replicas(v1.Green), w.replicas(v1.Blue), w.site.Status.AbortReason)
	}
	if !strings.Contains(w.site.Status.Message, "progress deadline") {
		t.Fatalf("message: %s", w.site.Status.Message)
	}
}

func TestAbortAfterSeveralReleasesRollsBackToTheWarmPreviousRevision(t *testing.T) {
	w := newWorld(t)
	w.healthyOn("shop:1")
	for _, img := range []string{"shop:2", "shop:3"} {
		w.release(img)
		w.reconcile()
		w.available(w.site.Status.ActiveColor.Other())
		w.reconcile()
		w.advance(11 * time.Minute)
		w.reconcile() // the old color is scaled down
	}
	w.expect(v1.PhaseHealthy, v1.Blue, rev("shop:3"))
	w.release("shop:4")
	w.reconcile()
	w.available(v1.Green)
	w.reconcile()
	w.expect(v1.PhaseHealthy, v1.Green, rev("shop:4"))
	w.annotate(v1.AnnotationAbort, rev("shop:4"))
	w.reconcile()
	w.expect(v1.PhaseAborted, v1.Blue, rev("shop:3")) // one flip to the warm shop:3, not shop:1 or shop:2
}

func TestProgressDeadlineAlsoCoversTheScaleUpBeforeTheSwitch(t *testing.T) {
	w := newWorld(t, func(s *v1.SiteDeployment) { s.Spec.Strategy.PreviewReplicas = ptr.To[int32](1) })
	w.healthyOn("shop:1")
	w.release("shop:2")
	w.reconcile()
	w.available(v1.Green) // ready at 1
	w.advance(9 * time.Minute)
	w.reconcile() // approved: scaling to 3, which never becomes available
	if w.replicas(v1.Green) != 3 {
		t.Fatalf("green at %d", w.replicas(v1.Green))
	}
	w.advance(9 * time.Minute)
	w.reconcile()
	w.expect(v1.PhasePromoting, v1.Blue, rev("shop:1"))
	w.advance(time.Minute)
	w.reconcile()
	w.expect(v1.PhaseDegraded, v1.Blue, rev("shop:1"))
	if w.replicas(v1.Green) != 0 || w.site.Status.AbortReason != v1.ReasonProgressDeadlineExceeded {
		t.Fatalf("green %d reason %s", w.replicas(v1.Green), w.site.Status.AbortReason)
	}
}

// A reconcile stopped on the database server says so in every place a
// person looks: phase, message and conditions, the rest as it was.
func TestADatabaseFailureIsDegradedWithItsCause(t *testing.T) {
	w := newWorld(t)
	w.healthyOn("shop:1")
	st := DatabaseFailed(w.site, errors.New("dial tcp 127.0.0.1:5432: connection refused"), w.now)
	if st.Phase != v1.PhaseDegraded || !strings.Contains(st.Message, "connection refused") || st.ActiveRevision != rev("shop:1") {
		t.Fatalf("phase %s, message %q, active %s", st.Phase, st.Message, st.ActiveRevision)
	}
	for _, c := range st.Conditions {
		want := metav1.ConditionFalse
		if c.Type == v1.ConditionStalled || c.Type == v1.ConditionDegraded {
			want = metav1.ConditionTrue
		}
		if c.Status != want || c.Type != v1.ConditionReconciling && c.Reason != v1.ReasonDatabaseError {
			t.Errorf("condition %s=%s (%s), want %s with reason DatabaseError", c.Type, c.Status, c.Reason, want)
		}
	}
}
