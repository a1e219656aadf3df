//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	deployv1alpha1 "github.com/understudy-dev/understudy/api/v1alpha1"
	"github.com/understudy-dev/understudy/test/nodeagent"
	"github.com/understudy-dev/understudy/test/promtest"
)

// A release whose pods report a high error rate once live is switched back
// by its post-promotion metric check: a real Prometheus (on loopback)
// scrapes the demo pods' /metrics, labelled with their revision, and the
// manager's check queries it.
func testMetricCheckRollsBack(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	ns := env.Namespace(t)
	c := crClient(t)
	sdFile := filepath.Join(t.TempDir(), "targets.json")
	if err := promtest.WriteTargets(sdFile, nil); err != nil {
		t.Fatal(err)
	}
	prom, err := promtest.StartFileSD(sdFile, time.Second)
	if err != nil {
		t.Fatalf("cannot start prometheus: %v", err)
	}
	t.Cleanup(func() { _ = prom.Stop() })
	// Service discovery for the test's Prometheus: every running pod of
	// the site, at its loopback address, with its revision as a label.
	sdCtx, stopSD := context.WithCancel(ctx)
	t.Cleanup(stopSD)
	go discoverPods(sdCtx, c, ns, "service9", sdFile)

	sd := demoSite(ns, "service9", "v1", 2)
	sd.Spec.Strategy.PostPromotion = &deployv1alpha1.CheckSpec{Metrics: []deployv1alpha1.MetricCheck{{
		Name:             "error-rate",
		Prometheus:       &deployv1alpha1.PrometheusMetric{Address: prom.URL, Query: `max(demo_error_ratio{namespace="{{namespace}}", revision="{{revision}}"})`},
		SuccessCondition: "result[0] < 0.05",
		Interval:         &metav1.Duration{Duration: 3 * time.Second}, Count: ptr.To[int32](5),
		InconclusiveLimit: ptr.To[int32](2), // the first scrape of the new pods may lag
	}}}
	if err := c.Create(ctx, sd); err != nil {
		t.Fatal(err)
	}
	rev1 := waitHealthy(t, c, ns, "service9", 2*time.Minute).Status.ActiveRevision
	setTemplate(t, c, ns, "service9", func(sd *deployv1alpha1.SiteDeployment) {
		sd.Spec.Template = demoTemplate("service9", "v2")
		sd.Spec.Template.Spec.Containers[0].Env = append(sd.Spec.Template.Spec.Containers[0].Env,
			corev1.EnvVar{Name: "ERROR_RATIO", Value: "0.4"})
	})
	// The switch to v2 is read from history: the check may take it back
	// between two polls of the active selector.
	var rev2 string
	var switched time.Time
	Eventually(t, 2*time.Minute, "service9 switched to v2", func() (bool, error) {
		st := getSite(t, c, ns, "service9").Status
		for _, h := range st.History {
			if h.Revision != rev1 && h.PromotedAt != nil {
				rev2, switched = h.Revision, h.PromotedAt.Time
				return true, nil
			}
		}
		return false, fmt.Errorf("phase %s active %s preview %s (%s)", st.Phase, st.ActiveRevision, st.PreviewRevision, st.Message)
	})
	var st deployv1alpha1.SiteDeploymentStatus
	Eventually(t, 90*time.Second, "service9 switched back by its metric check", func() (bool, error) {
		st = getSite(t, c, ns, "service9").Status
		ok := st.ActiveRevision == rev1 && st.AbortReason == deployv1alpha1.ReasonPostPromotionFailed
		return ok, fmt.Errorf("phase %s active %s aborted %q (%s)", st.Phase, st.ActiveRevision, st.AbortedRevision, st.Message)
	})
	t.Logf("switched back %s after the switch to %s (by the second): %s", st.LastSwitchTime.Sub(switched).Round(time.Second), rev2, st.Message)
	for _, h := range st.History {
		if h.Revision == rev2 && h.Outcome != deployv1alpha1.OutcomeRolledBack {
			t.Errorf("history says %s of %s, which took traffic and was taken back: want RolledBack", h.Outcome, rev2)
		}
	}
	if !strings.Contains(st.Message, "check error-rate: 1 measurement(s) failed (limit 0), latest value [0.4] does not meet result[0] < 0.05") {
		t.Fatalf("the message does not give the verdict: %s", st.Message)
	}
}

// discoverPods writes the site's running pods to sdFile every half second
// until ctx ends.
func discoverPods(ctx context.Context, c client.Client, ns, site, sdFile string) {
	tick := time.NewTicker(500 * time.Millisecond)
	defer tick.Stop()
	for {
		pods := &corev1.PodList{}
		if err := c.List(ctx, pods, client.InNamespace(ns), client.MatchingLabels{deployv1alpha1.LabelSite: site}); err == nil {
			groups := map[string]map[string]string{}
			for _, p := range pods.Items {
				if lo := p.Annotations[nodeagent.LoopbackAnnotation]; lo != "" && p.Status.Phase == corev1.PodRunning {
					groups[lo+":8080"] = map[string]string{"namespace": ns, "revision": p.Labels[deployv1alpha1.LabelRevision]}
				}
			}
			_ = promtest.WriteTargets(sdFile, groups)
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}
