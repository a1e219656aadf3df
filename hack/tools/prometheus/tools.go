//go:build tools

// Package tools pins the Prometheus server that the metric-check tests start
// on loopback (internal/analysis, controllers). It is never compiled into the
// operator.
package tools

import _ "github.com/prometheus/prometheus/cmd/prometheus"
