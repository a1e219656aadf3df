package analysis

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/prometheus/client_golang/api"
	promv1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"

	v1 "github.com/understudy-dev/understudy/api/v1alpha1"
)

// queryPrometheus runs an instant query; the result is the list of the
// vector's sample values (a scalar: a list of one). No series, or a NaN,
// is no data: an error, so the measurement is inconclusive.
func queryPrometheus(ctx context.Context, spec *v1.PrometheusMetric, query string, creds Credentials, timeout time.Duration) (any, error) {
	c, err := api.NewClient(api.Config{Address: creds.Address, Client: client(creds)})
	if err != nil {
		return nil, fmt.Errorf("prometheus address: %w", err)
	}
	value, _, err := promv1.NewAPI(c).Query(ctx, query, time.Time{}, promv1.WithTimeout(timeout))
	if err != nil {
		return nil, fmt.Errorf("prometheus query failed: %w", err)
	}
	var values []float64
	switch v := value.(type) {
	case model.Vector:
		for _, s := range v {
			values = append(values, float64(s.Value))
		}
	case *model.Scalar:
		values = []float64{float64(v.Value)}
	default:
		return nil, fmt.Errorf("prometheus returned a %s; the query must give an instant vector or a scalar", value.Type())
	}
	if len(values) == 0 {
		return nil, fmt.Errorf("no data: the query returned no series")
	}
	for _, f := range values {
		if math.IsNaN(f) {
			return nil, fmt.Errorf("no data: the query returned NaN (%v)", values)
		}
	}
	return values, nil
}
