package bluegreen

import (
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1 "github.com/understudy-dev/understudy/api/v1alpha1"
)

// Release groups: each member is simulated by its own planner, and each
// sees the others' last written status, as the controller's cache shows
// them.

// shopGroup is prod/web on web:1 and prod/api on api:1, both in release
// group shop, each with a pre-promotion check; mutate applies to both.
func shopGroup(t *testing.T, mutate ...func(*v1.SiteDeployment)) (web, api *world) {
	in := func(name, img string) *world {
		w := newWorld(t, append([]func(*v1.SiteDeployment){func(s *v1.SiteDeployment) {
			s.Name, s.Spec.Template = name, image(img)
			s.Spec.Strategy.Group = "shop"
			s.Spec.Strategy.PrePromotion = check()
		}}, mutate...)...)
		w.healthyOn(img)
		return w
	}
	web, api = in("web", "web:1"), in("api", "api:1")
	web.group, api.group = []*world{api}, []*world{web}
	return web, api
}

func (w *world) groupSites() []*v1.SiteDeployment {
	var out []*v1.SiteDeployment
	for _, o := range w.group {
		out = append(out, o.site.DeepCopy())
	}
	return out
}

// started releases img and runs its candidate at preview size, its check
// Job running.
func (w *world) started(img string) {
	w.t.Helper()
	w.release(img)
	w.reconcile()
	w.available(w.site.Status.ActiveColor.Other())
	w.reconcile()
}

func (w *world) passCheck(img string) {
	w.t.Helper()
	w.finishJob(CheckJobName(w.site.Name, rev(img), PrePromotion), true)
	w.reconcile()
}

func (w *world) expectMember(state v1.GroupMemberState, phase v1.GroupPhase) {
	w.t.Helper()
	g := w.site.Status.Group
	if g == nil || g.State != state || g.Phase != phase {
		w.t.Fatalf("%s: want member %s in group phase %s, got %+v (%s: %s)", w.site.Name, state, phase, g, w.site.Status.Phase, w.site.Status.Message)
	}
}

func TestAGroupSwitchesOnlyOnceEveryMemberIsReady(t *testing.T) {
	web, api := shopGroup(t)
	web.expectMember(v1.MemberUnchanged, v1.GroupIdle)

	web.started("web:2")
	api.release("api:2") // applied with web's, not yet seen by its controller
	web.passCheck("web:2")
	web.expect(v1.PhaseAwaitingGroup, v1.Blue, rev("web:1"))
	web.expectMember(v1.MemberReady, v1.GroupProgressing)
	if !strings.Contains(web.site.Status.Message, "waits for release group shop: api (Pending)") || web.replicas(v1.Green) != 3 {
		t.Fatalf("web: %s, green at %d", web.site.Status.Message, web.replicas(v1.Green))
	}
	if len(web.events(v1.EventGroupReady)) != 1 {
		t.Fatalf("events %+v", web.last.Events)
	}

	api.reconcile()
	api.available(v1.Green)
	api.reconcile()
	api.expectMember(v1.MemberProgressing, v1.GroupProgressing)
	web.reconcile() // woken by api's status: still waits
	web.expect(v1.PhaseAwaitingGroup, v1.Blue, rev("web:1"))
	if len(web.events(v1.EventGroupReady)) != 0 {
		t.Fatalf("GroupReady again: %+v", web.last.Events)
	}

	api.passCheck("api:2") // the last one ready switches at once
	api.expect(v1.PhaseHealthy, v1.Green, rev("api:2"))
	api.expectMember(v1.MemberSwitched, v1.GroupSwitching)
	web.reconcile() // woken by api's switch
	web.expect(v1.PhaseHealthy, v1.Green, rev("web:2"))
	web.expectMember(v1.MemberPromoted, v1.GroupSwitching)
	api.reconcile()
	api.expectMember(v1.MemberPromoted, v1.GroupPromoted)
	web.reconcile()
	web.expectMember(v1.MemberPromoted, v1.GroupPromoted)
	if web.switches != 2 || api.switches != 2 {
		t.Fatalf("switches: web %d, api %d (first release and the group's)", web.switches, api.switches)
	}
	g := web.site.Status.Group
	if g.RevisionSet != "" || len(g.Members) != 2 || g.Members[0].Name != "api" || g.Members[0].Revision != rev("api:2") {
		t.Fatalf("status.group %+v", g)
	}
}

// A member whose spec did not change takes no part: the other releases
// as a site on its own would.
func TestAnUnchangedMemberTakesNoPart(t *testing.T) {
	web, api := shopGroup(t)
	web.started("web:2")
	web.passCheck("web:2")
	web.expect(v1.PhaseHealthy, v1.Green, rev("web:2"))
	api.reconcile()
	api.expectMember(v1.MemberUnchanged, v1.GroupPromoted)
	api.expect(v1.PhaseHealthy, v1.Blue, rev("api:1"))
}

// One promote-group annotation, naming the revision set, approves every
// member; one naming an older set approves nothing.
func TestOnePromoteApprovesTheGroupByRevisionSet(t *testing.T) {
	web, api := shopGroup(t, manual)
	web.started("web:2")
	api.started("api:1b")
	web.passCheck("web:2")
	api.passCheck("api:1b")
	web.reconcile()
	web.expect(v1.PhaseAwaitingPromotion, v1.Blue, rev("web:1"))
	web.expectMember(v1.MemberAwaitingPromotion, v1.GroupAwaitingPromotion)
	if !strings.Contains(web.site.Status.Message, "kubectl understudy promote --group shop") {
		t.Fatalf("message %q", web.site.Status.Message)
	}
	old := "api@" + rev("api:1") + ",web@" + rev("web:2")
	set := "api@" + rev("api:1b") + ",web@" + rev("web:2")
	if got := web.site.Status.Group.RevisionSet; got != set {
		t.Fatalf("revisionSet %q, want %q", got, set)
	}
	web.annotate(v1.AnnotationPromoteGroup, old)
	web.reconcile()
	api.reconcile()
	web.expect(v1.PhaseAwaitingPromotion, v1.Blue, rev("web:1"))
	api.expect(v1.PhaseAwaitingPromotion, v1.Blue, rev("api:1"))

	web.annotate(v1.AnnotationPromoteGroup, set) // on one member only
	api.reconcile()
	api.expect(v1.PhaseAwaitingGroup, v1.Blue, rev("api:1"))
	if len(api.events(v1.EventGroupApproved)) != 1 || !api.site.Status.Group.Approved {
		t.Fatalf("api: %+v", api.site.Status.Group)
	}
	web.reconcile()
	web.expect(v1.PhaseHealthy, v1.Green, rev("web:2"))
	api.reconcile()
	api.expect(v1.PhaseHealthy, v1.Green, rev("api:1b"))
}

// A failed check of one member takes every member back: one still on
// preview aborts, one that already switched rolls back; once the failed
// member is fixed, the withdrawn one is released again.
func TestAFailedMemberTakesTheGroupBack(t *testing.T) {
	web, api := shopGroup(t, func(s *v1.SiteDeployment) { s.Spec.Strategy.PostPromotion = check() })
	web.started("web:2")
	api.started("api:2")
	web.passCheck("web:2")
	api.passCheck("api:2")
	api.expect(v1.PhasePromoting, v1.Green, rev("api:2"))
	api.expectMember(v1.MemberSwitched, v1.GroupSwitching)
	web.reconcile()
	web.expect(v1.PhasePromoting, v1.Green, rev("web:2"))

	// web's post-promotion check passes, but api's still runs: web is not
	// Promoted yet, a failure of api takes it back.
	web.finishJob(CheckJobName("web", rev("web:2"), PostPromotion), true)
	web.reconcile()
	web.expectMember(v1.MemberSwitched, v1.GroupSwitching)
	api.finishJob(CheckJobName("api", rev("api:2"), PostPromotion), false)
	api.reconcile()
	api.reconcile()
	api.expect(v1.PhaseDegraded, v1.Blue, rev("api:1"))
	api.expectMember(v1.MemberFailed, v1.GroupRollingBack)

	web.reconcile()
	web.expect(v1.PhaseDegraded, v1.Blue, rev("web:1"))
	web.expectMember(v1.MemberWithdrawn, v1.GroupRollingBack)
	if !strings.Contains(web.site.Status.Message, "api, a member of release group shop, failed") ||
		!strings.HasSuffix(web.site.Status.Message, rev("web:1")+" serves, and revision "+rev("web:2")+" is released again once no member of release group shop is failed (fix or revert it), or revert spec.template to "+rev("web:1")) ||
		web.site.Status.AbortReason != v1.ReasonGroupMemberFailed {
		t.Fatalf("web: %s (%s)", web.site.Status.Message, web.site.Status.AbortReason)
	}

	api.release("api:3") // the fix
	api.reconcile()
	web.reconcile()
	if len(web.events(v1.EventNewAttempt)) != 1 || web.site.Status.AbortedRevision != "" {
		t.Fatalf("web not released again: %+v", web.last.Events)
	}
	web.available(v1.Green)
	web.reconcile() // web:2 on preview again, held for api:3
	web.expect(v1.PhaseAwaitingGroup, v1.Blue, rev("web:1"))
	web.expectMember(v1.MemberReady, v1.GroupProgressing)
}

// A deadline of a member on preview aborts the other, still on preview.
func TestADeadlineOfOneMemberAbortsTheOther(t *testing.T) {
	web, api := shopGroup(t)
	web.started("web:2")
	api.release("api:2")
	web.passCheck("web:2")
	web.expect(v1.PhaseAwaitingGroup, v1.Blue, rev("web:1"))
	api.reconcile() // never becomes available
	api.advance(11 * time.Minute)
	api.reconcile()
	api.expectMember(v1.MemberFailed, v1.GroupRollingBack)
	web.reconcile()
	web.expect(v1.PhaseDegraded, v1.Blue, rev("web:1"))
	web.expectMember(v1.MemberWithdrawn, v1.GroupRollingBack)
	web.reconcile()
	if web.replicas(v1.Green) != 0 {
		t.Fatalf("web's withdrawn candidate still at %d", web.replicas(v1.Green))
	}
}

// A member held by its promotion gate is Pending and holds the group; the
// other's candidate, with preview settings and one preview pod, waits at
// full size without them (the world checks each switch).
func TestAGatedMemberHoldsItsGroup(t *testing.T) {
	web, api := shopGroup(t, previewOf(1), mailOffOnPreview)
	web.site.Spec.Promotion = &v1.PromotionSpec{Upstreams: []v1.UpstreamReference{{Namespace: "dev", Name: "shop-dev"}}}
	web.upstreams = []Upstream{upstreamRunning("web:1", digest('a'), web.now.Add(-time.Hour))}
	web.release("web:2")
	web.reconcile()
	web.expect(v1.PhaseAwaitingUpstream, v1.Blue, rev("web:1"))
	web.expectMember(v1.MemberPending, v1.GroupProgressing)

	api.started("api:2")
	api.passCheck("api:2") // approved (autoPromote): scaled up without preview settings
	api.available(v1.Green)
	api.reconcile()
	api.expect(v1.PhaseAwaitingGroup, v1.Blue, rev("api:1"))
	if !strings.Contains(api.site.Status.Message, "web (Pending)") || api.replicas(v1.Green) != 3 || inPreview(api.deps[v1.Green]) {
		t.Fatalf("api: %s; green at %d, preview settings %v", api.site.Status.Message, api.replicas(v1.Green), inPreview(api.deps[v1.Green]))
	}
}

// A release that changes the database schema is refused in a group: it
// does not start, says why, and the group waits for it.
func TestASchemaChangeIsRefusedInAGroup(t *testing.T) {
	w := newWorld(t, func(s *v1.SiteDeployment) { s.Spec.Strategy.Group = "shop" })
	w.withDatabase(true)
	w.healthyOn("shop:1")
	r1 := w.site.Status.ActiveRevision
	w.db.ops()
	w.releaseSchema("shop:2", "2")
	w.reconcile()
	w.expect(v1.PhaseDegraded, v1.Blue, r1)
	c := w.site.Status.Conditions
	if len(w.db.ops()) != 0 || w.deps[v1.Green] != nil || !strings.Contains(w.site.Status.Message, "release the schema change with spec.strategy.group removed") ||
		!hasReason(c, v1.ReasonGroupSchemaChange) {
		t.Fatalf("%s; conditions %+v", w.site.Status.Message, c)
	}
	w.expectMember(v1.MemberProgressing, v1.GroupProgressing)
}

func hasReason(cs []metav1.Condition, reason string) bool {
	for _, c := range cs {
		if c.Type == v1.ConditionReady && c.Reason == reason {
			return true
		}
	}
	return false
}

// A metric check that fails on one member takes the other, ready and
// waiting, back.
func TestAFailedMetricCheckTakesTheGroupBack(t *testing.T) {
	web, api := shopGroup(t)
	r := &rates{byRev: map[string]float64{rev("web:2"): 0.4}}
	web.measure, web.site.Spec.Strategy.PrePromotion = r.measure, errorRate(1, 0)
	api.started("api:2")
	web.started("web:2") // its analysis starts
	api.passCheck("api:2")
	api.expect(v1.PhaseAwaitingGroup, v1.Blue, rev("api:1"))
	web.reconcile() // measured: 0.4
	web.expectMember(v1.MemberFailed, v1.GroupRollingBack)
	if web.site.Status.AbortReason != v1.ReasonPrePromotionFailed || len(r.taken) != 1 {
		t.Fatalf("web: %s (%s), %d measurements", web.site.Status.Message, web.site.Status.AbortReason, len(r.taken))
	}
	api.reconcile()
	api.expect(v1.PhaseDegraded, v1.Blue, rev("api:1"))
	api.expectMember(v1.MemberWithdrawn, v1.GroupRollingBack)
	if !strings.Contains(api.site.Status.Message, "web, a member of release group shop, failed (") {
		t.Fatalf("api: %s", api.site.Status.Message)
	}
}
