package bluegreen

import (
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1 "github.com/understudy-dev/understudy/api/v1alpha1"
)

// gated makes the site wait for dev/shop-dev to run a revision's images
// for ten minutes.
func gated(s *v1.SiteDeployment) {
	s.Spec.Promotion = &v1.PromotionSpec{
		Upstreams:       []v1.UpstreamReference{{Namespace: "dev", Name: "shop-dev"}},
		MinLiveDuration: &metav1.Duration{Duration: 10 * time.Minute},
	}
}

// upstreamRunning is dev/shop-dev serving img (resolved to digest) since
// live, Healthy, its post-promotion check passed.
func upstreamRunning(img, digest string, since time.Time) Upstream {
	t := image(img)
	r := Revision(&t)
	at := metav1.NewTime(since)
	sd := &v1.SiteDeployment{ObjectMeta: metav1.ObjectMeta{Namespace: "dev", Name: "shop-dev"},
		Status: v1.SiteDeploymentStatus{Phase: v1.PhaseHealthy, ActiveColor: v1.Green, ActiveRevision: r, CurrentRevision: r,
			History: []v1.RevisionRecord{{Revision: r, Images: []string{img}, PromotedAt: &at, Outcome: v1.OutcomePromoted,
				Digests: []v1.PinnedImage{{Container: "web", Image: img, Digest: digest}}}}}}
	if digest == "" { // named by digest in dev's spec: its pods' digests are not recorded
		sd.Status.History[0].Digests = nil
	}
	return Upstream{Namespace: "dev", Name: "shop-dev", Site: sd}
}

func TestPromotionGate(t *testing.T) {
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	hourAgo := now.Add(-time.Hour)
	for _, tc := range []struct {
		name    string
		release string
		// upstream as the controller read it (the world's clock is now).
		upstream Upstream
		mutate   func(*world)
		// starts: the release starts (green runs shop:2 on the pinned
		// image); else it waits, its message saying why.
		starts bool
		pin    string
		why    string
	}{{
		name: "qualifies: dev ran the tag an hour, the candidate runs dev's digest", release: "shop:2",
		upstream: upstreamRunning("shop:2", digest('a'), hourAgo),
		starts:   true, pin: "shop:2@" + digest('a'),
	}, {
		name: "a digest in spec matches the digest dev ran", release: "shop@" + digest('a'),
		upstream: upstreamRunning("shop:2", digest('a'), hourAgo),
		starts:   true, pin: "shop@" + digest('a'),
	}, {
		name: "a digest in spec matches dev's spec digest under another repository name", release: "mirror.example/shop@" + digest('c'),
		upstream: upstreamRunning("registry.example/shop@"+digest('c'), "", hourAgo),
		starts:   true, pin: "mirror.example/shop@" + digest('c'),
	}, {
		name: "too young: dev has run it for five minutes", release: "shop:2",
		upstream: upstreamRunning("shop:2", digest('a'), now.Add(-5*time.Minute)),
		why:      "dev/shop-dev runs shop:2@sha256:aaaaaaaaaaaa (revision " + rev("shop:2") + "), live since 2026-11-27T11:55:00Z: less than 10m0s; qualifies at 2026-11-27T12:05:00Z",
	}, {
		name: "dev runs another version", release: "shop:3",
		upstream: upstreamRunning("shop:2", digest('a'), hourAgo),
		why:      "dev/shop-dev runs shop:2@sha256:aaaaaaaaaaaa (revision " + rev("shop:2") + "), not shop:3",
	}, {
		name: "a different digest in spec than dev ran", release: "shop@" + digest('b'),
		upstream: upstreamRunning("shop:2", digest('a'), hourAgo),
		why:      "not shop@" + digest('b'),
	}, {
		name: "dev rolled back: it serves the previous version again, and never qualifies the one it rejected", release: "shop:2",
		upstream: rolledBack(upstreamRunning("shop:1", digest('0'), now.Add(-2*time.Minute)), "shop:2", digest('a'), hourAgo),
		why: "dev/shop-dev rejected revision " + rev("shop:2") + " (shop:2@sha256:aaaaaaaaaaaa) after it took traffic at 2026-11-27T11:00:00Z (Aborted): " +
			"a revision an upstream aborted or rolled back never qualifies",
	}, {
		name: "dev runs it on another schema revision", release: "shop:2",
		upstream: withSchema(upstreamRunning("shop:2", digest('a'), hourAgo), "1"),
		mutate:   func(w *world) { w.site.Spec.Database = &v1.DatabaseSpec{Name: "shop", SchemaRevision: "2"} },
		why:      "on schema revision 1, not 2",
	}, {
		name: "dev is missing", release: "shop:2",
		upstream: Upstream{Namespace: "dev", Name: "shop-dev", Problem: "was not found"},
		why:      "dev/shop-dev was not found",
	}, {
		name: "dev is Degraded", release: "shop:2",
		upstream: degraded(upstreamRunning("shop:2", digest('a'), hourAgo)),
		why:      "but it is Degraded: revision",
	}, {
		name: "dev's post-promotion check still runs", release: "shop:2",
		upstream: checking(upstreamRunning("shop:2", digest('a'), hourAgo)),
		why:      "its post-promotion check has not passed yet",
	}, {
		name: "dev never recorded a digest of the tag", release: "shop:2",
		upstream: noDigests(upstreamRunning("shop:2", digest('a'), hourAgo)),
		why:      "not shop:2 by digest (it recorded none for that tag",
	}, {
		name: "override: the skip annotation names the revision", release: "shop:3",
		upstream: upstreamRunning("shop:2", digest('a'), hourAgo),
		mutate:   func(w *world) { w.annotate(v1.AnnotationSkipPromotionGate, rev("shop:3")) },
		starts:   true, pin: "shop:3",
	}, {
		name: "a skip annotation naming another revision skips nothing", release: "shop:3",
		upstream: upstreamRunning("shop:2", digest('a'), hourAgo),
		mutate:   func(w *world) { w.annotate(v1.AnnotationSkipPromotionGate, rev("shop:4")) },
		why:      "not shop:3",
	}} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t, gated)
			w.healthyOn("shop:1") // a site's first revision is not gated
			w.upstreams = []Upstream{tc.upstream}
			if tc.mutate != nil {
				tc.mutate(w)
			}
			w.release(tc.release)
			w.reconcile()
			target := SiteRevision(&w.site.Spec)
			pr := w.site.Status.Promotion
			if pr == nil || pr.Revision != target {
				t.Fatalf("status.promotion %+v, want it about %s", pr, target)
			}
			if tc.starts {
				w.expect(v1.PhaseProgressing, v1.Blue, rev("shop:1"))
				if got := w.image(v1.Green); got != tc.pin {
					t.Fatalf("the candidate runs %s, want %s from its first pod", got, tc.pin)
				}
				return
			}
			w.expect(v1.PhaseAwaitingUpstream, v1.Blue, rev("shop:1"))
			if w.deps[v1.Green] != nil {
				t.Fatalf("green was created while the release waits: %s", w.image(v1.Green))
			}
			c := meta.FindStatusCondition(w.site.Status.Conditions, v1.ConditionReady)
			if c == nil || c.Reason != v1.ReasonUpstreamNotQualified || !strings.HasPrefix(c.Message, "prod/shop waits: ") || !strings.Contains(c.Message, tc.why) {
				t.Fatalf("Ready condition %+v, want UpstreamNotQualified saying %q", c, tc.why)
			}
			if pr.Gate != "" || len(pr.Upstreams) != 1 || pr.Upstreams[0].Qualified {
				t.Fatalf("status.promotion %+v: want dev/shop-dev not qualified", pr)
			}
		})
	}
}

func rolledBack(u Upstream, img, digest string, since time.Time) Upstream {
	t := image(img)
	at := metav1.NewTime(since)
	u.Site.Status.History = append(u.Site.Status.History, v1.RevisionRecord{Revision: Revision(&t), Images: []string{img},
		PromotedAt: &at, Outcome: v1.OutcomeAborted, Digests: []v1.PinnedImage{{Container: "web", Image: img, Digest: digest}}})
	return u
}

func withSchema(u Upstream, schema string) Upstream {
	u.Site.Status.History[0].SchemaRevision = schema
	return u
}

func degraded(u Upstream) Upstream {
	u.Site.Status.Phase, u.Site.Status.Message = v1.PhaseDegraded, "revision x was not available within the progress deadline"
	return u
}

func checking(u Upstream) Upstream {
	u.Site.Status.Phase, u.Site.Status.PostPromotionRevision = v1.PhasePromoting, u.Site.Status.ActiveRevision
	return u
}

// waitingForDev is a gated site on shop:1 whose release of shop:2 waits:
// dev runs shop:1.
func waitingForDev(t *testing.T) *world {
	w := newWorld(t, gated)
	w.healthyOn("shop:1")
	w.upstreams = []Upstream{upstreamRunning("shop:1", digest('0'), w.now.Add(-time.Hour))}
	w.release("shop:2")
	w.reconcile()
	w.expect(v1.PhaseAwaitingUpstream, v1.Blue, rev("shop:1"))
	return w
}

func noDigests(u Upstream) Upstream {
	u.Site.Status.History[0].Digests = nil
	return u
}

// A release that waits for dev wakes up exactly when dev will have run it
// for minLiveDuration, starts by itself on dev's digest, and history says
// which upstream qualified it.
func TestAGatedReleaseStartsWhenTheUpstreamQualifies(t *testing.T) {
	w := waitingForDev(t)
	if len(w.events(v1.EventAwaitingUpstream)) != 1 {
		t.Fatalf("events %+v, want AwaitingUpstream", w.last.Events)
	}
	w.advance(time.Minute)
	w.upstreams = []Upstream{upstreamRunning("shop:2", digest('a'), w.now)} // dev released it
	p := w.reconcile()
	w.expect(v1.PhaseAwaitingUpstream, v1.Blue, rev("shop:1"))
	if p.RequeueAfter != 10*time.Minute || len(p.Events) != 0 {
		t.Fatalf("requeue after %s with events %+v, want 10m and no event (no transition)", p.RequeueAfter, p.Events)
	}
	if qa := w.site.Status.Promotion.QualifiesAt; qa == nil || !qa.Time.Equal(w.now.Add(10*time.Minute)) {
		t.Fatalf("status.promotion.qualifiesAt %v", qa)
	}
	w.advance(p.RequeueAfter)
	w.reconcile()
	w.expect(v1.PhaseProgressing, v1.Blue, rev("shop:1"))
	if len(w.events(v1.EventUpstreamQualified)) != 1 || w.image(v1.Green) != "shop:2@"+digest('a') {
		t.Fatalf("events %+v, green %s", w.last.Events, w.image(v1.Green))
	}
	// dev moves on: the release that passed the gate goes on.
	w.upstreams = []Upstream{upstreamRunning("shop:3", digest('c'), w.now)}
	w.available(v1.Green)
	w.runDigests(v1.Green, digest('a'), digest('a'), digest('a'))
	w.reconcile()
	w.available(v1.Green)
	w.reconcile()
	w.expect(v1.PhaseHealthy, v1.Green, rev("shop:2"))
	h := w.site.Status.History[0]
	if h.PromotionGate != v1.GateQualified || len(h.QualifiedBy) != 1 || h.QualifiedBy[0] != "dev/shop-dev@"+rev("shop:2") ||
		len(h.Digests) != 1 || h.Digests[0].Digest != digest('a') {
		t.Fatalf("history[0] %+v", h)
	}
}

// An upstream that rolls back before minLiveDuration is up un-qualifies
// the version for good: the downstream keeps waiting, saying why.
func TestAnUpstreamRollbackUnqualifies(t *testing.T) {
	w := newWorld(t, gated)
	w.healthyOn("shop:1")
	w.upstreams = []Upstream{upstreamRunning("shop:2", digest('a'), w.now)}
	w.release("shop:2")
	w.reconcile()
	w.expect(v1.PhaseAwaitingUpstream, v1.Blue, rev("shop:1"))
	w.advance(5 * time.Minute)
	w.upstreams = []Upstream{rolledBack(upstreamRunning("shop:1", digest('0'), w.now), "shop:2", digest('a'), w.now.Add(-5*time.Minute))}
	w.reconcile()
	w.advance(10 * time.Minute)
	w.reconcile()
	w.expect(v1.PhaseAwaitingUpstream, v1.Blue, rev("shop:1"))
	if !strings.Contains(w.site.Status.Message, "rejected revision "+rev("shop:2")+" (shop:2@sha256:aaaaaaaaaaaa)") ||
		!strings.Contains(w.site.Status.Message, "never qualifies") || w.site.Status.Promotion.QualifiesAt != nil {
		t.Fatalf("message %q, promotion %+v", w.site.Status.Message, w.site.Status.Promotion)
	}
}

// The skip annotation releases a hotfix past the gate, is answered in
// status.actions, leaves a Warning event and marks history.
func TestSkippingTheGateIsRecorded(t *testing.T) {
	w := waitingForDev(t)
	w.annotate(v1.AnnotationSkipPromotionGate, rev("shop:2"))
	w.reconcile()
	if a := w.action(v1.AnnotationSkipPromotionGate); a.Result != v1.ActionAccepted {
		t.Fatalf("answer %+v", a)
	}
	if e := w.events(v1.EventPromotionGateSkipped); len(e) != 1 || !e[0].Warning || !strings.Contains(e[0].Note, "dev/shop-dev runs shop:1") {
		t.Fatalf("events %+v", w.last.Events)
	}
	if w.image(v1.Green) != "shop:2" {
		t.Fatalf("green runs %s", w.image(v1.Green))
	}
	w.available(v1.Green)
	w.reconcile()
	w.expect(v1.PhaseHealthy, v1.Green, rev("shop:2"))
	if h := w.site.Status.History[0]; h.PromotionGate != v1.GateSkipped || len(h.QualifiedBy) != 0 {
		t.Fatalf("history[0] %+v, want promotionGate Skipped", h)
	}
	// A skip annotation naming no revision being released is refused.
	w.annotate(v1.AnnotationSkipPromotionGate, rev("shop:2")+"x")
	w.reconcile()
	if a := w.action(v1.AnnotationSkipPromotionGate); a.Result != v1.ActionRefused {
		t.Fatalf("answer %+v", a)
	}
}

// A release waiting for its upstreams can be aborted: it never starts,
// even once the upstream qualifies it.
func TestAWaitingReleaseCanBeAborted(t *testing.T) {
	w := waitingForDev(t)
	w.annotate(v1.AnnotationAbort, rev("shop:2"))
	w.reconcile()
	w.expect(v1.PhaseAborted, v1.Blue, rev("shop:1"))
	if a := w.action(v1.AnnotationAbort); a.Result != v1.ActionAccepted {
		t.Fatalf("answer %+v", a)
	}
	w.upstreams = []Upstream{upstreamRunning("shop:2", digest('a'), w.now.Add(-time.Hour))}
	w.advance(time.Minute)
	w.reconcile()
	w.expect(v1.PhaseAborted, v1.Blue, rev("shop:1"))
	if w.deps[v1.Green] != nil {
		t.Fatalf("the aborted revision started: %s", w.image(v1.Green))
	}
}

// An approval given while the release waits for its upstreams counts for
// the revision it names, and its answer says what the release still waits
// for: its upstreams (or the skip-gate annotation), then its checks.
func TestAnApprovalInAdvanceSaysTheReleaseStillWaits(t *testing.T) {
	w := newWorld(t, gated, manualSite)
	w.healthyOn("shop:1")
	w.upstreams = []Upstream{upstreamRunning("shop:1", digest('0'), w.now.Add(-time.Hour))}
	w.release("shop:2")
	w.reconcile()
	w.annotate(v1.AnnotationPromote, rev("shop:2"))
	w.reconcile()
	w.expect(v1.PhaseAwaitingUpstream, v1.Blue, rev("shop:1"))
	a := w.action(v1.AnnotationPromote)
	for _, want := range []string{"approved in advance", "still waits for its upstreams", v1.AnnotationSkipPromotionGate + "=" + rev("shop:2"), "then for its checks"} {
		if a.Result != v1.ActionAccepted || !strings.Contains(a.Message, want) {
			t.Fatalf("answer %+v does not say %q", a, want)
		}
	}
	if w.deps[v1.Green] != nil {
		t.Fatal("the approved revision started before its upstreams qualified it")
	}
	// Once qualified it is checked, and the approval given in advance
	// lets it take traffic without another.
	w.upstreams = []Upstream{upstreamRunning("shop:2", digest('a'), w.now.Add(-time.Hour))}
	w.reconcile()
	w.available(v1.Green)
	w.runDigests(v1.Green, digest('a'), digest('a'))
	w.reconcile()
	w.expect(v1.PhaseProgressing, v1.Blue, rev("shop:1"))
	w.finishJob(CheckJobName("shop", rev("shop:2"), PrePromotion), true)
	w.reconcile()
	w.available(v1.Green)
	w.reconcile()
	w.expect(v1.PhaseHealthy, v1.Green, rev("shop:2"))
}
