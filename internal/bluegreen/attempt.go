package bluegreen

import (
	"fmt"
	"strings"

	v1 "github.com/understudy-dev/understudy/api/v1alpha1"
)

// An abort rejects one attempt at a revision: spec.template's revision as
// released with its migration, checks and deadlines (Attempt). Fixing any
// of them and applying again is a new attempt; so is a new spec.template.

// clearAbort forgets the aborted revision: it may be released again.
func (p *planner) clearAbort() {
	p.st.AbortedRevision, p.st.AbortReason, p.st.AbortMessage, p.st.AbortedAttempt = "", "", "", ""
}

// newAttempt releases the aborted spec.template again once what it ran
// with changed: a person fixed its migration, a check or a deadline. A
// revision that still serves (it had nothing to roll back to) stays as it
// is: a new attempt of it would check it live.
func (p *planner) newAttempt(current string) {
	if p.st.AbortedRevision != current {
		return
	}
	attempt := Attempt(p.spec)
	switch _, activeRev := servedBy(p.in.ActiveService); {
	case p.st.AbortedAttempt == "":
		p.st.AbortedAttempt = attempt // aborted before attempts were recorded
	case attempt == p.st.AbortedAttempt, activeRev == current:
	default:
		p.event(false, v1.EventNewAttempt, fmt.Sprintf("revision %s is released again: %s changed since it was aborted (%s)",
			current, strings.Join(attemptChanges(p.spec, p.st.AbortedAttempt), ", "), p.st.AbortReason))
		p.clearAbort()
	}
}

// attemptNote prefixes the message of a release of a revision that was
// aborted before, so that a person who fixed it sees the new attempt go on.
func (p *planner) attemptNote() {
	cur := p.st.CurrentRevision
	if p.phase != v1.PhaseProgressing || cur == p.st.ActiveRevision || cur == p.st.AbortedRevision {
		return
	}
	for _, h := range p.st.History {
		if h.Revision == cur && (h.Outcome == v1.OutcomeFailed || h.Outcome == v1.OutcomeAborted || h.Outcome == v1.OutcomeRolledBack) {
			p.message = fmt.Sprintf("new attempt of revision %s (%s before): %s", h.Revision, outcomeWords[h.Outcome], p.message)
			return
		}
	}
}

// outcomeWords are the history's outcomes as a sentence says them.
var outcomeWords = map[v1.RevisionOutcome]string{v1.OutcomeFailed: "failed", v1.OutcomeAborted: "aborted", v1.OutcomeRolledBack: "rolled back"}

// abortedMessage says, while spec.template's revision is aborted and rev
// serves, what happened and what a person can do: after a rollback, that
// it is over; before any switch, that rev kept serving. Either way the
// site stays Degraded (or Aborted) until spec.template changes or the
// attempt is fixed.
func (p *planner) abortedMessage(rev string) string {
	aborted, why := p.st.AbortedRevision, p.st.AbortMessage
	if p.st.AbortReason == v1.ReasonGroupMemberFailed && rev != aborted {
		return p.withdrawnMessage(rev)
	}
	if why == "" {
		why = p.message
	}
	if why == "" {
		why = p.site.Status.Message
	}
	if rev == aborted {
		return strings.TrimSuffix(why, "; switching back") + "; there is no earlier revision to switch back to, so it keeps serving: fix what failed and apply again for a new attempt"
	}
	again := fmt.Sprintf("revert spec.template to %s, or fix what failed (the image, the migration or a check) and apply it again for a new attempt", rev)
	if !p.servedBefore(aborted) {
		return fmt.Sprintf("%s; to release it again, %s", why, again)
	}
	if p.st.AbortMessage == "" {
		why = p.st.AbortReason // aborted before messages were recorded
	}
	serves := "serves at full size"
	if !p.runsReady(p.st.ActiveColor, rev, p.spec.DesiredReplicas(), "", nil) {
		serves = fmt.Sprintf("serves, with %d/%d replicas available", p.available(p.st.ActiveColor), p.spec.DesiredReplicas())
	}
	return fmt.Sprintf("revision %s was aborted and rolled back: %s %s; %s (why: %s)", aborted, rev, serves, again, why)
}

// servedBefore tells whether rev ever took traffic.
func (p *planner) servedBefore(rev string) bool {
	for _, h := range p.st.History {
		if h.Revision == rev {
			return h.PromotedAt != nil
		}
	}
	return false
}
