package bluegreen

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"k8s.io/utils/ptr"

	v1 "github.com/understudy-dev/understudy/api/v1alpha1"
)

// The gate remembers: what dev verified keeps qualifying after dev moved
// on, beyond dev's history limit; what dev rolled back never qualifies.
// dev is simulated by its own planner, so status.served is what the
// controller would write.

// devWorld is dev/shop-dev serving shop:1: previews of one pod, a
// post-promotion check, and a history of two revisions.
func devWorld(t *testing.T) *world {
	dev := newWorld(t, previewOf(1), func(s *v1.SiteDeployment) {
		s.Namespace, s.Name = "dev", "shop-dev"
		s.Spec.RevisionHistoryLimit = ptr.To[int32](2)
		s.Spec.Strategy.PostPromotion = check()
	})
	dev.healthyOn("shop:1")
	return dev
}

// ship releases img on dev, its preview pod resolving digest d, through
// the switch and its post-promotion check (passing or failing).
func (w *world) ship(img, d string, checkPasses bool) {
	w.t.Helper()
	idle, before := w.site.Status.ActiveColor.Other(), w.site.Status.ActiveRevision
	w.release(img)
	w.reconcile()
	w.available(idle)
	w.runDigests(idle, d)
	w.reconcile() // digests recorded: scale up on them
	w.available(idle)
	w.reconcile() // switch
	w.expect(v1.PhasePromoting, idle, rev(img))
	w.finishJob(CheckJobName(w.site.Name, rev(img), PostPromotion), checkPasses)
	w.reconcile()
	if !checkPasses {
		w.reconcile() // back to the warm old color
		w.expect(v1.PhaseDegraded, idle.Other(), before)
		return
	}
	w.expect(v1.PhaseHealthy, idle, rev(img))
}

// asUpstream is dev as prod's controller reads it.
func (w *world) asUpstream() Upstream {
	return Upstream{Namespace: w.site.Namespace, Name: w.site.Name, Site: w.site.DeepCopy()}
}

// prodAsks is prod on shop:1, gated on dev for ten minutes, asked for img.
func prodAsks(t *testing.T, dev *world, img string) *world {
	prod := newWorld(t, gated)
	prod.now = dev.now
	prod.healthyOn("shop:1")
	prod.upstreams = []Upstream{dev.asUpstream()}
	prod.release(img)
	prod.reconcile()
	return prod
}

func TestTheGateRemembersWhatAnUpstreamVerified(t *testing.T) {
	dev := devWorld(t)
	dev.ship("shop:2", digest('a'), true)
	servedFrom := dev.now
	dev.advance(time.Hour)
	dev.ship("shop:3", digest('c'), true) // a normal release: dev moved on
	dev.advance(time.Hour)
	dev.ship("shop:4", digest('d'), true)
	dev.advance(time.Minute)
	if h := dev.site.Status.History; len(h) != 2 || h[1].Revision != rev("shop:3") {
		t.Fatalf("dev's history %+v, want shop:4 and shop:3 (its limit is 2)", h)
	}

	prod := prodAsks(t, dev, "shop:2")
	prod.expect(v1.PhaseProgressing, v1.Blue, rev("shop:1"))
	if got := prod.image(v1.Green); got != "shop:2@"+digest('a') {
		t.Fatalf("prod's candidate runs %s, want dev's digest shop:2@%s", got, digest('a'))
	}
	u := prod.site.Status.Promotion.Upstreams[0]
	want := fmt.Sprintf("dev/shop-dev served shop:2@sha256:aaaaaaaaaaaa (revision %s) from %s until %s", rev("shop:2"),
		servedFrom.Format(time.RFC3339), servedFrom.Add(time.Hour).Format(time.RFC3339))
	if !u.Qualified || u.Revision != rev("shop:2") || u.LiveUntil == nil || u.Message != want {
		t.Fatalf("status.promotion.upstreams[0] %+v, want qualified saying %q", u, want)
	}
	if e := prod.events(v1.EventUpstreamQualified); len(e) != 1 || !strings.Contains(e[0].Note, "qualified by dev/shop-dev@"+rev("shop:2")) {
		t.Fatalf("events %+v", prod.last.Events)
	}
	prod.available(v1.Green)
	prod.reconcile()
	prod.expect(v1.PhaseHealthy, v1.Green, rev("shop:2"))
	if h := prod.site.Status.History[0]; h.PromotionGate != v1.GateQualified || h.QualifiedBy[0] != "dev/shop-dev@"+rev("shop:2") {
		t.Fatalf("history[0] %+v", h)
	}
}

// A revision dev served for less than minLiveDuration before moving on
// never qualifies by time: no wake-up is promised.
func TestARevisionReplacedTooSoonDoesNotQualify(t *testing.T) {
	dev := devWorld(t)
	dev.ship("shop:2", digest('a'), true)
	dev.advance(5 * time.Minute)
	dev.ship("shop:3", digest('c'), true)
	dev.advance(time.Hour)

	prod := prodAsks(t, dev, "shop:2")
	prod.expect(v1.PhaseAwaitingUpstream, v1.Blue, rev("shop:1"))
	if pr := prod.site.Status.Promotion; pr.QualifiesAt != nil || prod.last.RequeueAfter != 0 ||
		!strings.HasSuffix(pr.Upstreams[0].Message, ": less than 10m0s") {
		t.Fatalf("status.promotion %+v, requeue %s", pr, prod.last.RequeueAfter)
	}
}

// A revision whose post-promotion check failed on dev (rolled back there)
// never qualifies, even once dev moved on and long after, and the message
// says why.
func TestARevisionAnUpstreamRolledBackNeverQualifies(t *testing.T) {
	dev := devWorld(t)
	dev.ship("shop:2", digest('a'), false)
	dev.advance(time.Minute)
	dev.ship("shop:3", digest('c'), true)
	dev.advance(24 * time.Hour)
	if s := dev.site.Status.Served; len(s) != 3 || s[2].Revision != rev("shop:2") || s[2].Rejected != v1.ReasonPostPromotionFailed {
		t.Fatalf("dev's status.served %+v, want shop:2 rejected (PostPromotionFailed)", s)
	}

	prod := prodAsks(t, dev, "shop:2")
	prod.advance(time.Hour)
	prod.reconcile()
	prod.expect(v1.PhaseAwaitingUpstream, v1.Blue, rev("shop:1"))
	want := "dev/shop-dev rejected revision " + rev("shop:2") + " (shop:2@sha256:aaaaaaaaaaaa) after it took traffic at"
	if !strings.Contains(prod.site.Status.Message, want) || !strings.Contains(prod.site.Status.Message, "(PostPromotionFailed): "+
		"a revision an upstream aborted or rolled back never qualifies") || prod.deps[v1.Green] != nil {
		t.Fatalf("message %q, want it to say %q", prod.site.Status.Message, want)
	}
}

// A person's abort of dev's live revision (a rollback) rejects it the same way.
func TestARevisionAnUpstreamAbortedNeverQualifies(t *testing.T) {
	dev := devWorld(t)
	dev.ship("shop:2", digest('a'), true)
	dev.advance(time.Hour)
	dev.annotate(v1.AnnotationAbort, rev("shop:2"))
	dev.reconcile()
	dev.reconcile()
	dev.expect(v1.PhaseAborted, v1.Blue, rev("shop:1"))

	prod := prodAsks(t, dev, "shop:2")
	prod.expect(v1.PhaseAwaitingUpstream, v1.Blue, rev("shop:1"))
	if !strings.Contains(prod.site.Status.Message, "(Aborted): a revision an upstream aborted or rolled back never qualifies") {
		t.Fatalf("message %q", prod.site.Status.Message)
	}
}

// status.served is bounded; a rejection is forgotten last.
func TestServedIsBounded(t *testing.T) {
	dev := devWorld(t)
	dev.ship("shop:2", digest('a'), false)
	for i := range ServedLimit + 4 {
		dev.advance(time.Hour)
		dev.ship(fmt.Sprintf("shop:%d", 10+i), digest('b'+byte(i%4)), true)
	}
	s := dev.site.Status.Served
	if len(s) != ServedLimit || s[0].Revision != rev(fmt.Sprintf("shop:%d", 10+ServedLimit+3)) || s[len(s)-1].Revision != rev("shop:2") {
		t.Fatalf("status.served has %d entries, newest %s, oldest %s", len(s), s[0].Revision, s[len(s)-1].Revision)
	}
}

// A status written before status.served existed: dev's live revision gets
// its entry from history when dev moves on (verified, or rejected when its
// post-promotion check fails then), so an upgrade forgets nothing history
// still knows.
func TestServedIsBackfilledFromHistory(t *testing.T) {
	dev := devWorld(t)
	dev.ship("shop:2", digest('a'), true)
	dev.site.Status.Served = nil // as a manager from before status.served left it
	dev.advance(time.Hour)
	dev.ship("shop:3", digest('c'), true)
	prod := prodAsks(t, dev, "shop:2")
	prod.expect(v1.PhaseProgressing, v1.Blue, rev("shop:1"))
	if got := prod.image(v1.Green); got != "shop:2@"+digest('a') {
		t.Fatalf("prod's candidate runs %s, want dev's digest", got)
	}

	dev = devWorld(t)
	dev.release("shop:2")
	dev.reconcile()
	dev.available(v1.Green)
	dev.runDigests(v1.Green, digest('a'))
	dev.reconcile()
	dev.available(v1.Green)
	dev.reconcile() // switched; its post-promotion check runs
	dev.site.Status.Served = nil
	dev.finishJob(CheckJobName("shop-dev", rev("shop:2"), PostPromotion), false)
	dev.reconcile()
	dev.reconcile()
	dev.expect(v1.PhaseDegraded, v1.Blue, rev("shop:1"))
	prod = prodAsks(t, dev, "shop:2")
	if !strings.Contains(prod.site.Status.Message, "(PostPromotionFailed): a revision an upstream aborted or rolled back never qualifies") {
		t.Fatalf("message %q", prod.site.Status.Message)
	}
}
