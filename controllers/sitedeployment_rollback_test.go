package controllers_test

import (
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	v1 "github.com/understudy-dev/understudy/api/v1alpha1"
	"github.com/understudy-dev/understudy/internal/bluegreen"
)

func TestSiteDeploymentPostPromotionFailureSwitchesBack(t *testing.T) {
	s, r1 := healthySite(t, func(sd *v1.SiteDeployment) {
		sd.Spec.Strategy.PostPromotion = &v1.CheckSpec{Template: podTemplate("curl:8")}
	})
	s.release("shop:2")
	r2 := s.revision()
	s.available(v1.Green, r2, 2)
	s.waitActive(v1.PhasePromoting, v1.Green, r2)
	job := bluegreen.CheckJobName("shop", r2, bluegreen.PostPromotion)
	s.finishJob(job, false)
	sd := s.waitActive(v1.PhaseDegraded, v1.Blue, r1)
	if sd.Status.AbortReason != v1.ReasonPostPromotionFailed {
		t.Fatalf("reason %q", sd.Status.AbortReason)
	}
	if c := condition(sd, v1.ConditionDegraded); c == nil || !strings.Contains(c.Message, failedWith+"; see kubectl logs job/"+job+" -n "+s.ns) {
		t.Fatalf("Degraded condition does not quote the check's error and name its logs: %+v", c)
	}
	s.waitReplicas(v1.Green, 0)
}

func TestSiteDeploymentAbortCandidateScalesItDown(t *testing.T) {
	s, r1 := healthySite(t, func(sd *v1.SiteDeployment) { sd.Spec.Strategy.AutoPromote = ptr.To(false) })
	s.release("shop:2")
	r2 := s.revision()
	s.waitReplicas(v1.Green, 2)
	s.annotate(v1.AnnotationAbort, r2)
	sd := s.waitActive(v1.PhaseAborted, v1.Blue, r1)
	s.waitReplicas(v1.Green, 0)
	if sd.Status.AbortedRevision != r2 {
		t.Fatalf("abortedRevision %q", sd.Status.AbortedRevision)
	}
}

func TestSiteDeploymentAbortAfterScaleDownRestartsPreviousRevision(t *testing.T) {
	s, r1 := healthySite(t)
	s.release("shop:2")
	r2 := s.revision()
	s.available(v1.Green, r2, 2)
	s.waitActive(v1.PhaseHealthy, v1.Green, r2)
	s.advance(11 * time.Minute)
	s.waitReplicas(v1.Blue, 0)
	s.annotate(v1.AnnotationAbort, r2)
	s.waitReplicas(v1.Blue, 2) // previous revision restarted from its ControllerRevision
	if got := s.deployment(v1.Blue).Spec.Template.Labels[v1.LabelRevision]; got != r1 {
		t.Fatalf("blue runs %s, want %s", got, r1)
	}
	s.waitActive(v1.PhaseAborted, v1.Green, r2) // still serving until blue is available
	s.available(v1.Blue, r1, 2)
	s.waitActive(v1.PhaseAborted, v1.Blue, r1)
	s.waitReplicas(v1.Green, 0)
}

func TestSiteDeploymentProgressDeadlineAbortsCandidate(t *testing.T) {
	s, r1 := healthySite(t, func(sd *v1.SiteDeployment) {
		sd.Spec.Strategy.ProgressDeadline = &metav1.Duration{Duration: 2 * time.Minute}
	})
	s.release("shop:2")
	s.waitReplicas(v1.Green, 2)
	s.waitPhase(v1.PhaseProgressing) // the candidate's start time is recorded
	s.advance(2 * time.Minute)
	sd := s.waitActive(v1.PhaseDegraded, v1.Blue, r1)
	s.waitReplicas(v1.Green, 0)
	if sd.Status.AbortReason != v1.ReasonProgressDeadlineExceeded || *s.deployment(v1.Blue).Spec.Replicas != 2 {
		t.Fatalf("reason %q", sd.Status.AbortReason)
	}
}

func TestSiteDeploymentNewerTemplateSupersedesCandidate(t *testing.T) {
	s, r1 := healthySite(t)
	s.release("shop:2")
	s.waitReplicas(v1.Green, 2)
	s.release("shop:3")
	r3 := s.revision()
	eventually(t, "green runs shop:3", func() error {
		if got := s.deployment(v1.Green).Spec.Template.Labels[v1.LabelRevision]; got != r3 {
			return errorf("green runs %s", got)
		}
		return nil
	})
	if got := s.deployment(v1.Blue).Spec.Template.Labels[v1.LabelRevision]; got != r1 {
		t.Fatal("the active color was touched")
	}
	s.available(v1.Green, r3, 2)
	s.waitActive(v1.PhaseHealthy, v1.Green, r3)
}

func TestSiteDeploymentRevertToWarmRevisionSkipsChecks(t *testing.T) {
	s, r1 := healthySite(t, func(sd *v1.SiteDeployment) {
		sd.Spec.Strategy.PrePromotion = &v1.CheckSpec{Template: podTemplate("curl:8")}
	})
	s.release("shop:2")
	r2 := s.revision()
	s.available(v1.Green, r2, 2)
	s.finishJob(bluegreen.CheckJobName("shop", r2, bluegreen.PrePromotion), true)
	s.waitActive(v1.PhaseHealthy, v1.Green, r2)
	s.release("shop:1") // git revert: blue still runs r1 at full size
	s.waitActive(v1.PhaseHealthy, v1.Blue, r1)
	if j := s.deployment(v1.Blue); j == nil {
		t.Fatal("blue vanished")
	}
	if err := k8sClient.Get(ctxBG(), s.key(bluegreen.CheckJobName("shop", r1, bluegreen.PrePromotion)), &batchJob{}); err == nil {
		t.Fatal("a revert to a warm revision ran the checks again")
	}
}

func TestSiteDeploymentRestartAnnotationRestartsPodsWithoutNewRevision(t *testing.T) {
	s, r1 := healthySite(t)
	s.annotate(v1.AnnotationRestartedAt, "2026-11-27T03:10:00Z")
	eventually(t, "restart annotation on the pod template", func() error {
		if got := s.deployment(v1.Blue).Spec.Template.Annotations[v1.AnnotationRestartedAt]; got != "2026-11-27T03:10:00Z" {
			return errorf("pod template annotation %q", got)
		}
		return nil
	})
	if sd := s.get(); sd.Status.CurrentRevision != r1 || sd.Status.PreviewRevision != "" {
		t.Fatalf("a restart must not start a new revision: %+v", sd.Status)
	}
}

func TestSiteDeploymentPrePromotionTimeoutAbortsCandidate(t *testing.T) {
	s, r1 := healthySite(t, func(sd *v1.SiteDeployment) {
		sd.Spec.Strategy.PrePromotion = &v1.CheckSpec{Template: podTemplate("curl:8"), Timeout: &metav1.Duration{Duration: time.Minute}}
	})
	s.release("shop:2")
	r2 := s.revision()
	s.available(v1.Green, r2, 2)
	s.waitChecking() // the check Job runs and never finishes
	s.advance(time.Minute)
	sd := s.waitActive(v1.PhaseDegraded, v1.Blue, r1)
	s.waitReplicas(v1.Green, 0)
	if sd.Status.AbortReason != v1.ReasonCheckTimedOut {
		t.Fatalf("reason %q", sd.Status.AbortReason)
	}
}
