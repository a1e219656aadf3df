package metrics

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// siteSeries are the two per-site series, understudy_sitedeployment_info
// and understudy_sitedeployment_releases_total, kept as plain values and
// made into metrics when scraped. A GaugeVec or CounterVec keeps each series
// as a metric object with its own label pairs, about 1 KB a series: at
// 3,000 sites the two were 6 MB of the manager's live heap, the largest
// part after the cache (docs/design/scale.md). A scrape builds the same
// metric objects either way.
type siteSeries struct {
	info, releases *prometheus.Desc

	mu    sync.Mutex
	sites map[key]*siteState
}

type key struct{ namespace, name string }

// siteState is what the series of one site say.
type siteState struct {
	phase, color string
	// released counts the releases that ended, by outcome (outcomes order).
	released [len(outcomes)]uint64
}

// outcomes are the values of the outcome label, in the order siteState
// counts them.
var outcomes = [...]string{OutcomePromoted, OutcomeAborted, OutcomeRolledBack, OutcomeSuperseded, OutcomeFailed}

func newSiteSeries() *siteSeries {
	return &siteSeries{
		info: prometheus.NewDesc("understudy_sitedeployment_info",
			"1 for each SiteDeployment, labelled with its phase and active color.",
			[]string{"namespace", "name", "phase", "active_color"}, nil),
		releases: prometheus.NewDesc("understudy_sitedeployment_releases_total",
			"Releases that ended, by outcome: promoted, aborted, rolled_back, superseded, failed.",
			[]string{"namespace", "name", "outcome"}, nil),
		sites: map[key]*siteState{},
	}
}

// site is the state of one site, created on first use. Callers hold mu.
func (s *siteSeries) site(namespace, name string) *siteState {
	k := key{namespace, name}
	st := s.sites[k]
	if st == nil {
		st = &siteState{}
		s.sites[k] = st
	}
	return st
}

func (s *siteSeries) setInfo(namespace, name, phase, color string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.site(namespace, name)
	st.phase, st.color = phase, color
}

// countRelease counts one release of the site that ended with outcome, one
// of outcomes.
func (s *siteSeries) countRelease(namespace, name, outcome string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.site(namespace, name)
	for i, o := range outcomes {
		if o == outcome {
			st.released[i]++
		}
	}
}

func (s *siteSeries) forget(namespace, name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.sites, key{namespace, name})
}

// Describe and Collect make siteSeries a prometheus.Collector.
func (s *siteSeries) Describe(ch chan<- *prometheus.Desc) {
	ch <- s.info
	ch <- s.releases
}

// Collect sends one info series per site and one release series per site
// and outcome that ended a release at least once, as the vectors did.
func (s *siteSeries) Collect(ch chan<- prometheus.Metric) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for k, st := range s.sites {
		ch <- prometheus.MustNewConstMetric(s.info, prometheus.GaugeValue, 1, k.namespace, k.name, st.phase, st.color)
		for i, n := range st.released {
			if n > 0 {
				ch <- prometheus.MustNewConstMetric(s.releases, prometheus.CounterValue, float64(n), k.namespace, k.name, outcomes[i])
			}
		}
	}
}
