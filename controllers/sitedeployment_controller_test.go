package controllers_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	autoscalingv1 "k8s.io/api/autoscaling/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"

	v1 "github.com/understudy-dev/understudy/api/v1alpha1"
	"github.com/understudy-dev/understudy/internal/bluegreen"
)

func TestSiteDeploymentFirstApplyServesBlue(t *testing.T) {
	s := newSite(t, "shop:1")
	rev := s.revision()
	sd := s.waitPhase(v1.PhasePending)
	if got := kstatusOf(t, sd); got != status.InProgressStatus {
		t.Fatalf("kstatus while pending: %s", got)
	}
	s.available(v1.Blue, rev, 2)
	sd = s.waitActive(v1.PhaseHealthy, v1.Blue, rev)
	if got := kstatusOf(t, sd); got != status.CurrentStatus {
		t.Fatalf("kstatus when healthy: %s", got)
	}
	if sd.Status.Ready != "2/2" || sd.Status.Selector == "" || condition(sd, v1.ConditionReady).Status != metav1.ConditionTrue {
		t.Fatalf("status: %+v", sd.Status)
	}
	d := s.deployment(v1.Blue)
	if len(d.OwnerReferences) != 1 || d.OwnerReferences[0].UID != sd.UID || !*d.OwnerReferences[0].Controller {
		t.Fatal("deployment not owned by the SiteDeployment (deleting it would leave the deployment)")
	}
	for _, name := range []string{"shop", "shop-preview"} {
		svc := &corev1.Service{}
		if err := k8sClient.Get(context.Background(), s.key(name), svc); err != nil || svc.OwnerReferences[0].UID != sd.UID {
			t.Fatalf("service %s: %v", name, err)
		}
	}
}

func TestSiteDeploymentAutoPromotedRelease(t *testing.T) {
	s, r1 := healthySite(t, func(sd *v1.SiteDeployment) {
		sd.Spec.Replicas = ptr.To[int32](3)
		sd.Spec.Strategy.PreviewReplicas = ptr.To[int32](1)
		sd.Spec.Strategy.AutoPromoteAfter = &metav1.Duration{Duration: 30 * time.Second}
	})

	s.release("shop:2")
	r2 := s.revision()
	s.waitPhase(v1.PhaseProgressing)
	s.waitReplicas(v1.Green, 1)
	s.available(v1.Green, r2, 1)
	s.waitReplicas(v1.Green, 3) // checks passed (none), autoPromote: full size before the switch
	s.available(v1.Green, r2, 3)
	var sd *v1.SiteDeployment
	eventually(t, "the soak to begin", func() error { // Promoting, and the soak's start recorded
		if sd = s.get(); sd.Status.Phase != v1.PhasePromoting || sd.Status.PromotionReadyAt == nil {
			return fmt.Errorf("phase %s, promotionReadyAt %v: %s", sd.Status.Phase, sd.Status.PromotionReadyAt, sd.Status.Message)
		}
		return nil
	})
	if sd.Status.PreviewRevision != r2 || sd.Status.ActiveRevision != r1 {
		t.Fatalf("while soaking: %+v", sd.Status)
	}
	s.advance(30 * time.Second)
	sd = s.waitActive(v1.PhaseHealthy, v1.Green, r2)
	if h := sd.Status.History; len(h) != 2 || h[0].Revision != r2 || h[0].Images[0] != "shop:2" {
		t.Fatalf("history %+v", h)
	}
	if *s.deployment(v1.Blue).Spec.Replicas != 3 {
		t.Fatal("old color must stay warm for scaleDownDelay")
	}
	s.advance(10 * time.Minute)
	s.waitReplicas(v1.Blue, 0)
}

func TestSiteDeploymentManualPromotion(t *testing.T) {
	s, r1 := healthySite(t, func(sd *v1.SiteDeployment) { sd.Spec.Strategy.AutoPromote = ptr.To(false) })
	s.release("shop:2")
	r2 := s.revision()
	s.available(v1.Green, r2, 2)
	s.waitPhase(v1.PhaseAwaitingPromotion)
	s.annotate(v1.AnnotationPromote, r1) // another revision's name does nothing
	consistently(t, "awaiting promotion", time.Second, func() error {
		if sd := s.get(); sd.Status.Phase != v1.PhaseAwaitingPromotion || sd.Status.ActiveRevision != r1 {
			return fmt.Errorf("phase %s active %s", sd.Status.Phase, sd.Status.ActiveRevision)
		}
		return nil
	})
	s.annotate(v1.AnnotationPromote, r2)
	s.waitActive(v1.PhaseHealthy, v1.Green, r2)
}

func TestSiteDeploymentPrePromotionCheck(t *testing.T) {
	for _, ok := range []bool{true, false} {
		t.Run(fmt.Sprintf("succeeds=%v", ok), func(t *testing.T) {
			s, r1 := healthySite(t, func(sd *v1.SiteDeployment) {
				sd.Spec.Strategy.PrePromotion = &v1.CheckSpec{Template: podTemplate("curl:8")}
			})
			s.release("shop:2")
			r2 := s.revision()
			s.available(v1.Green, r2, 2)
			job := bluegreen.CheckJobName("shop", r2, bluegreen.PrePromotion)
			s.waitChecking()
			s.finishJob(job, ok)
			if ok {
				s.waitActive(v1.PhaseHealthy, v1.Green, r2)
				return
			}
			sd := s.waitActive(v1.PhaseDegraded, v1.Blue, r1)
			s.waitReplicas(v1.Green, 0)
			if kstatusOf(t, sd) != status.FailedStatus || condition(sd, v1.ConditionDegraded).Reason != v1.ReasonPrePromotionFailed {
				t.Fatalf("want kstatus Failed with PrePromotionFailed, got %s %+v", kstatusOf(t, sd), sd.Status.Conditions)
			}
		})
	}
}

func TestSiteDeploymentAbortAfterPromotionFlipsBack(t *testing.T) {
	s, r1 := healthySite(t)
	s.release("shop:2")
	r2 := s.revision()
	s.available(v1.Green, r2, 2)
	s.waitActive(v1.PhaseHealthy, v1.Green, r2)
	s.annotate(v1.AnnotationAbort, r2)
	sd := s.waitActive(v1.PhaseAborted, v1.Blue, r1)
	if sd.Status.AbortedRevision != r2 {
		t.Fatalf("abortedRevision %q", sd.Status.AbortedRevision)
	}
	s.waitReplicas(v1.Green, 0)
	// The rollback is over: `kubectl understudy status` says so, and what
	// to do, and exits 1 while the spec names the rejected revision.
	want := "sitedeployment shop failed: revision " + r2 + " was aborted and rolled back: " + r1 + " serves at full size; revert spec.template to " + r1 +
		", or fix what failed (the image, the migration or a check) and apply it again for a new attempt (why: revision " + r2 + " aborted by the " +
		v1.AnnotationAbort + " annotation)"
	if _, errOut, code := s.runPlugin("status", "shop"); code != 1 || !strings.Contains(errOut, want) || strings.Contains(errOut, "rolling back") {
		t.Fatalf("exit %d: %s", code, errOut)
	}
}

func TestSiteDeploymentScaleSubresourceResizesActiveInPlace(t *testing.T) {
	s, r1 := healthySite(t)
	scale := &autoscalingv1.Scale{}
	if err := k8sClient.SubResource("scale").Get(context.Background(), s.get(), scale); err != nil {
		t.Fatalf("scale subresource: %v", err)
	}
	scale.Spec.Replicas = 4
	if err := k8sClient.SubResource("scale").Update(context.Background(), s.get(), client.WithSubResourceBody(scale)); err != nil {
		t.Fatalf("cannot scale: %v", err)
	}
	s.waitReplicas(v1.Blue, 4)
	if s.deployment(v1.Green) != nil || s.get().Status.PreviewRevision != "" || s.revision() != r1 {
		t.Fatal("scaling must not start a new revision")
	}
}

func TestSiteDeploymentHealthyResyncWritesNothing(t *testing.T) {
	s, _ := healthySite(t)
	sd := s.get()
	dep := s.deployment(v1.Blue)
	svc := &corev1.Service{}
	if err := k8sClient.Get(context.Background(), s.key("shop"), svc); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 5; i++ {
		wake <- eventFor(sd)
	}
	s.annotate("example.com/touched", "1") // a metadata change is reconciled too
	sd = s.get()
	consistently(t, "no writes on resync", 2*time.Second, func() error {
		now := s.get()
		d := s.deployment(v1.Blue)
		sv := &corev1.Service{}
		if err := k8sClient.Get(context.Background(), s.key("shop"), sv); err != nil {
			return err
		}
		if now.ResourceVersion != sd.ResourceVersion || d.ResourceVersion != dep.ResourceVersion || sv.ResourceVersion != svc.ResourceVersion {
			return fmt.Errorf("an idle resync wrote to the API server: site %s->%s deployment %s->%s service %s->%s\n%+v\n%+v",
				sd.ResourceVersion, now.ResourceVersion, dep.ResourceVersion, d.ResourceVersion, svc.ResourceVersion, sv.ResourceVersion, sd.Status, now.Status)
		}
		return nil
	})
}

func TestSiteDeploymentPausedDoesNothing(t *testing.T) {
	s, _ := healthySite(t)
	s.update(func(sd *v1.SiteDeployment) {
		sd.Spec.Paused = true
		sd.Spec.Template = podTemplate("shop:2")
		sd.Spec.Replicas = ptr.To[int32](5)
	})
	s.waitPhase(v1.PhasePaused)
	consistently(t, "paused", time.Second, func() error {
		if s.deployment(v1.Green) != nil || *s.deployment(v1.Blue).Spec.Replicas != 2 {
			return fmt.Errorf("a paused SiteDeployment changed its deployments")
		}
		return nil
	})
}

func eventFor(sd *v1.SiteDeployment) event.GenericEvent { return event.GenericEvent{Object: sd} }
