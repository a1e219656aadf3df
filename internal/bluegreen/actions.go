package bluegreen

import (
	"fmt"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1 "github.com/understudy-dev/understudy/api/v1alpha1"
)

// The rules of the action annotations (docs/sitedeployment.md, "Actions"):
//
//   - abort naming the candidate aborts it: it is scaled down and never
//     promoted; it comes back only as a new release of spec.template, with
//     its checks and approval;
//   - abort naming the live revision, while it is spec.template's, rolls
//     back to the newest revision that was promoted and not aborted since
//     (rollbackTarget); with none, it is refused;
//   - abort naming anything else (the revision a rollback went to, an old
//     or unknown one) is refused: a rollback never lands on a revision that
//     was rejected;
//   - promote naming the candidate approves it, also in advance while it
//     waits for its upstreams (the answer says it still waits for them and
//     its checks); naming the live revision it is already done; anything
//     else is refused.
//
// Each annotation value is answered once, in status.actions and, when
// refused (or an approval is withdrawn), by a Warning event ActionRefused;
// removing the annotation forgets the answer.

// answerActions answers the promote and abort annotations that have not
// been answered yet, and forgets the answers of removed annotations.
func (p *planner) answerActions(current, activeRev string) {
	p.forgetRemovedActions()
	candidate := p.candidate(current, activeRev)
	if v, ok := p.unanswered(v1.AnnotationAbort); ok {
		p.answerAbort(v, current, activeRev, candidate)
	}
	if v, ok := p.unanswered(v1.AnnotationPromote); ok {
		p.answerPromote(v, activeRev, candidate)
	}
	if v, ok := p.unanswered(v1.AnnotationSkipPromotionGate); ok {
		p.answerSkipGate(v, activeRev, candidate)
	}
}

func (p *planner) answerAbort(v, current, activeRev, candidate string) {
	switch {
	case v == p.st.AbortedRevision:
		p.answer(v1.AnnotationAbort, v, v1.ActionAccepted, "revision "+v+" is aborted")
	case p.isCandidate(v, candidate):
		msg := "revision " + v + " aborted by the " + v1.AnnotationAbort + " annotation"
		p.abort(v, v1.ReasonAborted, msg)
		p.answer(v1.AnnotationAbort, v, v1.ActionAccepted, msg)
	case v == activeRev && v == current:
		prev := p.rollbackTarget(v)
		if prev == "" {
			p.refuse(v1.AnnotationAbort, v, fmt.Sprintf("revision %s is live and no earlier revision in status.history was promoted and not aborted since: nothing to roll back to", v))
			return
		}
		msg := "revision " + v + " aborted by the " + v1.AnnotationAbort + " annotation"
		p.abort(v, v1.ReasonAborted, msg)
		p.answer(v1.AnnotationAbort, v, v1.ActionAccepted, msg+"; rolling back to "+prev)
	case v == activeRev && current == p.st.AbortedRevision:
		p.refuse(v1.AnnotationAbort, v, fmt.Sprintf("revision %s is live because %s was aborted; a rollback goes back one revision only: set spec.template to the revision you want", v, current))
	case v == activeRev:
		p.refuse(v1.AnnotationAbort, v, fmt.Sprintf("revision %s is live while %s is being released: abort the candidate %s first", v, current, current))
	default:
		p.refuse(v1.AnnotationAbort, v, p.neither(v, activeRev, candidate))
	}
}

func (p *planner) answerPromote(v, activeRev, candidate string) {
	switch {
	case p.isCandidate(v, candidate) && p.waitsForUpstreams(v):
		p.answer(v1.AnnotationPromote, v, v1.ActionAccepted, fmt.Sprintf("revision %s approved in advance: it has not started and still waits for its upstreams "+
			"(status.promotion; skip the gate with the %s=%s annotation), then for its checks; it takes traffic once they passed and it is available at full size",
			v, v1.AnnotationSkipPromotionGate, v))
	case p.isCandidate(v, candidate):
		p.answer(v1.AnnotationPromote, v, v1.ActionAccepted, "revision "+v+" approved: it takes traffic once its checks passed and it is available at full size")
	case v == activeRev:
		p.answer(v1.AnnotationPromote, v, v1.ActionAccepted, "revision "+v+" is live")
	case v == p.st.AbortedRevision:
		p.refuse(v1.AnnotationPromote, v, fmt.Sprintf("revision %s was aborted (%s) and cannot be promoted: release it again as a new spec.template", v, p.st.AbortReason))
	default:
		p.refuse(v1.AnnotationPromote, v, p.neither(v, activeRev, candidate))
	}
}

// candidate is the revision being released: spec.template's while it is
// not live and not aborted. During a rollback there is none.
func (p *planner) candidate(current, activeRev string) string {
	if current != activeRev && current != p.st.AbortedRevision {
		return current
	}
	return ""
}

// isCandidate tells whether v is being released: the candidate, or the
// older one it is replacing on the idle color.
func (p *planner) isCandidate(v, candidate string) bool {
	return candidate != "" && (v == candidate || v == p.st.PreviewRevision)
}

func (p *planner) neither(v, activeRev, candidate string) string {
	if candidate == "" {
		candidate = "none"
	}
	return fmt.Sprintf("revision %s is neither the candidate (%s) nor the live revision (%s)", v, candidate, activeRev)
}

// rollbackTarget is the newest revision other than rev that served
// traffic and was not aborted or failed since: the only kind of revision
// a rollback may go to.
func (p *planner) rollbackTarget(rev string) string {
	for _, h := range p.st.History {
		if h.Revision != rev && verified(h) {
			return h.Revision
		}
	}
	return ""
}

// promotedBefore tells whether rev served traffic and was not rejected
// since, so that it may come back without checks while it is warm.
func (p *planner) promotedBefore(rev string) bool {
	for _, h := range p.st.History {
		if h.Revision == rev {
			return verified(h)
		}
	}
	return false
}

func verified(h v1.RevisionRecord) bool {
	return h.PromotedAt != nil && h.Outcome == v1.OutcomePromoted
}

// unanswered returns the annotation's value when it has one that
// status.actions does not answer yet.
func (p *planner) unanswered(annotation string) (string, bool) {
	v := p.site.Annotations[annotation]
	if v == "" {
		return "", false
	}
	for _, a := range p.st.Actions {
		if a.Annotation == annotation && a.Value == v {
			return "", false
		}
	}
	return v, true
}

func (p *planner) forgetRemovedActions() {
	kept := p.st.Actions[:0:0]
	for _, a := range p.st.Actions {
		if p.site.Annotations[a.Annotation] != "" {
			kept = append(kept, a)
		}
	}
	p.st.Actions = kept
}

// approved tells whether the promote annotation approves rev: it names rev
// and its answer was not withdrawn by an abort of rev.
func (p *planner) approved(rev string) bool {
	if p.site.Annotations[v1.AnnotationPromote] != rev {
		return false
	}
	for _, a := range p.st.Actions {
		if a.Annotation == v1.AnnotationPromote && a.Value == rev {
			return a.Result == v1.ActionAccepted
		}
	}
	return true
}

// withdrawApproval turns an accepted approval of rev into a refusal when
// rev is aborted: an approval never carries over to a later release of a
// rejected revision.
func (p *planner) withdrawApproval(rev string) {
	for i := range p.st.Actions {
		a := &p.st.Actions[i]
		if a.Annotation == v1.AnnotationPromote && a.Value == rev && a.Result == v1.ActionAccepted {
			a.Result = v1.ActionRefused
			a.Message = "approval withdrawn: revision " + rev + " was aborted; to approve a new release of it, remove the annotation and set it again"
			a.Time = metav1.NewTime(p.now.Truncate(time.Second))
			p.refusedEvent(a.Annotation, a.Value, a.Message)
		}
	}
}

// approvalNote tells a person why a promote annotation naming rev does not
// count, when it does not.
func (p *planner) approvalNote(rev string) string {
	if p.site.Annotations[v1.AnnotationPromote] == rev && !p.approved(rev) {
		return " (the annotation naming it was withdrawn when it was aborted: remove it and set it again)"
	}
	return ""
}

// refuse answers an action with a refusal; every refusal, here or when an
// accepted action is withdrawn, raises an ActionRefused event.
func (p *planner) refuse(annotation, value, why string) {
	p.answer(annotation, value, v1.ActionRefused, why)
	p.refusedEvent(annotation, value, why)
}

func (p *planner) refusedEvent(annotation, value, why string) {
	p.event(true, v1.EventActionRefused, fmt.Sprintf("%s=%s refused: %s", annotation, value, why))
}

func (p *planner) answer(annotation, value string, result v1.ActionResult, message string) {
	a := v1.ActionStatus{Annotation: annotation, Value: value, Result: result, Message: message, Time: metav1.NewTime(p.now.Truncate(time.Second))}
	for i := range p.st.Actions {
		if p.st.Actions[i].Annotation == annotation {
			p.st.Actions[i] = a
			return
		}
	}
	p.st.Actions = append(p.st.Actions, a)
}
