package bluegreen

import (
	"fmt"
	"time"

	"k8s.io/utils/ptr"

	v1 "github.com/understudy-dev/understudy/api/v1alpha1"
)

// firstRelease starts the first revision on blue and creates the Services
// once it is fully available.
func (p *planner) firstRelease(rev string) {
	blue := p.in.Deployments[v1.Blue]
	if d := p.st.Database; d != nil {
		d.SchemaRevision = p.spec.Database.SchemaRevision
	}
	p.deploy(DeploymentIntent{Color: v1.Blue, Revision: rev, Template: &p.spec.Template, Replicas: p.spec.DesiredReplicas()})
	if !readyAt(blue, rev, p.spec.DesiredReplicas()) {
		p.set(v1.PhasePending, fmt.Sprintf("waiting for blue (%s) to have %d replicas available", rev, p.spec.DesiredReplicas()))
		return
	}
	p.switchTo(v1.Blue, rev, "", true)
}

// release moves traffic towards target, which is not active yet: the
// candidate runs on the idle color, is checked, approved, scaled to full
// size, soaked, and then the active Service switches to it.
func (p *planner) release(activeColor v1.Color, activeRev, target string, rollback bool) (again bool) {
	idle := activeColor.Other()
	idleDep := p.in.Deployments[idle]
	full := p.spec.DesiredReplicas()
	p.keepActive(activeColor, activeRev)
	if full == 0 && !rollback {
		p.scaledToZero(idle, target)
		return false
	}
	if rollback {
		if !p.dbSettle(activeColor) {
			p.previewSelectsActive(activeColor, activeRev)
			return false
		}
	} else if ready, failed := p.dbReady(activeColor, idle, target); failed {
		return true
	} else if !ready {
		p.previewSelectsActive(activeColor, activeRev)
		return false
	}

	// A revision that served before and is still warm on the idle color
	// (git revert, or a rollback) switches back at once, without checks.
	warm := readyAt(idleDep, target, full)
	fast := rollback || p.promotedBefore(target) && warm
	if p.st.PreviewRevision != target {
		if old := p.st.PreviewRevision; old != "" && old != p.st.AbortedRevision {
			p.record(old, v1.OutcomeSuperseded, nil)
			p.event(false, v1.EventSuperseded, fmt.Sprintf("candidate %s superseded by %s", old, target))
		}
		p.st.PreviewRevision, p.st.PreviewStartedAt = target, p.time()
		p.st.PreviewReadyAt, p.st.PromotionReadyAt, p.st.ScaleUpStartedAt = nil, nil, nil
		switch {
		case fast && warm: // nothing starts: the switch event follows
		case rollback:
			p.event(false, v1.EventRollingBack, fmt.Sprintf("starting previous revision %s again on %s for the rollback", target, idle))
		default:
			p.event(false, v1.EventCandidateStarted, fmt.Sprintf("starting revision %s on %s", target, idle))
		}
	}
	p.st.PreviewColor = idle
	tmpl := p.templateOf(target)
	if tmpl == nil {
		p.set(v1.PhaseDegraded, fmt.Sprintf("revision %s is no longer stored; cannot start it again", target))
		return false
	}
	if fast && warm {
		p.deploy(DeploymentIntent{Color: idle, Revision: target, Template: tmpl, Replicas: full})
		p.switchTo(idle, target, activeRev, true)
		return false
	}

	previewSize := full
	if ps := p.spec.Strategy.PreviewReplicas; ps != nil && !fast && *ps < full {
		previewSize = *ps
	}
	readyFull := warm
	if readyFull || readyAt(idleDep, target, previewSize) {
		if p.st.PreviewReadyAt == nil {
			p.st.PreviewReadyAt = p.time()
		}
	}
	size := previewSize
	defer func() { p.deploy(DeploymentIntent{Color: idle, Revision: target, Template: tmpl, Replicas: size}) }()

	if p.st.PreviewReadyAt == nil {
		deadline := p.st.PreviewStartedAt.Add(p.progressDeadline())
		if !p.now.Before(deadline) && !rollback {
			size = 0
			p.abort(target, v1.ReasonProgressDeadlineExceeded, fmt.Sprintf(
				"revision %s was not available within the progress deadline (%s); aborted, %s keeps serving %s",
				target, p.progressDeadline(), activeColor, activeRev))
			return true
		}
		p.wakeAt(deadline)
		p.previewSelectsActive(activeColor, activeRev)
		if rollback {
			size = full
			p.set(v1.PhaseAborted, fmt.Sprintf("rolling back: starting previous revision %s on %s", target, idle))
		} else {
			p.set(v1.PhaseProgressing, fmt.Sprintf("starting revision %s on %s", target, idle))
		}
		return false
	}
	p.plan.Preview = &ServiceIntent{Name: PreviewServiceName(p.site), Color: idle, Revision: target}

	if rollback {
		size = full
		if readyFull {
			p.switchTo(idle, target, activeRev, true)
			return false
		}
		p.set(v1.PhaseAborted, fmt.Sprintf("rolling back: scaling previous revision %s on %s to %d", target, idle, full))
		return false
	}
	passed, failed := p.check(PrePromotion, p.spec.Strategy.PrePromotion, target, idle, activeColor, activeRev)
	if failed {
		size = 0
		return true
	}
	if !passed {
		p.set(v1.PhaseProgressing, fmt.Sprintf("pre-promotion check of %s running", target))
		return false
	}
	promoted := p.approved(target)
	autoPromote := p.spec.Strategy.AutoPromote == nil || *p.spec.Strategy.AutoPromote
	if !promoted && !autoPromote {
		p.set(v1.PhaseAwaitingPromotion, fmt.Sprintf("revision %s is ready on %s; approve it with the %s=%s annotation%s%s",
			target, idle, v1.AnnotationPromote, target, p.approvalNote(target), p.dbFrozenNote()))
		return false
	}
	size = full
	if !readyFull {
		if p.st.ScaleUpStartedAt == nil {
			p.st.ScaleUpStartedAt = p.time()
		}
		deadline := p.st.ScaleUpStartedAt.Add(p.progressDeadline())
		if !p.now.Before(deadline) {
			size = 0
			p.abort(target, v1.ReasonProgressDeadlineExceeded, fmt.Sprintf(
				"revision %s did not reach %d available replicas within the progress deadline (%s); aborted, %s keeps serving %s",
				target, full, p.progressDeadline(), activeColor, activeRev))
			return true
		}
		p.wakeAt(deadline)
		p.set(v1.PhasePromoting, fmt.Sprintf("scaling revision %s on %s to %d replicas", target, idle, full))
		return false
	}
	p.st.ScaleUpStartedAt = nil
	if p.st.PromotionReadyAt == nil {
		p.st.PromotionReadyAt = p.time()
	}
	soakEnd := p.st.PromotionReadyAt.Add(p.autoPromoteAfter())
	if !promoted && p.now.Before(soakEnd) {
		p.wakeAt(soakEnd)
		p.set(v1.PhasePromoting, fmt.Sprintf("revision %s soaking until %s", target, soakEnd.UTC().Format(time.RFC3339)))
		return false
	}
	p.switchTo(idle, target, activeRev, false)
	return false
}

// scaledToZero holds a release while spec.replicas is 0: a candidate with
// no pods can be neither checked nor approved.
func (p *planner) scaledToZero(idle v1.Color, target string) {
	if d := p.in.Deployments[idle]; d != nil && ptr.Deref(d.Spec.Replicas, 0) != 0 {
		p.deploy(DeploymentIntent{Color: idle, Revision: revisionOf(d), Replicas: 0})
	}
	p.st.PreviewReadyAt, p.st.PromotionReadyAt, p.st.ScaleUpStartedAt = nil, nil, nil
	p.previewSelectsActive(idle.Other(), p.st.ActiveRevision)
	p.set(v1.PhaseProgressing, fmt.Sprintf("spec.replicas is 0: revision %s cannot start or be checked; scale up to release it", target))
}

// keepActive resizes the active color in place; its template never changes.
func (p *planner) keepActive(color v1.Color, rev string) {
	i := DeploymentIntent{Color: color, Revision: rev, Replicas: p.spec.DesiredReplicas()}
	if p.in.Deployments[color] == nil {
		i.Template = p.templateOf(rev)
	}
	if p.in.Deployments[color] != nil || i.Template != nil {
		p.deploy(i)
	}
}

func (p *planner) previewSelectsActive(color v1.Color, rev string) {
	p.plan.Preview = &ServiceIntent{Name: PreviewServiceName(p.site), Color: color, Revision: rev}
}

// switchTo points the active Service at rev on color. The caller has made
// sure the color runs rev with all replicas available.
func (p *planner) switchTo(color v1.Color, rev, from string, skipChecks bool) {
	p.dbSwitched(p.st.ActiveColor, color)
	p.plan.Active = &ServiceIntent{Name: ActiveServiceName(p.site), Color: color, Revision: rev}
	p.plan.Preview = &ServiceIntent{Name: PreviewServiceName(p.site), Color: color, Revision: rev}
	p.st.ActiveColor, p.st.ActiveRevision, p.st.PreviewColor = color, rev, color.Other()
	p.st.LastSwitchTime = p.time()
	p.st.PreviewRevision, p.st.PreviewStartedAt, p.st.PreviewReadyAt, p.st.PromotionReadyAt = "", nil, nil, nil
	p.st.ScaleUpStartedAt = nil
	p.record(rev, v1.OutcomePromoted, p.time())
	p.st.PostPromotionRevision = ""
	if !skipChecks && p.spec.Strategy.PostPromotion != nil {
		p.st.PostPromotionRevision = rev
		p.plan.Jobs = append(p.plan.Jobs, checkJob(p.site, p.spec.Strategy.PostPromotion, rev, color, PostPromotion, p.now))
	}
	if from == "" {
		p.event(false, v1.EventAvailable, fmt.Sprintf("revision %s is available on %s and takes traffic", rev, color))
	} else {
		p.event(false, v1.EventSwitched, fmt.Sprintf("traffic switched from %s (%s) to %s (%s)", color.Other(), from, color, rev))
		p.wakeAt(p.now.Add(p.scaleDownDelay()))
	}
	p.setSteadyPhase(rev)
}
