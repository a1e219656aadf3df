package bluegreen

import (
	"fmt"
	"slices"
	"strings"

	v1 "github.com/understudy-dev/understudy/api/v1alpha1"
)

// Release groups (spec.strategy.group): the sites of a namespace that name
// the same group are released as one. Each member's candidate starts and is
// checked as any other; a member whose candidate is ready, checked and
// approved (by its own rules, or by one promote-group annotation naming the
// group's revision set) holds its switch in phase AwaitingGroup until every
// member in flight is ready too, and then each switches on its next
// decision, woken by the others' status writes. A member that fails (a
// check, a deadline, an abort) is Failed; every other member in flight
// aborts its revision with reason GroupMemberFailed (a switched one rolls
// back) and is Withdrawn until no member is Failed, when it is released
// again. A member whose spec did not change takes no part (Unchanged); a
// first release, a rollback and a schema-changing release are never
// coordinated (the last is refused). Every rule of a single site (its
// checks, its deadlines, the promotion gate, the safety invariant) holds
// per member: the group only adds a wait before the switch and aborts.

// groupRun is what this decision knows of the site's group.
type groupRun struct {
	name  string
	peers []member
	// was is this site's published state for spec.template's revision;
	// Unchanged when it published none for it.
	was      v1.GroupMemberState
	approved bool
	// held: the switch waits for the group (Ready); switching: the
	// group let it switch in this decision.
	held, switching bool
}

// readGroup reads the other members of the site's group; nil without one.
func (p *planner) readGroup() *groupRun {
	name := p.spec.Strategy.Group
	if name == "" {
		return nil
	}
	g := &groupRun{name: name, was: v1.MemberUnchanged}
	for _, sd := range p.in.Group {
		if sd.Name != p.site.Name && sd.Namespace == p.site.Namespace && sd.Spec.Strategy.Group == name {
			g.peers = append(g.peers, readMember(sd))
		}
	}
	slices.SortFunc(g.peers, func(a, b member) int { return strings.Compare(a.name, b.name) })
	if prev := p.site.Status.Group; prev != nil && prev.Name == name && prev.Revision == p.st.CurrentRevision && prev.State != "" {
		g.was, g.approved = prev.State, prev.Approved
	}
	return g
}

// joinGroup applies the group to a site that serves: a member that failed
// takes this one back (abort), the end of every failure releases a
// withdrawn revision again, and a promote-group annotation naming the
// revision set approves the candidate.
func (p *planner) joinGroup(current, activeRev string) {
	g := p.readGroup()
	p.group = g
	if g == nil || current == activeRev && !InFlight(g.was) {
		return
	}
	if f := g.failed(); f != nil {
		if p.st.AbortedRevision != current {
			p.abort(current, v1.ReasonGroupMemberFailed, fmt.Sprintf("%s, a member of release group %s, failed (%s); revision %s goes back with it",
				f.name, g.name, f.message, current))
			g.approved = false
		}
		return
	}
	if p.st.AbortedRevision == current && p.st.AbortReason == v1.ReasonGroupMemberFailed {
		p.event(false, v1.EventNewAttempt, fmt.Sprintf("revision %s is released again: no member of release group %s is failed any more", current, g.name))
		p.clearAbort()
	}
	if current != activeRev && !g.approved {
		set := revisionSet(append(slices.Clone(g.peers), member{name: p.site.Name, rev: current, state: v1.MemberProgressing}))
		for _, v := range append(g.promotes(), p.site.Annotations[v1.AnnotationPromoteGroup]) {
			if v == set {
				g.approved = true
				p.event(false, v1.EventGroupApproved, fmt.Sprintf("revision %s approved with release group %s (%s=%s)", current, g.name, v1.AnnotationPromoteGroup, set))
				break
			}
		}
	}
}

// failed is the first other member that failed, nil when none did.
func (g *groupRun) failed() *member {
	for i := range g.peers {
		if g.peers[i].state == v1.MemberFailed {
			return &g.peers[i]
		}
	}
	return nil
}

func (g *groupRun) promotes() []string {
	var out []string
	for _, m := range g.peers {
		if m.promote != "" {
			out = append(out, m.promote)
		}
	}
	return out
}

// groupApproved tells whether a promote-group annotation approved target.
func (p *planner) groupApproved() bool { return p.group != nil && p.group.approved }

// groupHolds tells whether target's switch waits for the other members;
// when it does the site is AwaitingGroup. The caller made sure target is
// ready, checked and approved.
func (p *planner) groupHolds(target string, idle v1.Color) bool {
	g := p.group
	if g == nil {
		return false
	}
	var waits []member
	for _, m := range g.peers {
		if !readyToSwitch(m.state) {
			waits = append(waits, m)
		}
	}
	if len(waits) == 0 {
		g.switching = true
		return false
	}
	g.held = true
	if g.was != v1.MemberReady {
		p.event(false, v1.EventGroupReady, fmt.Sprintf("revision %s is ready on %s and waits for release group %s", target, idle, g.name))
	}
	p.set(v1.PhaseAwaitingGroup, fmt.Sprintf("revision %s is ready on %s; its switch waits for release group %s: %s",
		target, idle, g.name, describe(waits)))
	return true
}

// groupApprovalNote tells a person waiting to approve a member how to
// approve its whole group at once.
func (p *planner) groupApprovalNote() string {
	if p.group == nil {
		return ""
	}
	return fmt.Sprintf(", or its whole release group with `kubectl understudy promote --group %s`", p.group.name)
}

// withdrawnMessage says, while a group member's revision is withdrawn
// because another member failed, why and when it comes back.
func (p *planner) withdrawnMessage(rev string) string {
	return fmt.Sprintf("%s; %s serves, and revision %s is released again once no member of release group %s is failed (fix or revert it), "+
		"or revert spec.template to %s", p.st.AbortMessage, rev, p.st.AbortedRevision, p.spec.Strategy.Group, rev)
}

// groupRefusesSchema holds a release that changes the database schema in
// a group: its copy, freeze and cutover cannot wait for other sites.
func (p *planner) groupRefusesSchema(target string) bool {
	d := p.st.Database
	if p.group == nil || d == nil || p.spec.Database == nil || p.spec.Database.SchemaRevision == d.SchemaRevision {
		return false
	}
	p.reason = v1.ReasonGroupSchemaChange
	p.set(v1.PhaseDegraded, fmt.Sprintf("revision %s changes the database schema (%s to %s), which a release group cannot coordinate: "+
		"release the schema change with spec.strategy.group removed, then set it again", target, d.SchemaRevision, p.spec.Database.SchemaRevision))
	return true
}

// groupFinish publishes this site's state and its view of the group.
func (p *planner) groupFinish() {
	if p.group == nil {
		p.group = p.readGroup()
	}
	g := p.group
	if g == nil {
		p.st.Group = nil
		return
	}
	self := member{name: p.site.Name, rev: p.st.CurrentRevision, state: p.memberState(g)}
	switch self.state {
	case v1.MemberUnchanged, v1.MemberSwitched, v1.MemberPromoted:
	case v1.MemberFailed, v1.MemberWithdrawn:
		self.message = p.st.AbortMessage // why, without the advice around it
	default:
		self.message = p.message
	}
	all := append(slices.Clone(g.peers), self)
	slices.SortFunc(all, func(a, b member) int { return strings.Compare(a.name, b.name) })
	out := &v1.GroupStatus{Name: g.name, State: self.state, Phase: groupPhase(all), RevisionSet: revisionSet(all)}
	if self.state != v1.MemberUnchanged {
		out.Revision, out.Approved = self.rev, g.approved && InFlight(self.state)
	}
	for _, m := range all {
		out.Members = append(out.Members, v1.GroupMemberStatus{Name: m.name, Revision: m.rev, State: m.state, Message: m.message})
	}
	p.st.Group = out
}

// memberState is how far this site got in its group's release.
func (p *planner) memberState(g *groupRun) v1.GroupMemberState {
	cur, act := p.st.CurrentRevision, p.st.ActiveRevision
	switch {
	case act == "":
		return v1.MemberUnchanged // a first release is not coordinated
	case p.st.AbortedRevision == cur && p.st.AbortReason == v1.ReasonGroupMemberFailed:
		return v1.MemberWithdrawn
	case p.st.AbortedRevision == cur && (cur != act || g.was != v1.MemberUnchanged):
		return v1.MemberFailed
	case cur != act && p.phase == v1.PhaseAwaitingUpstream:
		return v1.MemberPending
	case cur != act && p.phase == v1.PhaseAwaitingPromotion:
		return v1.MemberAwaitingPromotion
	case cur != act && g.held:
		return v1.MemberReady
	case cur != act:
		return v1.MemberProgressing
	case g.switching || g.was == v1.MemberReady || g.was == v1.MemberSwitched:
		if p.st.PostPromotionRevision == cur || g.othersSwitching() {
			return v1.MemberSwitched
		}
		return v1.MemberPromoted
	case g.was == v1.MemberPromoted:
		return v1.MemberPromoted
	}
	return v1.MemberUnchanged
}

// othersSwitching tells whether a member that switches with this one has
// not switched yet or still runs its post-promotion check: until then a
// failure of it takes this one back, so this one is not Promoted.
func (g *groupRun) othersSwitching() bool {
	for _, m := range g.peers {
		if m.state == v1.MemberReady || m.state == v1.MemberSwitched && m.checking {
			return true
		}
	}
	return false
}
