// Package e2e holds the end-to-end tests that run on the local cluster
// (test/localcluster + test/nodeagent): a real control plane on
// loopback and a node agent running every pod as local processes. They need
// the binaries of `make cluster-tools` and run with the e2e build tag:
//
//	go test -tags e2e ./test/e2e/ -count=1 -v
//
// harness.go is the shared harness: TestMain starts one cluster for the
// package (Env), and helpers build and run the operator's manager against
// it, create namespaces, wait, and resolve Services to the pods' loopback
// addresses.
package e2e
