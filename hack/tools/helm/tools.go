//go:build tools

// Package tools pins helm, which the chart tests run (lint, template). It is
// never compiled into the operator.
package tools

import _ "helm.sh/helm/v4/cmd/helm"
