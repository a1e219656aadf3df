package plugin_test

import (
	"bytes"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1 "github.com/understudy-dev/understudy/api/v1alpha1"
	"github.com/understudy-dev/understudy/internal/plugin"
)

func TestTreeShowsMeasurements(t *testing.T) {
	now := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	at := func(ago time.Duration) metav1.Time { return metav1.NewTime(now.Add(-ago)) }
	site := &v1.SiteDeployment{ObjectMeta: metav1.ObjectMeta{Name: "shop", Namespace: "prod"}}
	site.Status.Phase = v1.PhaseDegraded
	site.Status.Analysis = []v1.AnalysisStatus{{Kind: v1.AnalysisPostPromotion, Revision: "abc123", Color: v1.Green,
		StartedAt: at(time.Minute), Phase: v1.AnalysisFailed,
		Message: "check error-rate: 1 measurement(s) failed (limit 0), latest value [0.4] does not meet result[0] < 0.05",
		Checks: []v1.MetricCheckStatus{{Name: "error-rate", Phase: v1.AnalysisFailed, Successful: 2, Failed: 1, Inconclusive: 1, Measurements: []v1.Measurement{
			{Time: at(time.Minute), Value: "[0.01]", Verdict: v1.AnalysisSuccessful},
			{Time: at(30 * time.Second), Verdict: v1.AnalysisInconclusive, Message: "no data: the query returned no series"},
			{Time: at(0), Value: "[0.4]", Verdict: v1.AnalysisFailed},
		}}}}}
	var out bytes.Buffer
	plugin.WriteTree(&out, &plugin.Observed{Site: site}, now)
	for _, want := range []string{
		"├── analysis PostPromotion of abc123 on green: Failed  (started 1m0s ago)\n",
		"│   check error-rate: 1 measurement(s) failed (limit 0), latest value [0.4] does not meet result[0] < 0.05\n",
		"│   check error-rate  Failed  2 successful, 1 failed, 1 inconclusive\n",
		"│     1m0s ago  [0.01]  Successful\n",
		"│     30s ago  -  Inconclusive  no data: the query returned no series\n",
		"│     0s ago  [0.4]  Failed\n",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("tree lacks %q:\n%s", want, out.String())
		}
	}
}
