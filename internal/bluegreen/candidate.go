package bluegreen

import (
	"fmt"
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/ptr"

	v1 "github.com/understudy-dev/understudy/api/v1alpha1"
)

// The stages of a candidate on the idle color, each its own function; the
// stage reached decides the candidate's size (candidateSize).

// candidate is a release towards target on the idle color.
type candidate struct {
	activeColor, idle v1.Color
	activeRev, target string
	// rollback: target is a previous revision brought back after an abort.
	rollback bool
	// tmpl is target's pod template; nil when it is no longer stored.
	tmpl *corev1.PodTemplateSpec
	// full is the site's size; previewSize the candidate's before approval.
	full, previewSize int32
	// warm: the idle color runs target with every replica available,
	// without preview settings.
	warm bool
	// fast: target switches back without checks (a rollback, or a
	// revision that served before and is warm: a git revert).
	fast bool
}

func (p *planner) newCandidate(activeColor v1.Color, activeRev, target string, rollback bool) *candidate {
	c := &candidate{activeColor: activeColor, idle: activeColor.Other(), activeRev: activeRev, target: target,
		rollback: rollback, tmpl: p.templateOf(target), full: p.spec.DesiredReplicas()}
	c.warm = p.runsReady(c.idle, target, c.full, "", nil)
	c.fast = rollback || p.promotedBefore(target) && c.warm
	c.previewSize = c.full
	if ps := p.spec.Strategy.PreviewReplicas; ps != nil && !c.fast && *ps < c.full {
		c.previewSize = *ps
	}
	return c
}

// candidateStage is how far a candidate got; it decides its size.
type candidateStage int

const (
	// stagePreview: starting, checked or awaiting approval, at preview size.
	stagePreview candidateStage = iota
	// stageFull: rolling back, scaling up, soaking or switched, at full size.
	stageFull
	// stageRejected: aborted, scaled to zero.
	stageRejected
	// stageStopped: promoted after a rehearsal, scaled to zero to start
	// again on the final copy (dbBeginCutover).
	stageStopped
)

// candidateSize is the candidate's replicas at a stage.
func candidateSize(s candidateStage, full, previewSize int32) int32 {
	switch s {
	case stageFull:
		return full
	case stageRejected, stageStopped:
		return 0
	default:
		return previewSize
	}
}

// candidateDatabase readies the candidate's database (a rollback returns
// to the steady databases, each color on the one its revision used);
// ready: the candidate may start.
// failed: the release was aborted.
func (p *planner) candidateDatabase(c *candidate) (ready, failed bool) {
	if c.rollback {
		ready = p.dbSteady(c.activeColor)
	} else if ready, failed = p.dbReady(c.activeColor, c.idle, c.target); failed {
		return false, true
	}
	if !ready {
		p.previewSelectsActive(c.activeColor, c.activeRev)
	}
	return ready, false
}

// startCandidate records a new candidate in status, superseding the one
// before, and says what starts.
func (p *planner) startCandidate(c *candidate) {
	if p.st.PreviewRevision != c.target {
		if old := p.st.PreviewRevision; old != "" && old != p.st.AbortedRevision {
			p.record(old, v1.OutcomeSuperseded, nil)
			p.plan.Ended = append(p.plan.Ended, v1.OutcomeSuperseded)
			p.event(false, v1.EventSuperseded, fmt.Sprintf("candidate %s superseded by %s", old, c.target))
		}
		p.st.PreviewRevision, p.st.PreviewStartedAt = c.target, p.time()
		p.st.PreviewReadyAt, p.st.PromotionReadyAt, p.st.ScaleUpStartedAt = nil, nil, nil
		p.st.PreviewDigests, p.st.PreviewDigestsFrom = nil, ""
		if !c.fast && c.tmpl != nil {
			p.resolveDigests(c)
		}
		switch {
		case c.fast && c.warm: // nothing starts: the switch event follows
		case c.rollback:
			p.event(false, v1.EventRollingBack, fmt.Sprintf("starting previous revision %s again on %s for the rollback", c.target, c.idle))
		default:
			p.event(false, v1.EventCandidateStarted, fmt.Sprintf("starting revision %s on %s", c.target, c.idle))
		}
	}
	p.st.PreviewColor = c.idle
}

// advanceCandidate takes a started candidate one stage further: preview
// available, rollback, pre-promotion check, approval, scale-up, soak,
// switch.
func (p *planner) advanceCandidate(c *candidate) (stage candidateStage, again bool) {
	if p.st.PreviewReadyAt == nil {
		return p.awaitPreview(c)
	}
	p.plan.Preview = &ServiceIntent{Name: PreviewServiceName(p.site), Color: c.idle, Revision: c.target}
	if c.rollback {
		if c.warm {
			p.switchTo(c.idle, c.target, c.activeRev, true)
		} else {
			p.set(v1.PhaseAborted, fmt.Sprintf("rolling back: scaling previous revision %s on %s to %d", c.target, c.idle, c.full))
		}
		return stageFull, false
	}
	if !p.recordDigests(c) {
		return stagePreview, false
	}
	passed, failed := p.check(PrePromotion, p.spec.Strategy.PrePromotion, c.target, c.idle, c.activeColor, c.activeRev)
	if failed {
		return stageRejected, true
	}
	if !passed {
		p.analysisRunning(PrePromotion, c.target, v1.PhaseProgressing)
		return stagePreview, false
	}
	promoted := p.approved(c.target) || p.groupApproved() || p.dbCuttingOver(c.target)
	if !promoted && !ptr.Deref(p.spec.Strategy.AutoPromote, true) {
		p.dbAwaitPromotion()
		p.set(v1.PhaseAwaitingPromotion, fmt.Sprintf("revision %s is ready on %s; approve it with the %s=%s annotation%s%s%s",
			c.target, c.idle, v1.AnnotationPromote, c.target, p.groupApprovalNote(), p.approvalNote(c.target), p.dbFrozenNote()))
		return stagePreview, false
	}
	if p.dbRehearsing() {
		return p.dbBeginCutover(c, promoted), false
	}
	if !p.candidateReady(c, stageFull) {
		return p.scaleUp(c)
	}
	if switchNow, failed := p.dbCatchUp(c.target, c.activeColor); !switchNow {
		if failed {
			return stageRejected, true
		}
		return stageFull, false
	}
	return p.soakThenSwitch(c, promoted)
}

// awaitPreview waits, until the progress deadline, for the candidate to be
// available at preview size (a rollback: at full size).
func (p *planner) awaitPreview(c *candidate) (candidateStage, bool) {
	deadline := p.st.PreviewStartedAt.Add(p.progressDeadline())
	if !p.now.Before(deadline) && !c.rollback {
		why := ""
		if pr, ok := p.notReady(c); ok {
			why = " (" + pr.String() + ")"
		}
		p.abort(c.target, v1.ReasonProgressDeadlineExceeded, fmt.Sprintf(
			"revision %s was not available within the progress deadline (%s)%s; aborted, %s keeps serving %s",
			c.target, p.progressDeadline(), why, c.activeColor, c.activeRev))
		return stageRejected, true
	}
	p.wakeAt(deadline)
	p.previewSelectsActive(c.activeColor, c.activeRev)
	defer p.candidateNotReady(c)
	if c.rollback {
		p.set(v1.PhaseAborted, fmt.Sprintf("rolling back: starting previous revision %s on %s", c.target, c.idle))
		return stageFull, false
	}
	p.set(v1.PhaseProgressing, fmt.Sprintf("starting revision %s on %s", c.target, c.idle))
	return stagePreview, false
}

// scaleUp waits, until the progress deadline, for the approved candidate
// to be available at full size.
func (p *planner) scaleUp(c *candidate) (candidateStage, bool) {
	if p.st.ScaleUpStartedAt == nil {
		p.st.ScaleUpStartedAt = p.time()
	}
	deadline := p.st.ScaleUpStartedAt.Add(p.progressDeadline())
	if !p.now.Before(deadline) {
		p.abort(c.target, v1.ReasonProgressDeadlineExceeded, fmt.Sprintf(
			"revision %s did not reach %d available replicas within the progress deadline (%s); aborted, %s keeps serving %s",
			c.target, c.full, p.progressDeadline(), c.activeColor, c.activeRev))
		return stageRejected, true
	}
	p.wakeAt(deadline)
	on := ""
	if len(p.pins(c)) > 0 && p.pinnedInTemplate(c, stageFull) {
		on = " on the digests its preview pods were checked on (" + describePins(p.pins(c)) + ")"
	}
	p.set(v1.PhasePromoting, fmt.Sprintf("scaling revision %s on %s to %d replicas%s", c.target, c.idle, c.full, on))
	p.candidateNotReady(c)
	return stageFull, false
}

// pins are the digests the candidate runs at full size: the ones its
// preview pods were checked on, or for a revision coming back without
// checks (a rollback, a revert) the ones it ran when it took traffic.
func (p *planner) pins(c *candidate) []v1.PinnedImage {
	if c.rollback || c.fast {
		return p.digestsOf(c.target)
	}
	return p.st.PreviewDigests
}

// pinsAt are the pinned images of the candidate's Deployment at a stage:
// the upstreams' digests (the promotion gate), and its own when they are
// in its template at that stage (pinnedInTemplate).
func (p *planner) pinsAt(c *candidate, s candidateStage) map[string]string {
	pins := p.gatePins(c.target)
	if p.pinnedInTemplate(c, s) {
		pins = append(slices.Clone(pins), p.pins(c)...)
	}
	return pinned(pins)
}

// soakAndSwitch switches to the candidate at full size once it soaked for
// autoPromoteAfter, at once when a person approved it.
func (p *planner) soakAndSwitch(c *candidate, promoted bool) {
	p.st.ScaleUpStartedAt = nil
	if p.st.PromotionReadyAt == nil {
		p.st.PromotionReadyAt = p.time()
	}
	soakEnd := p.st.PromotionReadyAt.Add(p.autoPromoteAfter())
	if !promoted && p.now.Before(soakEnd) {
		p.wakeAt(soakEnd)
		p.set(v1.PhasePromoting, fmt.Sprintf("revision %s soaking until %s", c.target, soakEnd.UTC().Format(time.RFC3339)))
		return
	}
	if p.groupHolds(c.target, c.idle) {
		return
	}
	p.switchTo(c.idle, c.target, c.activeRev, false)
}
