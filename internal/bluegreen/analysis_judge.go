package bluegreen

import (
	"fmt"
	"strings"
	"time"

	"k8s.io/utils/ptr"

	v1 "github.com/understudy-dev/understudy/api/v1alpha1"
)

// judgeAnalysis sets each check's phase from its counts and limits (Argo Rollouts'
// rules: more failures than failureLimit fails it, more inconclusive
// measurements than inconclusiveLimit makes it inconclusive, count
// measurements within both limits pass it), then the run's: failed when a
// check failed, else inconclusive when one was, else passed when all
// passed. Message names the checks that decided it.
func judgeAnalysis(run *v1.AnalysisStatus, checks []v1.MetricCheck) {
	if run.Phase != v1.AnalysisRunning {
		return
	}
	var failed, inconclusive, running []string
	for _, mc := range checks {
		cs := checkStatusOf(run, mc.Name)
		if cs == nil {
			continue
		}
		if cs.Phase == v1.AnalysisRunning {
			cs.Phase = checkPhase(cs, mc)
		}
		switch cs.Phase {
		case v1.AnalysisFailed:
			failed = append(failed, describeCheck(cs, mc, "failed", ptr.Deref(mc.FailureLimit, 0)))
		case v1.AnalysisInconclusive:
			inconclusive = append(inconclusive, describeCheck(cs, mc, "inconclusive", ptr.Deref(mc.InconclusiveLimit, 0)))
		case v1.AnalysisRunning:
			running = append(running, fmt.Sprintf("check %s %d/%d measurements%s", mc.Name,
				cs.Successful+cs.Failed+cs.Inconclusive, ptr.Deref(mc.Count, 1), latest(cs)))
		}
	}
	switch {
	case len(failed) > 0:
		run.Phase, run.Message = v1.AnalysisFailed, strings.Join(failed, "; ")
	case len(inconclusive) > 0:
		run.Phase, run.Message = v1.AnalysisInconclusive, strings.Join(inconclusive, "; ")
	case len(running) > 0:
		run.Message = strings.Join(running, "; ")
	default:
		run.Phase, run.Message = v1.AnalysisSuccessful, fmt.Sprintf("%d metric check(s) passed", len(checks))
	}
}

func checkPhase(cs *v1.MetricCheckStatus, mc v1.MetricCheck) v1.AnalysisPhase {
	switch {
	case cs.Failed > ptr.Deref(mc.FailureLimit, 0):
		return v1.AnalysisFailed
	case cs.Inconclusive > ptr.Deref(mc.InconclusiveLimit, 0):
		return v1.AnalysisInconclusive
	case cs.Successful+cs.Failed+cs.Inconclusive >= ptr.Deref(mc.Count, 1):
		return v1.AnalysisSuccessful
	}
	return v1.AnalysisRunning
}

// describeCheck says why a check failed or was inconclusive, with its
// latest measurement of that verdict.
func describeCheck(cs *v1.MetricCheckStatus, mc v1.MetricCheck, what string, limit int32) string {
	n := cs.Failed
	verdict := v1.AnalysisFailed
	if what == "inconclusive" {
		n, verdict = cs.Inconclusive, v1.AnalysisInconclusive
	}
	s := fmt.Sprintf("check %s: %d measurement(s) %s (limit %d)", mc.Name, n, what, limit)
	for i := len(cs.Measurements) - 1; i >= 0; i-- {
		m := cs.Measurements[i]
		if m.Verdict != verdict {
			continue
		}
		if m.Message != "" {
			s += ", latest: " + m.Message
		} else {
			s += fmt.Sprintf(", latest value %s does not meet %s", m.Value, mc.SuccessCondition)
		}
		break
	}
	return s
}

func latest(cs *v1.MetricCheckStatus) string {
	if n := len(cs.Measurements); n > 0 {
		m := cs.Measurements[n-1]
		return fmt.Sprintf(", latest %s: %s", m.Value, m.Verdict)
	}
	return ""
}

// nextWake is when the run's next measurement is due.
func nextWake(run *v1.AnalysisStatus, checks []v1.MetricCheck, now time.Time) time.Time {
	next := time.Time{}
	for _, mc := range checks {
		cs := checkStatusOf(run, mc.Name)
		if cs == nil || cs.Phase != v1.AnalysisRunning {
			continue
		}
		at, ok := nextMeasurement(cs, mc)
		if !ok {
			continue
		}
		if !at.After(now) {
			at = now.Add(analysisKick)
		}
		if next.IsZero() || at.Before(next) {
			next = at
		}
	}
	return next
}
