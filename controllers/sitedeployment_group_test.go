package controllers_test

import (
	"fmt"
	"strings"
	"testing"

	v1 "github.com/understudy-dev/understudy/api/v1alpha1"
)

// inGroup puts a site in release group shop.
func inGroup(sd *v1.SiteDeployment) { sd.Spec.Strategy.Group = "shop" }

// groupOfTwo is web and api, Healthy on shop:1 in one namespace, both in
// release group shop.
func groupOfTwo(t *testing.T) (web, api *site) {
	web, _ = healthySite(t, inGroup, func(sd *v1.SiteDeployment) { sd.Name = "web" })
	api, _ = healthySite(t, inGroup, func(sd *v1.SiteDeployment) { sd.Name, sd.Namespace = "api", web.ns })
	return web, api
}

// waitMember waits until the site publishes state in its group, and the
// group's phase.
func (s *site) waitMember(state v1.GroupMemberState, phase v1.GroupPhase) *v1.SiteDeployment {
	s.t.Helper()
	var sd *v1.SiteDeployment
	eventually(s.t, fmt.Sprintf("%s %s in group phase %s", s.name, state, phase), func() error {
		sd = s.get()
		if g := sd.Status.Group; g == nil || g.State != state || g.Phase != phase {
			return fmt.Errorf("status.group %+v (%s: %s)", g, sd.Status.Phase, sd.Status.Message)
		}
		return nil
	})
	return sd
}

// Neither member switches until both are ready; the last one ready wakes
// the other through its status (no timer), and both switch.
func TestAGroupSwitchesAsOne(t *testing.T) {
	web, api := groupOfTwo(t)
	web.release("shop:2")
	api.release("shop:2")
	wr, ar := web.revision(), api.revision()
	web.available(v1.Green, wr, 2)
	sd := web.waitPhase(v1.PhaseAwaitingGroup)
	if !strings.Contains(sd.Status.Message, "waits for release group shop: api (Progressing)") {
		t.Fatalf("web: %s", sd.Status.Message)
	}
	if g := sd.Status.Group; g.RevisionSet != "api@"+ar+",web@"+wr || len(g.Members) != 2 || g.Members[0].State != v1.MemberProgressing {
		t.Fatalf("web's status.group %+v", g)
	}
	web.eventWith(v1.EventGroupReady)
	web.waitActive(v1.PhaseAwaitingGroup, v1.Blue, web.get().Status.ActiveRevision)

	api.available(v1.Green, ar, 2)
	api.waitActive(v1.PhaseHealthy, v1.Green, ar)
	web.waitActive(v1.PhaseHealthy, v1.Green, wr)
	web.waitMember(v1.MemberPromoted, v1.GroupPromoted)
	api.waitMember(v1.MemberPromoted, v1.GroupPromoted)
}

// An abort of one member takes the other, ready and waiting, back; the
// other says which member failed and why.
func TestAnAbortedMemberTakesItsGroupBack(t *testing.T) {
	web, api := groupOfTwo(t)
	r1 := web.get().Status.ActiveRevision
	web.release("shop:2")
	api.release("shop:2")
	wr, ar := web.revision(), api.revision()
	api.available(v1.Green, ar, 2)
	api.waitPhase(v1.PhaseAwaitingGroup)
	web.annotate(v1.AnnotationAbort, wr)
	web.waitMember(v1.MemberFailed, v1.GroupRollingBack)
	sd := api.waitMember(v1.MemberWithdrawn, v1.GroupRollingBack)
	c := condition(sd, v1.ConditionReady)
	if sd.Status.AbortReason != v1.ReasonGroupMemberFailed || c == nil || c.Reason != v1.ReasonGroupMemberFailed ||
		!strings.Contains(sd.Status.Message, "web, a member of release group shop, failed (revision "+wr+" aborted by the") {
		t.Fatalf("api: %s, Ready %+v", sd.Status.Message, c)
	}
	api.waitActive(v1.PhaseDegraded, v1.Blue, api.get().Status.ActiveRevision)
	api.waitReplicas(v1.Green, 0)
	web.waitActive(v1.PhaseAborted, v1.Blue, r1)
}
