package controllers_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/understudy-dev/understudy/api/v1alpha1"
	"github.com/understudy-dev/understudy/test/promtest"
)

// A real Prometheus (built from its module by `make prometheus`) scrapes,
// every second, an endpoint on loopback whose error ratio per revision the
// test sets; the manager's metric checks query it.

const scrape = time.Second

func startPrometheus(t *testing.T) (*promtest.Server, *promtest.Target) {
	t.Helper()
	target := promtest.NewTarget()
	t.Cleanup(target.Close)
	srv, err := promtest.Start([]string{target.Address()}, scrape)
	if err != nil {
		t.Fatalf("cannot start prometheus: %v", err)
	}
	t.Cleanup(func() { _ = srv.Stop() })
	return srv, target
}

// setRatio sets revision's error ratio and waits until Prometheus has it.
func setRatio(t *testing.T, srv *promtest.Server, target *promtest.Target, rev string, v float64) {
	t.Helper()
	target.ErrorRatio.WithLabelValues(rev).Set(v)
	q := fmt.Sprintf(`site_error_ratio{revision=%q}`, rev)
	if err := srv.WaitForValue(context.Background(), q, v, 30*time.Second); err != nil {
		t.Fatal(err)
	}
}

func errorRateCheck(address string, count int32, interval time.Duration) *v1.CheckSpec {
	return &v1.CheckSpec{Metrics: []v1.MetricCheck{{
		Name:             "error-rate",
		Prometheus:       &v1.PrometheusMetric{Address: address, Query: `site_error_ratio{revision="{{revision}}"}`},
		SuccessCondition: "result[0] < 0.05",
		Interval:         &metav1.Duration{Duration: interval}, Count: ptr.To(count),
	}}}
}

// waitMeasurements waits until the analysis of kind has n measurements of
// its first check.
func (s *site) waitMeasurements(kind v1.AnalysisKind, n int) v1.AnalysisStatus {
	s.t.Helper()
	var run v1.AnalysisStatus
	eventually(s.t, fmt.Sprintf("%d %s measurement(s)", n, kind), func() error {
		for _, a := range s.get().Status.Analysis {
			if a.Kind == kind && len(a.Checks) > 0 && len(a.Checks[0].Measurements) >= n {
				run = a
				return nil
			}
		}
		return fmt.Errorf("analysis: %+v", s.get().Status.Analysis)
	})
	return run
}

func (s *site) waitEvent(reason, note string) {
	s.t.Helper()
	eventually(s.t, "event "+reason, func() error {
		var list eventsv1.EventList
		if err := k8sClient.List(context.Background(), &list, client.InNamespace(s.ns)); err != nil {
			return err
		}
		for _, e := range list.Items {
			if e.Reason == reason && strings.Contains(e.Note, note) {
				return nil
			}
		}
		return fmt.Errorf("no %s event with %q among %d", reason, note, len(list.Items))
	})
}

// releaseMeasured brings a site up on shop:1 with the checks check sets
// (given the Prometheus address), releases shop:2 with an error ratio of
// 0.01 in Prometheus, and makes it available on green.
func releaseMeasured(t *testing.T, check func(sd *v1.SiteDeployment, address string)) (s *site, r1, r2 string, srv *promtest.Server, target *promtest.Target) {
	t.Helper()
	srv, target = startPrometheus(t)
	s, r1 = healthySite(t, func(sd *v1.SiteDeployment) { check(sd, srv.URL) })
	s.release("shop:2")
	r2 = s.revision()
	setRatio(t, srv, target, r2, 0.01)
	s.available(v1.Green, r2, 2)
	return s, r1, r2, srv, target
}

func TestMetricCheckPromotesAHealthyCandidate(t *testing.T) {
	s, _, r2, _, _ := releaseMeasured(t, func(sd *v1.SiteDeployment, address string) {
		sd.Spec.Strategy.PrePromotion = errorRateCheck(address, 2, 10*time.Second)
	})
	run := s.waitMeasurements(v1.AnalysisPrePromotion, 1)
	if m := run.Checks[0].Measurements[0]; m.Verdict != v1.AnalysisSuccessful || m.Value != "[0.01]" || run.Color != v1.Green {
		t.Fatalf("first measurement: %+v of %+v", m, run)
	}
	if sd := s.get(); sd.Status.ActiveColor != v1.Blue {
		t.Fatal("switched before the second measurement")
	}
	s.advance(10 * time.Second)
	sd := s.waitActive(v1.PhaseHealthy, v1.Green, r2)
	if run := sd.Status.Analysis[0]; run.Phase != v1.AnalysisSuccessful || run.Checks[0].Successful != 2 {
		t.Fatalf("analysis: %+v", run)
	}
	s.waitEvent(v1.EventAnalysisSuccessful, "pre-promotion check of revision "+r2+" passed")
}

func TestMetricCheckRollsBackWhenTheErrorRateRisesAfterTheSwitch(t *testing.T) {
	s, r1, r2, srv, target := releaseMeasured(t, func(sd *v1.SiteDeployment, address string) {
		sd.Spec.Strategy.PostPromotion = errorRateCheck(address, 30, 10*time.Second)
	})
	s.waitActive(v1.PhasePromoting, v1.Green, r2)
	s.waitMeasurements(v1.AnalysisPostPromotion, 1)
	// Live traffic turns bad: one interval later the check fails and
	// traffic goes back to blue, still warm, in the same reconcile.
	setRatio(t, srv, target, r2, 0.4)
	start := time.Now()
	s.advance(10 * time.Second)
	sd := s.waitActive(v1.PhaseDegraded, v1.Blue, r1)
	t.Logf("switched back %s after the interval passed", time.Since(start))
	want := "revision " + r2 + " was aborted and rolled back: " + r1 + " serves at full size; " +
		"revert spec.template to " + r1 + ", or fix what failed (the image, the migration or a check) and apply it again for a new attempt " +
		"(why: post-promotion check of revision " + r2 + " failed: check error-rate: 1 measurement(s) failed (limit 0), latest value [0.4] does not meet result[0] < 0.05)"
	if sd.Status.AbortReason != v1.ReasonPostPromotionFailed || !strings.Contains(condition(sd, v1.ConditionDegraded).Message, want) {
		t.Fatalf("abort %s, Degraded: %+v\nwant %q", sd.Status.AbortReason, condition(sd, v1.ConditionDegraded), want)
	}
	s.waitEvent(v1.ReasonPostPromotionFailed, "check error-rate: 1 measurement(s) failed")
	s.waitReplicas(v1.Green, 0)
}

func TestMetricCheckWithNoDataHolds(t *testing.T) {
	srv, _ := startPrometheus(t)
	s, r1 := healthySite(t, func(sd *v1.SiteDeployment) {
		sd.Spec.Strategy.PrePromotion = errorRateCheck(srv.URL, 3, 10*time.Second)
	})
	s.release("shop:2")
	r2 := s.revision() // never exported: no series
	s.available(v1.Green, r2, 2)
	sd := s.waitActive(v1.PhaseAwaitingPromotion, v1.Blue, r1)
	want := "pre-promotion check of revision " + r2 + " is inconclusive: check error-rate: 1 measurement(s) inconclusive (limit 0), latest: no data: the query returned no series; held"
	if !strings.Contains(sd.Status.Message, want) || condition(sd, v1.ConditionProgressing).Reason != v1.ReasonAnalysisInconclusive {
		t.Fatalf("message %q\nwant %q; conditions %+v", sd.Status.Message, want, sd.Status.Conditions)
	}
	s.waitEvent(v1.ReasonAnalysisInconclusive, "no data")
	if got := kstatusOf(t, sd); got != status.InProgressStatus {
		t.Fatalf("kstatus reads a held release as %s, want InProgress (as AwaitingPromotion)", got)
	}
	s.advance(time.Hour)
	consistently(t, "held", 2*time.Second, func() error {
		if sd := s.get(); sd.Status.Phase != v1.PhaseAwaitingPromotion || len(sd.Status.Analysis[0].Checks[0].Measurements) != 1 {
			return fmt.Errorf("phase %s, analysis %+v", sd.Status.Phase, sd.Status.Analysis)
		}
		return nil
	})
	s.annotate(v1.AnnotationPromote, r2)
	s.waitActive(v1.PhaseHealthy, v1.Green, r2)
}

func TestWebCheckSendsAHeaderFromASecret(t *testing.T) {
	web := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer t0ken" {
			http.Error(w, "who are you", http.StatusUnauthorized)
			return
		}
		fmt.Fprintf(w, `{"revision": %q, "status": "ok"}`, strings.TrimPrefix(r.URL.Path, "/health/"))
	}))
	defer web.Close()
	s, r1 := healthySite(t, func(sd *v1.SiteDeployment) {
		sd.Spec.Strategy.PrePromotion = &v1.CheckSpec{Metrics: []v1.MetricCheck{{
			Name: "health", SuccessCondition: `result.status == "ok"`,
			Web: &v1.WebMetric{URL: web.URL + "/health/{{revision}}",
				Headers: []v1.WebHeader{{Name: "Authorization", ValueFrom: &v1.SecretKeyReference{Name: "health-token", Key: "header"}}}},
		}}}
	})
	s.release("shop:2")
	r2 := s.revision()
	s.available(v1.Green, r2, 2)
	// Without the Secret: inconclusive, naming it.
	sd := s.waitActive(v1.PhaseAwaitingPromotion, v1.Blue, r1)
	if !strings.Contains(sd.Status.Message, "check health: 1 measurement(s) inconclusive (limit 0), latest: cannot read Secret health-token") {
		t.Fatalf("message %q", sd.Status.Message)
	}
	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "health-token", Namespace: s.ns},
		StringData: map[string]string{"header": "Bearer t0ken"}}
	if err := k8sClient.Create(context.Background(), secret); err != nil {
		t.Fatal(err)
	}
	// Fixing the check (here: a second measurement allowed to be
	// inconclusive) runs it again.
	s.update(func(sd *v1.SiteDeployment) {
		sd.Spec.Strategy.PrePromotion.Metrics[0].InconclusiveLimit = ptr.To[int32](1)
	})
	sd = s.waitActive(v1.PhaseHealthy, v1.Green, r2)
	if m := sd.Status.Analysis[0].Checks[0].Measurements; len(m) != 1 || !strings.Contains(m[0].Value, `"revision":"`+r2+`"`) {
		t.Fatalf("measurements: %+v", m)
	}
	if strings.Contains(fmt.Sprint(sd.Status), "t0ken") {
		t.Fatal("the Secret's value is in status")
	}
}
