package metrics

import (
	"time"

	v1 "github.com/understudy-dev/understudy/api/v1alpha1"
)

// SiteWrite is what one reconcile of a SiteDeployment wrote.
type SiteWrite struct {
	Namespace, Name string
	// Before and After are the status before and after the write.
	Before, After *v1.SiteDeploymentStatus
	// Reasons are the reasons of the events the decision emitted.
	Reasons []string
	// Started is when the reconcile began and Written when its writes
	// were done, by the wall clock; Now is the decision's clock, the one
	// status times are in.
	Started, Written, Now time.Time
}

// failureReasons are the reasons a release fails with, as events.
var failureReasons = map[string]bool{
	v1.ReasonPrePromotionFailed:       true,
	v1.ReasonPostPromotionFailed:      true,
	v1.ReasonCheckTimedOut:            true,
	v1.ReasonProgressDeadlineExceeded: true,
	v1.ReasonCopyFailed:               true,
	v1.ReasonReplicationUnsupported:   true,
	v1.ReasonCatchUpFailed:            true,
	v1.ReasonMigrationFailed:          true,
	v1.ReasonMigrationTimedOut:        true,
}

// ObserveSite records a reconcile's write: the info series follows the
// phase and active color; each ending of a release counts once, as the
// decision's event says it ended; every switch observes the switch
// latency, and a switch to a new revision the release duration and, for a
// schema-changing release, the write freeze.
func (m *Metrics) ObserveSite(w SiteWrite) {
	m.sites.setInfo(w.Namespace, w.Name, string(w.After.Phase), string(w.After.ActiveColor))
	for _, reason := range w.Reasons {
		outcome := releaseOutcome(reason, w.Before, w.After)
		if outcome != "" {
			m.sites.countRelease(w.Namespace, w.Name, outcome)
		}
		if reason != v1.EventSwitched {
			continue
		}
		m.switchLatency.WithLabelValues(w.Namespace).Observe(w.Written.Sub(w.Started).Seconds())
		if outcome == OutcomeRolledBack {
			continue // no release ends here: status still has the aborted one's times
		}
		if t := w.Before.PreviewStartedAt; t != nil {
			m.releaseDuration.WithLabelValues(w.Namespace).Observe(w.Now.Sub(t.Time).Seconds())
		}
		if frozen, ok := freezeSeconds(w); ok {
			m.writeFreeze.WithLabelValues(w.Namespace).Observe(frozen)
		}
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

// releaseOutcome is the outcome an event of the given reason ends a
// release with, or "" when it ends none. A switch away from an active
// revision the same write (or an earlier one) marked aborted is a rollback,
// whether a person aborted it or its post-promotion check failed; every
// other switch, and a first revision becoming available, is a promotion.
func releaseOutcome(reason string, before, after *v1.SiteDeploymentStatus) string {
	switch {
	case reason == v1.EventSwitched && after.AbortedRevision != "" && after.AbortedRevision == before.ActiveRevision:
		return OutcomeRolledBack
	case reason == v1.EventSwitched, reason == v1.EventAvailable:
		return OutcomePromoted
	case reason == v1.EventSuperseded:
		return OutcomeSuperseded
	case reason == v1.ReasonAborted:
		return OutcomeAborted
	case failureReasons[reason]:
		return OutcomeFailed
	}
	return ""
}

// ForgetSite removes the series of a deleted SiteDeployment (the
// namespace's histograms keep what it observed).
func (m *Metrics) ForgetSite(namespace, name string) { m.sites.forget(namespace, name) }
