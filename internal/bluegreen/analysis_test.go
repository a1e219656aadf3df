package bluegreen

import (
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	v1 "github.com/understudy-dev/understudy/api/v1alpha1"
)

// measured is what the world's controller measures: the verdict a
// revision's error rate gives (verdicts by revision; missing: no data).
func (w *world) measured() []Measured {
	if w.measure == nil {
		return nil
	}
	var out []Measured
	for _, d := range DueMeasurements(w.site, w.now) {
		m := w.measure(d)
		m.Time = metav1.NewTime(w.now.Truncate(time.Second))
		out = append(out, Measured{Kind: d.Kind, Revision: d.Revision, SpecHash: d.SpecHash, Check: d.Check.Name, Measurement: m})
	}
	return out
}

// errorRate is a metric check of count measurements every 30s.
func errorRate(count, failureLimit int32) *v1.CheckSpec {
	return &v1.CheckSpec{Metrics: []v1.MetricCheck{{
		Name: "error-rate", SuccessCondition: "result[0] < 0.05",
		Prometheus: &v1.PrometheusMetric{Address: "http://prometheus:9090", Query: `rate(errors{revision="{{revision}}"}[1m])`},
		Interval:   &metav1.Duration{Duration: 30 * time.Second}, Count: ptr.To(count), FailureLimit: ptr.To(failureLimit),
	}}}
}

// rates measures each revision's error rate from the map; a revision
// without one is inconclusive (no data), and every measurement is counted.
type rates struct {
	byRev map[string]float64
	taken []DueMeasurement
}

func (r *rates) measure(d DueMeasurement) v1.Measurement {
	r.taken = append(r.taken, d)
	v, ok := r.byRev[d.Revision]
	switch {
	case !ok:
		return v1.Measurement{Verdict: v1.AnalysisInconclusive, Message: "no data: the query returned no series"}
	case v < 0.05:
		return v1.Measurement{Value: "[0.01]", Verdict: v1.AnalysisSuccessful}
	}
	return v1.Measurement{Value: "[0.4]", Verdict: v1.AnalysisFailed}
}

// analysedWorld is a site healthy on shop:1 whose metric checks measure
// rates; pre: shop:2 is released and its preview available, so its
// pre-promotion analysis has started; else shop:2 is released ready.
func analysedWorld(t *testing.T, r *rates, pre bool, mutate func(*v1.SiteDeployment)) *world {
	w := newWorld(t, mutate)
	w.measure = r.measure
	w.healthyOn("shop:1")
	if !pre {
		w.releaseReady("shop:2")
		return w
	}
	w.release("shop:2")
	w.reconcile()
	w.available(v1.Green)
	w.reconcile() // the run starts
	return w
}

func analysisRun(t *testing.T, w *world, kind v1.AnalysisKind) v1.AnalysisStatus {
	t.Helper()
	for _, a := range w.site.Status.Analysis {
		if a.Kind == kind {
			return a
		}
	}
	t.Fatalf("no %s analysis in status: %+v", kind, w.site.Status.Analysis)
	return v1.AnalysisStatus{}
}

func TestPrePromotionAnalysisMeasuresAtItsIntervalThenPromotes(t *testing.T) {
	r := &rates{byRev: map[string]float64{rev("shop:2"): 0.01}}
	w := analysedWorld(t, r, true, func(s *v1.SiteDeployment) { s.Spec.Strategy.PrePromotion = errorRate(3, 0) })
	if len(r.taken) != 0 || w.last.RequeueAfter != analysisKick {
		t.Fatalf("a new run: want no measurement yet and a wake-up at once, got %d, %s", len(r.taken), w.last.RequeueAfter)
	}
	w.reconcile() // first measurement
	if len(r.taken) != 1 || r.taken[0].Vars["color"] != "green" || r.taken[0].Vars["revision"] != rev("shop:2") || r.taken[0].Vars["namespace"] != "prod" {
		t.Fatalf("first measurement: %+v", r.taken)
	}
	w.expect(v1.PhaseProgressing, v1.Blue, rev("shop:1"))
	if !strings.Contains(w.site.Status.Message, "check error-rate 1/3 measurements, latest [0.01]: Successful") || w.last.RequeueAfter != 30*time.Second {
		t.Fatalf("message %q, wake-up %s", w.site.Status.Message, w.last.RequeueAfter)
	}
	w.advance(10 * time.Second)
	w.reconcile()
	if len(r.taken) != 1 {
		t.Fatal("measured again before the interval")
	}
	for i := 0; i < 2; i++ {
		w.advance(30 * time.Second)
		w.reconcile()
	}
	if len(r.taken) != 3 {
		t.Fatalf("want 3 measurements, took %d", len(r.taken))
	}
	run := analysisRun(t, w, v1.AnalysisPrePromotion)
	if run.Phase != v1.AnalysisSuccessful || run.Checks[0].Successful != 3 || len(run.Checks[0].Measurements) != 3 {
		t.Fatalf("run: %+v", run)
	}
	w.available(v1.Green)
	w.reconcile()
	w.expect(v1.PhaseHealthy, v1.Green, rev("shop:2"))
	if len(w.jobs) != 0 {
		t.Fatalf("metric checks run no Job: %v", keys(w.jobs))
	}
	w.advance(time.Hour)
	w.reconcile()
	if len(r.taken) != 3 {
		t.Fatal("a finished analysis was measured again")
	}
}

func TestPrePromotionAnalysisFailsPastItsFailureLimit(t *testing.T) {
	r := &rates{byRev: map[string]float64{rev("shop:2"): 0.4}}
	w := analysedWorld(t, r, true, func(s *v1.SiteDeployment) { s.Spec.Strategy.PrePromotion = errorRate(5, 1) })
	w.reconcile() // 1 failure: within the limit
	w.expect(v1.PhaseProgressing, v1.Blue, rev("shop:1"))
	w.advance(30 * time.Second)
	w.reconcile() // 2 failures: past it
	w.expect(v1.PhaseDegraded, v1.Blue, rev("shop:1"))
	st := w.site.Status
	want := "pre-promotion check of revision " + rev("shop:2") + " failed: check error-rate: 2 measurement(s) failed (limit 1), latest value [0.4] does not meet result[0] < 0.05; traffic stays on blue"
	if st.AbortReason != v1.ReasonPrePromotionFailed || !strings.HasPrefix(st.Message, want) {
		t.Fatalf("abort %s: %q\nwant %q", st.AbortReason, st.Message, want)
	}
	if !hasEvent(w.last, v1.ReasonPrePromotionFailed, "check error-rate: 2 measurement(s) failed") {
		t.Fatalf("events: %+v", w.last.Events)
	}
	if w.replicas(v1.Green) != 0 {
		t.Fatal("the failed candidate keeps running")
	}
}

func TestInconclusivePrePromotionAnalysisHoldsUntilApproved(t *testing.T) {
	r := &rates{byRev: map[string]float64{}} // no data
	w := analysedWorld(t, r, true, func(s *v1.SiteDeployment) { s.Spec.Strategy.PrePromotion = errorRate(3, 0) })
	w.reconcile()
	w.expect(v1.PhaseAwaitingPromotion, v1.Blue, rev("shop:1"))
	msg := w.site.Status.Message
	if !strings.Contains(msg, "is inconclusive: check error-rate: 1 measurement(s) inconclusive (limit 0), latest: no data: the query returned no series; held: approve it") {
		t.Fatalf("message: %q", msg)
	}
	if c := cond(w.site.Status.Conditions, v1.ConditionProgressing); c == nil || c.Reason != v1.ReasonAnalysisInconclusive {
		t.Fatalf("conditions: %+v", w.site.Status.Conditions)
	}
	if !hasEvent(w.last, v1.ReasonAnalysisInconclusive, "no data") {
		t.Fatalf("no event for the hold: %+v", w.last.Events)
	}
	// Held: no more measurements, no wake-up, however long it waits.
	w.advance(time.Hour)
	w.reconcile()
	if len(r.taken) != 1 || w.site.Status.Phase != v1.PhaseAwaitingPromotion {
		t.Fatalf("held analysis: %d measurements, phase %s", len(r.taken), w.site.Status.Phase)
	}
	w.annotate(v1.AnnotationPromote, rev("shop:2"))
	w.reconcile()
	w.available(v1.Green)
	w.reconcile()
	w.expect(v1.PhaseHealthy, v1.Green, rev("shop:2"))
}

func TestPostPromotionAnalysisSwitchesBackAtOnce(t *testing.T) {
	r := &rates{byRev: map[string]float64{rev("shop:2"): 0.01}}
	w := analysedWorld(t, r, false, func(s *v1.SiteDeployment) { s.Spec.Strategy.PostPromotion = errorRate(10, 0) })
	w.expect(v1.PhasePromoting, v1.Green, rev("shop:2"))
	w.reconcile() // first measurement: healthy
	w.advance(30 * time.Second)
	w.reconcile()
	w.expect(v1.PhasePromoting, v1.Green, rev("shop:2"))
	// The error rate rises after the switch: the next measurement fails
	// it, and the same decision switches back to the warm old color.
	r.byRev[rev("shop:2")] = 0.4
	w.advance(30 * time.Second)
	w.reconcile()
	w.expect(v1.PhaseDegraded, v1.Blue, rev("shop:1"))
	st := w.site.Status
	if st.AbortReason != v1.ReasonPostPromotionFailed || !strings.Contains(st.Message, "post-promotion check of revision "+rev("shop:2")+" failed: check error-rate: 1 measurement(s) failed") {
		t.Fatalf("abort %s: %q", st.AbortReason, st.Message)
	}
	run := analysisRun(t, w, v1.AnalysisPostPromotion)
	if run.Phase != v1.AnalysisFailed || run.Checks[0].Successful == 0 || run.Checks[0].Failed != 1 {
		t.Fatalf("run: %+v", run)
	}
	if len(w.jobs) != 0 {
		t.Fatalf("metric checks run no Job: %v", keys(w.jobs))
	}
	taken := len(r.taken)
	w.advance(time.Hour)
	w.reconcile()
	if len(r.taken) != taken {
		t.Fatal("a failed analysis was measured again")
	}
}

func TestInconclusivePostPromotionAnalysisKeepsTheOldColorWarm(t *testing.T) {
	r := &rates{byRev: map[string]float64{}}
	w := analysedWorld(t, r, false, func(s *v1.SiteDeployment) { s.Spec.Strategy.PostPromotion = errorRate(3, 0) })
	w.reconcile() // the run starts
	w.reconcile() // no data
	w.expect(v1.PhaseAwaitingPromotion, v1.Green, rev("shop:2"))
	if !strings.Contains(w.site.Status.Message, "the old color stays warm: abort it with the deploy.understudy.dev/abort="+rev("shop:2")) {
		t.Fatalf("message: %q", w.site.Status.Message)
	}
	w.advance(time.Hour) // past scaleDownDelay
	w.reconcile()
	if w.replicas(v1.Blue) != 3 {
		t.Fatal("the old color was scaled down under a held post-promotion analysis")
	}
	// A fixed check (data now comes) runs again and passes.
	r.byRev[rev("shop:2")] = 0.01
	w.site.Spec.Strategy.PostPromotion.Metrics[0].Count = ptr.To[int32](1)
	w.reconcile()
	w.reconcile()
	w.expect(v1.PhaseHealthy, v1.Green, rev("shop:2"))
	if run := analysisRun(t, w, v1.AnalysisPostPromotion); run.Phase != v1.AnalysisSuccessful {
		t.Fatalf("run: %+v", run)
	}
}

func TestSoakAnalysisGatesTheSwitch(t *testing.T) {
	for _, tc := range []struct {
		name  string
		rate  float64
		phase v1.SiteDeploymentPhase
		color v1.Color
		img   string
	}{
		{"a healthy soak switches when both are over", 0.01, v1.PhaseHealthy, v1.Green, "shop:2"},
		{"a failed soak aborts before the switch", 0.4, v1.PhaseDegraded, v1.Blue, "shop:1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := &rates{byRev: map[string]float64{rev("shop:2"): tc.rate}}
			w := analysedWorld(t, r, false, func(s *v1.SiteDeployment) {
				s.Spec.Strategy.AutoPromoteAfter = &metav1.Duration{Duration: 20 * time.Second}
				s.Spec.Strategy.Soak = &v1.SoakSpec{Metrics: errorRate(3, 0).Metrics}
			})
			// Not before the third measurement (nor, failing, ever).
			for i := 0; i < 10 && len(r.taken) < 3; i++ {
				if w.site.Status.ActiveColor != v1.Blue {
					t.Fatalf("switched after %d soak measurement(s)", len(r.taken))
				}
				w.advance(30 * time.Second)
				w.reconcile()
			}
			w.expect(tc.phase, tc.color, rev(tc.img))
			if tc.rate > 0.05 && w.site.Status.AbortReason != v1.ReasonSoakFailed {
				t.Fatalf("abort reason %s: %q", w.site.Status.AbortReason, w.site.Status.Message)
			}
			if tc.rate < 0.05 && len(r.taken) != 3 {
				t.Fatalf("took %d soak measurements, want 3", len(r.taken))
			}
		})
	}
}

func TestAFixedSoakCheckIsANewAttempt(t *testing.T) {
	r := &rates{byRev: map[string]float64{rev("shop:2"): 0.4}}
	w := analysedWorld(t, r, false, func(s *v1.SiteDeployment) {
		s.Spec.Strategy.AutoPromoteAfter = &metav1.Duration{Duration: time.Minute}
		s.Spec.Strategy.Soak = &v1.SoakSpec{Metrics: errorRate(1, 0).Metrics}
	})
	w.reconcile()
	w.expect(v1.PhaseDegraded, v1.Blue, rev("shop:1"))
	// The threshold was too strict: relaxing it releases shop:2 again.
	w.site.Spec.Strategy.Soak.Metrics[0].SuccessCondition = "result[0] < 0.5"
	w.reconcile()
	if w.site.Status.AbortedRevision != "" || !hasEvent(w.last, v1.EventNewAttempt, "spec.strategy.soak") {
		t.Fatalf("no new attempt: aborted %q, events %+v", w.site.Status.AbortedRevision, w.last.Events)
	}
}

func TestSupersededCandidateStopsBeingMeasured(t *testing.T) {
	r := &rates{byRev: map[string]float64{rev("shop:2"): 0.01}}
	w := analysedWorld(t, r, true, func(s *v1.SiteDeployment) { s.Spec.Strategy.PrePromotion = errorRate(10, 0) })
	w.reconcile()
	w.release("shop:3")
	w.reconcile()
	for _, a := range w.site.Status.Analysis {
		if a.Revision == rev("shop:2") && a.Phase == v1.AnalysisRunning {
			t.Fatalf("the superseded candidate's run is still running: %+v", a)
		}
	}
	if due := DueMeasurements(w.site, w.now.Add(time.Hour)); len(due) != 0 {
		t.Fatalf("measurements still due: %+v", due)
	}
}

func TestMeasurementsAreBoundedAndCounted(t *testing.T) {
	run := v1.AnalysisStatus{Kind: v1.AnalysisPostPromotion, Revision: "r", SpecHash: "h", Phase: v1.AnalysisRunning,
		Checks: []v1.MetricCheckStatus{{Name: "error-rate", Phase: v1.AnalysisRunning}}}
	p := &planner{}
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := 0; i < 25; i++ {
		p.in.Measurements = []Measured{{Kind: run.Kind, Revision: "r", SpecHash: "h", Check: "error-rate",
			Measurement: v1.Measurement{Time: metav1.NewTime(start.Add(time.Duration(i) * time.Minute)), Verdict: v1.AnalysisSuccessful}}}
		p.recordMeasurements(&run)
		p.recordMeasurements(&run) // the same measurement twice counts once
	}
	cs := run.Checks[0]
	if cs.Successful != 25 || len(cs.Measurements) != v1.MaxMeasurements || !cs.Measurements[9].Time.Equal(&metav1.Time{Time: start.Add(24 * time.Minute)}) {
		t.Fatalf("check: %d successful, %d kept, last %s", cs.Successful, len(cs.Measurements), cs.Measurements[len(cs.Measurements)-1].Time)
	}
}

func cond(cs []metav1.Condition, typ string) *metav1.Condition {
	for i := range cs {
		if cs[i].Type == typ {
			return &cs[i]
		}
	}
	return nil
}
