package bluegreen

import (
	"sort"
	"strings"

	v1 "github.com/understudy-dev/understudy/api/v1alpha1"
)

// A group's state is never stored in one place: each member publishes its
// own state in status.group, and every member reads the others' (their
// last written status, checked against their spec) to decide for itself.
// What one member decides from that view, the others decide alike.

// member is one member of a release group as the planner reads it.
type member struct {
	name, rev string
	state     v1.GroupMemberState
	message   string
	// checking: it switched and its post-promotion check still runs.
	checking bool
	// promote is its promote-group annotation.
	promote string
}

// readMember reads a peer: its published state when it is about its
// spec.template's revision, else Pending when its spec changed since its
// last release (its controller has not published it yet), else Unchanged.
func readMember(sd *v1.SiteDeployment) member {
	rev := SiteRevision(&sd.Spec)
	st := &sd.Status
	m := member{name: sd.Name, rev: rev, state: v1.MemberUnchanged,
		checking: st.PostPromotionRevision == rev, promote: sd.Annotations[v1.AnnotationPromoteGroup]}
	if g := st.Group; g != nil && g.Name == sd.Spec.Strategy.Group && g.Revision == rev && g.State != "" {
		m.state = g.State
		for _, e := range g.Members {
			if e.Name == sd.Name {
				m.message = e.Message
			}
		}
		return m
	}
	if st.ActiveRevision != "" && rev != st.ActiveRevision && rev != st.AbortedRevision {
		m.state = v1.MemberPending
	}
	return m
}

// InFlight tells whether a member takes part in the group's open release:
// its candidate has not switched yet, or it switched and the release is
// not over. Promoted, Failed and Withdrawn members are not in flight.
func InFlight(s v1.GroupMemberState) bool {
	switch s {
	case v1.MemberPending, v1.MemberProgressing, v1.MemberAwaitingPromotion, v1.MemberReady, v1.MemberSwitched:
		return true
	}
	return false
}

// readyToSwitch tells whether a member no longer holds the others' switch.
func readyToSwitch(s v1.GroupMemberState) bool {
	return s == v1.MemberReady || s == v1.MemberSwitched || s == v1.MemberPromoted || s == v1.MemberUnchanged
}

// revisionSet is the promote-group value that approves the members in
// flight: "site@revision", sorted by site, joined by commas.
func revisionSet(ms []member) string {
	var set []string
	for _, m := range ms {
		if InFlight(m.state) {
			set = append(set, m.name+"@"+m.rev)
		}
	}
	sort.Strings(set)
	return strings.Join(set, ",")
}

// groupPhase summarises the members' states.
func groupPhase(ms []member) v1.GroupPhase {
	has := map[v1.GroupMemberState]bool{}
	for _, m := range ms {
		has[m.state] = true
	}
	switch {
	case has[v1.MemberFailed]:
		return v1.GroupRollingBack
	case has[v1.MemberPending], has[v1.MemberProgressing], has[v1.MemberWithdrawn]:
		return v1.GroupProgressing
	case has[v1.MemberAwaitingPromotion]:
		return v1.GroupAwaitingPromotion
	case has[v1.MemberReady], has[v1.MemberSwitched]:
		return v1.GroupSwitching
	case has[v1.MemberPromoted]:
		return v1.GroupPromoted
	}
	return v1.GroupIdle
}

// describe lists members as "name (State)", for messages.
func describe(ms []member) string {
	out := make([]string, 0, len(ms))
	for _, m := range ms {
		out = append(out, m.name+" ("+string(m.state)+")")
	}
	return strings.Join(out, ", ")
}

// GroupView is a release group as its members' last written statuses
// show it (kubectl understudy get group, promote --group).
type GroupView struct {
	Phase v1.GroupPhase
	// RevisionSet is the promote-group value that approves the members
	// in flight; empty when none is.
	RevisionSet string
	// Members are sorted by name.
	Members []v1.GroupMemberStatus
}

// ViewGroup reads the members of one group the way each member's planner
// reads the others.
func ViewGroup(sites []*v1.SiteDeployment) GroupView {
	ms := make([]member, 0, len(sites))
	for _, sd := range sites {
		ms = append(ms, readMember(sd))
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].name < ms[j].name })
	v := GroupView{Phase: groupPhase(ms), RevisionSet: revisionSet(ms)}
	for _, m := range ms {
		v.Members = append(v.Members, v1.GroupMemberStatus{Name: m.name, Revision: m.rev, State: m.state, Message: m.message})
	}
	return v
}
