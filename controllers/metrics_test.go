package controllers_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"

	v1 "github.com/understudy-dev/understudy/api/v1alpha1"
	"github.com/understudy-dev/understudy/internal/refresh"
	"github.com/understudy-dev/understudy/test/promtest"
)

// sample is the value of the series of name whose labels include want, as
// the manager's metrics endpoint serves it (0 when there is none).
func sample(t *testing.T, name string, want map[string]string) float64 {
	t.Helper()
	families, err := ctrlmetrics.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	v, _ := promtest.Value(families, name, want)
	return v
}

// A release and a rollback show on the metrics endpoint: two promotions
// (the first revision, then the release), one abort and the rollback it
// causes, one observed
// switch latency and release duration per switch, and the info series
// naming the phase and color the site is in.
func TestSiteDeploymentMetricsCountReleasesAndRollbacks(t *testing.T) {
	s, r1 := healthySite(t)
	site := map[string]string{"namespace": s.ns, "name": "shop"}
	with := func(k, v string) map[string]string {
		m := map[string]string{k: v}
		for k, v := range site {
			m[k] = v
		}
		return m
	}
	s.release("shop:2")
	r2 := s.revision()
	s.available(v1.Green, r2, 2)
	s.waitActive(v1.PhaseHealthy, v1.Green, r2)
	s.annotate(v1.AnnotationAbort, r2)
	s.waitActive(v1.PhaseAborted, v1.Blue, r1)

	eventually(t, "the metrics to count the release and the rollback", func() error {
		promoted := sample(t, "understudy_sitedeployment_releases_total", with("outcome", "promoted"))
		rolledBack := sample(t, "understudy_sitedeployment_releases_total", with("outcome", "rolled_back"))
		aborted := sample(t, "understudy_sitedeployment_releases_total", with("outcome", "aborted"))
		info := sample(t, "understudy_sitedeployment_info", with("phase", "Aborted"))
		if promoted != 2 || rolledBack != 1 || aborted != 1 || info != 1 {
			return errorf("promoted %v rolled_back %v info{phase=Aborted} %v aborted %v, want 2, 1, 1, 1", promoted, rolledBack, info, aborted)
		}
		return nil
	})
	// The histograms are per namespace; this one has one site.
	if n := sample(t, "understudy_sitedeployment_switch_latency_seconds", map[string]string{"namespace": s.ns}); n != 2 {
		t.Errorf("switch latency samples = %v, want 2 (the release and the rollback)", n)
	}
	if n := sample(t, "understudy_sitedeployment_release_duration_seconds", map[string]string{"namespace": s.ns}); n < 1 {
		t.Errorf("release duration samples = %v, want at least 1", n)
	}
	if n := sample(t, "understudy_sitedeployment_info", with("phase", "Healthy")); n != 0 {
		t.Errorf("info{phase=Healthy} = %v after the rollback, want no such series", n)
	}
}

// Every DatabaseRefresh has series on the manager's metrics endpoint from
// its creation: evaluated as Prometheus would with the shipped
// UnderstudyDevDataStale rule, the manager's own metrics make it fire 37 h
// after their creation for a refresh failing since then and for one whose
// schedule never ran, and for neither 35 h after.
func TestDevDataStaleFiresForARefreshThatNeverSucceeded(t *testing.T) {
	failing, unscheduled := newRefresh(t), newRefresh(t)
	unscheduled.waitCondition(v1.ConditionReady, metav1.ConditionTrue, v1.ReasonScheduled)
	failing.runJob("nightly-1", false, refresh.Result{Result: refresh.Failed, Error: "cannot connect to the source"}, time.Now())
	failing.waitCondition(v1.ConditionDegraded, metav1.ConditionTrue, v1.ReasonRefreshFailed)
	created := failing.get().CreationTimestamp.Time
	if c := unscheduled.get().CreationTimestamp.Time; c.After(created) {
		created = c
	}
	rule, err := promtest.ShippedRule("UnderstudyDevDataStale")
	if err != nil {
		t.Fatal(err)
	}
	firingAfter := func(d time.Duration) []string {
		t.Helper()
		families, err := ctrlmetrics.Registry.Gather()
		if err != nil {
			t.Fatal(err)
		}
		at := created.Add(d)
		all, err := promtest.Firing(rule, promtest.Scrape{Families: families, From: at.Add(-time.Hour), To: at, Interval: 30 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		var ours []string
		for _, a := range all {
			if ns, _, _ := strings.Cut(a, "/"); ns == failing.ns || ns == unscheduled.ns {
				ours = append(ours, a)
			}
		}
		return ours
	}
	if got := firingAfter(35 * time.Hour); len(got) != 0 {
		t.Errorf("UnderstudyDevDataStale fires 35 h after creation for %v, want none", got)
	}
	want := []string{failing.ns + "/nightly", unscheduled.ns + "/nightly"}
	slices.Sort(want)
	if got := firingAfter(37 * time.Hour); !slices.Equal(got, want) {
		t.Errorf("UnderstudyDevDataStale fires 37 h after creation for %v, want %v", got, want)
	}
}
