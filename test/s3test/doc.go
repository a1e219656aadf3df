// Package s3test starts a throwaway SeaweedFS S3 server for tests: one
// `weed server -s3` process (master, volume, filer and S3 gateway) on free
// loopback ports (127.0.0.1 only, telemetry off), with a data directory
// removed at the end and an identities file so that requests are really
// authenticated (a wrong secret key is refused as it would be by AWS).
// Its logs go to a file in that directory (-logtostderr), and Stop removes
// the gRPC unix sockets weed puts in /tmp whatever TMPDIR says. A fresh
// server holds the first write to a bucket for about 9 s while it admits its
// volume server; Stop kills it after 3 s (it does not exit on a signal
// sooner, and a throwaway server needs no clean shutdown).
//
// The binary is built from SeaweedFS's Go module by `make seaweedfs` (which
// `make test` depends on) into bin/seaweedfs-<version>/weed; the Makefile
// exports its path as SEAWEEDFS. A machine without it fails the tests that
// need it, with a message to run `make seaweedfs`: they never skip.
package s3test
