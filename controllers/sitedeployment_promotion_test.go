package controllers_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	v1 "github.com/understudy-dev/understudy/api/v1alpha1"
	"github.com/understudy-dev/understudy/internal/bluegreen"
)

// gatedOn makes a site wait for the SiteDeployment shop in namespace ns to
// run a revision's images for minLive.
func gatedOn(ns string, minLive time.Duration) func(*v1.SiteDeployment) {
	return func(sd *v1.SiteDeployment) {
		sd.Spec.Promotion = &v1.PromotionSpec{Upstreams: []v1.UpstreamReference{{Namespace: ns, Name: "shop"}},
			MinLiveDuration: &metav1.Duration{Duration: minLive}}
	}
}

// waitAwaiting waits until the site waits for its upstreams with a
// message that says what, and returns it.
func (s *site) waitAwaiting(what string) *v1.SiteDeployment {
	s.t.Helper()
	var sd *v1.SiteDeployment
	eventually(s.t, "AwaitingUpstream: "+what, func() error {
		sd = s.get()
		c := condition(sd, v1.ConditionReady)
		if sd.Status.Phase != v1.PhaseAwaitingUpstream || c == nil || c.Reason != v1.ReasonUpstreamNotQualified || !strings.Contains(c.Message, what) {
			return fmt.Errorf("phase %s, Ready %+v", sd.Status.Phase, c)
		}
		return nil
	})
	return sd
}

// releaseOnDigest takes a site with previewReplicas 1 through a release of
// img whose preview pod resolves it to digest, to Healthy on the idle color.
func (s *site) releaseOnDigest(img, digest string) string {
	s.t.Helper()
	r := s.switchOnDigest(img, digest)
	s.waitActive(v1.PhaseHealthy, s.get().Status.ActiveColor, r)
	return r
}

// switchOnDigest takes a site with previewReplicas 1 through a release of
// img whose preview pod resolves it to digest, to the switch.
func (s *site) switchOnDigest(img, digest string) string {
	s.t.Helper()
	idle := s.get().Status.ActiveColor.Other()
	s.release(img)
	r := s.revision()
	s.waitReplicas(idle, 1)
	s.runPod(fmt.Sprintf("shop-%s-%s", idle, digest[7:12]), idle, r, img, digest)
	s.available(idle, r, 1)
	s.waitReplicas(idle, s.sd.Spec.DesiredReplicas())
	s.available(idle, r, s.sd.Spec.DesiredReplicas())
	eventually(s.t, "switched to "+r, func() error {
		if st := s.get().Status; st.ActiveRevision != r {
			return fmt.Errorf("active revision %s", st.ActiveRevision)
		}
		return nil
	})
	return r
}

// Production waits for dev in another namespace: it says what dev runs,
// is woken by dev's release (a watch, no timer), waits out the minimum
// live time, and starts by itself on the digest dev ran.
func TestPromotionGateAcrossNamespaces(t *testing.T) {
	dev, _ := healthySite(t, previewOne)
	prod, r1 := healthySite(t, gatedOn(dev.ns, 10*time.Minute))
	prod.release("shop:2")
	sd := prod.waitAwaiting(dev.ns + "/shop runs shop:1 (revision")
	if sd.Status.Promotion == nil || len(sd.Status.Promotion.Upstreams) != 1 || sd.Status.Promotion.Upstreams[0].Namespace != dev.ns {
		t.Fatalf("status.promotion %+v", sd.Status.Promotion)
	}
	prod.eventWith(v1.EventAwaitingUpstream)
	if d := prod.deployment(v1.Green); d != nil {
		t.Fatalf("green exists while the release waits: %+v", d.Spec.Template.Spec.Containers)
	}

	devR2 := dev.releaseOnDigest("shop:2", sha('a'))
	prod.waitAwaiting(fmt.Sprintf("%s/shop runs shop:2@sha256:aaaaaaaaaaaa (revision %s), live since", dev.ns, devR2))
	if qa := prod.get().Status.Promotion.QualifiesAt; qa == nil {
		t.Fatal("status.promotion.qualifiesAt unset while only time is missing")
	}

	prod.advance(10 * time.Minute)
	r2 := prod.revision()
	eventually(t, "prod's candidate started on dev's digest", func() error {
		d := prod.deployment(v1.Green)
		if d == nil {
			return fmt.Errorf("no green deployment")
		}
		if got := d.Spec.Template.Spec.Containers[0].Image; got != "shop:2@"+sha('a') {
			return fmt.Errorf("green runs %s", got)
		}
		return nil
	})
	prod.eventWith(v1.EventUpstreamQualified)
	prod.available(v1.Green, r2, 2)
	sd = prod.waitActive(v1.PhaseHealthy, v1.Green, r2)
	h := sd.Status.History[0]
	if h.PromotionGate != v1.GateQualified || len(h.QualifiedBy) != 1 || h.QualifiedBy[0] != dev.ns+"/shop@"+devR2 {
		t.Fatalf("history[0] %+v, want qualified by %s/shop@%s", h, dev.ns, devR2)
	}
	if sd.Status.History[1].Revision != r1 {
		t.Fatalf("history %+v", sd.Status.History)
	}
}

// An upstream that does not exist holds the release with a message that
// says so; the skip annotation naming the revision releases it, answered,
// evented and marked in history.
func TestPromotionGateSkippedForAHotfix(t *testing.T) {
	prod, _ := healthySite(t, gatedOn("nowhere", 0))
	prod.release("shop:2")
	r2 := prod.revision()
	prod.waitAwaiting("nowhere/shop was not found")
	prod.annotate(v1.AnnotationSkipPromotionGate, r2)
	prod.waitReplicas(v1.Green, 2)
	if e := prod.eventWith(v1.EventPromotionGateSkipped); e.Type != "Warning" || !strings.Contains(e.Note, "nowhere/shop was not found") {
		t.Fatalf("event %s: %s", e.Type, e.Note)
	}
	prod.available(v1.Green, r2, 2)
	sd := prod.waitActive(v1.PhaseHealthy, v1.Green, r2)
	if h := sd.Status.History[0]; h.PromotionGate != v1.GateSkipped {
		t.Fatalf("history[0] %+v, want promotionGate Skipped", h)
	}
	var answered bool
	for _, a := range sd.Status.Actions {
		answered = answered || a.Annotation == v1.AnnotationSkipPromotionGate && a.Value == r2 && a.Result == v1.ActionAccepted
	}
	if !answered {
		t.Fatalf("status.actions %+v", sd.Status.Actions)
	}
}

// An upstream that names the site itself by its own namespace (the schema
// refuses it only without one: a CRD's rules cannot read
// metadata.namespace) holds the release with a message that says so.
func TestPromotionGateNamingItselfSaysSo(t *testing.T) {
	var own string
	prod, _ := healthySite(t, func(sd *v1.SiteDeployment) {
		own = sd.Namespace
		gatedOn(own, 0)(sd)
	})
	prod.release("shop:2")
	prod.waitAwaiting(own + "/shop is this site itself: remove it from spec.promotion.upstreams")
}

// A promote annotation while the release waits for its upstreams is an
// approval in advance, answered so; aborting the release withdraws it, and
// the withdrawal is an ActionRefused event, as every refusal is.
func TestApprovalInAdvanceAndItsWithdrawal(t *testing.T) {
	prod, r1 := healthySite(t, gatedOn("nowhere", 0))
	prod.release("shop:2")
	r2 := prod.revision()
	prod.waitAwaiting("nowhere/shop was not found")
	prod.annotate(v1.AnnotationPromote, r2)
	answer := func(want v1.ActionResult, says string) {
		t.Helper()
		eventually(t, "promote answered "+string(want), func() error {
			for _, a := range prod.get().Status.Actions {
				if a.Annotation == v1.AnnotationPromote && a.Value == r2 && a.Result == want && strings.Contains(a.Message, says) {
					return nil
				}
			}
			return fmt.Errorf("status.actions %+v", prod.get().Status.Actions)
		})
	}
	answer(v1.ActionAccepted, "approved in advance: it has not started and still waits for its upstreams")
	prod.annotate(v1.AnnotationAbort, r2)
	prod.waitActive(v1.PhaseAborted, v1.Blue, r1)
	answer(v1.ActionRefused, "approval withdrawn")
	if e := prod.eventWith(v1.EventActionRefused); e.Type != "Warning" || !strings.Contains(e.Note, v1.AnnotationPromote+"="+r2+" refused: approval withdrawn") {
		t.Fatalf("event %s: %s", e.Type, e.Note)
	}
}

// The gate remembers: dev served shop:2 (post-promotion check passed) for
// ten minutes and moved on to shop:3 by a normal release, beyond its
// history limit; after a manager restart, production asked for shop:2
// starts it on the digest dev ran.
func TestPromotionGateRemembersWhatTheUpstreamVerified(t *testing.T) {
	dev, _ := healthySite(t, previewOne, func(sd *v1.SiteDeployment) {
		sd.Spec.RevisionHistoryLimit = ptr.To[int32](1)
		sd.Spec.Strategy.PostPromotion = &v1.CheckSpec{Template: podTemplate("curl:8")}
	})
	devR2 := dev.switchOnDigest("shop:2", sha('a'))
	dev.finishJob(bluegreen.CheckJobName("shop", devR2, bluegreen.PostPromotion), true)
	dev.waitActive(v1.PhaseHealthy, v1.Green, devR2)
	dev.advance(10 * time.Minute)
	devR3 := dev.switchOnDigest("shop:3", sha('c'))
	dev.finishJob(bluegreen.CheckJobName("shop", devR3, bluegreen.PostPromotion), true)
	sd := dev.waitActive(v1.PhaseHealthy, v1.Blue, devR3)
	if len(sd.Status.History) != 1 || len(sd.Status.Served) != 3 || sd.Status.Served[1].Revision != devR2 || sd.Status.Served[1].VerifiedAt == nil {
		t.Fatalf("dev's history %+v, served %+v: want shop:3 alone in history, shop:2 verified in status.served", sd.Status.History, sd.Status.Served)
	}
	restartManager(t)

	prod, _ := healthySite(t, gatedOn(dev.ns, 10*time.Minute))
	prod.release("shop:2")
	r2 := prod.revision()
	eventually(t, "prod's candidate started on dev's digest", func() error {
		d := prod.deployment(v1.Green)
		if d == nil {
			return fmt.Errorf("no green deployment (%s)", prod.get().Status.Message)
		}
		if got := d.Spec.Template.Spec.Containers[0].Image; got != "shop:2@"+sha('a') {
			return fmt.Errorf("green runs %s", got)
		}
		return nil
	})
	u := prod.get().Status.Promotion.Upstreams[0]
	if want := fmt.Sprintf("%s/shop served shop:2@sha256:aaaaaaaaaaaa (revision %s) from ", dev.ns, devR2); !u.Qualified || u.LiveUntil == nil ||
		!strings.HasPrefix(u.Message, want) {
		t.Fatalf("status.promotion.upstreams[0] %+v, want qualified saying %q", u, want)
	}
	prod.available(v1.Green, r2, 2)
	sd = prod.waitActive(v1.PhaseHealthy, v1.Green, r2)
	if h := sd.Status.History[0]; h.PromotionGate != v1.GateQualified || h.QualifiedBy[0] != dev.ns+"/shop@"+devR2 {
		t.Fatalf("history[0] %+v", h)
	}
}

// A revision dev rolled back (its post-promotion check failed) never
// qualifies: production waits and says why, also an hour later.
func TestPromotionGateNeverQualifiesWhatTheUpstreamRolledBack(t *testing.T) {
	dev, devR1 := healthySite(t, previewOne, func(sd *v1.SiteDeployment) {
		sd.Spec.Strategy.PostPromotion = &v1.CheckSpec{Template: podTemplate("curl:8")}
	})
	devR2 := dev.switchOnDigest("shop:2", sha('a'))
	dev.finishJob(bluegreen.CheckJobName("shop", devR2, bluegreen.PostPromotion), false)
	dev.waitActive(v1.PhaseDegraded, v1.Blue, devR1)

	prod, _ := healthySite(t, gatedOn(dev.ns, 0))
	prod.release("shop:2")
	prod.waitAwaiting(fmt.Sprintf("%s/shop rejected revision %s (shop:2@sha256:aaaaaaaaaaaa) after it took traffic at ", dev.ns, devR2))
	prod.advance(time.Hour)
	sd := prod.waitAwaiting("(PostPromotionFailed): a revision an upstream aborted or rolled back never qualifies")
	if d := prod.deployment(v1.Green); d != nil || sd.Status.Promotion.QualifiesAt != nil {
		t.Fatalf("the release started or promises to (qualifiesAt %v)", sd.Status.Promotion.QualifiesAt)
	}
}
