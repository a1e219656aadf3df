package metrics

import (
	"regexp"
	"slices"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	v1 "github.com/understudy-dev/understudy/api/v1alpha1"
	"github.com/understudy-dev/understudy/test/promtest"
)

// The alerts config/prometheus ships query only metrics understudy
// serves, so a renamed metric cannot leave an alert that never fires.
func TestTheShippedAlertsQueryServedMetrics(t *testing.T) {
	rules, err := promtest.ShippedRules()
	if err != nil {
		t.Fatal(err)
	}
	m, _ := newMetrics(t)
	served := map[string]bool{}
	fqName := regexp.MustCompile(`fqName: "([^"]+)"`)
	for _, c := range m.collectors() {
		descs := make(chan *prometheus.Desc, 1)
		go func() { c.Describe(descs); close(descs) }()
		for d := range descs {
			served[fqName.FindStringSubmatch(d.String())[1]] = true
		}
	}
	alerts := map[string]bool{}
	name := regexp.MustCompile(`understudy_[a-z_]+`)
	for _, r := range rules {
		alerts[r.Alert] = true
		for _, metric := range name.FindAllString(r.Expr, -1) {
			if !served[metric] {
				t.Errorf("alert %s queries %s, which understudy does not serve", r.Alert, metric)
			}
		}
	}
	for _, want := range []string{"UnderstudyDevDataStale", "UnderstudySiteDegraded"} {
		if !alerts[want] {
			t.Errorf("config/prometheus/rules.yaml has no alert %s", want)
		}
	}
}

// UnderstudyDevDataStale, evaluated by PromQL over what the metrics serve,
// fires for every DatabaseRefresh whose dev data is more than 36 h old,
// including those that never took any: one failing since it was created
// and one whose schedule never ran. It does not fire for data taken 2 h
// ago, nor for a refresh created 35 h ago, nor before its 15 minutes held.
func TestDevDataStaleFiresForRefreshesThatNeverSucceeded(t *testing.T) {
	m, reg := newMetrics(t)
	never := &v1.DatabaseRefreshStatus{}
	failed := &v1.DatabaseRefreshStatus{LastRefresh: &v1.RefreshRecord{Job: "failing-1", Result: v1.RefreshFailed, FailedStep: "connect",
		StartedAt: at(now.Add(-30 * time.Hour)), FinishedAt: at(now.Add(-30 * time.Hour))}}
	succeeded := func(taken time.Time) *v1.DatabaseRefreshStatus {
		return &v1.DatabaseRefreshStatus{LastSuccessfulTime: at(taken.Add(time.Hour)), DataTakenAt: at(taken),
			LastRefresh: &v1.RefreshRecord{Job: "ok-1", Result: v1.RefreshSucceeded, StartedAt: at(taken), FinishedAt: at(taken.Add(time.Hour))}}
	}
	for _, r := range []struct {
		name    string
		created time.Time
		status  *v1.DatabaseRefreshStatus
	}{
		{"failing", now.Add(-40 * time.Hour), failed},
		{"unscheduled", now.Add(-40 * time.Hour), never},
		{"stale", now.Add(-80 * time.Hour), succeeded(now.Add(-37 * time.Hour))},
		{"fresh", now.Add(-80 * time.Hour), succeeded(now.Add(-2 * time.Hour))},
		{"young", now.Add(-35 * time.Hour), never},
		{"pending", now.Add(-36*time.Hour - 10*time.Minute), never},
	} {
		m.ObserveRefreshCreated("dev", r.name, r.created)
		m.ObserveRefresh("dev", r.name, never, r.status)
	}
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	rule, err := promtest.ShippedRule("UnderstudyDevDataStale")
	if err != nil {
		t.Fatal(err)
	}
	firing, err := promtest.Firing(rule, promtest.Scrape{Families: families, From: now.Add(-time.Hour), To: now, Interval: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"dev/failing", "dev/stale", "dev/unscheduled"}; !slices.Equal(firing, want) {
		t.Errorf("UnderstudyDevDataStale fires for %v, want %v", firing, want)
	}
}
