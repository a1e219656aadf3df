// Package promtest reads Prometheus metrics the way an alert rule would,
// for tests that assert what the manager's metrics endpoint serves.
package promtest

import (
	dto "github.com/prometheus/client_model/go"
)

// Value is the value of the first series of metric name whose labels
// include want (an empty value: the series has no such label, as in
// PromQL): a counter's or gauge's value, or a histogram's sample count.
// It reports false when no such series exists.
func Value(families []*dto.MetricFamily, name string, want map[string]string) (float64, bool) {
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			if !hasLabels(m, want) {
				continue
			}
			switch {
			case m.GetCounter() != nil:
				return m.GetCounter().GetValue(), true
			case m.GetGauge() != nil:
				return m.GetGauge().GetValue(), true
			case m.GetHistogram() != nil:
				return float64(m.GetHistogram().GetSampleCount()), true
			}
		}
	}
	return 0, false
}

func hasLabels(m *dto.Metric, want map[string]string) bool {
	found := 0
	for _, l := range m.GetLabel() {
		if v, ok := want[l.GetName()]; ok {
			if v != l.GetValue() {
				return false
			}
			found++
		}
	}
	for _, v := range want {
		if v == "" {
			found++ // absent, or it would have failed above
		}
	}
	return found == len(want)
}
