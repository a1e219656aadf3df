package bluegreen

import (
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1 "github.com/understudy-dev/understudy/api/v1alpha1"
)

// Plan is what the controller should make true next.
type Plan struct {
	// Deployments lists the colors whose Deployment must be created or
	// changed; a color not listed is left exactly as it is.
	Deployments []DeploymentIntent
	// Active and Preview are the Services' selectors; nil leaves a Service
	// alone (it is not created before the first revision is available).
	Active, Preview *ServiceIntent
	// Jobs are check Jobs that must exist.
	Jobs []*batchv1.Job
	// Revisions are pod templates to store as ControllerRevisions;
	// DropRevisions, stored ones (Observed.Templates) to delete.
	Revisions     map[string]*corev1.PodTemplateSpec
	DropRevisions []string
	// RestartedAt goes on every Deployment's pod template as an annotation.
	RestartedAt string
	Status      v1.SiteDeploymentStatus
	Events      []Event
	// Ended are the releases this decision ended, as history records
	// them (a switch back from an aborted live revision: RolledBack);
	// metrics count these.
	Ended []v1.RevisionOutcome
	// Switched: the decision switches traffic from one color to the
	// other.
	Switched bool
	// DatabaseSteps are the operations on the site's databases to run, in
	// order, before any object is written.
	DatabaseSteps []DatabaseStep
	// SwitchSteps are the operations on the site's databases to run, in
	// order, right before the objects are written (after the Secrets and
	// Job deletions): a replicated cutover's freeze and catch-up, so the
	// write freeze holds nothing but them and the switch. A failed one
	// writes no object.
	SwitchSteps []DatabaseStep
	// AfterSwitchSteps are the operations on the site's databases to run,
	// in order, after the Services were written.
	AfterSwitchSteps []DatabaseStep
	// DeleteJobs are Jobs to delete with their pods: migration Jobs (and
	// their Secrets) of cancelled releases, check Jobs of an earlier
	// release of the same revision.
	DeleteJobs []string
	// Resolve asks the controller for the digests of a new candidate's
	// tags; it decides again with Observed.Resolved (resolve.go).
	Resolve *ResolveRequest
	// RequeueAfter is when a timer (soak, scale-down, deadline) runs out,
	// or DatabaseRecheck after database steps; 0: none.
	RequeueAfter time.Duration
}

// Event is a transition worth telling a person about.
type Event struct {
	Warning bool
	Reason  string
	Note    string
}

type planner struct {
	in    Observed
	site  *v1.SiteDeployment
	spec  *v1.SiteDeploymentSpec
	st    *v1.SiteDeploymentStatus
	plan  Plan
	now   time.Time
	wakes []time.Time
	// phase and message are decided by the step that acts last; reason,
	// when set, is the conditions' reason.
	phase   v1.SiteDeploymentPhase
	message string
	reason  string
	// analysed are the kinds of analysis a step looked at (endAnalyses).
	analysed []v1.AnalysisKind
	// group is the site's release group (group.go); nil without one.
	group *groupRun
}

// Decide returns the next plan for what was observed.
func Decide(in Observed) Plan {
	p := &planner{in: in, site: in.Site, spec: &in.Site.Spec, now: in.Now}
	p.st = in.Site.Status.DeepCopy()
	p.plan.Revisions = map[string]*corev1.PodTemplateSpec{}
	p.run()
	p.finish()
	return p.plan
}

func (p *planner) run() {
	current := SiteRevision(p.spec)
	p.st.Database = DatabaseStatus(p.site)
	p.forgetGate(current)
	if p.st.CurrentRevision != current {
		// A new spec.template ends an abort of another revision.
		if p.st.AbortedRevision != current {
			p.clearAbort()
		}
		p.st.CurrentRevision = current
	}
	p.newAttempt(current)
	p.plan.Revisions[current] = &p.spec.Template
	p.plan.RestartedAt = p.site.Annotations[v1.AnnotationRestartedAt]
	p.st.RestartedAt = p.plan.RestartedAt

	if p.spec.Paused {
		p.plan.RestartedAt = ""
		p.st.RestartedAt = p.site.Status.RestartedAt
		p.set(v1.PhasePaused, "spec.paused is true: no scaling, no switching")
		return
	}
	if d := p.st.Database; d != nil && d.ActiveName == "" && !p.dbFirst() {
		return
	}
	activeColor, activeRev := servedBy(p.in.ActiveService)
	if activeColor == "" {
		p.firstRelease(current)
		return
	}
	// A switch whose status write was lost (a restart) is caught up first.
	p.dbSwitched(p.st.ActiveColor, activeColor)
	p.st.ActiveColor, p.st.ActiveRevision = activeColor, activeRev
	p.answerActions(current, activeRev)
	p.joinGroup(current, activeRev)
	// A failed check changes the target; decide again (bounded).
	for i := 0; i < 3; i++ {
		target, rollback := p.target(current, activeRev)
		var again, held bool
		switch {
		case target == activeRev:
			again = p.steady(activeColor, activeRev, current)
		case !rollback:
			if held, again = p.awaitingUpstream(activeColor, activeRev, target); held {
				break
			}
			fallthrough
		default:
			again = p.release(activeColor, activeRev, target, rollback)
		}
		if !again {
			return
		}
	}
}

// target is the revision the active Service should serve. rollback is true
// when it is a previous revision brought back because the current one was
// aborted: it is switched to as soon as it is available, without checks.
func (p *planner) target(current, activeRev string) (rev string, rollback bool) {
	if p.st.AbortedRevision != current {
		return current, false
	}
	if activeRev == current {
		if prev := p.rollbackTarget(current); prev != "" {
			return prev, true
		}
	}
	return activeRev, false
}

// abort rejects a revision; the next decision scales it down or rolls
// back. message says why and where to look; it is the status message until
// a rollback finished (abortedMessage).
func (p *planner) abort(rev, reason, message string) {
	p.st.AbortedRevision, p.st.AbortReason, p.st.AbortMessage = rev, reason, message
	p.st.AbortedAttempt = Attempt(p.spec)
	outcome := v1.OutcomeFailed
	if reason == v1.ReasonAborted {
		outcome = v1.OutcomeAborted
	}
	p.record(rev, outcome, nil)
	p.plan.Ended = append(p.plan.Ended, outcome)
	p.rejectServed(rev, reason)
	p.withdrawApproval(rev)
	p.event(true, reason, message)
	p.message = message
}

func (p *planner) set(phase v1.SiteDeploymentPhase, message string) {
	p.phase, p.message = phase, message
}

func (p *planner) event(warning bool, reason, note string) {
	p.plan.Events = append(p.plan.Events, Event{Warning: warning, Reason: reason, Note: note})
}

func (p *planner) wakeAt(t time.Time) { p.wakes = append(p.wakes, t) }

func (p *planner) deploy(i DeploymentIntent) { p.plan.Deployments = append(p.plan.Deployments, i) }

func (p *planner) templateOf(rev string) *corev1.PodTemplateSpec {
	if rev == p.st.CurrentRevision {
		return &p.spec.Template
	}
	return p.in.Templates[rev]
}

func (p *planner) time() *metav1.Time { t := metav1.NewTime(p.now); return &t }

// progressDeadline, scaleDownDelay and autoPromoteAfter read the strategy
// with the API's defaults, for specs that did not pass the API server.
func (p *planner) progressDeadline() time.Duration {
	return durationOr(p.spec.Strategy.ProgressDeadline, 10*time.Minute)
}

func (p *planner) scaleDownDelay() time.Duration {
	return durationOr(p.spec.Strategy.ScaleDownDelay, 10*time.Minute)
}

func (p *planner) autoPromoteAfter() time.Duration {
	return durationOr(p.spec.Strategy.AutoPromoteAfter, 0)
}

func durationOr(d *metav1.Duration, def time.Duration) time.Duration {
	if d == nil {
		return def
	}
	return d.Duration
}
