package metrics

import (
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1 "github.com/understudy-dev/understudy/api/v1alpha1"
)

var now = time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)

func newMetrics(t *testing.T) (*Metrics, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	m, err := New(reg)
	if err != nil {
		t.Fatal(err)
	}
	return m, reg
}

func at(t time.Time) *metav1.Time { return &metav1.Time{Time: t} }

// histogram is the one series of the histogram name, as a scrape shows it.
func histogram(t *testing.T, reg *prometheus.Registry, name string) *dto.Histogram {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() == name {
			if n := len(f.GetMetric()); n != 1 {
				t.Fatalf("%s has %d series, want 1", name, n)
			}
			return f.GetMetric()[0].GetHistogram()
		}
	}
	t.Fatalf("%s not gathered", name)
	return nil
}

func assertOneSample(t *testing.T, reg *prometheus.Registry, name string, want float64) {
	t.Helper()
	h := histogram(t, reg, name)
	if h.GetSampleCount() != 1 || h.GetSampleSum() < want*0.99 || h.GetSampleSum() > want*1.01 {
		t.Errorf("%s: %d samples summing to %v, want one of %v", name, h.GetSampleCount(), h.GetSampleSum(), want)
	}
}

func count(c prometheus.Collector) float64 { return testutil.ToFloat64(c) }

// site is what a scrape shows of the per-site series name whose labels
// include want: how many series match, and their value when one does.
func site(t *testing.T, reg *prometheus.Registry, name string, want ...string) (series int, value float64) {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			have := map[string]string{}
			for _, l := range m.GetLabel() {
				have[l.GetName()] = l.GetValue()
			}
			if matches(have, want) {
				series++
				value = m.GetGauge().GetValue() + m.GetCounter().GetValue()
			}
		}
	}
	return series, value
}

func matches(have map[string]string, want []string) bool {
	for i := 0; i+1 < len(want); i += 2 {
		if have[want[i]] != want[i+1] {
			return false
		}
	}
	return true
}

// released is how many releases of prod/web ended with outcome.
func released(t *testing.T, reg *prometheus.Registry, outcome string) float64 {
	t.Helper()
	_, v := site(t, reg, "understudy_sitedeployment_releases_total", "namespace", "prod", "name", "web", "outcome", outcome)
	return v
}

// A switch counts one promotion and observes the release duration, the
// switch latency and the write freeze; the info series follows the phase
// and the active color, the old one removed.
func TestASwitchCountsAPromotionWithItsDurations(t *testing.T) {
	m, reg := newMetrics(t)
	m.ObserveSite(SiteWrite{Namespace: "prod", Name: "web",
		Before: &v1.SiteDeploymentStatus{}, After: &v1.SiteDeploymentStatus{Phase: v1.PhasePromoting, ActiveColor: "blue"}, Now: now})
	before := &v1.SiteDeploymentStatus{Phase: v1.PhasePromoting, ActiveColor: "blue",
		PreviewStartedAt: at(now.Add(-90 * time.Second)),
		Database:         &v1.DatabaseStatus{FrozenSince: at(now.Add(-4 * time.Second))}}
	started := time.Now()
	m.ObserveSite(SiteWrite{Namespace: "prod", Name: "web", Before: before,
		After:    &v1.SiteDeploymentStatus{Phase: v1.PhaseHealthy, ActiveColor: "green"},
		Switched: true, Ended: []v1.RevisionOutcome{v1.OutcomePromoted}, Started: started, Written: started.Add(30 * time.Millisecond), Now: now})

	if got := released(t, reg, OutcomePromoted); got != 1 {
		t.Errorf("promoted releases = %v, want 1", got)
	}
	if got, _ := site(t, reg, "understudy_sitedeployment_info"); got != 1 {
		t.Errorf("info series = %d, want 1 (the old phase's series removed)", got)
	}
	if n, got := site(t, reg, "understudy_sitedeployment_info", "namespace", "prod", "name", "web", "phase", "Healthy", "active_color", "green"); n != 1 || got != 1 {
		t.Errorf("info{Healthy,green} = %v (%d series), want 1", got, n)
	}
	assertOneSample(t, reg, "understudy_sitedeployment_release_duration_seconds", 90)
	assertOneSample(t, reg, "understudy_sitedeployment_write_freeze_seconds", 4)
	assertOneSample(t, reg, "understudy_sitedeployment_switch_latency_seconds", 0.03)
}

// The write freeze is the one the database server measured at the switch
// (lastFreezeDuration, to the millisecond), not one from frozenSince, which
// the API server keeps to the second: 4.2 s observed, not 5.
func TestTheWriteFreezeIsTheOneMeasuredAtTheSwitch(t *testing.T) {
	m, reg := newMetrics(t)
	frozenAt := now.Add(-4200 * time.Millisecond)
	before := &v1.SiteDeploymentStatus{Phase: v1.PhasePromoting, ActiveColor: "blue",
		Database: &v1.DatabaseStatus{FrozenSince: at(frozenAt.Truncate(time.Second))}}
	after := &v1.SiteDeploymentStatus{Phase: v1.PhaseHealthy, ActiveColor: "green",
		Database: &v1.DatabaseStatus{FrozenSince: at(frozenAt.Truncate(time.Second)),
			LastFreezeDuration: &metav1.Duration{Duration: 4200 * time.Millisecond}}}
	m.ObserveSite(SiteWrite{Namespace: "prod", Name: "web", Before: before, After: after,
		Switched: true, Ended: []v1.RevisionOutcome{v1.OutcomePromoted}, Now: now})
	assertOneSample(t, reg, "understudy_sitedeployment_write_freeze_seconds", 4.2)
}

// A replicated cutover freezes and switches in one decision: the status
// before it never showed frozenSince, and its freeze is still observed.
func TestTheWriteFreezeOfAReplicatedCutoverIsObserved(t *testing.T) {
	m, reg := newMetrics(t)
	before := &v1.SiteDeploymentStatus{Phase: v1.PhasePromoting, ActiveColor: "blue",
		Database: &v1.DatabaseStatus{ActiveName: "web_blue"}}
	after := &v1.SiteDeploymentStatus{Phase: v1.PhaseHealthy, ActiveColor: "green",
		Database: &v1.DatabaseStatus{ActiveName: "web_green", PreviousName: "web_blue", FrozenSince: at(now.Truncate(time.Second)),
			LastFreezeDuration: &metav1.Duration{Duration: 180 * time.Millisecond}}}
	m.ObserveSite(SiteWrite{Namespace: "prod", Name: "web", Before: before, After: after,
		Switched: true, Ended: []v1.RevisionOutcome{v1.OutcomePromoted}, Now: now})
	assertOneSample(t, reg, "understudy_sitedeployment_write_freeze_seconds", 0.18)
}

// Each release the decision ended counts once, under its outcome's
// label; a decision that ended none counts nothing.
func TestReleaseOutcomesFollowTheDecision(t *testing.T) {
	cases := []struct {
		ended []v1.RevisionOutcome
		want  map[string]float64
	}{
		{[]v1.RevisionOutcome{v1.OutcomePromoted}, map[string]float64{OutcomePromoted: 1}},
		{[]v1.RevisionOutcome{v1.OutcomeFailed, v1.OutcomeRolledBack}, map[string]float64{OutcomeFailed: 1, OutcomeRolledBack: 1}},
		{[]v1.RevisionOutcome{v1.OutcomeSuperseded}, map[string]float64{OutcomeSuperseded: 1}},
		{[]v1.RevisionOutcome{v1.OutcomeAborted}, map[string]float64{OutcomeAborted: 1}},
		{nil, map[string]float64{}},
	}
	for _, c := range cases {
		t.Run(fmt.Sprint(c.ended), func(t *testing.T) {
			m, reg := newMetrics(t)
			m.ObserveSite(SiteWrite{Namespace: "prod", Name: "web", Before: &v1.SiteDeploymentStatus{}, After: &v1.SiteDeploymentStatus{},
				Ended: c.ended, Now: now})
			for _, outcome := range []string{OutcomePromoted, OutcomeAborted, OutcomeRolledBack, OutcomeSuperseded, OutcomeFailed} {
				if got := released(t, reg, outcome); got != c.want[outcome] {
					t.Errorf("%s releases = %v, want %v", outcome, got, c.want[outcome])
				}
			}
		})
	}
}

// A deleted site leaves no series behind.
func TestAForgottenSiteHasNoSeries(t *testing.T) {
	m, reg := newMetrics(t)
	m.ObserveSite(SiteWrite{Namespace: "prod", Name: "web", Before: &v1.SiteDeploymentStatus{},
		After: &v1.SiteDeploymentStatus{Phase: v1.PhaseHealthy}, Ended: []v1.RevisionOutcome{v1.OutcomeAborted}, Now: now})
	m.ObserveSite(SiteWrite{Namespace: "prod", Name: "api", Before: &v1.SiteDeploymentStatus{},
		After: &v1.SiteDeploymentStatus{Phase: v1.PhaseHealthy}, Now: now})
	m.ForgetSite("prod", "web")
	if got, _ := site(t, reg, "understudy_sitedeployment_releases_total"); got != 0 {
		t.Errorf("release series after delete = %d, want 0", got)
	}
	if got, _ := site(t, reg, "understudy_sitedeployment_info"); got != 1 {
		t.Errorf("info series after deleting one of two sites = %d, want 1", got)
	}
	if _, err := reg.Gather(); err != nil {
		t.Fatal(err)
	}
}

// A finished refresh counts once, however often the same status is
// written again; the gauges follow status.
func TestARefreshCountsOnceAndSetsTheDataAge(t *testing.T) {
	m, reg := newMetrics(t)
	m.ObserveRefreshCreated("dev", "nightly", now.Add(-48*time.Hour))
	rec := &v1.RefreshRecord{Job: "dev-refresh-1", Result: v1.RefreshSucceeded,
		StartedAt: at(now.Add(-75 * time.Second)), FinishedAt: at(now)}
	after := &v1.DatabaseRefreshStatus{LastRefresh: rec, LastSuccessfulTime: at(now), DataTakenAt: at(now.Add(-6 * time.Hour))}
	m.ObserveRefresh("dev", "nightly", &v1.DatabaseRefreshStatus{}, after)
	m.ObserveRefresh("dev", "nightly", after, after.DeepCopy())

	if got := count(m.refreshes.WithLabelValues("dev", "nightly", "Succeeded")); got != 1 {
		t.Errorf("succeeded refreshes = %v, want 1", got)
	}
	if got := count(m.refreshDataTaken.WithLabelValues("dev", "nightly")); got != float64(now.Add(-6*time.Hour).Unix()) {
		t.Errorf("data taken = %v, want %v", got, now.Add(-6*time.Hour).Unix())
	}
	if got := count(m.refreshLastSuccess.WithLabelValues("dev", "nightly")); got != float64(now.Unix()) {
		t.Errorf("last success = %v, want %v", got, now.Unix())
	}
	assertOneSample(t, reg, "understudy_databaserefresh_duration_seconds", 75)

	failed := after.DeepCopy()
	failed.LastRefresh = &v1.RefreshRecord{Job: "dev-refresh-2", Result: v1.RefreshFailed, FailedStep: "source"}
	m.ObserveRefresh("dev", "nightly", after, failed)
	if got := count(m.refreshes.WithLabelValues("dev", "nightly", "Failed")); got != 1 {
		t.Errorf("failed refreshes = %v, want 1", got)
	}
	if got := count(m.refreshFailures.WithLabelValues("dev", "nightly", "source")); got != 1 {
		t.Errorf("failures in step source = %v, want 1", got)
	}
	m.ForgetRefresh("dev", "nightly")
	if got := testutil.CollectAndCount(m.refreshes) + testutil.CollectAndCount(m.refreshDataTaken) + testutil.CollectAndCount(m.refreshFailures) + testutil.CollectAndCount(m.refreshCreated); got != 0 {
		t.Errorf("series after delete = %d, want 0", got)
	}
}

// A rollback is a switch, not the end of a release: it observes the switch
// latency only, though status still has the aborted release's times.
func TestARollbackObservesOnlyTheSwitchLatency(t *testing.T) {
	m, reg := newMetrics(t)
	before := &v1.SiteDeploymentStatus{ActiveRevision: "b", PreviewStartedAt: at(now.Add(-time.Minute)),
		Database: &v1.DatabaseStatus{FrozenSince: at(now.Add(-30 * time.Second))}}
	m.ObserveSite(SiteWrite{Namespace: "prod", Name: "web", Before: before, After: &v1.SiteDeploymentStatus{AbortedRevision: "b"},
		Switched: true, Ended: []v1.RevisionOutcome{v1.OutcomeAborted, v1.OutcomeRolledBack}, Now: now})
	assertOneSample(t, reg, "understudy_sitedeployment_switch_latency_seconds", 0)
	if n := testutil.CollectAndCount(m.releaseDuration) + testutil.CollectAndCount(m.writeFreeze); n != 0 {
		t.Errorf("release duration and write freeze have %d series after a rollback, want none", n)
	}
	if got := released(t, reg, OutcomeRolledBack); got != 1 {
		t.Errorf("rolled back = %v, want 1", got)
	}
}

// The release histograms are per namespace: two sites' switches are one
// series with two samples, and deleting a site keeps what it observed.
func TestReleaseHistogramsArePerNamespace(t *testing.T) {
	m, _ := newMetrics(t)
	for _, name := range []string{"web", "api"} {
		m.ObserveSite(SiteWrite{Namespace: "prod", Name: name, Before: &v1.SiteDeploymentStatus{PreviewStartedAt: at(now.Add(-time.Minute))},
			After: &v1.SiteDeploymentStatus{Phase: v1.PhaseHealthy}, Switched: true, Ended: []v1.RevisionOutcome{v1.OutcomePromoted}, Now: now})
	}
	m.ForgetSite("prod", "web")
	for _, h := range []*prometheus.HistogramVec{m.switchLatency, m.releaseDuration} {
		if n := testutil.CollectAndCount(h); n != 1 {
			t.Errorf("%d series, want one for the namespace", n)
		}
		s := &dto.Metric{}
		if err := h.WithLabelValues("prod").(prometheus.Histogram).Write(s); err != nil || s.GetHistogram().GetSampleCount() != 2 {
			t.Errorf("namespace prod: %d samples (%v), want the two sites' switches", s.GetHistogram().GetSampleCount(), err)
		}
	}
}
