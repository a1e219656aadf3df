package analysis

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	v1 "github.com/understudy-dev/understudy/api/v1alpha1"
	"github.com/understudy-dev/understudy/test/promtest"
)

var (
	prom   *promtest.Server
	target *promtest.Target
)

func TestMain(m *testing.M) {
	target = promtest.NewTarget()
	target.ErrorRatio.WithLabelValues("good").Set(0.01)
	target.ErrorRatio.WithLabelValues("bad").Set(0.4)
	var err error
	if prom, err = promtest.Start([]string{target.Address()}, time.Second); err == nil {
		err = prom.WaitForValue(context.Background(), `site_error_ratio{revision="bad"}`, 0.4, 30*time.Second)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "cannot start prometheus:", err)
		os.Exit(1)
	}
	code := m.Run()
	_ = prom.Stop()
	target.Close()
	os.Exit(code)
}

func promCheck(query, cond string) v1.MetricCheck {
	return v1.MetricCheck{Name: "error-rate", SuccessCondition: cond, Prometheus: &v1.PrometheusMetric{Query: query}}
}

var vars = map[string]string{"namespace": "shop", "site": "web", "color": "green", "revision": "good"}

func TestPrometheusVerdicts(t *testing.T) {
	now := time.Now()
	for _, c := range []struct {
		name, query, cond string
		want              v1.AnalysisPhase
		value, message    string
	}{
		{"a healthy revision passes", `site_error_ratio{revision="{{revision}}"}`, "result[0] < 0.05", v1.AnalysisSuccessful, "[0.01]", ""},
		{"a failing revision fails", `site_error_ratio{revision="bad"}`, "result[0] < 0.05", v1.AnalysisFailed, "[0.4]", ""},
		{"a scalar is a list of one", `scalar(site_error_ratio{revision="bad"})`, "result[0] > 0.3", v1.AnalysisSuccessful, "[0.4]", ""},
		{"an int literal compares with a double", `site_error_ratio{revision="bad"}`, "result[0] < 1", v1.AnalysisSuccessful, "[0.4]", ""},
		{"no series is no data", `site_error_ratio{revision="never"}`, "result[0] < 0.05", v1.AnalysisInconclusive, "", "no data: the query returned no series"},
		{"NaN is no data", `site_error_ratio{revision="good"} / 0 * 0`, "result[0] < 0.05", v1.AnalysisInconclusive, "", "no data: the query returned NaN"},
		{"a bad query names the server's error", `site_error_ratio{`, "true", v1.AnalysisInconclusive, "", "prometheus query failed: bad_data"},
		{"a range vector is refused", `site_error_ratio[1m]`, "true", v1.AnalysisInconclusive, "", "the query must give an instant vector or a scalar"},
		{"a condition that does not compile", `site_error_ratio{revision="good"}`, "result[0] <", v1.AnalysisInconclusive, "[0.01]", "does not compile"},
		{"a condition past the end of the result", `site_error_ratio{revision="good"}`, "result[1] < 0.05", v1.AnalysisInconclusive, "[0.01]", "cannot be evaluated on [0.01]"},
		{"a condition that is not a bool", `site_error_ratio{revision="good"}`, "result[0]", v1.AnalysisInconclusive, "[0.01]", "not true or false"},
	} {
		t.Run(c.name, func(t *testing.T) {
			m := Measure(context.Background(), promCheck(c.query, c.cond), vars, Credentials{Address: prom.URL}, now)
			if m.Verdict != c.want || m.Value != c.value || !strings.Contains(m.Message, c.message) {
				t.Fatalf("got %s value %q message %q; want %s value %q message containing %q", m.Verdict, m.Value, m.Message, c.want, c.value, c.message)
			}
			if !m.Time.Equal(&metav1.Time{Time: now.Truncate(time.Second)}) {
				t.Fatalf("measured at %s, want %s", m.Time, now)
			}
		})
	}
}

func TestPrometheusUnreachableAndSlow(t *testing.T) {
	// A port nothing listens on: refused at once, inconclusive.
	m := Measure(context.Background(), promCheck("up", "true"), vars, Credentials{Address: "http://127.0.0.1:1"}, time.Now())
	if m.Verdict != v1.AnalysisInconclusive || !strings.Contains(m.Message, "connection refused") {
		t.Fatalf("unreachable: %s %q", m.Verdict, m.Message)
	}
	// A server that never answers: the check's timeout ends the wait.
	release := make(chan struct{})
	hang := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	defer hang.Close()
	defer close(release)
	check := promCheck("up", "true")
	check.Timeout = &metav1.Duration{Duration: 300 * time.Millisecond}
	start := time.Now()
	m = Measure(context.Background(), check, vars, Credentials{Address: hang.URL, AddressSecret: true}, time.Now())
	if m.Verdict != v1.AnalysisInconclusive || !strings.Contains(m.Message, "no answer within the timeout (300ms)") {
		t.Fatalf("hanging server: %s %q", m.Verdict, m.Message)
	}
	if strings.Contains(m.Message, strings.TrimPrefix(hang.URL, "http://")) {
		t.Fatalf("the message shows an address read from a Secret: %q", m.Message)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("the timeout did not bound the measurement: %s", d)
	}
}

func TestPrometheusBearerAuth(t *testing.T) {
	// A proxy in front of the real server that demands the token.
	var got string
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r.Header.Get("Authorization")
		if got != "Bearer s3cret" {
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		resp, err := http.Post(prom.URL+r.URL.Path, r.Header.Get("Content-Type"), r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		w.Header().Set("Content-Type", resp.Header.Get("Content-Type"))
		w.WriteHeader(resp.StatusCode)
		_, _ = fmt.Fprint(w, mustRead(resp))
	}))
	defer proxy.Close()
	check := promCheck(`site_error_ratio{revision="good"}`, "result[0] < 0.05")
	m := Measure(context.Background(), check, vars, Credentials{Address: proxy.URL}, time.Now())
	if m.Verdict != v1.AnalysisInconclusive || !strings.Contains(m.Message, "401") {
		t.Fatalf("without the token: %s %q", m.Verdict, m.Message)
	}
	m = Measure(context.Background(), check, vars, Credentials{Address: proxy.URL, Headers: http.Header{"Authorization": {"Bearer s3cret"}}}, time.Now())
	if m.Verdict != v1.AnalysisSuccessful || got != "Bearer s3cret" {
		t.Fatalf("with the token: %s %q (sent %q)", m.Verdict, m.Message, got)
	}
	if strings.Contains(m.Value+m.Message, "s3cret") {
		t.Fatal("the token is in the measurement")
	}
}

func mustRead(resp *http.Response) string {
	var b strings.Builder
	buf := make([]byte, 4096)
	for {
		n, err := resp.Body.Read(buf)
		b.Write(buf[:n])
		if err != nil {
			return b.String()
		}
	}
}

func TestWebVerdicts(t *testing.T) {
	var seen http.Header
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen = r.Header.Clone()
		switch r.URL.Path {
		case "/health/web/green":
			fmt.Fprint(w, `{"status": "ok", "data": {"errorRate": 0.02, "checks": ["db", "cache"]}}`)
		case "/plain":
			fmt.Fprint(w, "0.5\n")
		case "/text":
			fmt.Fprint(w, "all good\n")
		case "/broken":
			http.Error(w, "database down", http.StatusInternalServerError)
		}
	}))
	defer srv.Close()
	for _, c := range []struct {
		name, path, jsonPath, cond string
		want                       v1.AnalysisPhase
		value, message             string
	}{
		{"a JSON field passes", "/health/{{site}}/{{color}}", "{$.data.errorRate}", "result < 0.05", v1.AnalysisSuccessful, "0.02", ""},
		{"the whole answer", "/health/{{site}}/{{color}}", "", `result.status == "ok" && size(result.data.checks) == 2`, v1.AnalysisSuccessful, "", ""},
		{"a JSON field fails", "/health/{{site}}/{{color}}", "{$.data.errorRate}", "result < 0.01", v1.AnalysisFailed, "0.02", ""},
		{"a plain number", "/plain", "", "result <= 0.5", v1.AnalysisSuccessful, "0.5", ""},
		{"plain text", "/text", "", `result == "all good"`, v1.AnalysisSuccessful, `"all good"`, ""},
		{"a missing field is no data", "/health/{{site}}/{{color}}", "{$.data.latency}", "result < 1", v1.AnalysisInconclusive, "", "no data at jsonPath {$.data.latency}"},
		{"not JSON with a jsonPath", "/text", "{$.status}", "true", v1.AnalysisInconclusive, "", "malformed answer: not JSON"},
		{"HTTP 500", "/broken", "", "true", v1.AnalysisInconclusive, "", "web answered 500 Internal Server Error: database down"},
	} {
		t.Run(c.name, func(t *testing.T) {
			check := v1.MetricCheck{Name: "health", SuccessCondition: c.cond, Count: ptr.To[int32](1),
				Web: &v1.WebMetric{URL: srv.URL + c.path, JSONPath: c.jsonPath}}
			m := Measure(context.Background(), check, vars, Credentials{Headers: http.Header{"X-Token": {"t0ken"}}}, time.Now())
			if m.Verdict != c.want || (c.value != "" && m.Value != c.value) || !strings.Contains(m.Message, c.message) {
				t.Fatalf("got %s value %q message %q; want %s value %q message containing %q", m.Verdict, m.Value, m.Message, c.want, c.value, c.message)
			}
			if seen.Get("X-Token") != "t0ken" {
				t.Fatalf("the header was not sent: %v", seen)
			}
		})
	}
}
