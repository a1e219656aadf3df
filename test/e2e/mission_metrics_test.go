//go:build e2e

package e2e

import (
	"fmt"
	"maps"
	"net/http"
	"slices"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/understudy-dev/understudy/test/localcluster"
	"github.com/understudy-dev/understudy/test/promtest"
)

// metricsAddr is the loopback host:port of the mission manager's /metrics.
var metricsAddr string

// freeLoopback is a free host:port on 127.0.0.1.
func freeLoopback(t *testing.T) string {
	t.Helper()
	addr, err := localcluster.FreeLoopbackAddr()
	if err != nil {
		t.Fatal(err)
	}
	return addr
}

// scrape reads the manager's /metrics as Prometheus would.
func scrape(t *testing.T) []*dto.MetricFamily {
	t.Helper()
	resp, err := (&http.Client{Timeout: 5 * time.Second}).Get("http://" + metricsAddr + "/metrics")
	if err != nil {
		t.Fatalf("cannot scrape the manager's metrics: %v", err)
	}
	defer resp.Body.Close()
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("cannot parse the manager's metrics: %v", err)
	}
	return slices.Collect(maps.Values(families))
}

// expectMetrics waits until each named series of the object ns/name has
// the value given.
func expectMetrics(t *testing.T, ns, name string, want ...metricWant) {
	t.Helper()
	Eventually(t, 30*time.Second, "the manager's metrics of "+ns+"/"+name, func() (bool, error) {
		families := scrape(t)
		for _, w := range want {
			labels := map[string]string{"namespace": ns, "name": name}
			for k, v := range w.labels {
				labels[k] = v
			}
			got, _ := promtest.Value(families, w.name, labels)
			if got != w.value {
				return false, fmt.Errorf("%s%v = %v, want %v", w.name, w.labels, got, w.value)
			}
		}
		return true, nil
	})
}

// perNamespace selects the namespace's series of a histogram (the
// namespace has one site).
var perNamespace = map[string]string{"name": ""}

type metricWant struct {
	name   string
	labels map[string]string
	value  float64
}

func releases(outcome string, n float64) metricWant {
	return metricWant{"understudy_sitedeployment_releases_total", map[string]string{"outcome": outcome}, n}
}
