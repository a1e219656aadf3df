package bluegreen

import (
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	v1 "github.com/understudy-dev/understudy/api/v1alpha1"
)

func check() *v1.CheckSpec {
	return &v1.CheckSpec{Template: image("curl:8"), Timeout: &metav1.Duration{Duration: 5 * time.Minute}}
}

func TestFirstApplyServesBlueOnceAvailable(t *testing.T) {
	w := newWorld(t)
	w.reconcile()
	w.expect(v1.PhasePending, "", "")
	if w.active != nil || w.replicas(v1.Blue) != 3 || w.deps[v1.Green] != nil {
		t.Fatalf("first apply: want blue at 3 and no Service yet, got active=%v blue=%d", w.active, w.replicas(v1.Blue))
	}
	w.available(v1.Blue)
	w.reconcile()
	w.expect(v1.PhaseHealthy, v1.Blue, rev("shop:1"))
	if w.site.Status.Ready != "3/3" || len(w.site.Status.History) != 1 {
		t.Fatalf("status: ready %q history %v", w.site.Status.Ready, w.site.Status.History)
	}
}

func TestReleaseStartsCandidateAtPreviewSizeThenSwitchesAfterSoak(t *testing.T) {
	w := newWorld(t, func(s *v1.SiteDeployment) {
		s.Spec.Strategy.PreviewReplicas = ptr.To[int32](1)
		s.Spec.Strategy.AutoPromoteAfter = &metav1.Duration{Duration: time.Minute}
	})
	w.healthyOn("shop:1")
	w.release("shop:2")
	w.reconcile()
	w.expect(v1.PhaseProgressing, v1.Blue, rev("shop:1"))
	if w.replicas(v1.Green) != 1 || w.replicas(v1.Blue) != 3 {
		t.Fatalf("candidate should start on green at 1 beside blue at 3: green=%d blue=%d", w.replicas(v1.Green), w.replicas(v1.Blue))
	}
	if w.preview.Spec.Selector[v1.LabelColor] != "blue" {
		t.Fatal("preview Service must not select a candidate that is not available yet")
	}
	w.available(v1.Green)
	w.reconcile()
	if w.preview.Spec.Selector[v1.LabelColor] != "green" || w.replicas(v1.Green) != 3 {
		t.Fatalf("available candidate: preview should select green and green scale to 3, got %v, %d", w.preview.Spec.Selector, w.replicas(v1.Green))
	}
	w.expect(v1.PhasePromoting, v1.Blue, rev("shop:1"))
	w.available(v1.Green)
	w.reconcile()
	w.expect(v1.PhasePromoting, v1.Blue, rev("shop:1")) // soaking
	if w.last.RequeueAfter != time.Minute {
		t.Fatalf("want a wake-up when the soak ends, got %s", w.last.RequeueAfter)
	}
	w.advance(time.Minute)
	w.reconcile()
	w.expect(v1.PhaseHealthy, v1.Green, rev("shop:2"))
	if w.replicas(v1.Blue) != 3 {
		t.Fatal("old color must stay at full size during scaleDownDelay")
	}
	w.advance(9 * time.Minute)
	w.reconcile()
	if w.replicas(v1.Blue) != 3 {
		t.Fatal("old color scaled down before scaleDownDelay")
	}
	w.advance(time.Minute)
	w.reconcile()
	if w.replicas(v1.Blue) != 0 {
		t.Fatal("old color not scaled down after scaleDownDelay")
	}
	if h := w.site.Status.History; len(h) != 2 || h[0].Revision != rev("shop:2") || h[0].Images[0] != "shop:2" {
		t.Fatalf("history: %+v", h)
	}
}

func TestManualPromotionNeedsTheExactRevision(t *testing.T) {
	w := newWorld(t, func(s *v1.SiteDeployment) { s.Spec.Strategy.AutoPromote = ptr.To(false) })
	w.healthyOn("shop:1")
	w.release("shop:2")
	w.reconcile()
	w.available(v1.Green)
	w.reconcile()
	w.expect(v1.PhaseAwaitingPromotion, v1.Blue, rev("shop:1"))
	w.annotate(v1.AnnotationPromote, rev("shop:1"))
	w.advance(time.Hour)
	w.reconcile()
	w.expect(v1.PhaseAwaitingPromotion, v1.Blue, rev("shop:1"))
	w.annotate(v1.AnnotationPromote, rev("shop:2"))
	w.reconcile()
	w.expect(v1.PhaseHealthy, v1.Green, rev("shop:2"))
}

func TestPrePromotionCheck(t *testing.T) {
	for _, tc := range []struct {
		name      string
		finish    func(w *world, job string)
		wantPhase v1.SiteDeploymentPhase
		reason    string
	}{
		{"success lets the switch happen", func(w *world, job string) { w.finishJob(job, true) }, v1.PhaseHealthy, ""},
		{"failure aborts the candidate", func(w *world, job string) { w.finishJob(job, false) }, v1.PhaseDegraded, v1.ReasonPrePromotionFailed},
		{"timeout aborts the candidate", func(w *world, job string) { w.advance(5 * time.Minute) }, v1.PhaseDegraded, v1.ReasonCheckTimedOut},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t, func(s *v1.SiteDeployment) { s.Spec.Strategy.PrePromotion = check() })
			w.healthyOn("shop:1")
			w.release("shop:2")
			w.reconcile()
			w.available(v1.Green)
			w.reconcile()
			job := CheckJobName("shop", rev("shop:2"), PrePromotion)
			env := map[string]string{}
			for _, e := range w.jobs[job].Spec.Template.Spec.Containers[0].Env {
				env[e.Name] = e.Value
			}
			if env["PREVIEW_URL"] != "http://shop-preview.prod.svc:80" || env["ACTIVE_URL"] != "http://shop.prod.svc:80" ||
				env["REVISION"] != rev("shop:2") || env["COLOR"] != "green" {
				t.Fatalf("check env: %v", env)
			}
			if c := w.jobs[job].Spec.Template.Spec; c.RestartPolicy != corev1.RestartPolicyNever ||
				c.Containers[0].TerminationMessagePolicy != corev1.TerminationMessageFallbackToLogsOnError {
				t.Fatal("check pods must not restart, and leave their last log lines when they fail")
			}
			w.expect(v1.PhaseProgressing, v1.Blue, rev("shop:1")) // checked, not yet approved
			tc.finish(w, job)
			w.reconcile()
			if tc.wantPhase == v1.PhaseHealthy {
				w.available(v1.Green)
				w.reconcile()
				w.expect(v1.PhaseHealthy, v1.Green, rev("shop:2"))
				return
			}
			w.expect(tc.wantPhase, v1.Blue, rev("shop:1"))
			if w.replicas(v1.Green) != 0 || w.site.Status.AbortReason != tc.reason || w.site.Status.AbortedRevision != rev("shop:2") {
				t.Fatalf("want candidate scaled down with %s, got green=%d reason=%s", tc.reason, w.replicas(v1.Green), w.site.Status.AbortReason)
			}
			// The message quotes what the check said and says where to read more.
			logs := "see kubectl logs job/" + job + " -n prod"
			if msg := w.site.Status.Message; !strings.Contains(msg, logs) ||
				tc.reason == v1.ReasonPrePromotionFailed && !strings.Contains(msg, "Job has reached the specified backoff limit; "+failedPod(job)+"; ") {
				t.Fatalf("message %q does not quote the failed pod or name %q", msg, logs)
			}
		})
	}
}

func TestNewerTemplateSupersedesCandidateOnIdleColor(t *testing.T) {
	w := newWorld(t)
	w.healthyOn("shop:1")
	w.release("shop:2")
	w.reconcile()
	w.release("shop:3")
	w.reconcile()
	if revisionOf(w.deps[v1.Green]) != rev("shop:3") || revisionOf(w.deps[v1.Blue]) != rev("shop:1") || w.replicas(v1.Blue) != 3 {
		t.Fatal("newer template must replace the candidate on green and leave blue alone")
	}
	w.available(v1.Green)
	w.reconcile()
	w.expect(v1.PhaseHealthy, v1.Green, rev("shop:3"))
	if h := w.site.Status.History; h[1].Revision != rev("shop:2") || h[1].Outcome != v1.OutcomeSuperseded {
		t.Fatalf("history: %+v", h)
	}
}

func TestRevertToWarmRevisionSwitchesBackWithoutChecks(t *testing.T) {
	w := newWorld(t, func(s *v1.SiteDeployment) { s.Spec.Strategy.PrePromotion = check() })
	w.healthyOn("shop:1")
	w.release("shop:2")
	w.reconcile()
	w.available(v1.Green)
	w.reconcile()
	w.finishJob(CheckJobName("shop", rev("shop:2"), PrePromotion), true)
	w.reconcile()
	w.expect(v1.PhaseHealthy, v1.Green, rev("shop:2"))
	w.release("shop:1") // git revert
	jobs := len(w.jobs)
	w.reconcile()
	w.expect(v1.PhaseHealthy, v1.Blue, rev("shop:1"))
	if len(w.jobs) != jobs {
		t.Fatal("a revert to a warm revision must not re-run checks")
	}
}

func TestReplicasResizeActiveColorInPlace(t *testing.T) {
	w := newWorld(t)
	w.healthyOn("shop:1")
	w.release("shop:2")
	w.reconcile()
	w.available(v1.Green)
	w.reconcile()
	w.advance(time.Minute)
	w.site.Spec.Replicas = ptr.To[int32](5)
	w.site.Generation++
	w.reconcile()
	if w.replicas(v1.Green) != 5 || w.replicas(v1.Blue) != 3 {
		t.Fatalf("want active green resized to 5 and idle blue untouched at 3, got %d and %d", w.replicas(v1.Green), w.replicas(v1.Blue))
	}
	if w.site.Status.PreviewRevision != "" || revisionOf(w.deps[v1.Green]) != rev("shop:2") {
		t.Fatal("a replica change must not start a new revision")
	}
}

func TestPausedTakesNoAction(t *testing.T) {
	w := newWorld(t)
	w.healthyOn("shop:1")
	w.site.Spec.Paused = true
	w.release("shop:2")
	p := w.reconcile()
	if len(p.Deployments) != 0 || p.Active != nil || p.Preview != nil || len(p.Jobs) != 0 {
		t.Fatalf("paused plan acts: %+v", p)
	}
	if w.site.Status.Phase != v1.PhasePaused {
		t.Fatalf("phase %s", w.site.Status.Phase)
	}
}

func TestHealthyResyncChangesNothing(t *testing.T) {
	w := newWorld(t)
	w.healthyOn("shop:1")
	st := w.site.Status.DeepCopy()
	before := w.deps[v1.Blue].DeepCopy()
	w.advance(time.Hour)
	w.reconcile()
	if w.deps[v1.Blue].Generation != before.Generation {
		t.Fatal("idle resync changed the deployment")
	}
	if !equalStatus(st, &w.site.Status) {
		t.Fatalf("idle resync changed status:\n%+v\n%+v", st, w.site.Status)
	}
}

func equalStatus(a, b *v1.SiteDeploymentStatus) bool {
	return a.Phase == b.Phase && a.Message == b.Message && len(a.Conditions) == len(b.Conditions) &&
		a.Conditions[0].LastTransitionTime.Equal(&b.Conditions[0].LastTransitionTime) && a.ActiveRevision == b.ActiveRevision
}

func TestActiveColorLosingPodsIsNotHealthy(t *testing.T) {
	w := newWorld(t)
	w.healthyOn("shop:1")
	w.deps[v1.Blue].Status.AvailableReplicas = 1 // a pod crashed
	w.reconcile()
	w.expect(v1.PhaseProgressing, v1.Blue, rev("shop:1"))
	if w.site.Status.Ready != "1/3" {
		t.Fatalf("ready %q", w.site.Status.Ready)
	}
	w.available(v1.Blue)
	w.reconcile()
	w.expect(v1.PhaseHealthy, v1.Blue, rev("shop:1"))
}

func TestScaledToZeroHoldsTheReleaseAndSaysSo(t *testing.T) {
	w := newWorld(t, func(s *v1.SiteDeployment) { s.Spec.Strategy.AutoPromote = ptr.To(false) })
	w.healthyOn("shop:1")
	w.releaseReady("shop:2")
	w.expect(v1.PhaseAwaitingPromotion, v1.Blue, rev("shop:1"))
	w.site.Spec.Replicas = ptr.To[int32](0) // kubectl scale sdep --replicas=0
	w.reconcile()
	w.available(v1.Blue)
	w.available(v1.Green)
	w.reconcile()
	w.expect(v1.PhaseProgressing, v1.Blue, rev("shop:1"))
	if !strings.Contains(w.site.Status.Message, "spec.replicas is 0") || w.site.Status.Ready != "0/0" {
		t.Fatalf("at 0 replicas: %s (%s)", w.site.Status.Message, w.site.Status.Ready)
	}
	if w.replicas(v1.Green) != 0 || w.replicas(v1.Blue) != 0 {
		t.Fatalf("green %d blue %d", w.replicas(v1.Green), w.replicas(v1.Blue))
	}
	w.annotate(v1.AnnotationPromote, rev("shop:2"))
	w.reconcile()
	w.expect(v1.PhaseProgressing, v1.Blue, rev("shop:1")) // no switch to a candidate nobody could check
	w.site.Spec.Replicas = ptr.To[int32](3)
	w.reconcile()
	w.available(v1.Green)
	w.available(v1.Blue)
	w.reconcile()
	w.expect(v1.PhaseHealthy, v1.Green, rev("shop:2"))
}
