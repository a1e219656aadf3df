package bluegreen

import (
	"fmt"
	"slices"
	"strings"

	v1 "github.com/understudy-dev/understudy/api/v1alpha1"
)

// The promotion gate (spec.promotion): a release of a new revision starts
// only once every upstream qualifies it (see upstream.go), or a person
// skips the gate for that revision with the skip-promotion-gate
// annotation. Until then the site stays as it is (the live revision
// serves, a warm old color stays warm for its scaleDownDelay) in phase
// AwaitingUpstream. Once passed, the decision holds for that revision
// (status.promotion.gate): the release goes on as any other, and its
// candidate runs the upstreams' digests from its first pod. Not gated: the
// first revision of a site, a rollback, and a revision that served on
// this site before and was not rejected since (a revert).

// awaitingUpstream decides the gate for a release of target and, when it
// holds, keeps the site steady on the live revision. held: the release
// waits; again: decide once more (as steady's).
func (p *planner) awaitingUpstream(activeColor v1.Color, activeRev, target string) (held, again bool) {
	if !p.waitsForUpstreams(target) {
		return false, false
	}
	if p.decideGate(target) {
		return false, false
	}
	again = p.steady(activeColor, activeRev, target)
	switch {
	case again:
	case p.phase == v1.PhaseHealthy:
		p.reason = v1.ReasonUpstreamNotQualified
		p.set(v1.PhaseAwaitingUpstream, p.waitMessage(target))
	case p.phase == v1.PhaseProgressing: // the live color lost replicas meanwhile
		p.reason = v1.ReasonUpstreamNotQualified
		p.set(v1.PhaseAwaitingUpstream, p.waitMessage(target)+"; meanwhile "+p.message)
	}
	return true, again
}

// waitsForUpstreams tells whether rev is held by the promotion gate: it
// has not passed it and is not exempt from it.
func (p *planner) waitsForUpstreams(rev string) bool {
	return !p.gatePassed(rev) && !p.promotedBefore(rev)
}

// gatePassed tells whether target already passed the gate (or there is none).
func (p *planner) gatePassed(target string) bool {
	if p.spec.Promotion == nil {
		return true
	}
	pr := p.st.Promotion
	return pr != nil && pr.Revision == target && pr.Gate != ""
}

// decideGate judges every upstream and records the decision in
// status.promotion; passed: target may start.
func (p *planner) decideGate(target string) (passed bool) {
	minLive := durationOr(p.spec.Promotion.MinLiveDuration, 0)
	schema := ""
	if p.spec.Database != nil {
		schema = p.spec.Database.SchemaRevision
	}
	before := p.st.Promotion
	pr := &v1.PromotionStatus{Revision: target}
	var verdicts []verdict
	qualified := true
	var latest *verdict
	for _, u := range p.in.Upstreams {
		v := judge(u, &p.spec.Template, schema, minLive, p.now)
		if u.Namespace == p.site.Namespace && u.Name == p.site.Name {
			v.status.Qualified, v.status.Message = false, u.key()+" is this site itself: remove it from spec.promotion.upstreams"
		}
		verdicts = append(verdicts, v)
		pr.Upstreams = append(pr.Upstreams, v.status)
		qualified = qualified && v.ok()
		if !v.at.IsZero() {
			p.wakeAt(v.at)
			if latest == nil || v.at.After(latest.at) {
				latest = &verdicts[len(verdicts)-1]
			}
		}
		if !v.ok() && u.Unwatched {
			p.wakeAt(p.now.Add(UpstreamPoll))
		}
	}
	pins, conflict := mergePins(verdicts)
	if conflict != "" {
		qualified = false
		pr.Upstreams[0].Qualified, pr.Upstreams[0].Message = false, conflict
	}
	if latest != nil && conflict == "" && onlyTimeMissing(verdicts) {
		pr.QualifiesAt = timeOrNil(latest.at)
	}
	p.st.Promotion = pr
	firstLook := before == nil || before.Revision != target
	switch {
	case qualified && len(verdicts) > 0:
		pr.Gate, pr.Digests = v1.GateQualified, pins
		var by []string
		for _, v := range verdicts {
			by = append(by, v.qualifiedBy)
		}
		p.event(false, v1.EventUpstreamQualified, fmt.Sprintf("revision %s qualified by %s: starting it%s", target, strings.Join(by, ", "), pinNote(pins)))
		return true
	case p.skipGate(target):
		pr.Gate = v1.GateSkipped
		p.event(true, v1.EventPromotionGateSkipped, fmt.Sprintf("revision %s starts past the promotion gate (%s=%s): %s",
			target, v1.AnnotationSkipPromotionGate, target, p.notQualified()))
		return true
	case firstLook:
		p.event(false, v1.EventAwaitingUpstream, p.waitMessage(target))
	}
	return false
}

func onlyTimeMissing(vs []verdict) bool {
	for _, v := range vs {
		if !v.ok() && v.at.IsZero() {
			return false
		}
	}
	return true
}

func pinNote(pins []v1.PinnedImage) string {
	if len(pins) == 0 {
		return ""
	}
	return " on the digests they ran (" + describePins(pins) + ")"
}

// waitMessage says why target waits: each upstream that does not qualify
// it, and how to release it anyway.
func (p *planner) waitMessage(target string) string {
	return fmt.Sprintf("%s/%s waits: %s; revision %s starts once its upstreams qualify it (or skip the gate with the %s=%s annotation)",
		p.site.Namespace, p.site.Name, p.notQualified(), target, v1.AnnotationSkipPromotionGate, target)
}

func (p *planner) notQualified() string {
	var why []string
	for _, u := range p.st.Promotion.Upstreams {
		if !u.Qualified {
			why = append(why, u.Message)
		}
	}
	return strings.Join(why, "; ")
}

// gatePins are the upstreams' digests target runs from its first pod.
func (p *planner) gatePins(target string) []v1.PinnedImage {
	if pr := p.st.Promotion; pr != nil && pr.Revision == target {
		return pr.Digests
	}
	return nil
}

// markGate records in a revision's history entry how it passed the gate.
func (p *planner) markGate(rec *v1.RevisionRecord) {
	pr := p.st.Promotion
	if pr == nil || pr.Revision != rec.Revision || pr.Gate == "" || rec.PromotionGate != "" {
		return
	}
	rec.PromotionGate = pr.Gate
	if pr.Gate == v1.GateQualified {
		for _, u := range pr.Upstreams {
			rec.QualifiedBy = append(rec.QualifiedBy, u.Namespace+"/"+u.Name+"@"+u.Revision)
		}
	}
}

// forgetGate drops status.promotion when there is no gate, or it was about
// a revision spec.template no longer names.
func (p *planner) forgetGate(current string) {
	if p.spec.Promotion == nil || p.st.Promotion != nil && p.st.Promotion.Revision != current {
		p.st.Promotion = nil
	}
}

// skipGate tells whether the skip-promotion-gate annotation releases
// target: it names target and its answer was not a refusal.
func (p *planner) skipGate(target string) bool {
	if p.site.Annotations[v1.AnnotationSkipPromotionGate] != target {
		return false
	}
	i := slices.IndexFunc(p.st.Actions, func(a v1.ActionStatus) bool {
		return a.Annotation == v1.AnnotationSkipPromotionGate && a.Value == target
	})
	return i < 0 || p.st.Actions[i].Result == v1.ActionAccepted
}

// answerSkipGate answers the skip-promotion-gate annotation: it applies to
// the revision being released, while the gate has not passed it.
func (p *planner) answerSkipGate(v, activeRev, candidate string) {
	const key = v1.AnnotationSkipPromotionGate
	switch {
	case p.spec.Promotion == nil:
		p.refuse(key, v, "spec.promotion is not set: there is no promotion gate to skip")
	case v == candidate && p.gatePassed(v):
		p.answer(key, v, v1.ActionAccepted, fmt.Sprintf("revision %s already passed the promotion gate (%s): nothing to skip", v, p.st.Promotion.Gate))
	case v == candidate:
		p.answer(key, v, v1.ActionAccepted, fmt.Sprintf("revision %s starts without waiting for its upstreams; history records promotionGate: Skipped", v))
	case v == activeRev:
		p.refuse(key, v, fmt.Sprintf("revision %s is live: nothing to skip", v))
	case v == p.st.AbortedRevision:
		p.refuse(key, v, fmt.Sprintf("revision %s was aborted (%s): release it again as a new spec.template", v, p.st.AbortReason))
	default:
		p.refuse(key, v, p.neither(v, activeRev, candidate))
	}
}
