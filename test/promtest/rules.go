package promtest

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/histogram"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/tsdb/chunkenc"
	"github.com/prometheus/prometheus/tsdb/chunks"
	"github.com/prometheus/prometheus/util/annotations"
	"sigs.k8s.io/yaml"
)

// Rule is one alerting rule of a PrometheusRule.
type Rule struct {
	Alert string `json:"alert"`
	Expr  string `json:"expr"`
	For   string `json:"for"`
}

// ShippedRule is the alert of that name in config/prometheus/rules.yaml,
// the PrometheusRule understudy ships.
func ShippedRule(alert string) (Rule, error) {
	rules, err := ShippedRules()
	if err != nil {
		return Rule{}, err
	}
	for _, r := range rules {
		if r.Alert == alert {
			return r, nil
		}
	}
	return Rule{}, fmt.Errorf("config/prometheus/rules.yaml has no alert %s", alert)
}

// ShippedRules reads the alerting rules of config/prometheus/rules.yaml.
func ShippedRules() ([]Rule, error) {
	_, file, _, _ := runtime.Caller(0)
	path := filepath.Join(filepath.Dir(file), "..", "..", "config", "prometheus", "rules.yaml")
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var pr struct {
		Spec struct {
			Groups []struct {
				Rules []Rule `json:"rules"`
			} `json:"groups"`
		} `json:"spec"`
	}
	if err := yaml.Unmarshal(raw, &pr); err != nil {
		return nil, fmt.Errorf("cannot read %s: %w", path, err)
	}
	var rules []Rule
	for _, g := range pr.Spec.Groups {
		rules = append(rules, g.Rules...)
	}
	return rules, nil
}

// Scrape is what a Prometheus server would hold after scraping families
// every interval from From to To: the same values each time, as the
// manager serves them while nothing changes.
type Scrape struct {
	Families []*dto.MetricFamily
	From, To time.Time
	Interval time.Duration
}

// evalInterval is how often the rule is evaluated (Prometheus's default
// evaluation_interval is one minute).
const evalInterval = time.Minute

// Firing evaluates r with PromQL as Prometheus's rule manager does over
// the scrape and returns the label sets of the alerts firing at s.To:
// those for which r.Expr returned a series at every evaluation during the
// rule's `for` before it. Each label set is the "namespace/name" of the
// series, sorted.
func Firing(r Rule, s Scrape) ([]string, error) {
	hold := time.Duration(0)
	if r.For != "" {
		d, err := model.ParseDuration(r.For)
		if err != nil {
			return nil, fmt.Errorf("alert %s: for %q: %w", r.Alert, r.For, err)
		}
		hold = time.Duration(d)
	}
	engine := promql.NewEngine(promql.EngineOpts{MaxSamples: 1_000_000, Timeout: 10 * time.Second, LookbackDelta: 5 * time.Minute})
	store := series(s)
	count := map[string]int{}
	evals := 0
	for at := s.To.Add(-hold); !at.After(s.To); at = at.Add(evalInterval) {
		evals++
		q, err := engine.NewInstantQuery(context.Background(), store, nil, r.Expr, at)
		if err != nil {
			return nil, fmt.Errorf("alert %s: %w", r.Alert, err)
		}
		v, err := q.Exec(context.Background()).Vector()
		q.Close()
		if err != nil {
			return nil, fmt.Errorf("alert %s at %s: %w", r.Alert, at, err)
		}
		for _, sample := range v {
			count[sample.Metric.Get("namespace")+"/"+sample.Metric.Get("name")]++
		}
	}
	var firing []string
	for k, n := range count {
		if n == evals {
			firing = append(firing, k)
		}
	}
	sort.Strings(firing)
	return firing, nil
}

// series turns the scrape into stored series: one per counter and gauge
// (histograms and summaries are left out: no alert here reads them).
func series(s Scrape) queryable {
	var out queryable
	for _, f := range s.Families {
		for _, m := range f.GetMetric() {
			var v float64
			switch {
			case m.GetGauge() != nil:
				v = m.GetGauge().GetValue()
			case m.GetCounter() != nil:
				v = m.GetCounter().GetValue()
			default:
				continue
			}
			b := labels.NewScratchBuilder(len(m.GetLabel()) + 1)
			b.Add(labels.MetricName, f.GetName())
			for _, l := range m.GetLabel() {
				b.Add(l.GetName(), l.GetValue())
			}
			b.Sort()
			var samples []chunks.Sample
			for at := s.From; !at.After(s.To); at = at.Add(s.Interval) {
				samples = append(samples, point{t: at.UnixMilli(), f: v})
			}
			out = append(out, storage.NewListSeries(b.Labels(), samples))
		}
	}
	return out
}

// queryable is an in-memory storage of a few series: PromQL asks it for
// those its selectors match.
type queryable []storage.Series

func (q queryable) Querier(_, _ int64) (storage.Querier, error) { return q, nil }

func (q queryable) Select(_ context.Context, _ bool, _ *storage.SelectHints, ms ...*labels.Matcher) storage.SeriesSet {
	var out []storage.Series
	for _, s := range q {
		if matchAll(s.Labels(), ms) {
			out = append(out, s)
		}
	}
	sort.Slice(out, func(i, j int) bool { return labels.Compare(out[i].Labels(), out[j].Labels()) < 0 })
	return &seriesSet{list: out, i: -1}
}

func (q queryable) LabelValues(context.Context, string, *storage.LabelHints, ...*labels.Matcher) ([]string, annotations.Annotations, error) {
	return nil, nil, nil
}

func (q queryable) LabelNames(context.Context, *storage.LabelHints, ...*labels.Matcher) ([]string, annotations.Annotations, error) {
	return nil, nil, nil
}

func (q queryable) Close() error { return nil }

func matchAll(l labels.Labels, ms []*labels.Matcher) bool {
	for _, m := range ms {
		if !m.Matches(l.Get(m.Name)) {
			return false
		}
	}
	return true
}

type seriesSet struct {
	list []storage.Series
	i    int
}

func (s *seriesSet) Next() bool                        { s.i++; return s.i < len(s.list) }
func (s *seriesSet) At() storage.Series                { return s.list[s.i] }
func (s *seriesSet) Err() error                        { return nil }
func (s *seriesSet) Warnings() annotations.Annotations { return nil }

// point is one float sample.
type point struct {
	t int64
	f float64
}

func (p point) T() int64                      { return p.t }
func (p point) ST() int64                     { return 0 }
func (p point) F() float64                    { return p.f }
func (p point) H() *histogram.Histogram       { return nil }
func (p point) FH() *histogram.FloatHistogram { return nil }
func (p point) Type() chunkenc.ValueType      { return chunkenc.ValFloat }
func (p point) Copy() chunks.Sample           { return p }
