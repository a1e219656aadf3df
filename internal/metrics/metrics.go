// Package metrics holds understudy's own Prometheus metrics, registered in
// controller-runtime's registry so they are served on the manager's metrics
// endpoint beside the controller-runtime ones.
//
// Every metric is derived from what a reconcile wrote: the status before and
// after the write and the events of the decision. Labels are bounded:
// namespace, name, outcome, phase, color, result; never a revision hash or
// an image, which would make a new series per release. The SiteDeployment
// histograms are per namespace, not per site: a site's releases are too few
// for a distribution of their own, and at thousands of sites per-site
// buckets would be most of the manager's memory and of the scrape.
package metrics

import (
	"github.com/prometheus/client_golang/prometheus"
)

// Release outcomes counted by understudy_sitedeployment_releases_total.
const (
	OutcomePromoted   = "promoted"
	OutcomeAborted    = "aborted"
	OutcomeRolledBack = "rolled_back"
	OutcomeSuperseded = "superseded"
	OutcomeFailed     = "failed"
)

// Metrics are understudy's collectors. One set per process: New registers
// them, and registering twice in one registry fails.
type Metrics struct {
	sites           *siteSeries
	releaseDuration *prometheus.HistogramVec
	switchLatency   *prometheus.HistogramVec
	writeFreeze     *prometheus.HistogramVec

	refreshCreated     *prometheus.GaugeVec
	refreshLastSuccess *prometheus.GaugeVec
	refreshDataTaken   *prometheus.GaugeVec
	refreshDuration    *prometheus.HistogramVec
	refreshes          *prometheus.CounterVec
	refreshFailures    *prometheus.CounterVec
}

// New creates the collectors and registers them with reg.
func New(reg prometheus.Registerer) (*Metrics, error) {
	site := []string{"namespace", "name"}
	namespace := []string{"namespace"}
	m := &Metrics{
		sites: newSiteSeries(),
		releaseDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "understudy_sitedeployment_release_duration_seconds",
			Help:    "From the candidate's start to the switch of traffic to it.",
			Buckets: prometheus.ExponentialBuckets(1, 2, 14), // 1 s to about 2.3 h
		}, namespace),
		switchLatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "understudy_sitedeployment_switch_latency_seconds",
			Help:    "From the start of the reconcile that found the candidate fully available to the selector flip written.",
			Buckets: prometheus.ExponentialBuckets(0.005, 2, 12), // 5 ms to about 10 s
		}, namespace),
		writeFreeze: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "understudy_sitedeployment_write_freeze_seconds",
			Help:    "How long a schema-changing release refused writes: from the freeze to the switch.",
			Buckets: prometheus.ExponentialBuckets(1, 2, 14),
		}, namespace),
		refreshCreated: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "understudy_databaserefresh_created_timestamp_seconds",
			Help: "When the DatabaseRefresh was created (Unix time): how old dev's data counts as before a first refresh took any.",
		}, site),
		refreshLastSuccess: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "understudy_databaserefresh_last_success_timestamp_seconds",
			Help: "When the last successful refresh finished (Unix time).",
		}, site),
		refreshDataTaken: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "understudy_databaserefresh_data_taken_timestamp_seconds",
			Help: "When the data now in the dev database was taken from production (Unix time).",
		}, site),
		refreshDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "understudy_databaserefresh_duration_seconds",
			Help:    "How long a refresh Job ran, by result.",
			Buckets: prometheus.ExponentialBuckets(1, 2, 14),
		}, append(site, "result")),
		refreshes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "understudy_databaserefresh_refreshes_total",
			Help: "Refreshes that ended, by result (Succeeded, Failed).",
		}, append(site, "result")),
		refreshFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "understudy_databaserefresh_failures_total",
			Help: "Failed refreshes, by the step they failed in (validate, connect, lock, source, restore, sanitize, analyze, swap, job).",
		}, append(site, "step")),
	}
	for _, c := range m.collectors() {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

func (m *Metrics) collectors() []prometheus.Collector {
	return []prometheus.Collector{m.sites, m.releaseDuration, m.switchLatency, m.writeFreeze,
		m.refreshCreated, m.refreshLastSuccess, m.refreshDataTaken, m.refreshDuration, m.refreshes, m.refreshFailures}
}

type partialDeleter interface {
	DeletePartialMatch(prometheus.Labels) int
}

// deleteSeries removes every series of one object from vecs.
func deleteSeries(namespace, name string, vecs ...partialDeleter) {
	for _, v := range vecs {
		v.DeletePartialMatch(prometheus.Labels{"namespace": namespace, "name": name})
	}
}
