package metrics

import (
	"slices"
	"time"

	v1 "github.com/understudy-dev/understudy/api/v1alpha1"
)

// SiteWrite is what one reconcile of a SiteDeployment wrote.
type SiteWrite struct {
	Namespace, Name string
	// Before and After are the status before and after the write.
	Before, After *v1.SiteDeploymentStatus
	// Ended are the releases the decision ended (bluegreen.Plan.Ended);
	// Switched, whether it switched traffic from one color to the other.
	Ended    []v1.RevisionOutcome
	Switched bool
	// Started is when the reconcile began and Written when its writes
	// were done, by the wall clock; Now is the decision's clock, the one
	// status times are in.
	Started, Written, Now time.Time
}

// outcomeLabels are the history's outcomes as the releases counter's
// label says them.
var outcomeLabels = map[v1.RevisionOutcome]string{
	v1.OutcomePromoted:   OutcomePromoted,
	v1.OutcomeAborted:    OutcomeAborted,
	v1.OutcomeRolledBack: OutcomeRolledBack,
	v1.OutcomeSuperseded: OutcomeSuperseded,
	v1.OutcomeFailed:     OutcomeFailed,
}

// ObserveSite records a reconcile's write: the info series follows the
// phase and active color; each release the decision ended counts once,
// with the outcome the decision gave it; every switch observes the switch
// latency, and a switch to a new revision the release duration and, for a
// schema-changing release, the write freeze.
func (m *Metrics) ObserveSite(w SiteWrite) {
	m.sites.setInfo(w.Namespace, w.Name, string(w.After.Phase), string(w.After.ActiveColor))
	for _, o := range w.Ended {
		m.sites.countRelease(w.Namespace, w.Name, outcomeLabels[o])
	}
	if !w.Switched {
		return
	}
	m.switchLatency.WithLabelValues(w.Namespace).Observe(w.Written.Sub(w.Started).Seconds())
	if slices.Contains(w.Ended, v1.OutcomeRolledBack) {
		return // no release ends here: status still has the aborted one's times
	}
	if t := w.Before.PreviewStartedAt; t != nil {
		m.releaseDuration.WithLabelValues(w.Namespace).Observe(w.Now.Sub(t.Time).Seconds())
	}
	if frozen, ok := freezeSeconds(w); ok {
		m.writeFreeze.WithLabelValues(w.Namespace).Observe(frozen)
	}
}

// freezeSeconds is how long the live database refused writes until the
// switch w wrote, when it wrote one onto a new database: as the database
// server measured it right after the switch (status.database.
// lastFreezeDuration, to the millisecond), else from frozenSince, which
// the API server keeps to the second only (reading up to a second high).
// A replicated cutover freezes in the decision that switches: its status
// never showed frozenSince before the switch, only the measured freeze.
func freezeSeconds(w SiteWrite) (float64, bool) {
	before, after := w.Before.Database, w.After.Database
	if before == nil {
		return 0, false
	}
	if after != nil && after.LastFreezeDuration != nil && (before.FrozenSince != nil || after.ActiveName != before.ActiveName) {
		return after.LastFreezeDuration.Seconds(), true
	}
	if before.FrozenSince != nil {
		return w.Now.Sub(before.FrozenSince.Time).Seconds(), true
	}
	return 0, false
}

// ForgetSite removes the series of a deleted SiteDeployment (the
// namespace's histograms keep what it observed).
func (m *Metrics) ForgetSite(namespace, name string) { m.sites.forget(namespace, name) }
