package metrics

import (
	"time"

	v1 "github.com/understudy-dev/understudy/api/v1alpha1"
)

// ObserveRefreshCreated records when a DatabaseRefresh was created, on
// every reconcile, before anything can fail: an alert on dev's data age
// then has a series for a refresh that never took any data (failing since
// it was created, or its schedule never ran), and it is back at once after
// the manager restarts.
func (m *Metrics) ObserveRefreshCreated(namespace, name string, created time.Time) {
	m.refreshCreated.WithLabelValues(namespace, name).Set(float64(created.Unix()))
}

// ObserveRefresh records a DatabaseRefresh's status after a write: the
// last-success and data-taken gauges follow status, and a refresh the
// status records for the first time (a new status.lastRefresh) is counted
// and its duration observed.
func (m *Metrics) ObserveRefresh(namespace, name string, before, after *v1.DatabaseRefreshStatus) {
	if t := after.LastSuccessfulTime; t != nil {
		m.refreshLastSuccess.WithLabelValues(namespace, name).Set(float64(t.Unix()))
	}
	if t := after.DataTakenAt; t != nil {
		m.refreshDataTaken.WithLabelValues(namespace, name).Set(float64(t.Unix()))
	}
	last := after.LastRefresh
	if last == nil || last.Result == "" || (before.LastRefresh != nil && before.LastRefresh.Job == last.Job && before.LastRefresh.Result == last.Result) {
		return
	}
	result := string(last.Result)
	m.refreshes.WithLabelValues(namespace, name, result).Inc()
	if last.Result == v1.RefreshFailed {
		m.refreshFailures.WithLabelValues(namespace, name, last.FailedStep).Inc()
	}
	if last.StartedAt != nil && last.FinishedAt != nil {
		m.refreshDuration.WithLabelValues(namespace, name, result).Observe(last.FinishedAt.Sub(last.StartedAt.Time).Seconds())
	}
}

// ForgetRefresh removes the series of a deleted DatabaseRefresh.
func (m *Metrics) ForgetRefresh(namespace, name string) {
	deleteSeries(namespace, name, m.refreshCreated, m.refreshLastSuccess, m.refreshDataTaken, m.refreshDuration, m.refreshes, m.refreshFailures)
}
