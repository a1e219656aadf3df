package promtest

import (
	"net/http/httptest"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Target is a metrics endpoint on loopback whose values the test sets:
// the gauge site_error_ratio{revision}, as an app would export its share
// of failed requests.
type Target struct {
	srv        *httptest.Server
	ErrorRatio *prometheus.GaugeVec
}

// NewTarget starts the endpoint.
func NewTarget() *Target {
	reg := prometheus.NewRegistry()
	t := &Target{ErrorRatio: prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "site_error_ratio", Help: "Share of requests that failed, by revision.",
	}, []string{"revision"})}
	reg.MustRegister(t.ErrorRatio)
	t.srv = httptest.NewServer(promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	return t
}

// Address is the endpoint's host:port, for a scrape config.
func (t *Target) Address() string { return strings.TrimPrefix(t.srv.URL, "http://") }

// Close stops the endpoint.
func (t *Target) Close() { t.srv.Close() }
