package bluegreen

import (
	"fmt"
	"time"

	batchv1 "k8s.io/api/batch/v1"

	v1 "github.com/understudy-dev/understudy/api/v1alpha1"
)

// steady runs when the active Service already serves the target: it
// resizes the active color, runs the post-promotion check, and scales the
// idle color down once it is no longer needed warm.
func (p *planner) steady(activeColor v1.Color, activeRev, current string) (again bool) {
	p.keepActive(activeColor, activeRev)
	p.previewSelectsActive(activeColor, activeRev)
	p.dbSteady(activeColor)
	idle := activeColor.Other()
	if p.st.PreviewRevision != "" && p.st.PreviewRevision != p.st.AbortedRevision {
		p.record(p.st.PreviewRevision, v1.OutcomeSuperseded, nil)
	}
	p.st.PreviewRevision, p.st.PreviewStartedAt, p.st.PreviewReadyAt, p.st.PromotionReadyAt = "", nil, nil, nil
	p.st.ScaleUpStartedAt = nil

	if p.st.PostPromotionRevision == activeRev {
		passed, failed := p.check(PostPromotion, p.spec.Strategy.PostPromotion, activeRev, activeColor, activeColor, activeRev)
		if failed && p.rollbackTarget(activeRev) != "" {
			return true // the next decision switches back
		}
		if failed {
			// Nothing to switch back to: it keeps serving, and its check
			// is not run (nor reported) again.
			p.st.PostPromotionRevision = ""
		}
		if passed {
			p.st.PostPromotionRevision = ""
			p.verifyServed(activeRev)
		}
	} else {
		p.st.PostPromotionRevision = ""
	}
	// previewColor names the warm old color, and no color once it is down.
	p.st.PreviewColor = ""
	if p.scaleDownIdle(idle) {
		p.st.PreviewColor = idle
	}
	p.setSteadyPhase(activeRev)
	return false
}

// scaleDownIdle scales the idle color to zero once it is not kept warm:
// at once for an aborted revision, else after scaleDownDelay from the
// switch and after the post-promotion check passed. It tells whether the
// idle color still has pods.
func (p *planner) scaleDownIdle(idle v1.Color) (warm bool) {
	d := p.in.Deployments[idle]
	if d == nil || d.Spec.Replicas == nil || *d.Spec.Replicas == 0 {
		return false
	}
	rev := revisionOf(d)
	if rev != p.st.AbortedRevision {
		if p.st.PostPromotionRevision != "" {
			return true
		}
		if p.st.LastSwitchTime != nil {
			until := p.st.LastSwitchTime.Add(p.scaleDownDelay())
			if p.now.Before(until) {
				p.wakeAt(until)
				return true
			}
		}
	}
	p.deploy(DeploymentIntent{Color: idle, Revision: rev, Replicas: 0})
	p.event(false, v1.EventScaledDown, fmt.Sprintf("scaled %s (%s) down to 0", idle, rev))
	return false
}

// fromEarlierRelease tells whether a check Job was created before the
// release it would now judge began: before the candidate started for a
// pre-promotion check, before the switch for a post-promotion one.
func (p *planner) fromEarlierRelease(job *batchv1.Job, kind string) bool {
	since := p.st.PreviewStartedAt
	if kind == PostPromotion {
		since = p.st.LastSwitchTime
	}
	return since != nil && jobStarted(job).Before(since.Truncate(time.Second))
}

// setSteadyPhase names the phase once the active Service serves rev.
func (p *planner) setSteadyPhase(rev string) {
	switch {
	case p.st.AbortedRevision != "" && p.st.AbortedRevision == p.st.CurrentRevision:
		phase := v1.PhaseDegraded
		if p.st.AbortReason == v1.ReasonAborted {
			phase = v1.PhaseAborted
		}
		p.set(phase, p.abortedMessage(rev))
	case p.st.PostPromotionRevision != "":
		p.analysisRunning(PostPromotion, rev, v1.PhasePromoting)
	case !p.runsReady(p.st.ActiveColor, rev, p.spec.DesiredReplicas(), "", nil):
		// Resizing, restarting, or pods that stopped being ready: traffic
		// stays where it is, but the site is not what its spec asks for.
		p.set(v1.PhaseProgressing, fmt.Sprintf("revision %s serves traffic; %s has %d/%d replicas available",
			rev, p.st.ActiveColor, p.available(p.st.ActiveColor), p.spec.DesiredReplicas()))
	case p.spec.DesiredReplicas() == 0:
		p.set(v1.PhaseHealthy, fmt.Sprintf("revision %s is selected; spec.replicas is 0, so no pod serves traffic", rev))
	default:
		p.set(v1.PhaseHealthy, fmt.Sprintf("revision %s serves traffic", rev))
	}
}

// check runs one check Job against rev. It reports passed when there is no
// check or its Job completed, and failed (after aborting rev) when the Job
// failed or ran past its timeout.
func (p *planner) check(kind string, spec *v1.CheckSpec, rev string, color, activeColor v1.Color, activeRev string) (passed, failed bool) {
	if spec == nil {
		return true, false
	}
	if len(spec.Metrics) > 0 {
		return p.analyse(kind, spec, rev, color, activeColor, activeRev)
	}
	name := CheckJobName(p.site.Name, rev, kind)
	job := p.in.Jobs[name]
	if job != nil && p.fromEarlierRelease(job, kind) {
		// A revision released again (after an abort) is checked again.
		p.plan.DeleteJobs = append(p.plan.DeleteJobs, name)
		return false, false
	}
	state, why := checkState(job)
	reason := v1.ReasonPrePromotionFailed
	if kind == PostPromotion {
		reason = v1.ReasonPostPromotionFailed
	}
	switch state {
	case jobMissing:
		p.plan.Jobs = append(p.plan.Jobs, checkJob(p.site, spec, rev, color, kind, p.now))
		return false, false
	case jobSucceeded:
		return true, false
	case jobFailed:
		why = p.jobFailure(name, why)
		msg := fmt.Sprintf("%s-promotion check %s of revision %s failed (%s)", kind, name, rev, why)
		if kind == PrePromotion {
			msg += fmt.Sprintf("; traffic stays on %s (%s)", activeColor, activeRev)
		}
		p.abort(rev, reason, msg)
		if kind == PostPromotion {
			p.message = msg + "; switching back"
		}
		return false, true
	}
	timeout := durationOr(spec.Timeout, 5*time.Minute)
	deadline := jobStarted(job).Add(timeout)
	if !p.now.Before(deadline) {
		p.abort(rev, v1.ReasonCheckTimedOut, fmt.Sprintf("%s-promotion check %s of revision %s did not finish within %s (%s)", kind, name, rev, timeout, p.jobLogs(name)))
		return false, true
	}
	p.wakeAt(deadline)
	return false, false
}
