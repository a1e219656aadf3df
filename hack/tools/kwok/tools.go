//go:build tools

// Package tools pins kwok, which plays the kubelet for simulated pods in the
// local cluster. It is never compiled into the operator.
package tools

import _ "sigs.k8s.io/kwok/cmd/kwok"
