// Package s3test starts a throwaway SeaweedFS S3 server for tests: one
// `weed server -s3` process (master, volume, filer and S3 gateway) on free
// loopback ports (127.0.0.1 only, telemetry off), with a data directory
// removed at the end and an identities file so that requests are really
// authenticated (a wrong secret key is refused as it would be by AWS).
//
// The binary is built from SeaweedFS's Go module by `make seaweedfs` (which
// `make test` depends on) into bin/seaweedfs-<version>/weed; the Makefile
// exports its path as SEAWEEDFS. A machine without it fails the tests that
// need it, with a message to run `make seaweedfs`: they never skip.
package s3test
