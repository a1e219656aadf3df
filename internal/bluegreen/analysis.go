package bluegreen

import (
	"fmt"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	v1 "github.com/understudy-dev/understudy/api/v1alpha1"
)

// Metric checks (spec.strategy.{prePromotion,soak,postPromotion}.metrics)
// run as analyses: the planner starts a run in status.analysis, the
// controller takes the measurements DueMeasurements names (I/O, before
// Decide) and hands them back in Observed.Measurements, and the planner
// records them and judges the run with the checks' limits.

// Soak is the kind of the metric checks measured during autoPromoteAfter
// (PrePromotion and PostPromotion name the other two).
const Soak = "soak"

// analysisKick is how soon a new run's first measurement is asked for:
// at once, past the status write that starts the run.
const analysisKick = 100 * time.Millisecond

// Measured is one measurement the controller took of a running analysis.
type Measured struct {
	Kind     v1.AnalysisKind
	Revision string
	// SpecHash is the run's, so a measurement of a replaced run is dropped.
	SpecHash string
	Check    string
	v1.Measurement
}

// DueMeasurement is a measurement the controller should take now.
type DueMeasurement struct {
	Kind     v1.AnalysisKind
	Revision string
	SpecHash string
	Check    v1.MetricCheck
	// Vars are the values of the variables the query or URL may name:
	// namespace, site, color, revision.
	Vars map[string]string
}

// DueMeasurements are the measurements of the site's running analyses
// whose interval has passed at now (the first one of a check at once).
func DueMeasurements(site *v1.SiteDeployment, now time.Time) []DueMeasurement {
	var due []DueMeasurement
	for _, run := range site.Status.Analysis {
		spec := checkSpecOf(&site.Spec, run.Kind)
		if run.Phase != v1.AnalysisRunning || spec == nil || hashOf(spec) != run.SpecHash {
			continue
		}
		for _, mc := range spec.Metrics {
			cs := checkStatusOf(&run, mc.Name)
			if cs != nil && cs.Phase != v1.AnalysisRunning {
				continue
			}
			if at, ok := nextMeasurement(cs, mc); ok && !now.Before(at) {
				due = append(due, DueMeasurement{Kind: run.Kind, Revision: run.Revision, SpecHash: run.SpecHash, Check: mc,
					Vars: map[string]string{"namespace": site.Namespace, "site": site.Name, "color": string(run.Color), "revision": run.Revision}})
			}
		}
	}
	return due
}

// nextMeasurement is when a check's next measurement is due: at once for
// the first; false when it took its count.
func nextMeasurement(cs *v1.MetricCheckStatus, mc v1.MetricCheck) (time.Time, bool) {
	if cs == nil || len(cs.Measurements) == 0 {
		return time.Time{}, true
	}
	if cs.Successful+cs.Failed+cs.Inconclusive >= ptr.Deref(mc.Count, 1) {
		return time.Time{}, false
	}
	// Status keeps times to the second: a shorter interval measures once a second.
	return cs.Measurements[len(cs.Measurements)-1].Time.Add(max(durationOr(mc.Interval, 30*time.Second), time.Second)), true
}

func checkSpecOf(spec *v1.SiteDeploymentSpec, kind v1.AnalysisKind) *v1.CheckSpec {
	var c *v1.CheckSpec
	switch kind {
	case v1.AnalysisPrePromotion:
		c = spec.Strategy.PrePromotion
	case v1.AnalysisSoak:
		if s := spec.Strategy.Soak; s != nil {
			c = &v1.CheckSpec{Metrics: s.Metrics}
		}
	case v1.AnalysisPostPromotion:
		c = spec.Strategy.PostPromotion
	}
	if c == nil || len(c.Metrics) == 0 {
		return nil
	}
	return c
}

func analysisKindOf(kind string) v1.AnalysisKind {
	switch kind {
	case PrePromotion:
		return v1.AnalysisPrePromotion
	case Soak:
		return v1.AnalysisSoak
	}
	return v1.AnalysisPostPromotion
}

func checkStatusOf(run *v1.AnalysisStatus, name string) *v1.MetricCheckStatus {
	for i := range run.Checks {
		if run.Checks[i].Name == name {
			return &run.Checks[i]
		}
	}
	return nil
}

// analysisOf is the run of a kind in status; nil when there is none.
func (p *planner) analysisOf(kind v1.AnalysisKind) *v1.AnalysisStatus {
	for i := range p.st.Analysis {
		if p.st.Analysis[i].Kind == kind {
			return &p.st.Analysis[i]
		}
	}
	return nil
}

// analyse runs spec's metric checks against rev on color, as check runs a
// Job: passed once every check passed, failed (after aborting rev) once
// one failed. An inconclusive run holds (neither); a person approves the
// candidate (pre-promotion), aborts it, or changes the check.
func (p *planner) analyse(kind string, spec *v1.CheckSpec, rev string, color, activeColor v1.Color, activeRev string) (passed, failed bool) {
	run := p.startAnalysis(analysisKindOf(kind), spec, rev, color)
	p.recordMeasurements(run)
	was := run.Phase
	judgeAnalysis(run, spec.Metrics)
	switch run.Phase {
	case v1.AnalysisSuccessful:
		if was != run.Phase {
			p.event(false, v1.EventAnalysisSuccessful, fmt.Sprintf("%s of revision %s passed: %s", kindWords(kind), rev, run.Message))
		}
		return true, false
	case v1.AnalysisInconclusive:
		if was != run.Phase {
			p.event(true, v1.ReasonAnalysisInconclusive, fmt.Sprintf("%s of revision %s is inconclusive: %s", kindWords(kind), rev, run.Message))
		}
		return kind == PrePromotion && p.approved(rev), false
	case v1.AnalysisFailed:
		msg := fmt.Sprintf("%s of revision %s failed: %s", kindWords(kind), rev, run.Message)
		reason := v1.ReasonPostPromotionFailed
		switch kind {
		case PrePromotion:
			reason = v1.ReasonPrePromotionFailed
			msg += fmt.Sprintf("; traffic stays on %s (%s)", activeColor, activeRev)
		case Soak:
			reason = v1.ReasonSoakFailed
			msg += fmt.Sprintf("; traffic stays on %s (%s)", activeColor, activeRev)
		}
		p.abort(rev, reason, msg)
		if kind == PostPromotion {
			p.message = msg + "; switching back"
		}
		return false, true
	}
	p.wakeAt(nextWake(run, spec.Metrics, p.now))
	return false, false
}

// startAnalysis returns the run of kind for rev, starting a new one when
// there is none, it is another revision's, the check changed, or it began
// before this release of rev did (a revision released again is analysed
// again).
func (p *planner) startAnalysis(kind v1.AnalysisKind, spec *v1.CheckSpec, rev string, color v1.Color) *v1.AnalysisStatus {
	p.analysed = append(p.analysed, kind)
	since := p.st.PreviewStartedAt
	if kind == v1.AnalysisPostPromotion {
		since = p.st.LastSwitchTime
	}
	if run := p.analysisOf(kind); run != nil && run.Revision == rev && run.SpecHash == hashOf(spec) &&
		(since == nil || !run.StartedAt.Before(&metav1.Time{Time: since.Truncate(time.Second)})) {
		return run
	}
	run := v1.AnalysisStatus{Kind: kind, Revision: rev, Color: color, SpecHash: hashOf(spec),
		StartedAt: metav1.NewTime(p.now.Truncate(time.Second)), Phase: v1.AnalysisRunning}
	for _, mc := range spec.Metrics {
		run.Checks = append(run.Checks, v1.MetricCheckStatus{Name: mc.Name, Phase: v1.AnalysisRunning})
	}
	if old := p.analysisOf(kind); old != nil {
		*old = run
	} else {
		p.st.Analysis = append(p.st.Analysis, run)
	}
	p.wakeAt(p.now.Add(analysisKick))
	return p.analysisOf(kind)
}

// recordMeasurements adds the measurements the controller took of run,
// keeping the latest MaxMeasurements of each check.
func (p *planner) recordMeasurements(run *v1.AnalysisStatus) {
	for _, m := range p.in.Measurements {
		if m.Kind != run.Kind || m.Revision != run.Revision || m.SpecHash != run.SpecHash {
			continue
		}
		cs := checkStatusOf(run, m.Check)
		if cs == nil || cs.Phase != v1.AnalysisRunning || m.Time.Before(&run.StartedAt) {
			continue
		}
		if n := len(cs.Measurements); n > 0 && !cs.Measurements[n-1].Time.Before(&m.Time) {
			continue // already recorded
		}
		switch m.Verdict {
		case v1.AnalysisSuccessful:
			cs.Successful++
		case v1.AnalysisFailed:
			cs.Failed++
		default:
			cs.Inconclusive++
		}
		cs.Measurements = append(cs.Measurements, m.Measurement)
		if n := len(cs.Measurements); n > v1.MaxMeasurements {
			cs.Measurements = cs.Measurements[n-v1.MaxMeasurements:]
		}
	}
}

// endAnalyses drops the runs left Running that no step looked at in this
// decision (their candidate was superseded, aborted or paused), so the
// controller stops measuring them.
func (p *planner) endAnalyses() {
	kept := p.st.Analysis[:0]
	for _, run := range p.st.Analysis {
		visited := false
		for _, k := range p.analysed {
			visited = visited || k == run.Kind
		}
		if run.Phase != v1.AnalysisRunning || visited {
			kept = append(kept, run)
		}
	}
	p.st.Analysis = kept
	if len(kept) == 0 {
		p.st.Analysis = nil
	}
}

// analysisRunning sets the phase of a release whose kind of check has not
// passed yet: the analysis' progress, or its hold when inconclusive.
func (p *planner) analysisRunning(kind string, rev string, phase v1.SiteDeploymentPhase) {
	run := p.analysisOf(analysisKindOf(kind))
	switch {
	case run == nil || run.Revision != rev || checkSpecOf(p.spec, run.Kind) == nil:
		p.set(phase, fmt.Sprintf("%s of %s running", kindWords(kind), rev))
	case run.Phase == v1.AnalysisInconclusive:
		then := "abort it with the " + v1.AnnotationAbort + " annotation, or fix the check (a changed check runs again)"
		if kind == PrePromotion {
			then = "approve it with the " + v1.AnnotationPromote + "=" + rev + " annotation to go on regardless, " + then
		} else if kind == PostPromotion {
			then = "the old color stays warm: abort it with the " + v1.AnnotationAbort + "=" + rev + " annotation to switch back, or fix the check (a changed check runs again)"
		}
		p.set(v1.PhaseAwaitingPromotion, fmt.Sprintf("%s of revision %s is inconclusive: %s; held: %s", kindWords(kind), rev, run.Message, then))
		p.reason = v1.ReasonAnalysisInconclusive
	default:
		p.set(phase, fmt.Sprintf("%s of %s running: %s", kindWords(kind), rev, run.Message))
	}
}

func kindWords(kind string) string {
	switch kind {
	case PrePromotion:
		return "pre-promotion check"
	case Soak:
		return "soak check"
	}
	return "post-promotion check"
}

// soakThenSwitch runs the soak's metric checks on the candidate at full
// size while it soaks (autoPromoteAfter), and switches once both are
// over; an approved candidate switches at once, as without them.
func (p *planner) soakThenSwitch(c *candidate, promoted bool) (candidateStage, bool) {
	if promoted || checkSpecOf(p.spec, v1.AnalysisSoak) == nil {
		p.soakAndSwitch(c, promoted)
		return stageFull, false
	}
	passed, failed := p.analyse(Soak, checkSpecOf(p.spec, v1.AnalysisSoak), c.target, c.idle, c.activeColor, c.activeRev)
	switch {
	case failed:
		return stageRejected, true
	case passed:
		p.soakAndSwitch(c, promoted)
		return stageFull, false
	}
	p.st.ScaleUpStartedAt = nil
	if p.st.PromotionReadyAt == nil {
		p.st.PromotionReadyAt = p.time()
	}
	p.analysisRunning(Soak, c.target, v1.PhasePromoting)
	return stageFull, false
}
