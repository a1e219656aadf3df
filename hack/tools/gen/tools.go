//go:build tools

// Package tools pins controller-gen, which generates the CRDs, RBAC and
// deepcopy code from the markers in api/ and controllers/.
package tools

import _ "sigs.k8s.io/controller-tools/cmd/controller-gen"
