package bluegreen

import (
	"fmt"

	"k8s.io/utils/ptr"

	v1 "github.com/understudy-dev/understudy/api/v1alpha1"
)

// firstRelease starts the first revision on blue and creates the Services
// once it is fully available.
func (p *planner) firstRelease(rev string) {
	if d := p.st.Database; d != nil {
		d.SchemaRevision = p.spec.Database.SchemaRevision
	}
	p.deploy(DeploymentIntent{Color: v1.Blue, Revision: rev, Template: &p.spec.Template, Replicas: p.spec.DesiredReplicas()})
	if !p.runsReady(v1.Blue, rev, p.spec.DesiredReplicas(), "", nil) {
		p.set(v1.PhasePending, fmt.Sprintf("waiting for blue (%s) to have %d replicas available", rev, p.spec.DesiredReplicas()))
		return
	}
	p.switchTo(v1.Blue, rev, "", true)
}

// release moves traffic towards target, which is not active yet: the
// candidate runs on the idle color, is checked, approved, scaled to full
// size, soaked, and then the active Service switches to it. again: the
// target changed (an abort); decide once more.
func (p *planner) release(activeColor v1.Color, activeRev, target string, rollback bool) (again bool) {
	p.keepActive(activeColor, activeRev)
	c := p.newCandidate(activeColor, activeRev, target, rollback)
	if c.full == 0 && !rollback {
		p.scaledToZero(c.idle, target)
		return false
	}
	if !rollback && p.groupRefusesSchema(target) {
		p.previewSelectsActive(activeColor, activeRev)
		return false
	}
	if ready, failed := p.candidateDatabase(c); !ready {
		return failed
	}
	p.startCandidate(c)
	if c.tmpl == nil {
		p.set(v1.PhaseDegraded, fmt.Sprintf("revision %s is no longer stored; cannot start it again", target))
		return false
	}
	if c.fast && c.warm {
		p.deploy(DeploymentIntent{Color: c.idle, Revision: target, Template: c.tmpl, Replicas: c.full})
		if !rollback && p.groupHolds(target, c.idle) {
			p.previewSelectsActive(activeColor, activeRev)
			return false
		}
		p.switchTo(c.idle, target, activeRev, true)
		return false
	}
	if c.warm || p.candidateReady(c, stagePreview) {
		if p.st.PreviewReadyAt == nil {
			p.st.PreviewReadyAt = p.time()
		}
	}
	stage, again := p.advanceCandidate(c)
	p.deploy(DeploymentIntent{Color: c.idle, Revision: target, Template: c.tmpl, Replicas: candidateSize(stage, c.full, c.previewSize),
		Images: p.pinsAt(c, stage), Preview: p.previewAt(c, stage)})
	return again
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
	digests := p.digestsOf(rev) // a rollback or a revert keeps the ones it had
	if p.st.PreviewRevision == rev && len(p.st.PreviewDigests) > 0 {
		digests = p.st.PreviewDigests
	}
	p.st.ActiveColor, p.st.ActiveRevision, p.st.PreviewColor = color, rev, color.Other()
	if p.in.Deployments[color.Other()] == nil {
		p.st.PreviewColor = "" // no old color to keep warm (steady says the same)
	}
	p.st.LastSwitchTime = p.time()
	p.st.PreviewRevision, p.st.PreviewStartedAt, p.st.PreviewReadyAt, p.st.PromotionReadyAt = "", nil, nil, nil
	p.st.ScaleUpStartedAt, p.st.PreviewDigests = nil, nil
	p.record(rev, v1.OutcomePromoted, p.time())
	p.st.History[0].Digests = digests
	p.st.PostPromotionRevision = ""
	if !skipChecks && p.spec.Strategy.PostPromotion != nil {
		p.st.PostPromotionRevision = rev
		if len(p.spec.Strategy.PostPromotion.Metrics) == 0 { // metric checks start in steady
			p.plan.Jobs = append(p.plan.Jobs, checkJob(p.site, p.spec.Strategy.PostPromotion, rev, color, PostPromotion, p.now))
		}
	}
	p.noteServed(rev, from)
	switch {
	case from != "" && from == p.st.AbortedRevision:
		// The live revision was aborted (by a person or a failed
		// post-promotion check) and traffic goes back.
		p.record(from, v1.OutcomeRolledBack, nil)
		p.plan.Ended = append(p.plan.Ended, v1.OutcomeRolledBack)
	default:
		p.plan.Ended = append(p.plan.Ended, v1.OutcomePromoted)
	}
	if from == "" {
		p.event(false, v1.EventAvailable, fmt.Sprintf("revision %s is available on %s and takes traffic", rev, color))
	} else {
		p.event(false, v1.EventSwitched, fmt.Sprintf("traffic switched from %s (%s) to %s (%s)", color.Other(), from, color, rev))
		p.plan.Switched = true
		p.wakeAt(p.now.Add(p.scaleDownDelay()))
	}
	p.setSteadyPhase(rev)
}
