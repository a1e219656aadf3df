// Package demo runs `make demo`: the local cluster with the operator, a
// throwaway PostgreSQL holding a production and a dev database and a nightly
// backup, and the manifests of config/samples/demo, until the context ends;
// then it stops every process it started.
package demo
