// Package analysis takes one measurement of a metric check: an instant
// query against Prometheus (client_golang's api/v1) or an HTTP GET of a web
// endpoint, each bounded by the check's timeout, judged by the check's CEL
// successCondition. It does I/O and nothing else: which measurement is due,
// and what a run of them means, the blue/green planner decides.
package analysis

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1 "github.com/understudy-dev/understudy/api/v1alpha1"
)

// Credentials are what the check's Secret references resolved to. They
// go into requests only: never into a measurement's value or message.
type Credentials struct {
	// Address of the Prometheus server (spec or Secret).
	Address string
	// AddressSecret: Address came from a Secret, so messages do not show it.
	AddressSecret bool
	// Headers are sent with every request: the web check's headers, and
	// Authorization for Prometheus' bearer or basic auth.
	Headers http.Header
}

// maxValue bounds a measurement's value as status keeps it.
const maxValue = 256

// Measure takes one measurement of check at now. vars fill the query's or
// URL's {{namespace}}, {{site}}, {{color}} and {{revision}}. An error (a
// timeout, an HTTP error, a malformed answer, no data, a condition that
// does not compile or evaluate) is an Inconclusive measurement whose
// message says what went wrong.
func Measure(ctx context.Context, check v1.MetricCheck, vars map[string]string, creds Credentials, now time.Time) v1.Measurement {
	m := v1.Measurement{Time: metav1.NewTime(now.Truncate(time.Second))}
	timeout := 10 * time.Second
	if check.Timeout != nil && check.Timeout.Duration > 0 {
		timeout = check.Timeout.Duration
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var result any
	var err error
	switch {
	case check.Prometheus != nil:
		result, err = queryPrometheus(ctx, check.Prometheus, expand(check.Prometheus.Query, vars), creds, timeout)
	case check.Web != nil:
		result, err = getWeb(ctx, check.Web, expand(check.Web.URL, vars), creds)
	default:
		err = fmt.Errorf("neither prometheus nor web is set")
	}
	if err != nil {
		m.Verdict, m.Message = v1.AnalysisInconclusive, redact(err.Error(), creds)
		if ctx.Err() == context.DeadlineExceeded {
			m.Message = fmt.Sprintf("no answer within the timeout (%s): %s", timeout, m.Message)
		}
		return m
	}
	m.Value = shorten(display(result))
	ok, err := Evaluate(check.SuccessCondition, result)
	switch {
	case err != nil:
		m.Verdict, m.Message = v1.AnalysisInconclusive, err.Error()
	case ok:
		m.Verdict = v1.AnalysisSuccessful
	default:
		m.Verdict = v1.AnalysisFailed
	}
	return m
}

// Variables are the names a query or URL may use as {{name}}.
var Variables = []string{"namespace", "site", "color", "revision"}

func expand(s string, vars map[string]string) string {
	var pairs []string
	for _, k := range Variables {
		pairs = append(pairs, "{{"+k+"}}", vars[k])
	}
	return strings.NewReplacer(pairs...).Replace(s)
}

// redact keeps a Secret's address out of a message.
func redact(msg string, creds Credentials) string {
	if creds.AddressSecret && creds.Address != "" {
		msg = strings.ReplaceAll(msg, strings.TrimRight(creds.Address, "/"), "<address from Secret>")
	}
	return msg
}

func shorten(s string) string {
	if len(s) <= maxValue {
		return s
	}
	return s[:maxValue-3] + "..."
}

// headerTransport adds headers to every request.
type headerTransport struct {
	headers http.Header
	next    http.RoundTripper
}

func (t headerTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	req = req.Clone(req.Context())
	for k, vs := range t.headers {
		req.Header[k] = vs
	}
	return t.next.RoundTrip(req)
}

func client(creds Credentials) *http.Client {
	return &http.Client{Transport: headerTransport{headers: creds.Headers, next: http.DefaultTransport}}
}
